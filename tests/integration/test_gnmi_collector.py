"""The gNMI collector against the lab's targets over real gRPC and the real
broker; the normalizer on hand-built notifications."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from pygnmi.spec.v080 import gnmi_pb2

from conftest import wait_until, with_free_gnmi_ports
from fabtel.connectors.gnmi.collector import GnmiCollector, shard
from fabtel.connectors.gnmi.normalize import DeviceNormalizer
from fabtel import gnmi_paths as gp
from fabtel.kafka import tail
from fabtel.records import InterfaceCounters, InterfaceState, LagMemberState
from fabtel.lab.runner import LabRunner
from fabtel.lab.scenario import Event, Scenario, Traffic


def _upd(path: str, **val):
    return gnmi_pb2.Update(path=gp.to_proto(gp.parse(path), gnmi_pb2), val=gnmi_pb2.TypedValue(**val))


def test_each_update_keeps_its_own_identity():
    """Guards pygnmi #177: updates of several interfaces in one notification,
    one of them under a prefix, are never attributed to the last prefix."""
    n = gnmi_pb2.Notification(timestamp=123, prefix=gp.to_proto(gp.parse("/interface[name=ethernet-1/1]"), gnmi_pb2),
                              update=[_upd("oper-state", string_val="down")])
    norm = DeviceNormalizer("leaf1")
    [rec] = norm.feed(n, 456)
    assert (rec.interface, rec.oper_state, rec.device_ts_ns, rec.receive_ts_ns) == ("ethernet-1/1", "down", 123, 456)
    n2 = gnmi_pb2.Notification(timestamp=124, update=[
        _upd("/interface[name=ethernet-1/49]/oper-state", string_val="down"),
        _upd("/interface[name=ethernet-1/50]/admin-state", string_val="disable"),
        _upd("/interface[name=ethernet-1/49]/statistics/in-octets", uint_val=10),
        _upd("/interface[name=ethernet-1/50]/statistics/in-octets", uint_val=20),
        _upd("/interface[name=lag1]/lag/member[name=ethernet-1/1]/lacp/collecting", bool_val=True),
        _upd("/interface[name=lag1]/lag/member[name=ethernet-1/1]/lacp/synchronization", string_val="IN_SYNC"),
        _upd("/network-instance[name=default]/protocols/bgp/neighbor[peer-address=198.18.128.1]/session-state",
             string_val="idle"),
        _upd("/system/information/version", string_val="v25.3.1")])
    recs = norm.feed(n2, 457)
    states = {r.interface: (r.admin_state, r.oper_state) for r in recs if isinstance(r, InterfaceState)}
    assert states == {"ethernet-1/49": (None, "down"), "ethernet-1/50": ("disable", None)}
    counters = {r.interface: r.in_octets for r in recs if isinstance(r, InterfaceCounters)}
    assert counters == {"ethernet-1/49": 10, "ethernet-1/50": 20}
    [lag] = [r for r in recs if isinstance(r, LagMemberState)]
    assert (lag.lag, lag.member, lag.actor_oper_port_state) == ("lag1", "ethernet-1/1", 8 | 16)
    assert [r.session_state for r in recs if type(r).__name__ == "BgpSession"] == ["idle"]
    assert norm.unknown_paths == {"/system/information/version"}
    # ON_CHANGE sends only what changed; the record still carries the whole known state.
    [again] = norm.feed(gnmi_pb2.Notification(timestamp=125, update=[
        _upd("/interface[name=ethernet-1/1]/admin-state", string_val="disable")]), 458)
    assert (again.admin_state, again.oper_state) == ("disable", "down")


def test_openconfig_paths_normalize_the_same():
    norm = DeviceNormalizer("leaf2", "openconfig")
    recs = norm.feed(gnmi_pb2.Notification(timestamp=1, update=[
        _upd("/interfaces/interface[name=ethernet-1/49]/state/oper-status", string_val="DOWN"),
        _upd("/interfaces/interface[name=ethernet-1/49]/state/admin-status", string_val="UP"),
        _upd("/interfaces/interface[name=ethernet-1/49]/state/counters/out-octets", uint_val=5),
        _upd("/lacp/interfaces/interface[name=lag1]/members/member[interface=ethernet-1/1]/state/distributing", bool_val=False),
        _upd("/network-instances/network-instance[name=default]/protocols/protocol[identifier=BGP][name=BGP]/bgp/"
             "neighbors/neighbor[neighbor-address=198.18.128.3]/state/session-state", string_val="ESTABLISHED")]), 2)
    kinds = {type(r).__name__: r for r in recs}
    assert (kinds["InterfaceState"].admin_state, kinds["InterfaceState"].oper_state) == ("enable", "down")
    assert kinds["InterfaceCounters"].out_octets == 5
    assert kinds["LagMemberState"].actor_oper_port_state == 0
    assert kinds["BgpSession"].session_state == "established" and kinds["BgpSession"].peer_address == "198.18.128.3"


def test_shards_split_devices_once():
    devices = list(range(7))
    parts = [shard(devices, f"{i}/3") for i in range(3)]
    assert sorted(sum(parts, [])) == devices


@pytest.fixture()
def lab_and_collector(config):
    cfg = with_free_gnmi_ports(config)
    cfg = dataclasses.replace(cfg, gnmi=dataclasses.replace(cfg.gnmi, sample_interval_ms=500, reconnect_min_ms=100,
                                                            reconnect_max_ms=1000))
    started = []

    def start(scenario, devices=("leaf1", "leaf2")):
        runner = LabRunner(cfg, scenario, bgp_establish_s=0.5)
        runner.start()
        lab_stop = threading.Event()
        threading.Thread(target=runner.run, args=(lab_stop,), daemon=True).start()
        collector = GnmiCollector(cfg, [cfg.fabric.device(d) for d in devices])
        stop = threading.Event()
        collector.start(stop)
        threading.Thread(target=collector.watch, args=(stop,), daemon=True).start()
        started.append((runner, lab_stop, collector, stop))
        return runner, collector
    yield cfg, start
    for runner, lab_stop, collector, stop in started:
        stop.set()
        collector.close()
        lab_stop.set()
        runner.stop()



def _wait(predicate, timeout=15):
    return wait_until(predicate, timeout)


def test_state_change_in_a_scenario_arrives_on_the_state_topic(lab_and_collector):
    cfg, start = lab_and_collector
    scenario = Scenario("t", 60, (Traffic("client1", "client2", 8, 50_000),),
                        (Event(2.0, "leaf1", ("ethernet-1/49",), admin_state="disable"),))
    runner, collector = start(scenario)
    assert _wait(lambda: runner.applied, 10)
    assert _wait(lambda: collector.metrics.get("records_total", "leaf1") > 50)
    collector.state.flush(5)
    states = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("interface_state"), None, 3, until_end=True)]
    downs = [s for s in states if s.device == "leaf1" and s.interface == "ethernet-1/49" and s.oper_state == "down"]
    assert len(downs) == 1 and downs[0].admin_state == "disable"
    assert downs[0].device_ts_ns >= runner.applied[0]["ts_ns"] and downs[0].receive_ts_ns >= downs[0].device_ts_ns
    # the spine's side of the link too is not in this collector's devices; leaf2 is, and is untouched
    assert not [s for s in states if s.device == "leaf2" and s.oper_state == "down"]
    bgp = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("bgp_session"), None, 3, until_end=True)]
    assert any(b.device == "leaf1" and b.session_state == "idle" for b in bgp)
    counters = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("interface_counters"), None, 3, until_end=True)]
    c = [x for x in counters if x.device == "leaf1" and x.interface == "ethernet-1/1"]
    assert len(c) >= 2 and c[-1].in_octets > c[0].in_octets and c[-1].speed_bps == 10**10
    members = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("lag_member"), None, 3, until_end=True)]
    assert any(m.device == "leaf1" and m.member == "ethernet-1/1" and m.actor_oper_port_state == 61 for m in members)


def test_killed_target_comes_back_without_restarting_the_collector(lab_and_collector):
    cfg, start = lab_and_collector
    runner, collector = start(Scenario("t", 120, (Traffic("client1", "client2", 8, 50_000),)))
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 1)
    runner.targets["leaf1"].stop()            # the device's gNMI server dies
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 0, 5)
    time.sleep(1.0)
    assert collector.metrics.get("connected", "leaf2") == 1      # the other device is not delayed
    before = collector.metrics.get("records_total", "leaf2")
    assert _wait(lambda: collector.metrics.get("records_total", "leaf2") > before, 3)
    runner.targets["leaf1"].start()           # and reboots
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 1, 15)
    assert collector.metrics.get("reconnects_total", "leaf1") >= 1
    runner.fabric.set_admin("leaf1", "ethernet-1/50", False, time.time_ns())
    assert _wait(lambda: collector.state.delivered and any(
        s.device == "leaf1" and s.interface == "ethernet-1/50" and s.oper_state == "down"
        for s, _ in tail(cfg.kafka, cfg.kafka.topic("interface_state"), None, 1, until_end=True)), 15)
    states = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("interface_state"), None, 2, until_end=True)]
    # Interfaces are never mixed up: only ethernet-1/50 and its LAG-free peer changed on leaf1.
    downs = {(s.device, s.interface) for s in states if s.oper_state == "down"}
    assert downs == {("leaf1", "ethernet-1/50")}


def test_rejected_path_is_reported_once_and_the_rest_goes_on(lab_and_collector):
    cfg, start = lab_and_collector
    runner, collector = start(Scenario("t", 60, ()), devices=("leaf1",))
    sub = collector.subscribers[0]
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 1, 10)
    sub.paths.append(("/no-such-container/leaf", "on_change"))
    sub.call.cancel()                         # resubscribe with the bad path included
    assert _wait(lambda: collector.metrics.get("rejected_paths_total", "leaf1", "/no-such-container/leaf") == 1, 15)
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 1, 10)
    time.sleep(2)
    assert collector.metrics.get("rejected_paths_total", "leaf1", "/no-such-container/leaf") == 1
    before = collector.metrics.get("updates_total", "leaf1")
    assert _wait(lambda: collector.metrics.get("updates_total", "leaf1") > before, 5)


def test_a_fault_inside_fabtel_does_not_give_the_device_up(lab_and_collector, caplog):
    """A failure of fabtel's own while handling a stream (here: handing its
    records on) is logged with its stack, and the device is subscribed again
    after the backoff, where it used to end the device's thread for good."""
    cfg, start = lab_and_collector
    runner, collector = start(Scenario("t", 60, (Traffic("client1", "client2", 8, 50_000),)), devices=("leaf1",))
    sub = collector.subscribers[0]
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 1, 10)
    emit, failed = sub.emit, []

    def faulty(records):
        if not failed:
            failed.append(records)
            raise KeyError("a bug")
        emit(records)
    sub.emit = faulty
    assert _wait(lambda: failed, 10)
    assert _wait(lambda: collector.metrics.get("reconnects_total", "leaf1") >= 1, 10)
    assert _wait(lambda: collector.metrics.get("connected", "leaf1") == 1, 10)
    before = collector.metrics.get("records_total", "leaf1")
    assert _wait(lambda: collector.metrics.get("records_total", "leaf1") > before, 5)
    assert "failed inside fabtel" in caplog.text and "KeyError: 'a bug'" in caplog.text
