"""`fabtel bench gnmi`: the gNMI collector against lab targets in a separate
process (a generated fabric), producing to the local broker.

updates_per_s: gNMI updates turned into records in Kafka per second of the
collector's own CPU time (process time, all its threads): the per-core rate,
independent of how much CPU the lab's targets take on this 2-core machine.
Measured with a 250 ms sample interval to load the collector.
state_change_to_kafka_ms: from a state change at a target (the notification's
device timestamp) to its record being acknowledged by the broker, for
admin-state toggles made over gNMI Set, with the configuration's sample
interval (1 s in the example) running beside them."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time

from fabtel.bench.common import machine, percentiles, progress
from fabtel.localstack.supervisor import spawn

SPLITS: list = []
WARMUP = 30          # toggles (about 1 s) left out of the percentiles
SPEC = "leaf-spine:spines=2,leaves=16,ports=16"


def _collector(cfg, latencies=None, watched=None):
    from fabtel.connectors.gnmi.collector import GnmiCollector
    collector = GnmiCollector(cfg)
    if latencies is not None:
        original_send = collector.state.send

        def send(rec, on_delivery=None):
            if rec.device == "leaf1" and getattr(rec, "interface", None) == watched and \
                    getattr(rec, "oper_state", None) is not None:
                def acked(err, msg, ts=rec.device_ts_ns, rts=rec.receive_ts_ns):
                    collector.state._on_delivery(err, msg)
                    if err is None:
                        latencies.append((time.time_ns() - ts) / 1e6)
                        SPLITS.append(((rts - ts) / 1e6, (time.time_ns() - rts) / 1e6))
                return original_send(rec, acked)
            return original_send(rec, on_delivery)
        collector.state.send = send
    stop = threading.Event()
    collector.start(stop)
    threading.Thread(target=collector.watch, args=(stop,), daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(collector.metrics.get("connected", d.name) for d in collector.devices) < len(collector.devices):
        time.sleep(0.2)
    return collector, stop


def run(config_path: str, seconds: float, toggles: int = 300, vs: str | None = None, collectors: int | None = None) -> dict:
    if collectors:
        return run_group(config_path, seconds, collectors)
    from fabtel.bench.common import bench_config
    from fabtel.connectors.gnmi.client import GnmiClient
    from fabtel.platforms import platform
    from fabtel.config import parse_config
    from fabtel.lab.generate import generate
    base = bench_config(config_path, "gnmi")
    cfg = dataclasses.replace(parse_config(generate(SPEC, base_port=24000)), kafka=base.kafka)
    progress(f"starting the lab ({SPEC}) in its own process")
    lab = spawn([sys.executable, "-m", "fabtel", "lab", "run", "--generate", SPEC,
                            "--gnmi-base-port", "24000", "--duration", str(seconds + 120)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        loaded = dataclasses.replace(cfg, gnmi=dataclasses.replace(cfg.gnmi, sample_interval_ms=250))
        collector, stop = _collector(loaded)
        progress(f"{len(collector.devices)} devices connected; counting updates for {seconds:.0f} s (250 ms samples)")
        u0, c0, t0 = _updates(collector), time.process_time(), time.perf_counter()
        time.sleep(seconds)
        u1, c1, t1 = _updates(collector), time.process_time(), time.perf_counter()
        stop.set()
        collector.close()
        peer = _gnmic(loaded, seconds) if vs else {}

        latencies: list[float] = []
        watched = "ethernet-1/1"
        collector, stop = _collector(cfg, latencies, watched)
        progress(f"toggling {watched} on leaf1 {toggles} times over gNMI Set ({cfg.gnmi.sample_interval_ms} ms samples beside)")
        client = GnmiClient(cfg.fabric.device("leaf1"))
        for i in range(toggles):
            client.set_update(*platform("srlinux").admin_command(watched, up=i % 2 == 1))
            time.sleep(0.03)
        client.close()
        time.sleep(2)
        stop.set()
        collector.close()
    finally:
        lab.terminate()
        lab.wait(10)
    # The first second after a producer starts waits for the broker's producer
    # id and partition leaders; the steady state is what a running collector sees.
    warmup, latencies = latencies[:WARMUP], sorted(latencies[WARMUP:])
    slow = sorted(SPLITS[WARMUP:], key=lambda x: -sum(x))[:3]
    progress(f"slowest after warm-up (target->collector ms, collector->ack ms): {[(round(a, 1), round(b, 1)) for a, b in slow]}")

    return {"updates_per_s": round((u1 - u0) / max(c1 - c0, 1e-9)),
            "updates_per_s_wall": round((u1 - u0) / (t1 - t0)),
            "collector_cpu_share": round((c1 - c0) / (t1 - t0), 2),
            **percentiles(latencies, "state_change_to_kafka_ms", 2),
            "state_changes_measured": len(latencies), "warmup_max_ms": round(max(warmup), 1) if warmup else None,
            "devices": len(cfg.fabric.devices), "machine": machine(), **peer,
            **({"ratio_fabtel_over_gnmic": round((u1 - u0) / max(c1 - c0, 1e-9) / peer["gnmic_updates_per_cpu_s"], 2)}
               if peer else {})}


def _gnmic(cfg, seconds: float) -> dict:
    """gnmic on the same lab, the same paths and sample interval, into a topic
    of its own on the same broker (protobuf SubscribeResponses): updates that
    reached the broker per second of gnmic's CPU time."""
    import os
    import tempfile

    import yaml
    from confluent_kafka import Consumer, TopicPartition
    from pygnmi.spec.v080 import gnmi_pb2

    from fabtel.bench import peers
    from fabtel.bench.common import cpu_seconds, topic_count
    from fabtel.kafka import consumer_settings, create_topics
    from fabtel.platforms import platform
    gnmic = str(peers.ensure("gnmic", progress))
    topic = f"{cfg.kafka.topic('interface_counters')}.gnmic"
    create_topics(dataclasses.replace(cfg.kafka, topics={"gnmic": topic}))
    paths = platform("srlinux").subscriptions
    conf = {"username": os.environ.get("FABTEL_GNMI_USER", "admin"),
            "password": os.environ.get("FABTEL_GNMI_PASSWORD", "fabtel-lab"), "insecure": True,
            "encoding": "json_ietf", "log": False,
            "targets": {d.gnmi.address: {} for d in cfg.fabric.devices if d.gnmi},
            "subscriptions": {
                "state": {"paths": [p for p, how in paths if how == "on_change"], "mode": "stream",
                          "stream-mode": "on-change"},
                "counters": {"paths": [p for p, how in paths if how == "sample"], "mode": "stream",
                             "stream-mode": "sample", "sample-interval": f"{cfg.gnmi.sample_interval_ms}ms"}},
            "outputs": {"kafka": {"type": "kafka", "address": cfg.kafka.bootstrap_servers, "topic": topic,
                                  "format": "proto", "num-workers": 1}}}
    with tempfile.TemporaryDirectory(prefix="fabtel-gnmic-") as d:
        path = os.path.join(d, "gnmic.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(conf, f)
        proc = spawn([gnmic, "--config", path, "subscribe"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            time.sleep(5)                                # connected, initial syncs done
            n0, c0 = topic_count(cfg, topic), cpu_seconds(proc.pid)
            progress(f"gnmic: counting updates for {seconds:.0f} s on the same lab")
            time.sleep(seconds)
            n1, c1 = topic_count(cfg, topic), cpu_seconds(proc.pid)
        finally:
            proc.terminate()
            proc.wait(20)
    # Each message is one SubscribeResponse: count its updates.
    consumer = Consumer(consumer_settings(cfg.kafka, f"bench-gnmic-{time.time_ns()}"))
    consumer.assign([TopicPartition(topic, p, 0) for p in consumer.list_topics(topic).topics[topic].partitions])
    per_message, seen = [], 0
    while seen < min(n1, 2000):
        msg = consumer.poll(2)
        if msg is None:
            break
        if not msg.error():
            seen += 1
            resp = gnmi_pb2.SubscribeResponse.FromString(msg.value())
            per_message.append(len(resp.update.update))
    consumer.close()
    mean = sum(per_message) / len(per_message) if per_message else 0
    updates = (n1 - n0) * mean
    return {"gnmic_updates_per_cpu_s": round(updates / max(c1 - c0, 1e-9)), "gnmic_messages": n1 - n0,
            "gnmic_updates_per_message": round(mean, 1), "gnmic_cpu_share": round((c1 - c0) / seconds, 2)}


def _updates(collector) -> float:
    return sum(collector.metrics.series("updates_total").values())


GROUP_SPEC = "leaf-spine:spines=2,leaves=254,ports=4"       # 256 devices


def run_group(config_path: str, seconds: float, collectors: int) -> dict:
    """`--collectors N`: N collector processes in one targets group against a
    lab of 256 devices: how the group spread the devices, and updates per
    second of the collectors' own CPU time (all of them, and each)."""
    import re
    import tempfile
    import urllib.request

    import yaml

    from fabtel.bench.common import bench_config, cpu_seconds
    from fabtel.lab.generate import generate
    from fabtel.localstack.ports import free_port
    base = bench_config(config_path, "gnmi-group")
    data = yaml.safe_load(generate(GROUP_SPEC, base_port=24000))
    data["kafka"] = {"bootstrap_servers": base.kafka.bootstrap_servers, "topics": dict(base.kafka.topics),
                     "targets_partitions": 60}
    data["gnmi"] = {"sample_interval_ms": 1000}
    path = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="fabtel-bench-", delete=False)
    yaml.safe_dump(data, path, sort_keys=False)
    path.close()
    devices = [d["name"] for d in data["fabric"]["devices"]]

    def scrape(port: int) -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
                text = resp.read().decode()
        except OSError:
            return {"held": set(), "connected": set(), "updates": 0.0}
        return {"held": set(re.findall(r'fabtel_gnmi_held\{device="([^"]+)"\} 1\b', text)),
                "connected": set(re.findall(r'fabtel_gnmi_connected\{device="([^"]+)"\} 1\b', text)),
                "updates": sum(float(v) for v in re.findall(r'fabtel_gnmi_updates_total\{[^}]*\} (\S+)', text))}

    progress(f"starting the lab ({GROUP_SPEC}: {len(devices)} devices) in its own process")
    lab = spawn([sys.executable, "-m", "fabtel", "lab", "run", "--generate", GROUP_SPEC,
                            "--gnmi-base-port", "24000", "--duration", str(seconds + 300), "--no-sflow"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = [free_port() for _ in range(collectors)]
    procs = []
    try:
        time.sleep(5)
        group = f"bench-gnmi-{time.time_ns()}"
        for i, port in enumerate(ports):
            procs.append(spawn(
                [sys.executable, "-m", "fabtel", "collect", "gnmi", "--config", path.name, "--group", group,
                 "--metrics-listen", f"127.0.0.1:{port}"] + (["--no-publish"] if i else []),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if i == 0:
                time.sleep(3)                 # the first publishes the inventory
        progress(f"{collectors} collectors in group {group}; waiting until every device streams")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            seen = [scrape(p) for p in ports]
            if sum(len(s["connected"] & s["held"]) for s in seen) == len(devices):
                break
            time.sleep(1)
        held = [len(s["held"]) for s in seen]
        progress(f"devices held per collector: {held}; counting updates for {seconds:.0f} s")
        u0, c0 = [s["updates"] for s in seen], [cpu_seconds(p.pid) for p in procs]
        time.sleep(seconds)
        seen = [scrape(p) for p in ports]
        u1, c1 = [s["updates"] for s in seen], [cpu_seconds(p.pid) for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        lab.terminate()
        lab.wait(20)
    per = [round((b - a) / max(d - c, 1e-9)) for a, b, c, d in zip(u0, u1, c0, c1)]
    return {"collectors": collectors, "devices": len(devices), "devices_held": held,
            "all_devices_streaming": sum(held) == len(devices),
            "updates_per_s": round((sum(u1) - sum(u0)) / max(sum(c1) - sum(c0), 1e-9)),
            "updates_per_s_each": per, "updates_per_s_wall": round((sum(u1) - sum(u0)) / seconds),
            "sample_interval_ms": 1000, "machine": machine()}
