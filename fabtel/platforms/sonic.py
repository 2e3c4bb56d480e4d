"""SONiC: OpenConfig through its management framework (sonic-mgmt-common,
the models and deviations it serves; fabtel/platforms/paths/sonic.tsv) and
its native tables under the `sonic-db` origin (sonic-gnmi), where the
OpenConfig models it serves have no leaf for what fabtel needs.

What SONiC does differently, each with its source:
- Encoding: JSON_IETF only (openconfig/gnmic#454 and #330: SONiC's telemetry
  server refuses JSON and PROTO).
- No link state in OpenConfig: sonic-mgmt-common deviates
  `interfaces/interface/state/oper-status` and `state/ifindex` as
  not-supported (models/yang/extensions/openconfig-interfaces-deviation.yang).
  fabtel reads the link state from APPL_DB PORT_TABLE `oper_status`
  (sonic-swss doc/swss-schema.md) and the ifIndex from STATE_DB
  PORT_INDEX_TABLE `index`, the number hsflowd puts in sFlow (host-sflow
  src/Linux/mod_sonic.c translates the kernel's ifIndex to it; a LAG
  PortChannelN is 1000+N, its PORTCHANNEL_BASEINDEX).
- No LACP and no BGP models (sonic-mgmt-common serves neither
  openconfig-lacp nor openconfig-network-instance): a LAG member's state is
  APPL_DB LAG_MEMBER_TABLE `status` (enabled: selected, collecting and
  distributing), and an oper-group on a SONiC leaf must say
  `require_bgp: false` (the configuration check insists).
- hsflowd's LAG counters on SONiC carry made-up LACP port states: 2 when the
  port is up, 0 when down, partner system ID zero (mod_sonic.c,
  compileLags: "questionable assumption"). fabtel's sFlow facts
  (fabtel/sflow_facts.py) say so, and the LAG health is not judged from them.
- LLDP: lldpmgrd configures lldpd with `portidsubtype local <alias>`: the
  port ID a SONiC port advertises is its alias (CONFIG_DB PORT `alias`,
  `etpN` on recent platforms), not its name. fabtel reads each port's alias
  (CONFIG_DB PORT alias) and matches LLDP neighbours by it.
- Interfaces are `EthernetN` (N the first lane), LAGs `PortChannelN`.
May import: the standard library, fabtel.gnmi_paths, fabtel.platforms.openconfig, fabtel.platforms.base.
"""
from __future__ import annotations

import re

from fabtel import gnmi_paths as gp
from fabtel.platforms.base import (ALIAS, IFINDEX, INTERFACE, JSON_IETF, LAG_MEMBER, LLDP_LEAVES, LOCAL, MEMBER, OPER,
                                   SAMPLED, STATE, Advertised, DeviceView, Leaf, Removal, elem)
from fabtel.platforms.openconfig import COUNTERS, OpenConfig

NATIVE = "sonic-db"
_PORT_OPER = ("APPL_DB", "localhost", "PORT_TABLE")
_PORT_INDEX = ("STATE_DB", "localhost", "PORT_INDEX_TABLE")
_PORT_ALIAS = ("CONFIG_DB", "localhost", "PORT")
_LAG_MEMBER = ("APPL_DB", "localhost", "LAG_MEMBER_TABLE")


