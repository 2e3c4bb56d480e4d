"""What each platform's sFlow agent puts in its datagrams, in one table:
its ifIndex numbers, its sampling, its LAG counters and their LACP port
states, its discards. The sFlow normalizer reads `lacp_states` (a SONiC
agent's LAG records carry made-up port states, which must not be judged);
the lab's agents send what the table says; the rest is the operator's
reference (README, "Platforms"). "unconfirmed" marks what no document or
public capture we could find settles.
May import: the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass

# LACP port states in the LAG counters record (sFlow 0:7)
REAL, PLACEHOLDER, UNCONFIRMED = "802.1AX states", "placeholder", "unconfirmed"


@dataclass(frozen=True)
class SflowFacts:
    agent: str
    ifindex: str
    sampling: str
    lag_counters: str
    lacp_states: str
    discards: str
    sources: tuple[str, ...]


FACTS: dict[str, SflowFacts] = {
    "srlinux": SflowFacts(
        agent="SR Linux's own (7220 IXR: in software; 7250 IXR: in hardware)",
        ifindex="its SNMP ifIndex: ethernet-1/1 is 16382 (bits 15+ the port less one, over 0x3FFE)",
        sampling="ingress only; the top 256 bytes of each sampled frame (512 on 7250 IXR)",
        lag_counters="unconfirmed: its documentation lists none; LAG health comes from gNMI's LACP state",
        lacp_states=UNCONFIRMED,
        discards="unconfirmed: no discard samples documented",
        sources=("SR Linux OAM guide, sFlow (24.10)", "SR Linux SNMP guide (ifIndex of a 7220 IXR-D2)")),
    "eos": SflowFacts(
        agent="EOS's sFlow agent",
        ifindex="its SNMP ifIndex: EthernetN is N, EthernetN/M N*1000+M, Port-ChannelN 1000000+N",
        sampling="ingress, at the rate `sflow sample` sets",
        lag_counters="unconfirmed: counter samples for Port-Channel interfaces, no LAG record documented",
        lacp_states=UNCONFIRMED,
        discards="unconfirmed",
        sources=("EOS User Manual, sFlow", "`show snmp mib ifmib ifindex` output as published by Arista")),
    "junos": SflowFacts(
        agent="Junos's sFlow agent",
        ifindex="its SNMP ifIndex, given when the interface is made (no formula)",
        sampling="ingress and egress, each set per interface",
        lag_counters="unconfirmed",
        lacp_states=UNCONFIRMED,
        discards="unconfirmed",
        sources=("Junos sFlow monitoring technology overview",)),
    "sonic": SflowFacts(
        agent="hsflowd with mod_sonic",
        ifindex="STATE_DB PORT_INDEX_TABLE `index` (hsflowd translates the kernel's ifIndex to it); "
                "PortChannelN is 1000+N",
        sampling="ingress; by default 1 in the port's speed in Mb/s (100G: 1 in 100000)",
        lag_counters="yes: a LAG record on each member, attachedAggID the LAG's ifIndex",
        lacp_states=PLACEHOLDER,
        discards="through hsflowd's drop monitor where the platform has one",
        sources=("sflow/host-sflow src/Linux/mod_sonic.c v2.1.25-4: compileLags sets each member's actor and "
                 "partner states to 2 when the port is up and 0 when down, partner system ID zero",
                 "SONiC sFlow high-level design (sonic-net/SONiC doc/sflow)")),
    "openconfig": SflowFacts(
        agent="a Linux-based device's hsflowd, or Open vSwitch",
        ifindex="the kernel's ifIndex",
        sampling="ingress",
        lag_counters="yes from hsflowd on bonds (its bit order differs from Open vSwitch's: fabtel detects it)",
        lacp_states=REAL,
        discards="through hsflowd's drop monitor",
        sources=("sflow/host-sflow", "connectors/sflow/README.md: the LACP byte order")),
}


def facts(platform: str) -> SflowFacts:
    return FACTS[platform]
