"""sFlow's ifIndex numbers are the device's own: each platform's scheme, the
map the device reports over gNMI, and what becomes of a sample whose number
no map names (held until its map comes, or kept under its number and
counted). No server: the pure parts."""
from __future__ import annotations

import dataclasses

import pytest

from fabtel.config import load_config
from fabtel.connectors.sflow.codec import decode_datagram, encode_datagram
from fabtel.connectors.sflow.normalize import (NO_MAP, NOT_IN_MAP, WAITING, Inventory, Naming, PendingSamples,
                                               normalize, unresolved)
from fabtel.lab.gnmi_target import device_view
from fabtel.lab.model import LabFabric
from fabtel.platforms import platform
from fabtel.records import IfIndexEntry, InterfaceCounters, InterfaceIndexes, LagMemberState

from conftest import EXAMPLE
from sflow_cases import SRL_ETHERNET_1_1, SRL_ETHERNET_1_49, SRL_LAG1, counters

S = 1_000_000_000


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


def _sample(device: str, ifindex: int, lag_ifindex: int = SRL_LAG1):
    [s] = decode_datagram(encode_datagram("198.18.0.11", 0, 1, 1, [counters(1, ifindex, 5, lag_ifindex=lag_ifindex)]),
                          7).samples
    s.device = device
    return s


def _map(device: str, entries: dict[str, int]) -> InterfaceIndexes:
    return InterfaceIndexes(device, "gnmi", [IfIndexEntry(n, i) for n, i in entries.items()], 0, 0)


def test_sr_linux_numbers_its_ports_as_a_real_leaf_does():
    """The numbers SR Linux's SNMP documentation shows for a 7220 IXR-D2."""
    got = platform("srlinux").ifindexes(["ethernet-1/1", "ethernet-1/10", "ethernet-1/49", "lag1", "mgmt0"])
    assert got == {"ethernet-1/1": 16382, "ethernet-1/10": 311294, "ethernet-1/49": SRL_ETHERNET_1_49,
                   "lag1": SRL_LAG1}
    assert SRL_ETHERNET_1_1 == 16382 and len(set(got.values())) == len(got)


def test_the_lab_reports_each_platforms_numbers_and_never_slot_times_1000(cfg):
    fabric = LabFabric(cfg)
    leaf1 = fabric.nodes["leaf1"]
    assert leaf1.ifindex["ethernet-1/1"] == 16382 and leaf1.ifindex["ethernet-1/49"] == SRL_ETHERNET_1_49
    assert 1001 not in leaf1.ifindex.values()
    served = {i.name: i.ifindex for i in device_view(fabric, leaf1).interfaces}     # what its gNMI target serves
    assert served["ethernet-1/1"] == 16382 and served["lag1"] == SRL_LAG1


def test_a_configured_number_wins_in_the_lab_and_in_the_inventory(cfg):
    leaf1 = cfg.fabric.device("leaf1")
    fabric = dataclasses.replace(cfg.fabric, devices=tuple(
        dataclasses.replace(d, ifindex={"ethernet-1/1": 7}) if d is leaf1 else d for d in cfg.fabric.devices))
    cfg2 = dataclasses.replace(cfg, fabric=fabric)
    assert LabFabric(cfg2).nodes["leaf1"].ifindex["ethernet-1/1"] == 7
    inv = Inventory(fabric)
    inv.learn(_map("leaf1", {"ethernet-1/1": 16382}))
    assert inv.interface("leaf1", 7) == "ethernet-1/1"                 # the configuration is the device's word


def test_a_learnt_map_names_the_counters_and_the_lag(cfg):
    inv = Inventory(cfg.fabric)
    inv.learn(_map("leaf1", {"ethernet-1/1": 16382, "lag1": SRL_LAG1}))
    sample = _sample("leaf1", 16382)
    assert unresolved(sample, inv) == []
    c, m = normalize(sample, inv)
    assert isinstance(c, InterfaceCounters) and c.interface == "ethernet-1/1"
    assert isinstance(m, LagMemberState) and (m.lag, m.member) == ("lag1", "ethernet-1/1")


