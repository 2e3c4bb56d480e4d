"""gNMI collectors fail over through Kafka's group protocol, as real
processes against the real broker and the lab: each device is streamed by
exactly one collector; SIGKILL one and its devices stream again through the
other within the session timeout plus a reconnect; a device added to the
inventory is picked up and a removed one released, with no restart."""
from __future__ import annotations

import dataclasses
import json
import re
import signal
import threading
import time

import pytest

from conftest import fabtel, running_lab, scrape_metrics, start_fabtel, wait_until, with_free_gnmi_ports, write_config
from fabtel.localstack.ports import free_port

DEVICES = ("spine1", "spine2", "leaf1", "leaf2", "leaf3")


def held(port: int) -> set[str]:
    """The devices a collector holds and streams, from its /metrics."""
    text = scrape_metrics(port)
    connected = set(re.findall(r'fabtel_gnmi_connected\{device="([^"]+)"\} 1\b', text))
    return connected & set(re.findall(r'fabtel_gnmi_held\{device="([^"]+)"\} 1\b', text))


@pytest.fixture()
def lab(config):
    cfg = with_free_gnmi_ports(config)
    cfg = dataclasses.replace(cfg, gnmi=dataclasses.replace(cfg.gnmi, sample_interval_ms=500, reconnect_min_ms=100,
                                                            reconnect_max_ms=1000))
    with running_lab(cfg, bgp_establish_s=0.5) as runner:
        yield cfg, runner


def streams(runner) -> dict[str, int]:
    """Active STREAM subscriptions per device, as the lab's targets count them."""
    return {name: len(t.servicer.streams) for name, t in runner.targets.items() if t.servicer is not None}


def test_a_killed_collector_hands_its_devices_to_the_other(lab, tmp_path):
    cfg, runner = lab
    path = write_config(cfg, tmp_path / "fabric.yaml")
    group = f"t-collectors-{time.time_ns()}"
    ports, procs = [free_port(), free_port()], []
    for i, port in enumerate(ports):
        log = open(tmp_path / f"collector{i}.log", "w")
        procs.append(start_fabtel("collect", "gnmi", "--config", str(path), "--group", group,
                                  "--metrics-listen", f"127.0.0.1:{port}", log=log))
    try:
        # Each device streamed once, by one collector, and both collectors hold some.
        assert wait_until(lambda: sorted(held(ports[0]) | held(ports[1])) == sorted(DEVICES)
                          and not held(ports[0]) & held(ports[1]) and held(ports[0]) and held(ports[1]), 60), \
            (held(ports[0]), held(ports[1]), (tmp_path / "collector0.log").read_text()[-2000:])
        assert wait_until(lambda: all(n == 1 for n in streams(runner).values()), 10), streams(runner)
        victim, survivor = (0, 1)
        moved = held(ports[victim])
        killed_at = time.monotonic()
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait(10)
        assert wait_until(lambda: moved <= held(ports[survivor]), 60), held(ports[survivor])
        failover_s = time.monotonic() - killed_at
        # Within the session timeout and a reconnect (with the group's rebalance), not minutes.
        assert failover_s < cfg.kafka.session_timeout_ms / 1000 + 10, failover_s
        # After that, no device is streamed by two collectors, and none by none.
        assert wait_until(lambda: all(n == 1 for n in streams(runner).values()), 10), streams(runner)
        time.sleep(2)
        assert all(n == 1 for n in streams(runner).values()), streams(runner)
        (tmp_path.parent / "failover.json").write_text(json.dumps({"moved": sorted(moved), "failover_s": failover_s}))
        print(f"collector failover: {len(moved)} devices ({', '.join(sorted(moved))}) streaming again through the "
              f"other collector {failover_s:.1f} s after SIGKILL (session timeout {cfg.kafka.session_timeout_ms} ms)")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(15)


