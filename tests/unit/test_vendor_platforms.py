"""What the vendor platforms do differently, without a server: the sFlow
facts (a SONiC agent's made-up LACP states are sent by the lab and not
judged), the configuration's list of platforms without BGP telemetry, and
the one line a device's missing model earns."""
from __future__ import annotations

import logging

from pygnmi.spec.v080 import gnmi_pb2

from fabtel import gnmi_paths as gp
from fabtel.config import load_config
from fabtel.config.devices import NO_BGP_TELEMETRY
from fabtel.connectors.gnmi.collector import DeviceSubscriber, collector_metrics
from fabtel.connectors.sflow.codec import decode_datagram, encode_datagram
from fabtel.connectors.sflow.normalize import Inventory, normalize
from fabtel.lab.model import LabFabric
from fabtel.lab.sflow_agent import SflowAgent
from fabtel.platforms import PLATFORMS, base
from fabtel.sflow_facts import FACTS, PLACEHOLDER

from conftest import MIXED


def test_every_platform_has_its_sflow_facts_with_sources():
    assert set(FACTS) == set(PLATFORMS)
    assert all(f.sources and f.ifindex for f in FACTS.values())
    assert FACTS["sonic"].lacp_states == PLACEHOLDER


def test_a_sonic_agents_lag_record_is_sent_with_placeholders_and_not_judged():
    cfg = load_config(MIXED)
    fabric = LabFabric(cfg)
    agent = SflowAgent(fabric, fabric.nodes["leaf1"], "198.18.0.11")
    [member] = [s for s in agent.counter_samples() if s.lag_port_stats is not None]
    lag = member.lag_port_stats
    assert (lag.actorOperPortState, lag.partnerOperPortState, lag.partnerSystemID) == (2, 2, "00:00:00:00:00:00")
    [sample] = decode_datagram(encode_datagram("198.18.0.11", 0, 1, 1, [member])).samples
    sample.device = "leaf1"
    inv = Inventory(cfg.fabric)
    inv.learn(_map(fabric, "leaf1"))
    _, state = normalize(sample, inv)
    assert (state.lag, state.member, state.oper_state) == ("PortChannel1", "Ethernet8", "up")
    assert state.actor_oper_port_state is None and state.partner_oper_port_state is None
    assert state.port_state_order.startswith("none (hsflowd with mod_sonic writes placeholders")
    # an SR Linux leaf's agent is read as 802.1AX
    srl = SflowAgent(fabric, fabric.nodes["leaf2"], "198.18.0.12")
    [m2] = [s for s in srl.counter_samples() if s.lag_port_stats is not None]
    assert m2.lag_port_stats.actorOperPortState == 61


def _map(fabric, device):
    from fabtel.records import IfIndexEntry, InterfaceIndexes
    node = fabric.nodes[device]
    return InterfaceIndexes(device, "gnmi", [IfIndexEntry(n, i) for n, i in node.ifindex.items()], 0, 0)


def test_the_configurations_platforms_without_bgp_are_the_modules_without_a_bgp_path():
    without = set()
    for name, p in PLATFORMS.items():
        kinds = set()
        for path, _ in p.subscriptions:
            names = gp.names(gp.parse(path))
            kinds |= {"bgp"} if "bgp" in names else set()
        if not kinds:
            without.add(name)
    assert without == set(NO_BGP_TELEMETRY)


def test_a_model_the_device_does_not_list_is_said_once(caplog):
    cfg = load_config(MIXED)
    dev = cfg.fabric.device("spine2")
    sub = DeviceSubscriber(dev, 10**9, lambda recs: None, collector_metrics([dev.name]))
    caps = gnmi_pb2.CapabilityResponse(
        supported_models=[gnmi_pb2.ModelData(name=n) for n, _, _ in PLATFORMS["junos"].models if n != "openconfig-lldp"],
        supported_encodings=[gnmi_pb2.PROTO])
    with caplog.at_level(logging.WARNING, "fabtel.gnmi"):
        assert sub.check_capabilities(caps) == ["openconfig-lldp"]
        assert sub.check_capabilities(caps) == []                     # once
    [line] = [r.getMessage() for r in caplog.records]
    assert "spine2: the device's Capabilities list no openconfig-lldp, which 5 subscribed paths need" in line
    assert sub.metrics.get("missing_models_total", "spine2", "openconfig-lldp") == 1


def test_each_platform_advertises_its_ports_in_lldp_as_its_devices_do():
    assert PLATFORMS["srlinux"].advertise("ethernet-1/1", 16382, None).port_id == "ethernet-1/1"
    assert PLATFORMS["eos"].advertise("Ethernet1", 1, None) == base.Advertised("Ethernet1", base.INTERFACE_NAME)
    assert PLATFORMS["junos"].advertise("et-0/0/1", 502, None) == base.Advertised("502", base.LOCAL, "et-0/0/1")
    assert PLATFORMS["sonic"].advertise("Ethernet0", 1, "etp1") == base.Advertised("etp1", base.LOCAL)
    assert PLATFORMS["sonic"].ifindexes(["Ethernet0", "Ethernet4", "PortChannel1"]) == \
        {"Ethernet0": 1, "Ethernet4": 2, "PortChannel1": 1001}
    assert PLATFORMS["eos"].ifindexes(["Ethernet1", "Ethernet3/1", "Port-Channel1"]) == \
        {"Ethernet1": 1, "Ethernet3/1": 3001, "Port-Channel1": 1000001}