def test_a_number_the_map_lacks_is_kept_under_it_and_counted(cfg):
    inv = Inventory(cfg.fabric)
    inv.learn(_map("leaf1", {"ethernet-1/1": 16382}))
    sample = _sample("leaf1", 1001)                         # the old invented slot*1000+port
    assert unresolved(sample, inv) == [("leaf1", NOT_IN_MAP), ("leaf1", NOT_IN_MAP)]     # the port and its LAG
    c, m = normalize(sample, inv)
    assert c.interface == "ifIndex1001" and m.lag == f"ifIndex{SRL_LAG1}"


def test_an_unknown_agent_has_no_map_and_is_not_held(cfg):
    inv = Inventory(cfg.fabric)
    sample = _sample("203.0.113.9", 5)
    assert not inv.awaits("203.0.113.9")
    assert unresolved(sample, inv)[0] == ("203.0.113.9", NO_MAP)


def test_a_sample_before_its_map_is_counted_then_resolved_when_the_map_comes(cfg):
    """The worker's normalize_sflow, without Kafka: leaf1 reports its map
    over gNMI, so its first counter sample waits (counted), and is named
    once the map arrives (counted as resolved); later samples go straight through."""
    counts: dict = {}
    naming = Naming(Inventory(cfg.fabric), lambda what, device, reason: counts.update(
        {(what, device, reason): counts.get((what, device, reason), 0) + 1}))
    assert naming.sample(_sample("leaf1", 16382), 0) == []
    assert counts == {("unresolved", "leaf1", WAITING): 1}
    c, m = naming.learn(_map("leaf1", {"ethernet-1/1": 16382, "lag1": SRL_LAG1}), S)
    assert (c.interface, m.lag, m.member) == ("ethernet-1/1", "lag1", "ethernet-1/1")
    assert counts == {("unresolved", "leaf1", WAITING): 1, ("resolved", "leaf1", WAITING): 1}
    assert naming.sample(_sample("leaf1", 16382), 2 * S)[0].interface == "ethernet-1/1"
    assert len(counts) == 2 and naming.pending.held == {}


def test_a_held_sample_whose_map_never_comes_is_kept_under_its_number(cfg):
    counts: dict = {}
    naming = Naming(Inventory(cfg.fabric), lambda *key: counts.update({key: counts.get(key, 0) + 1}),
                    PendingSamples(hold_ns=30 * S))
    assert naming.sample(_sample("leaf1", 16382), 0) == []
    [c, _] = naming.expire(31 * S)
    assert c.interface == "ifIndex16382" and counts[("unresolved", "leaf1", NO_MAP)] == 2      # the port and its LAG


def test_an_empty_map_stops_the_wait(cfg):
    """A device that gives no ifindex (lemming serves none) reports an empty
    map at its sync: its samples are kept under their numbers, not held."""
    inv = Inventory(cfg.fabric)
    inv.learn(_map("leaf1", {}))
    assert not inv.awaits("leaf1") and unresolved(_sample("leaf1", 16382), inv)[0] == ("leaf1", NOT_IN_MAP)


def test_held_samples_are_bounded_and_released_unnamed_when_no_map_comes(cfg):
    pending = PendingSamples(hold_ns=30 * S, per_device=3)
    samples = [_sample("leaf1", 16382) for _ in range(4)]
    for i, s in enumerate(samples[:3]):
        assert pending.hold("leaf1", s, i * S) is None
    assert pending.hold("leaf1", samples[3], 3 * S) is samples[0]          # the oldest gives way
    assert pending.expired(31 * S + S // 2) == [samples[1]]                 # held more than 30 s
    assert pending.expired(40 * S) == samples[2:]
    assert pending.held == {}