def test_devices_added_and_removed_without_a_restart(lab, tmp_path):
    cfg, runner = lab
    path = write_config(cfg, tmp_path / "fabric.yaml")
    port = free_port()
    proc = start_fabtel("collect", "gnmi", "--config", str(path), "--group", f"t-collectors-{time.time_ns()}",
                        "--metrics-listen", f"127.0.0.1:{port}", log=open(tmp_path / "collector.log", "w"))
    try:
        assert wait_until(lambda: held(port) == set(DEVICES), 60), held(port)
        # The inventory loses leaf3: `sync` tombstones it, and the running collector releases it.
        from fabtel.connectors.gnmi.membership import read_targets, sync
        smaller = dataclasses.replace(cfg, fabric=dataclasses.replace(
            cfg.fabric, devices=tuple(d for d in cfg.fabric.devices if d.name != "leaf3")))
        partition = read_targets(cfg)["leaf3"][0]
        assert sync(smaller) == [f"leaf3: removed (partition {partition})"]
        assert wait_until(lambda: held(port) == set(DEVICES) - {"leaf3"}, 20), held(port)
        assert wait_until(lambda: streams(runner)["leaf3"] == 0, 10)
        # And gets it back, from the command an operator runs after editing the inventory.
        out = fabtel("topics", "sync-targets", "--config", str(path))
        assert out.returncode == 0 and out.stdout.splitlines() == [f"leaf3: published (partition {partition})"], out
        assert wait_until(lambda: held(port) == set(DEVICES), 20), held(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_a_rolling_restart_of_three_collectors_loses_no_state_change(lab, tmp_path):
    """Under load (an interface's admin state toggled every 0.8 s somewhere in
    the fabric), restart three collectors one after the other: every change
    the devices made is on the state topic, reported by the stream that held
    the device or by the initial sync of the one that took it over."""
    from fabtel.kafka import tail
    cfg, runner = lab
    path = write_config(cfg, tmp_path / "fabric.yaml")
    group = f"t-collectors-{time.time_ns()}"
    ports = [free_port() for _ in range(3)]

    def start(i):
        return start_fabtel("collect", "gnmi", "--config", str(path), "--group", group,
                            "--metrics-listen", f"127.0.0.1:{ports[i]}", log=open(tmp_path / f"collector{i}.log", "a"))

    def everyone_once():
        sets = [held(p) for p in ports]
        return sorted(set().union(*sets)) == sorted(DEVICES) and sum(len(s) for s in sets) == len(DEVICES)

    procs = [start(i) for i in range(3)]
    toggles = [(d, "ethernet-1/1") for d in ("leaf1", "leaf2", "leaf3")] + [(d, "ethernet-1/3") for d in ("spine1", "spine2")]
    changes: list[tuple[str, str, str, int]] = []
    stop = threading.Event()

    def toggle():
        i = 0
        while not stop.wait(0.8):
            device, iface = toggles[i % len(toggles)]
            up = (i // len(toggles)) % 2 == 1
            now = time.time_ns()
            if runner.fabric.set_admin(device, iface, up, now):
                changes.append((device, iface, "enable" if up else "disable", now))
            i += 1
    try:
        assert wait_until(everyone_once, 60), [held(p) for p in ports]
        toggler = threading.Thread(target=toggle, daemon=True)
        toggler.start()
        for i in range(3):                                 # the rolling restart
            procs[i].send_signal(signal.SIGTERM)
            procs[i].wait(20)
            procs[i] = start(i)
            assert wait_until(everyone_once, 60), [held(p) for p in ports]
            time.sleep(1.0)
        assert wait_until(lambda: len(changes) >= 20, 30)
        stop.set()
        toggler.join(5)
        time.sleep(3.0)                                     # the last changes reach the topic
        states = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("interface_state"), None, 3, until_end=True)
                  if r is not None]
        lost = []
        for n, (device, iface, admin, ts) in enumerate(changes):
            later = [c[3] for c in changes[n + 1:] if c[:2] == (device, iface)]
            until = later[0] if later else float("inf")
            if not any(s.device == device and s.interface == iface and s.admin_state == admin
                       and ts <= s.device_ts_ns < until for s in states):
                lost.append((device, iface, admin, ts))
        print(f"\nrolling restart of 3 collectors: {len(changes)} state changes made by the devices, {len(lost)} "
              f"missing from the state topic")
        assert lost == [], lost
        assert everyone_once() and all(n == 1 for n in streams(runner).values()), streams(runner)
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(15)
