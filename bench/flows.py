"""`fabtel bench flows`: flow samples from datagram to aggregate records in Kafka.

The sFlow collector (sflow.flow_samples: aggregate) decodes datagrams of flow
samples, scales them into per-interface windows with their heavy-hitter
tables, and produces the FlowWindow records to the broker, in this process.
flow_samples_per_s is samples per second of this process's CPU time (all
threads): the per-core rate. The load has `flows` distinct 5-tuples (a
million by default), each sampled once, so every sample is a new flow for
the tables; memory is read (RSS) after a tenth of them and at the end, and
stays flat because each table holds sflow.flow_table_size flows whatever
the number seen. Datagrams are made in batches as they are sent, so the
load itself holds no memory.
"""
from __future__ import annotations

import dataclasses
import struct
import time

from fabtel.bench.common import bench_config, machine, progress
from fabtel.connectors.sflow.codec import build_header, encode_datagram
from fabtel.records import SflowSample, SflowSampledHeader

SAMPLES_PER_DATAGRAM = 5
BATCH = 1000                   # datagrams made at a time
RATE = 1000                    # the load's sampling rate (1 in N)


def _template() -> tuple[bytes, list[tuple[int, int, int]]]:
    """One datagram of five flow samples, and per sample the offsets of its
    source address, source port and sample_pool (patched per datagram)."""
    samples = []
    for i in range(SAMPLES_PER_DATAGRAM):
        hdr = build_header("00:c1:c1:00:00:01", "00:c2:c2:00:00:01", f"10.255.255.{i + 1}", "198.18.200.2", 6,
                           61000 + i, 443, payload_len=1400, snap=128)
        samples.append(SflowSample("", None, 0, 0, 0, "flow", i, 0, 1, RATE, 0x7E570000 + i, 0, 1, 49,
                                   sampled_header=SflowSampledHeader(1, 1518, 4, len(hdr), hdr),
                                   input_format=0, output_format=0))
    data = encode_datagram("198.18.0.11", 0, 1, 1000, samples)
    offsets = []
    for i in range(SAMPLES_PER_DATAGRAM):
        ip = data.find(bytes([10, 255, 255, i + 1]))
        port = data.find(struct.pack(">HH", 61000 + i, 443), ip)
        pool = data.find(struct.pack(">I", 0x7E570000 + i))
        offsets.append((ip, port, pool))
    return data, offsets


def _batch(template: bytes, offsets, first_flow: int, flows: int) -> list[bytes]:
    out = []
    pack_ip, pack_port = struct.Struct(">I").pack_into, struct.Struct(">H").pack_into
    for d in range(BATCH):
        buf = bytearray(template)
        pack_ip(buf, 16, first_flow // SAMPLES_PER_DATAGRAM + d + 1)     # the datagram's sequence number
        for i, (ip, port, pool) in enumerate(offsets):
            n = (first_flow + d * SAMPLES_PER_DATAGRAM + i) % flows
            pack_ip(buf, ip, (10 << 24) + n)                # a distinct source per flow
            pack_port(buf, port, 1024 + n % 60000)
            pack_ip(buf, pool, ((first_flow + d * SAMPLES_PER_DATAGRAM + i) * RATE) & 0xFFFFFFFF)
        out.append(bytes(buf))
    return out


def _rss_mb() -> float:
    import os
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run(config_path: str, seconds: float, flows: int = 1_000_000) -> dict:
    from fabtel.connectors.sflow.collector import SflowCollector
    cfg = bench_config(config_path, "flows")
    cfg = dataclasses.replace(cfg, sflow=dataclasses.replace(cfg.sflow, flow_samples="aggregate"))
    collector = SflowCollector(cfg)
    template, offsets = _template()
    total = flows                                        # each flow sampled once (at least `seconds` of work)
    progress(f"{total:,} flow samples of {flows:,} distinct 5-tuples through decode, windows and Kafka "
             f"({cfg.kafka.bootstrap_servers})")
    samples, cpu, rss_early, t0 = 0, 0.0, None, time.perf_counter()
    next_note = t0 + 5
    while samples < total or time.perf_counter() - t0 < seconds:
        batch = _batch(template, offsets, samples, flows)
        c0 = time.process_time()
        for d in batch:
            collector.handle(d, time.time_ns())
        cpu += time.process_time() - c0
        samples += BATCH * SAMPLES_PER_DATAGRAM
        if rss_early is None and samples >= total // 10:
            rss_early = _rss_mb()
        if time.perf_counter() >= next_note:
            progress(f"{samples:,} samples, {samples / cpu:,.0f} per CPU-second")
            next_note += 5
    largest = max((len(w.table.entries) for ws in collector.flows.windows.values() for w in ws.values()), default=0)
    c0 = time.process_time()
    collector.send_windows(time.time_ns(), every=True)
    pending = collector.producer.flush(60)
    cpu += time.process_time() - c0
    rss_end = _rss_mb()
    progress(f"{samples:,} samples in {cpu:.1f} s of CPU; RSS {rss_early:.0f} MB after {total // 10:,} flows, "
             f"{rss_end:.0f} MB after {flows:,}")
    return {"flow_samples_per_s": round(samples / cpu), "samples": samples, "distinct_flows": flows,
            "flow_windows_produced": int(collector.metrics.get("flow_windows_total")),
            "records_delivered": collector.producer.delivered, "undelivered": pending,
            "table_size": cfg.sflow.flow_table_size, "largest_table": largest,
            "rss_mb_after_tenth": round(rss_early, 1), "rss_mb_at_end": round(rss_end, 1), "machine": machine()}
