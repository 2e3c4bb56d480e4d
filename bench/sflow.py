"""`fabtel bench sflow [--vs goflow2]`.

decode_samples_per_s: the codec alone on counter samples (generic interface,
ethernet and LAG records), in this process.
pipeline_samples_per_s: decode + Avro encode + produce to the broker, in this
process, per second of its CPU time (all threads): the per-core rate.

With --vs goflow2, both collectors run as processes of their own on the same
load, in one run: datagrams of flow samples (what goflow2 turns into
messages) sent over UDP at a steady rate to each in turn, each producing to
a topic of its own on the same broker. Each one's figure is the samples that
reached the broker per second of its own CPU time; the ratio is fabtel's over
goflow2's."""
from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time

from fabtel.bench.common import bench_config, config_file, cpu_seconds, machine, progress, settled_count, topic_count
from fabtel.localstack.supervisor import spawn
from fabtel.connectors.sflow.codec import build_header, decode_datagram, encode_datagram
from fabtel.records import (SflowEthernetCounters, SflowIfCounters, SflowLagPortStats, SflowSample,
                            SflowSampledHeader)

SAMPLES_PER_DATAGRAM = 5     # 5 x 212 bytes: a datagram under a 1500-byte MTU
SEND_RATE = 8_000            # datagrams per second offered to each collector in the side-by-side run (--rate)
AGENTS = 16                  # agents in the side-by-side load, each from its own socket


def _counter_datagrams(count: int) -> list[bytes]:
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


