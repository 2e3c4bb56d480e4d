"""The Faust worker with records fed through the real broker: uplink loss and
recovery decisions, the segment safety rule, LAG balance with counter wrap
and LACP states, stale telemetry, sFlow normalization, dead letters, and a
replay after a crash that produces no duplicate command."""
from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest
from confluent_kafka import Producer

from conftest import free_port, scrape_metrics, start_fabtel, write_config
from fabtel.connectors.sflow.codec import decode_datagram, encode_datagram
from fabtel.kafka import RecordProducer, tail
from fabtel.partitioning import DomainPartitioner
from fabtel.records import BgpSession, IfIndexEntry, InterfaceCounters, InterfaceIndexes, InterfaceState, LagMemberState
from sflow_cases import SRL_ETHERNET_1_49, SRL_LAG1
from sflow_cases import counters as sflow_counters

S = 1_000_000_000


@pytest.fixture()
def worker(config, tmp_path):
    path = write_config(config, tmp_path / "fabric.yaml", thresholds={"stale_after_ms": 4000, "window_ms": 2000})
    app_id = f"fabtel-test-{uuid.uuid4().hex[:6]}"
    logs = []
    metrics_port = free_port()

    def start():
        name = tmp_path / f"worker{len(logs)}.log"
        log = open(name, "w")
        logs.append(log)
        proc = start_fabtel("process", "--config", str(path), "--app-id", app_id, "--data-dir", str(tmp_path / "faust"),
                            "--metrics-listen", f"127.0.0.1:{metrics_port}", log=log)
        # Feed only a ready worker: records older than stale_after_ms when they
        # are processed describe a device we have not heard from lately.
        deadline = time.monotonic() + 60
        while "worker ready (app" not in name.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, name.read_text()[-2000:]
            time.sleep(0.2)
        # Start-up in fabtel's one-line format: no Faust tables or service chatter at INFO.
        started = name.read_text().splitlines()
        assert len(started) <= 10 and not [x for x in started if "Starting..." in x or x[:1] in "+|┌│"], started
        return proc
    procs = [start()]
    start.metrics_port = metrics_port           # the worker's /metrics (each start serves it there)
    yield config, procs, start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except Exception:
                p.kill()


def _records(cfg, key, wait_s=3):
    return [r for r, _ in tail(cfg.kafka, cfg.kafka.topic(key), None, wait_s, until_end=True)]


def _wait_for(cfg, key, predicate, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in _records(cfg, key, 1) if predicate(r)]
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"nothing on {key} matched within {timeout} s")


class Feed:
    """Records into the input topics; a heartbeat thread keeps the devices
    fresh (counters every 0.5 s) except those in `silent`."""

    def __init__(self, cfg):
        self.p = RecordProducer(cfg.kafka, partitioner=DomainPartitioner(cfg))
        self.hb = RecordProducer(cfg.kafka, partitioner=DomainPartitioner(cfg))
        self.silent: set[str] = set()
        self.stop = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self):
        while not self.stop.wait(0.5):
            t = time.time_ns()
            for dev in {"leaf1", "leaf2", "leaf3"} - self.silent:
                self.hb.send(InterfaceCounters(dev, "ethernet-1/2", "gnmi", t, t, 0, 0))
            self.hb.flush()

    def state(self, dev, intf, oper, admin="enable"):
        t = time.time_ns()
        self.p.send(InterfaceState(dev, intf, "gnmi", t, t, admin, oper))

    def bgp(self, dev, peer, st):
        t = time.time_ns()
        self.p.send(BgpSession(dev, "default", peer, t, t, st))

    def leaf(self, dev, up=True):
        for i, u in enumerate(("ethernet-1/49", "ethernet-1/50")):
            self.state(dev, u, "up" if up else "down", "enable" if up else "disable")
            self.bgp(dev, f"198.18.128.{i}", "established" if up else "idle")
        self.p.flush()


def test_decisions_through_the_broker(worker):
    cfg, procs, start = worker
    feed = Feed(cfg)
    for dev in ("leaf1", "leaf2", "leaf3"):
        feed.leaf(dev)
        feed.state(dev, "ethernet-1/1", "up")
    feed.p.flush()
    for dev in ("leaf1", "leaf2", "leaf3"):
        _wait_for(cfg, "uplink_health", lambda h: h.device == dev and h.state == "healthy")

    # leaf1 loses both uplinks: one disable decision and one command.
    feed.leaf("leaf1", up=False)
    [dec] = _wait_for(cfg, "decisions", lambda d: d.device == "leaf1")
    assert dec.action == "disable" and not dec.suppressed, dec.reason
    [cmd] = _wait_for(cfg, "commands", lambda c: c.device == "leaf1")
    assert (cmd.interface, cmd.value, cmd.decision_id) == ("ethernet-1/1", '"disable"', dec.decision_id)
    _wait_for(cfg, "uplink_health", lambda h: h.device == "leaf1" and h.state == "isolated")
    feed.state("leaf1", "ethernet-1/1", "down", "disable")           # the executor applied it

    # The same records again (a replay upstream) decide nothing new.
    feed.leaf("leaf1", up=False)
    time.sleep(2)

    # leaf2 now loses its uplinks: taking it down would cut client1 off.
    feed.leaf("leaf2", up=False)
    [sup] = _wait_for(cfg, "decisions", lambda d: d.device == "leaf2")
    assert sup.suppressed and "last active member of the ethernet segment" in sup.reason
    decisions = _records(cfg, "decisions")
    assert len({d.decision_id for d in decisions if d.device == "leaf1"}) == 1
    assert not [c for c in _records(cfg, "commands") if c.device == "leaf2"]

    # A crash and a restart: the state comes back from the table's changelog,
    # uncommitted input is replayed, and no new command appears.
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(10)
    procs.append(start())
    time.sleep(3)
    _wait_for(cfg, "uplink_health", lambda h: h.device == "leaf3" and h.evaluated_ts_ns > time.time_ns() - 3 * S, 30)
    commands = _records(cfg, "commands")
    assert {c.command_id for c in commands} == {cmd.command_id}

    # leaf1's uplinks return: enable only once BGP is established and the hold-up passed.
    for i, u in enumerate(("ethernet-1/49", "ethernet-1/50")):
        feed.state("leaf1", u, "up")
    feed.p.flush()
    time.sleep(6)
    assert not [d for d in _records(cfg, "decisions") if d.device == "leaf1" and d.action == "enable"]
    t_up = time.time_ns()          # before the records: the hold-up counts from their timestamps, and a fast
    feed.leaf("leaf1", up=True)    # worker may decide before the producer's flush has returned here
    [enable] = _wait_for(cfg, "decisions", lambda d: d.device == "leaf1" and d.action == "enable", 20)
    assert enable.decided_ts_ns - t_up >= 5 * S                        # hold_up_ms 5000


