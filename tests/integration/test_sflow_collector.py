"""The UDP collector against the real broker: samples reach Kafka keyed by
device; lost datagrams, restarts, unknown agents and
malformed datagrams are counted; the service keeps running."""
from __future__ import annotations

import socket
import threading
import time

from fabtel.connectors.sflow.codec import encode_datagram
from fabtel.connectors.sflow.collector import SflowCollector
from fabtel.kafka import RecordProducer, tail
from fabtel.records import IfIndexEntry, InterfaceIndexes, FlowWindow
from sflow_cases import HEALTHY, SRL_ETHERNET_1_1, SRL_LAG1, SYNC_ONLY, counters, flow


def _run(config):
    collector = SflowCollector(config)
    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(target=collector.run, args=("127.0.0.1:0", stop, ready), daemon=True)
    t.start()
    assert ready.wait(10)
    return collector, stop, t


def test_collector_into_kafka(config):
    collector, stop, thread = _run(config)
    ifindex = SRL_ETHERNET_1_1
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = collector.bound
    datagrams = [
        encode_datagram("198.18.0.11", 0, 1, 1000, [counters(1, ifindex, 5000, lag_states=(HEALTHY, HEALTHY, HEALTHY, SYNC_ONLY))]),
        encode_datagram("198.18.0.11", 0, 2, 2000, [flow(2, v6=False, tcp=True)]),
        encode_datagram("198.18.0.11", 0, 5, 5000, [counters(3, ifindex, 6000)]),        # 3 and 4 lost
        encode_datagram("198.18.0.11", 0, 1, 100, [counters(4, ifindex, 10)]),           # agent restarted
        encode_datagram("203.0.113.9", 0, 1, 100, [counters(5, 77, 10, with_lag=False)]),  # unknown agent
        b"\x00\x00\x00\x04" + b"garbage" * 8,
    ]
    for d in datagrams:
        send.sendto(d, addr)
    deadline = time.monotonic() + 10
    while collector.metrics.get("datagrams_total") < len(datagrams) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(15)
    m = collector.metrics
    assert m.get("datagrams_total") == 6
    assert m.get("samples_total", "counters") == 4 and m.get("samples_total", "flow") == 1
    assert m.get("lost_datagrams_total", "198.18.0.11") == 2
    assert m.get("agent_restarts_total", "198.18.0.11") == 1
    assert m.get("unknown_agents_total", "203.0.113.9") == 1
    assert m.get("rejected_total", "wrong version") == 1
    assert m.get("dropped_total", "kafka_queue_full") == 0
    assert 'fabtel_sflow_rejected_total{reason="truncated header"} 0' in m.render()

    samples = [r for r, _ in tail(config.kafka, config.kafka.topic("sflow_samples"), 5, 10)]
    assert len(samples) == 5
    assert {s.device for s in samples} == {"leaf1", None}
    assert {(s.device, s.source_id_index) for s in samples} >= {("leaf1", ifindex), (None, 77)}
    letters = [r for r, _ in tail(config.kafka, config.kafka.topic("dead_letters"), 1, 10)]
    assert letters[0].component == "sflow-collector" and "wrong version" in letters[0].reason


def test_normalize_maps_interfaces_and_lag_state(config):
    from fabtel.connectors.sflow.codec import decode_datagram
    from fabtel.connectors.sflow.normalize import Inventory, normalize
    inv = Inventory(config.fabric)
    inv.learn(InterfaceIndexes("leaf1", "gnmi", [IfIndexEntry("ethernet-1/1", SRL_ETHERNET_1_1),
                                                 IfIndexEntry("lag1", SRL_LAG1)], 0, 0))
    dg = decode_datagram(encode_datagram("198.18.0.11", 0, 1, 1000, [
        counters(1, SRL_ETHERNET_1_1, 2**40, lag_states=(HEALTHY, HEALTHY, HEALTHY, SYNC_ONLY))]), 77)
    sample = dg.samples[0]
    sample.device = inv.device(sample.agent)
    ic, lag = normalize(sample, inv)
    assert (ic.device, ic.interface, ic.source, ic.in_octets, ic.speed_bps, ic.agent_uptime_ms) == \
        ("leaf1", "ethernet-1/1", "sflow", 2**40, 25_000_000_000, 1000)
    assert (lag.lag, lag.member, lag.partner_oper_port_state, lag.partner_system_id) == \
        ("lag1", "ethernet-1/1", SYNC_ONLY, "00:c1:c1:00:00:01")
    assert normalize(decode_datagram(encode_datagram("198.18.0.11", 0, 2, 1, [flow(1, False, True)])).samples[0], inv) == []


