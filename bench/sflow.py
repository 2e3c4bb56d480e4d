"""`fabtel bench sflow`: counter samples carrying generic interface, ethernet
and LAG records. decode_samples_per_s is the codec alone; pipeline_samples_per_s
is decode + Avro encode + produce to the local broker (raw sample plus its
normalized records, all delivered), in this one process."""
from __future__ import annotations

import time

from fabtel.bench.common import bench_config, machine, progress
from fabtel.connectors.sflow.codec import decode_datagram, encode_datagram
from fabtel.records import SflowEthernetCounters, SflowIfCounters, SflowLagPortStats, SflowSample

SAMPLES_PER_DATAGRAM = 5     # 5 x 212 bytes: a datagram under a 1500-byte MTU


def _datagrams(count: int) -> list[bytes]:
    out = []
    for d in range(count):
        samples = []
        for i in range(SAMPLES_PER_DATAGRAM):
            ifindex = 1001 + (d * SAMPLES_PER_DATAGRAM + i) % 48
            s = SflowSample("", None, 0, 0, 0, "counters", d * SAMPLES_PER_DATAGRAM + i, 0, ifindex)
            s.if_counters = SflowIfCounters(ifindex, 6, 25 * 10**9, 1, 3, 2**33 + d, 10, 1, 1, 0, 0, 0,
                                            2**34 + d, 20, 2, 2, 0, 0, 0)
            s.ethernet_counters = SflowEthernetCounters(*([0] * 13))
            s.lag_port_stats = SflowLagPortStats("0c:00:00:00:01:01", "00:c1:c1:00:00:01", 100001, 0x3D3D3D3D,
                                                 61, 61, 61, 61, d, 0, 0, 0, 0, d, 0, 0)
            samples.append(s)
        out.append(encode_datagram("198.18.0.11", 0, d + 1, 1000 + d, samples))
    return out


def run(config_path: str, seconds: float) -> dict:
    from fabtel.connectors.sflow.collector import SflowCollector
    datagrams = _datagrams(2000)
    progress(f"decode only for {seconds:.0f} s")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for d in datagrams:
            n += len(decode_datagram(d).samples)
    decode_rate = n / (time.perf_counter() - t0)

    cfg = bench_config(config_path, "sflow")
    collector = SflowCollector(cfg)
    progress(f"decode + Avro + produce to {cfg.kafka.bootstrap_servers} for {seconds:.0f} s")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for d in datagrams:
            n += collector.handle(d, time.time_ns())
    pending = collector.producer.flush(60)
    elapsed = time.perf_counter() - t0
    dropped = collector.metrics.get("dropped_total", "kafka_queue_full")
    if pending or dropped:
        progress(f"warning: {pending} undelivered, {dropped} dropped")
    return {"decode_samples_per_s": round(decode_rate), "pipeline_samples_per_s": round(n / elapsed),
            "samples": n, "records_delivered": collector.producer.delivered, "dropped": int(dropped),
            "machine": machine()}