class Sonic(OpenConfig):
    name = "sonic"
    origin = "openconfig"
    origins = ("openconfig", NATIVE)
    encodings = (JSON_IETF,)
    models = (("openconfig-interfaces", "OpenConfig working group", "3.7.1"),
              ("openconfig-if-ethernet", "OpenConfig working group", "2.11.0"),
              ("openconfig-if-aggregate", "OpenConfig working group", "2.4.3"),
              ("openconfig-lldp", "OpenConfig working group", "0.2.1"),
              ("openconfig-system", "OpenConfig working group", "0.7.0"),
              ("sonic-port", "SONiC", "2.0.0"))
    subscriptions = (
        ("/interfaces/interface[name=*]/state/admin-status", "on_change"),
        (f"{NATIVE}:/APPL_DB/localhost/PORT_TABLE/*/oper_status", "on_change"),
        (f"{NATIVE}:/STATE_DB/localhost/PORT_INDEX_TABLE/*/index", "on_change"),
        (f"{NATIVE}:/CONFIG_DB/localhost/PORT/*/alias", "on_change"),
        (f"{NATIVE}:/APPL_DB/localhost/LAG_MEMBER_TABLE/*/status", "on_change"),
        *((f"/lldp/interfaces/interface[name=*]/neighbors/neighbor[id=*]/state/{leaf}", "on_change")
          for leaf in LLDP_LEAVES),
        ("/interfaces/interface[name=*]/state/counters", "sample"),
        ("/interfaces/interface[name=*]/ethernet/state/port-speed", "sample"),
    )
    discovery = ("/system/state/hostname", "/interfaces/interface[name=*]/ethernet/state/aggregate-id")

    def models_for(self, path: str) -> tuple[str, ...]:
        if gp.origin_of(path) == NATIVE:
            return ()              # the native tables are no model: Capabilities lists none for them
        return super().models_for(path)

    def classify(self, path: gp.PathT, value: object) -> Leaf | None:
        n = gp.names(path)
        if len(n) == 5 and n[:3] == _PORT_OPER and n[4] == "oper_status":
            return Leaf(OPER, n[3], value="up" if value == "up" else "down")
        if len(n) == 5 and n[:3] == _PORT_INDEX and n[4] == "index":
            return Leaf(IFINDEX, n[3], value=int(value))
        if len(n) == 5 and n[:3] == _PORT_ALIAS and n[4] == "alias":
            return Leaf(ALIAS, n[3], value=str(value))
        if len(n) == 5 and n[:3] == _LAG_MEMBER and n[4] == "status" and ":" in n[3]:
            lag, member = n[3].split(":", 1)
            return Leaf(MEMBER, lag, member, "oper-state", "up" if value == "enabled" else "down")
        return super().classify(path, value)

    def removal(self, path: gp.PathT) -> Removal | None:
        n = gp.names(path)
        if len(n) in (4, 5) and n[:3] == _LAG_MEMBER and ":" in n[3]:
            return Removal(LAG_MEMBER, *n[3].split(":", 1))
        if len(n) in (4, 5) and n[:3] in (_PORT_OPER, _PORT_INDEX):
            return Removal(INTERFACE, n[3])
        return super().removal(path)

    def ifindexes(self, interfaces: list[str]) -> dict[str, int]:
        """PORT_INDEX_TABLE's index (the port's position, from 1) and a LAG's 1000+N."""
        ports = sorted((n for n in interfaces if re.fullmatch(r"Ethernet\d+", n)), key=lambda n: int(n[8:]))
        out = {name: i + 1 for i, name in enumerate(ports)}
        for name in interfaces:
            if m := re.fullmatch(r"PortChannel(\d+)", name):
                out[name] = 1000 + int(m.group(1))
        return out

    def aliases(self, interfaces: list[str]) -> dict[str, str]:
        return {name: f"etp{i}" for name, i in self.ifindexes(interfaces).items() if name.startswith("Ethernet")}

    def advertise(self, interface: str, ifindex: int | None, alias: str | None) -> Advertised:
        return Advertised(alias or interface, LOCAL)

    def render(self, device: DeviceView) -> dict:
        out: dict = {}
        for i in device.interfaces:
            base = (elem("interfaces"), elem("interface", name=i.name))
            out[base + (elem("config"), elem("enabled"))] = (i.admin_up, STATE)
            out[base + (elem("state"), elem("admin-status"))] = ("UP" if i.admin_up else "DOWN", STATE)
            for leaf, norm in COUNTERS.items():
                out[base + (elem("state"), elem("counters"), elem(leaf))] = (i.counters[norm], SAMPLED)
            if i.speed_bps:
                out[base + (elem("ethernet"), elem("state"), elem("port-speed"))] = (
                    self.speed_identity(i.speed_bps), SAMPLED)
            if not i.name.startswith("PortChannel"):
                out[_native(_PORT_OPER, i.name, "oper_status")] = ("up" if i.oper_up else "down", STATE)
            if i.ifindex is not None:
                out[_native(_PORT_INDEX, i.name, "index")] = (i.ifindex, STATE)
            if i.alias:
                out[_native(_PORT_ALIAS, i.name, "alias")] = (i.alias, STATE)
        for m in device.members:
            out[_native(_LAG_MEMBER, f"{m.lag}:{m.member}", "status")] = (
                "enabled" if m.in_bundle else "disabled", STATE)
        self.render_discovery(device, out)
        return out


def _native(table: tuple[str, ...], key: str, field: str) -> tuple:
    return tuple(elem(x) for x in (*table, key, field))


PLATFORM = Sonic()
