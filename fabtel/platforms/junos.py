"""Juniper Junos over OpenConfig (the models Junos 24.4R1 ships, with
Juniper's deviations: Juniper/yang 24.4/24.4R1/openconfig;
fabtel/platforms/paths/junos.tsv).

What Junos does differently, each with its source:
- Encoding: PROTO first, then JSON. Junos answers a Subscribe in JSON_IETF
  for some paths with nothing at all (akvorado/akvorado#759: "we switched to
  PROTO"); PROTO carries every leaf typed, counters as uint_val.
- Paths carry no origin (Junos's OpenConfig examples name none).
- Each SubscribeResponse carries a Juniper header in a registered gNMI
  extension (telegraf#13116 decodes it for the sensor's name): fabtel reads
  the notification and leaves the extension alone.
- It may stream leaves next to the ones asked for (telegraf#13052): an
  update fabtel does not know is counted in `unknown_paths_total` and
  skipped, never an error.
- Its BGP instance is `protocol[identifier=BGP][name=BGP]`.
- Interfaces are `et-F/P/N` (`xe-`, `ge-` by speed), LAGs `aeN`. Junos gives
  an interface its SNMP ifIndex when the interface is made (numbers from
  500 up on many platforms), with no formula: fabtel learns them from
  state/ifindex; the lab numbers its Junos interfaces from 501 in order.
- LLDP: the port ID is the SNMP ifIndex (subtype locally-assigned, the
  default of `protocols lldp port-id-subtype`), the port description the
  interface's name (Juniper's LLDP configuration guide). fabtel matches an
  LLDP neighbour's numeric port ID against that neighbour's ifIndex map.
- Its 24.4R1 models have no openconfig-ethernet-segments: ESIs are
  configured natively (`interfaces aeN esi`); `fabtel discover` says it
  cannot read them over gNMI.
May import: the standard library, fabtel.platforms.openconfig, fabtel.platforms.base.
"""
from __future__ import annotations

from fabtel.platforms.base import JSON, LOCAL, PROTO, Advertised
from fabtel.platforms.openconfig import OpenConfig


class Junos(OpenConfig):
    name = "junos"
    origin = ""
    encodings = (PROTO, JSON)
    models = (("openconfig-interfaces", "OpenConfig working group", "3.7.1"),
              ("openconfig-if-ethernet", "OpenConfig working group", "2.13.0"),
              ("openconfig-lacp", "OpenConfig working group", "2.0.0"),
              ("openconfig-lldp", "OpenConfig working group", "0.2.1"),
              ("openconfig-network-instance", "OpenConfig working group", "4.4.1"),
              ("openconfig-system", "OpenConfig working group", "2.1.0"),
              ("jnx-openconfig-dev", "Juniper Networks, Inc.", "2024-12-31"))
    discovery = tuple(p for p in OpenConfig.discovery if not p.startswith("/ethernet-segments"))
    bgp_protocol_name = "BGP"

    def ifindexes(self, interfaces: list[str]) -> dict[str, int]:
        return {name: 501 + i for i, name in enumerate(interfaces)}

    def advertise(self, interface: str, ifindex: int | None, alias: str | None) -> Advertised:
        return Advertised(str(ifindex), LOCAL, interface)


PLATFORM = Junos()