def test_lag_balance_stale_telemetry_sflow_and_dead_letters(worker):
    cfg, procs, start = worker
    feed = Feed(cfg)
    feed.leaf("leaf3")
    t0 = time.time_ns()
    for dev, partner in (("leaf1", 61), ("leaf2", 13)):
        feed.p.send(LagMemberState(dev, "lag1", "ethernet-1/1", "sflow", t0, t0, "up", "02:11:00:00:01",
                                                 "00:c1:c1:00:00:01", SRL_LAG1, 61, 61, 61, partner))
    # leaf1's counter wraps at 2^32 while traffic flows; leaf2 carries a tenth of it.
    base = 2**32 - 3_000_000
    for i in range(12):
        t = t0 + i * S // 2
        feed.p.send(InterfaceCounters("leaf1", "ethernet-1/1", "sflow", t, t,
                                                            (base + i * 500_000) % 2**32, 0, speed_bps=10**10))
        feed.p.send(InterfaceCounters("leaf2", "ethernet-1/1", "sflow", t, t,
                                                            i * 50_000, 0, speed_bps=10**10))
        feed.p.flush()
        time.sleep(0.5)
    results = _wait_for(cfg, "lag_balance", lambda r: r.lag_id.startswith("esi:") and
                        any(m.rate_bps > 0 for m in r.members))
    r = results[-1]
    rates = {m.device: m.rate_bps for m in r.members}
    assert rates["leaf1"] == pytest.approx(8e6, rel=0.05) and rates["leaf2"] == pytest.approx(8e5, rel=0.05)
    health = {m.device: m.lacp_healthy for m in r.members}
    assert health == {"leaf1": True, "leaf2": False}
    assert "leaf2:ethernet-1/1 unhealthy" in r.alert

    # leaf3 goes silent: its uplink health turns unknown, and nothing is decided.
    feed.silent.add("leaf3")
    _wait_for(cfg, "uplink_health", lambda h: h.device == "leaf3" and h.state == "unknown", 20)
    assert not [d for d in _records(cfg, "decisions") if d.device == "leaf3"]

    # An sFlow counter sample comes out as normalized records, named by the
    # ifIndex map leaf1 reports: it comes first, waits for the map, and is
    # named once the map arrives.
    sample = decode_datagram(encode_datagram("198.18.0.11", 0, 1, 1000, [
        sflow_counters(1, SRL_ETHERNET_1_49, 12345)]), time.time_ns()).samples[0]
    sample.device = "leaf1"
    feed.p.send(sample)
    feed.p.flush()
    waiting = 'fabtel_pipeline_unresolved_ifindex_total{device="leaf1",reason="waiting for the device\'s ifIndex map"} 1'
    deadline = time.monotonic() + 10
    while waiting not in scrape_metrics(start.metrics_port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert waiting in scrape_metrics(start.metrics_port)
    assert not [c for c in _records(cfg, "interface_counters") if c.source == "sflow" and c.in_octets == 12345]
    feed.p.send(InterfaceIndexes("leaf1", "gnmi", [IfIndexEntry("ethernet-1/49", SRL_ETHERNET_1_49)], t0, t0))
    # A corrupt message on an input topic goes to the dead-letter topic.
    raw = Producer({"bootstrap.servers": cfg.kafka.bootstrap_servers})
    raw.produce(cfg.kafka.topic("interface_state"), b"\x00\x01not avro", b"leaf1")
    raw.flush(10)
    feed.p.flush()
    _wait_for(cfg, "interface_counters", lambda c: c.source == "sflow" and c.interface == "ethernet-1/49"
              and c.in_octets == 12345)
    assert 'fabtel_pipeline_resolved_ifindex_total{device="leaf1",reason="waiting for the device\'s ifIndex map"} 1' \
        in scrape_metrics(start.metrics_port)
    [letter] = _wait_for(cfg, "dead_letters", lambda d: d.component == "pipeline-evaluate")
    assert letter.payload == b"\x00\x01not avro" and letter.source_topic == cfg.kafka.topic("interface_state")