def _flow_datagrams(count: int) -> list[bytes]:
    out = []
    for d in range(count):
        samples = []
        for i in range(SAMPLES_PER_DATAGRAM):
            n = d * SAMPLES_PER_DATAGRAM + i
            hdr = build_header("00:c1:c1:00:00:01", "00:c2:c2:00:00:01", f"198.18.{n % 250}.1", "198.18.200.2", 6,
                               10000 + n % 50000, 443, payload_len=1400, snap=128)
            samples.append(SflowSample("", None, 0, 0, 0, "flow", n, 0, 1001, 4096, 4096 * n, 0, 1001, 1049,
                                       sampled_header=SflowSampledHeader(1, 1518, 4, len(hdr), hdr)))
        # agent d % AGENTS, in its own sequence (what _send sends from that agent's socket)
        out.append(encode_datagram(f"198.18.0.{11 + d % AGENTS}", 0, d // AGENTS + 1, 1000 + d, samples))
    return out


def run(config_path: str, seconds: float, vs: str | None = None, rate: int = SEND_RATE, flood: bool = False,
        workers: int | None = None) -> dict:
    from fabtel import native
    from fabtel.connectors.sflow.collector import SflowCollector
    datagrams = _counter_datagrams(2000)
    progress(f"decode only (the Python codec) for {seconds:.0f} s")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for d in datagrams:
            n += len(decode_datagram(d).samples)
    decode_rate = n / (time.perf_counter() - t0)

    cfg = bench_config(config_path, "sflow")
    collector = SflowCollector(cfg)
    # the same 2000 datagrams again and again: the agent "restarts" each round, which is no news here
    logging.getLogger("fabtel.sflow").setLevel(logging.WARNING)
    path = "compiled" if native.available() else "python"
    progress(f"decode + Avro + produce to {cfg.kafka.bootstrap_servers} for {seconds:.0f} s ({path} path)")
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        for d in datagrams:
            n += collector.handle(d, time.time_ns())
    pending = collector.producer.flush(60)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    dropped = collector.metrics.get("dropped_total", "kafka_queue_full")
    if pending or dropped:
        progress(f"warning: {pending} undelivered, {dropped} dropped")
    result = {"hot_path": path, "decode_samples_per_s": round(decode_rate), "pipeline_samples_per_s": round(n / cpu),
              "pipeline_samples_per_s_wall": round(n / elapsed), "samples": n,
              "records_delivered": collector.producer.delivered, "dropped": int(dropped), "machine": machine()}
    if vs:
        result.update(side_by_side(config_path, seconds, rate, flood, workers))
    return result


def side_by_side(config_path: str, seconds: float, rate: int, flood: bool, workers: int | None) -> dict:
    """fabtel's collector and goflow2 on the same flow-sample load over UDP
    into the same broker: AGENTS agents, each from a socket of its own, at
    `rate` datagrams a second (or as fast as one sender can, `flood`)."""
    from fabtel.bench import peers
    from fabtel.localstack.ports import free_port
    goflow2 = str(peers.ensure("goflow2", progress))
    count = int(rate * seconds)
    datagrams = _flow_datagrams(count)
    samples_sent = count * SAMPLES_PER_DATAGRAM
    offered = "as fast as one sender can" if flood else f"{rate}/s"
    out = {"offered": f"{count} datagrams of {SAMPLES_PER_DATAGRAM} flow samples from {AGENTS} agents, {offered}"}
    for name in ("fabtel", "goflow2"):
        cfg = bench_config(config_path, f"sflow-vs-{name}")
        topic = cfg.kafka.topic("sflow_samples")
        port = free_port()
        if name == "fabtel":
            argv = [sys.executable, "-m", "fabtel", "--log-level", "WARNING", "collect", "sflow", "--config",
                    config_file(cfg, config_path), "--listen", f"127.0.0.1:{port}"] + \
                (["--workers", str(workers)] if workers else [])
        else:
            argv = [goflow2, "-listen", f"sflow://127.0.0.1:{port}", "-produce", "sample", "-format", "bin",
                    "-transport", "kafka", "-transport.kafka.brokers", cfg.kafka.bootstrap_servers,
                    "-transport.kafka.topic", topic, "-transport.kafka.flushfreq", "100ms",
                    "-addr", f"127.0.0.1:{free_port()}", "-loglevel", "warn"]
        proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(4)                                         # started, connected to the broker
            progress(f"{name}: {count} datagrams ({samples_sent} flow samples), {offered}, over UDP")
            c0 = _tree_cpu(proc.pid)
            sent_s = _send(datagrams, port, None if flood else rate)
            delivered = settled_count(lambda: topic_count(cfg, topic))
            cpu = _tree_cpu(proc.pid) - c0
            drops = _kernel_drops(port)
        finally:
            proc.terminate()
            proc.wait(20)
        out[f"{name}_samples_per_cpu_s"] = round(delivered / cpu) if cpu else None
        out[f"{name}_taken_share"] = round(delivered / samples_sent, 4)
        out[f"{name}_kernel_drops"] = drops
        out[f"{name}_offered_per_s"] = round(count / sent_s)
        progress(f"{name}: {delivered} of {samples_sent} samples in Kafka, {cpu:.2f} s of CPU, "
                 f"{drops} datagrams dropped by the kernel, offered at {count / sent_s:,.0f}/s")
    out["ratio_fabtel_over_goflow2"] = round(out["fabtel_samples_per_cpu_s"] / out["goflow2_samples_per_cpu_s"], 2)
    return out


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (fabtel's --workers)."""
    import os
    total = cpu_seconds(pid)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        total += cpu_seconds(int(entry))
            except (OSError, ValueError):
                continue
    return total


def _kernel_drops(port: int) -> int:
    """The kernel's drops for every UDP socket bound to `port` (/proc/net/udp)."""
    total = 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total += int(fields[12])
    return total


def _send(datagrams: list[bytes], port: int, rate: int | None) -> float:
    """Send each agent's datagrams from its own socket, paced at `rate` a second
    in bursts of 50 (None: no pacing); the seconds it took."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(AGENTS)]
    t0 = time.perf_counter()
    for i, d in enumerate(datagrams):
        socks[i % AGENTS].sendto(d, ("127.0.0.1", port))
        if rate and i % 50 == 49:                     # steady, not a flood
            delay = t0 + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    took = time.perf_counter() - t0
    for sock in socks:
        sock.close()
    return took
