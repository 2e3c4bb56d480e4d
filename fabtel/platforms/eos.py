"""Arista EOS over OpenConfig (the models EOS-4.36.1F ships, with Arista's
deviations: aristanetworks/yang, EOS-4.36.1F; fabtel/platforms/paths/eos.tsv).

What EOS does differently, each with its source:
- Paths carry the origin `openconfig`. EOS validates the origin since 4.24:
  `openconfig` (or none) for the OpenConfig models, `eos_native` for its
  Sysdb paths, `cli` for show commands in ASCII; a path under the wrong one
  is refused (Arista's OpenConfig documentation; influxdata/telegraf#17703 is
  a collector sending `cli` paths without the origin).
- Encodings: JSON_IETF and JSON for OpenConfig, ASCII for the `cli` origin
  only; no PROTO.
- Its BGP instance is `protocol[identifier=BGP][name=BGP]` (SR Linux's
  OpenConfig mapping says `bgp`): fabtel subscribes with a wildcard name.
- Interfaces are `EthernetN` (`EthernetN/M` on modular and breakout ports),
  LAGs `Port-ChannelN`. ifIndex: EthernetN is N, EthernetN/M is N*1000+M,
  Port-ChannelN is 1000000+N (as `show snmp mib ifmib ifindex` lists them);
  fabtel learns them from state/ifindex, the lab numbers this way.
- LLDP: its port ID is the interface name (subtype interface-name).
- Everything else fabtel reads (counters, port speed, LACP members, LLDP,
  session state, ethernet segments) is in the shipped models without
  deviation (Arista's pathreport.csv for 4.36.1F lists them).
May import: the standard library, fabtel.platforms.openconfig, fabtel.platforms.base.
"""
from __future__ import annotations

import re

from fabtel.platforms.base import ASCII, INTERFACE_NAME, JSON, JSON_IETF, Advertised
from fabtel.platforms.openconfig import OpenConfig


class Eos(OpenConfig):
    name = "eos"
    origin = "openconfig"
    encodings = (JSON_IETF, JSON, ASCII)
    models = (("openconfig-interfaces", "OpenConfig working group", "3.7.1"),
              ("openconfig-if-ethernet", "OpenConfig working group", "2.13.0"),
              ("openconfig-lacp", "OpenConfig working group", "2.0.0"),
              ("openconfig-lldp", "OpenConfig working group", "0.2.1"),
              ("openconfig-network-instance", "OpenConfig working group", "4.4.1"),
              ("openconfig-system", "OpenConfig working group", "2.3.0"),
              ("arista-intf-augments", "Arista Networks, Inc.", "1.13.0"))
    bgp_protocol_name = "BGP"

    def ifindexes(self, interfaces: list[str]) -> dict[str, int]:
        out = {}
        for name in interfaces:
            if m := re.fullmatch(r"Ethernet(\d+)", name):
                out[name] = int(m.group(1))
            elif m := re.fullmatch(r"Ethernet(\d+)/(\d+)", name):
                out[name] = int(m.group(1)) * 1000 + int(m.group(2))
            elif m := re.fullmatch(r"Port-Channel(\d+)", name):
                out[name] = 1_000_000 + int(m.group(1))
        return out

    def advertise(self, interface: str, ifindex: int | None, alias: str | None) -> Advertised:
        return Advertised(interface, INTERFACE_NAME)


PLATFORM = Eos()