def test_readme_configuration_example_is_valid():
    """The connector README's configuration block loads with the real loader."""
    import re
    from pathlib import Path

    import yaml

    from conftest import EXAMPLE
    from fabtel.config import parse_config
    readme = (Path(__file__).parents[2] / "connectors" / "sflow" / "README.md").read_text()
    block = yaml.safe_load(re.search(r"## Configuration\n\n```yaml\n(.*?)```", readme, re.S).group(1))
    base = yaml.safe_load(EXAMPLE.read_text())
    base["sflow"] = block["sflow"]
    base["fabric"]["devices"][2].update(block["fabric"]["devices"][0])
    cfg = parse_config(yaml.safe_dump(base))
    assert cfg.sflow.listen == "127.0.0.1:6343"
    assert cfg.fabric.device("leaf1").ifindex == {"ethernet-1/1": 16382}


def test_flow_windows_are_named_by_the_map_on_the_topic(config):
    """The collector follows the interface_index topic (as the gNMI collectors
    publish it): a flow sample of leaf1's 16382 is a window of ethernet-1/1;
    a number the map lacks is kept under it and counted."""
    p = RecordProducer(config.kafka)
    p.send(InterfaceIndexes("leaf1", "gnmi", [IfIndexEntry("ethernet-1/1", SRL_ETHERNET_1_1),
                                              IfIndexEntry("ethernet-1/2", 49150)], 1, 1))
    assert p.flush(10) == 0
    collector, stop, thread = _run(config)
    deadline = time.monotonic() + 15
    while collector.inventory.awaits("leaf1") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert collector.metrics.get("interface_index_maps") >= 1
    s = flow(1, v6=False, tcp=True)
    s.source_id_index = s.input = SRL_ETHERNET_1_1
    s.output = 49150
    odd = flow(2, v6=False, tcp=False)
    odd.source_id_index = odd.input = 1001
    odd.output = 49150
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send.sendto(encode_datagram("198.18.0.11", 0, 1, 1000, [s, odd]), collector.bound)
    deadline = time.monotonic() + 10
    while collector.metrics.get("samples_total", "flow") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(15)                   # its windows are flushed at the stop
    windows = [r for r, _ in tail(config.kafka, config.kafka.topic("flows"), None, 5, until_end=True)
               if isinstance(r, FlowWindow) and r.device == "leaf1"]
    assert {(w.interface, w.direction) for w in windows} >= {("ethernet-1/1", "in"), ("ethernet-1/2", "out"),
                                                             ("ifIndex1001", "in")}
    assert collector.metrics.get("unresolved_ifindex_total", "leaf1", "not in the device's ifIndex map") >= 1


def test_a_window_that_closes_before_its_map_waits_for_it(config):
    """A slow first gNMI sync: leaf1's window closes before its ifIndex map
    arrives, waits, and is named by the map when it comes; a window of a
    device whose map never comes is kept under its number after the wait."""
    from fabtel.connectors.sflow.normalize import MAP_WAIT_NS
    collector = SflowCollector(config)
    window_ns = config.sflow.flow_window_ms * 1_000_000
    t0 = time.time_ns()
    s = flow(1, v6=False, tcp=True)
    s.source_id_index = s.input = SRL_ETHERNET_1_1
    collector.handle(encode_datagram("198.18.0.11", 0, 1, 1000, [s]), t0)
    closed = t0 + window_ns + 1
    assert collector.inventory.awaits("leaf1") and collector._windows(closed, False) == []
    collector.inventory.learn(InterfaceIndexes("leaf1", "gnmi", [IfIndexEntry("ethernet-1/1", SRL_ETHERNET_1_1)], 1, 1))
    named = collector._windows(closed + 1, False)
    assert ("leaf1", "ethernet-1/1", "in") in {(w.device, w.interface, w.direction) for w in named}
    # leaf2's map never comes: after the wait, the window goes out under the number, counted
    collector.handle(encode_datagram("198.18.0.12", 0, 1, 1000, [s]), t0)
    assert collector._windows(closed + 2, False) == []
    late = collector._windows(t0 + window_ns + MAP_WAIT_NS + 1, False)
    assert ("leaf2", f"ifIndex{SRL_ETHERNET_1_1}", "in") in {(w.device, w.interface, w.direction) for w in late}
    assert collector.metrics.get("unresolved_ifindex_total", "leaf2", "no ifIndex map for the device") >= 1
