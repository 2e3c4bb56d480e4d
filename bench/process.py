"""`fabtel bench process`: one Faust worker (its own process) on a generated
fabric of 256 leaves.

events_per_s: normalized records (interface counters, with some state and
BGP records) produced to the input topics beforehand, then consumed by the
worker; the rate is records over the time from the worker's first processed
event to its last, read from its /metrics endpoint. python_loop_ms: the
machine's speed for one thread just before and after the throughput run
(bench.common.python_loop_ms), since a shared host's speed drifts by more
than the runs differ; host_cpu: the machine's busy and steal share of all
its cores over the throughput run (bench.common.host_cpu_use).
decision_latency_ms: from the second uplink-down record of a leaf being
acknowledged by the broker to the resulting command arriving from the
commands topic (read by a consumer polling every few ms, so an upper bound),
one leaf at a time, every other leaf (LATENCY_LEAVES, 128: a p99 needs at
least 100 samples). The other leaf of each pair stays healthy: the pair's
clients are dual-homed on an ethernet segment, and the safety rule never
takes down the last active member of a segment."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from confluent_kafka import Consumer, TopicPartition

from fabtel.bench.common import (bench_config, host_cpu_ticks, host_cpu_use, machine, made_here, percentiles,
                                 progress, python_loop_ms)
from fabtel.localstack.supervisor import spawn
from fabtel.config import parse_config
from fabtel.kafka import RecordProducer
from fabtel.partitioning import DomainPartitioner
from fabtel.records import BgpSession, InterfaceCounters, InterfaceState
from fabtel.lab.generate import generate

SPEC = "leaf-spine:spines=2,leaves=256,ports=1"
LATENCY_LEAVES = 128
METRICS = "127.0.0.1:19464"


def _events(url: str) -> float:
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return -1
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith('fabtel_pipeline_events_total{agent="evaluate"}'))


def _healthy(p: RecordProducer, leaf: str, t: int) -> None:
    for i, u in enumerate(("ethernet-1/49", "ethernet-1/50")):
        p.send(InterfaceState(leaf, u, "gnmi", t, t, "enable", "up"))
        p.send(BgpSession(leaf, "default", f"198.18.128.{i}", t, t, "established"))
    p.send(InterfaceState(leaf, "ethernet-1/1", "gnmi", t, t, "enable", "up"))


def run(config_path: str, seconds: float, events: int = 300_000) -> dict:
    base = bench_config(config_path, "process")
    data = yaml.safe_load(generate(SPEC))
    data["kafka"] = {"bootstrap_servers": base.kafka.bootstrap_servers, "partitions": base.kafka.partitions,
                     "topics": dict(base.kafka.topics)}
    data["safety"] = {"max_decisions_per_minute": 1000}
    data["thresholds"] = {"stale_after_ms": 600_000}
    path = Path(tempfile.mkdtemp()) / "fabric.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = parse_config(path.read_text())
    leaves = [d.name for d in cfg.fabric.devices if d.role == "leaf"]
    p = RecordProducer(cfg.kafka, partitioner=DomainPartitioner(cfg),
                       **{"linger.ms": 20, "queue.buffering.max.messages": 500_000})
    progress(f"producing {events} records for {len(leaves)} leaves")
    t = time.time_ns()
    for leaf in leaves:
        _healthy(p, leaf, t)
    for i in range(events - 5 * len(leaves)):
        leaf = leaves[i % len(leaves)]
        ts = t + (i // len(leaves)) * 1_000_000
        p.send(InterfaceCounters(leaf, "ethernet-1/1", "gnmi", ts, ts, i * 1000, i * 1000,
                                                       speed_bps=10**10))
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(60)
    loop_before = python_loop_ms()
    progress("starting one worker")
    url = f"http://{METRICS}/metrics"
    app_id = f"bench-{time.time_ns()}"
    made_here(cfg.kafka, app_id)                      # its group, its tables' changelogs
    worker = spawn([sys.executable, "-m", "fabtel", "--log-level", "WARNING", "process", "--config", str(path),
                    "--app-id", app_id, "--metrics-listen", METRICS,
                    "--data-dir", str(path.parent / "faust")],       # not the current directory
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = None
        deadline = time.monotonic() + 300
        next_report = time.monotonic() + 1
        while time.monotonic() < deadline:
            n = _events(url)
            if n > 0 and first is None:
                first, ticks_first = (time.perf_counter(), n), host_cpu_ticks()
            if n >= events:
                break
            if time.monotonic() > next_report:
                progress(f"{int(n)} of {events} events processed")
                next_report += 1
            time.sleep(0.25)
        else:
            raise RuntimeError(f"the worker processed only {int(_events(url))} of {events} events in 300 s")
        done, ticks_done = time.perf_counter(), host_cpu_ticks()
        rate = (events - first[1]) / (done - first[0])
        loop_after = python_loop_ms()
        progress(f"{events} events processed; measuring decision latency on {LATENCY_LEAVES} leaves")
        latencies = _latency(cfg, p, leaves[::2][:LATENCY_LEAVES])
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        shutil.rmtree(path.parent, ignore_errors=True)
    return {"events_per_s": round(rate), **percentiles(latencies, "decision_latency_ms"),
            "decisions_measured": len(latencies), "events": events,
            "python_loop_ms": [loop_before, loop_after], "host_cpu": host_cpu_use(ticks_first, ticks_done),
            "machine": machine()}


def _latency(cfg, p: RecordProducer, leaves: list[str]) -> list[float]:
    c = Consumer({"bootstrap.servers": cfg.kafka.bootstrap_servers, "group.id": f"bench-{time.time_ns()}",
                  "fetch.wait.max.ms": 5, "auto.offset.reset": "latest", "enable.partition.eof": False})
    topic = cfg.kafka.topic("commands")
    meta = c.list_topics(topic, timeout=10)
    c.assign([TopicPartition(topic, part, -1) for part in meta.topics[topic].partitions])   # from the end
    c.poll(1)
    out = []
    for leaf in leaves:
        acked = {}

        def on_ack(err, msg, leaf=leaf):
            if err is None:
                acked[leaf] = time.perf_counter()
        t = time.time_ns()
        p.send(InterfaceState(leaf, "ethernet-1/49", "gnmi", t, t, "disable", "down"))
        p.send(InterfaceState(leaf, "ethernet-1/50", "gnmi", t + 1, t + 1, "disable", "down"),
               on_delivery=on_ack)
        p.flush(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msg = c.poll(0.005)
            if msg is None or msg.error():
                continue
            got = time.perf_counter()
            rec = p.codec.decode(msg.value())
            if rec.device == leaf:
                out.append((got - acked[leaf]) * 1000)
                break
        time.sleep(0.05)
    c.close()
    return out
