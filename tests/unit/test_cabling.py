"""The cabling check (fabtel.pipeline.cabling), pure: LLDP neighbours
against fabric.links, each far end named as its platform advertises it."""
from __future__ import annotations

import pytest

from fabtel.config import load_config
from fabtel.pipeline.cabling import AS_INTENDED, GONE, MISWIRED, UNEXPECTED, Cabling
from fabtel.records import IfIndexEntry, InterfaceIndexes, LldpNeighbor

from conftest import EXAMPLE


@pytest.fixture()
def cabling():
    return Cabling(load_config(EXAMPLE).fabric)


def lldp(device, interface, system, port_id, port_id_type="INTERFACE_NAME", description=None, deleted=False):
    return LldpNeighbor(device, interface, "n1", 1, 1, system, "0e:00:00:00:00:00", port_id, port_id_type,
                        description, deleted)


def test_a_port_cabled_as_intended_says_so_once(cabling):
    [c] = cabling.observe(lldp("leaf1", "ethernet-1/49", "spine1", "ethernet-1/1"), 5)
    assert (c.verdict, c.intended, c.seen) == (AS_INTENDED, "spine1:ethernet-1/1", "spine1:ethernet-1/1")
    assert cabling.observe(lldp("leaf1", "ethernet-1/49", "spine1", "ethernet-1/1"), 6) == []    # no change, no record


def test_two_swapped_cables_are_four_miswired_ports_each_naming_both_ends(cabling):
    """spine1's ethernet-1/1 and ethernet-1/2 trade cables: leaf1 and leaf2 each hear the other's spine port."""
    out = []
    out += cabling.observe(lldp("leaf1", "ethernet-1/49", "spine1", "ethernet-1/2"), 1)
    out += cabling.observe(lldp("leaf2", "ethernet-1/49", "spine1", "ethernet-1/1"), 1)
    out += cabling.observe(lldp("spine1", "ethernet-1/1", "leaf2", "ethernet-1/49"), 1)
    out += cabling.observe(lldp("spine1", "ethernet-1/2", "leaf1", "ethernet-1/49"), 1)
    assert {c.verdict for c in out} == {MISWIRED}
    assert {(f"{c.device}:{c.interface}", c.seen, c.intended) for c in out} == {
        ("leaf1:ethernet-1/49", "spine1:ethernet-1/2", "spine1:ethernet-1/1"),
        ("leaf2:ethernet-1/49", "spine1:ethernet-1/1", "spine1:ethernet-1/2"),
        ("spine1:ethernet-1/1", "leaf2:ethernet-1/49", "leaf1:ethernet-1/49"),
        ("spine1:ethernet-1/2", "leaf1:ethernet-1/49", "leaf2:ethernet-1/49")}
    assert "is cabled to spine1:ethernet-1/2, not to spine1:ethernet-1/1 as intended" in out[0].detail
    assert len(cabling.miswired()) == 4


def test_a_junos_neighbour_is_named_by_its_ifindex_and_a_sonic_one_by_its_alias(cabling):
    cabling.ports["spine1"] |= {"et-0/0/0"}
    cabling.intended[("leaf1", "ethernet-1/49")] = ("spine1", "et-0/0/0")
    cabling.learn(InterfaceIndexes("spine1", "gnmi", [IfIndexEntry("et-0/0/0", 501, None)], 0, 0))
    [c] = cabling.observe(lldp("leaf1", "ethernet-1/49", "spine1.dc1.example.net", "501", "LOCAL", "xe-9/9/9"), 1)
    assert (c.verdict, c.seen) == (AS_INTENDED, "spine1:et-0/0/0")                # the domain is dropped
    cabling.learn(InterfaceIndexes("spine2", "gnmi", [IfIndexEntry("Ethernet0", 1, "etp1")], 0, 0))
    cabling.intended[("leaf1", "ethernet-1/50")] = ("spine2", "Ethernet0")
    cabling.ports["spine2"] |= {"Ethernet0"}
    [c] = cabling.observe(lldp("leaf1", "ethernet-1/50", "spine2", "etp1", "LOCAL"), 1)
    assert (c.verdict, c.seen) == (AS_INTENDED, "spine2:Ethernet0")


def test_a_port_id_that_names_nothing_is_judged_by_the_device_and_says_so(cabling):
    [c] = cabling.observe(lldp("leaf1", "ethernet-1/49", "spine1", "777", "LOCAL"), 1)
    assert c.verdict == AS_INTENDED and "port ID '777' names no port of spine1" in c.detail
    [c] = cabling.observe(lldp("leaf1", "ethernet-1/50", "spine1", "777", "LOCAL"), 1)
    assert (c.verdict, c.seen, c.intended) == (MISWIRED, "spine1", "spine2:ethernet-1/1")


def test_a_hosts_lldpd_is_named_by_its_port_description(cabling):
    [c] = cabling.observe(lldp("leaf1", "ethernet-1/1", "client1", "0e:c1:00:00:00:01", "MAC_ADDRESS", "eth1"), 1)
    assert (c.verdict, c.seen) == (AS_INTENDED, "client1:eth1")


def test_unexpected_and_gone(cabling):
    [c] = cabling.observe(lldp("spine1", "ethernet-1/9", "leaf3", "ethernet-1/51"), 1)
    assert c.verdict == UNEXPECTED and c.intended is None and "where no link is intended" in c.detail
    [c] = cabling.observe(lldp("spine1", "ethernet-1/9", "leaf3", "ethernet-1/51", deleted=True), 2)
    assert (c.verdict, c.seen) == (GONE, None)
    assert cabling.observe(lldp("leaf3", "ethernet-1/50", "spine2", "x", deleted=True), 2) == []   # never seen: nothing
