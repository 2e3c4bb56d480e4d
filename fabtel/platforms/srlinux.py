"""Nokia SR Linux, native YANG (nokia/srlinux-yang-models v25.3.1).

Every path below exists in the published model with these keys. The device
offers JSON_IETF, PROTO and ASCII (not plain JSON): values come as RFC 7951
JSON, so 64-bit counters arrive as strings. LACP member state lives under
`/interface[name=lagN]/lag/member[name=X]/lacp` (`/system/lacp` is
configuration). May import: the standard library, fabtel.platforms.base, fabtel.gnmi_paths.
"""
from __future__ import annotations

import re

from fabtel import gnmi_paths as gp
from fabtel.platforms.base import (ADMIN, BGP, COUNTER, HOSTNAME, IFINDEX, IGNORED, INTERFACE, JSON_IETF, LACP_LEAVES,
                                   LAG_MEMBER, LLDP, LLDP_LEAVES, LLDP_NEIGHBOR, MEMBER, NEIGHBOR, OPER, PROTO, SAMPLED,
                                   SEGMENT, SFLOW_AGENT, SPEED, STATE, DeviceView, Leaf, Platform, Removal, elem, lacp_leaves,
                                   lldp_leaves)

STATISTICS = {
    "in-octets": "in_octets", "out-octets": "out_octets",
    "in-unicast-packets": "in_unicast_pkts", "out-unicast-packets": "out_unicast_pkts",
    "in-multicast-packets": "in_multicast_pkts", "out-multicast-packets": "out_multicast_pkts",
    "in-broadcast-packets": "in_broadcast_pkts", "out-broadcast-packets": "out_broadcast_pkts",
    "in-discarded-packets": "in_discards", "out-discarded-packets": "out_discards",
    "in-error-packets": "in_errors", "out-error-packets": "out_errors",
}
# srl_nokia-interfaces port-speed enumeration
_BGP = ("network-instance", "protocols", "bgp", "neighbor")
_LLDP = ("system", "lldp", "interface", "neighbor")
_ES = ("system", "network-instance", "protocols", "evpn", "ethernet-segments", "bgp-instance", "ethernet-segment")
_ES_PATH = ("/system/network-instance/protocols/evpn/ethernet-segments/bgp-instance[id=*]/"
            "ethernet-segment[name=*]")
PORT_SPEEDS = {"10M": 10**7, "100M": 10**8, "1G": 10**9, "10G": 10**10, "25G": 25 * 10**9, "40G": 40 * 10**9,
               "50G": 50 * 10**9, "100G": 10**11, "200G": 2 * 10**11, "400G": 4 * 10**11, "800G": 8 * 10**11,
               "1T": 10**12}


class SrLinux(Platform):
    name = "srlinux"
    origin = ""                   # the native models are SR Linux's default schema
    encodings = (JSON_IETF, PROTO)
    models = (("srl_nokia-interfaces", "Nokia", "2025-03-31"), ("srl_nokia-interfaces-lag", "Nokia", "2025-03-31"),
              ("srl_nokia-lacp", "Nokia", "2025-03-31"), ("srl_nokia-network-instance", "Nokia", "2025-03-31"),
              ("srl_nokia-bgp", "Nokia", "2025-03-31"), ("srl_nokia-lldp", "Nokia", "2025-03-31"))
    subscriptions = (
        ("/interface[name=*]/admin-state", "on_change"),
        ("/interface[name=*]/oper-state", "on_change"),
        ("/interface[name=*]/ifindex", "on_change"),
        ("/interface[name=*]/lag/member[name=*]/oper-state", "on_change"),
        *((f"/interface[name=*]/lag/member[name=*]/lacp/{leaf}", "on_change") for leaf in LACP_LEAVES),
        ("/network-instance[name=*]/protocols/bgp/neighbor[peer-address=*]/session-state", "on_change"),
        *((f"/system/lldp/interface[name=*]/neighbor[id=*]/{leaf}", "on_change") for leaf in LLDP_LEAVES),
        ("/interface[name=*]/statistics", "sample"),
        ("/interface[name=*]/ethernet/port-speed", "sample"),
    )
    discovery = ("/system/name/host-name", "/system/sflow/source-address", f"{_ES_PATH}/esi", f"{_ES_PATH}/interface[ethernet-interface=*]/ethernet-interface")
    counters = STATISTICS
    speeds = PORT_SPEEDS

    def models_for(self, path: str) -> tuple[str, ...]:
        n = gp.names(gp.parse(path))
        if n[:2] == ("system", "lldp"):
            return ("srl_nokia-lldp",)
        if n[:2] == ("interface", "lag"):
            return ("srl_nokia-interfaces", "srl_nokia-interfaces-lag") + (("srl_nokia-lacp",) if "lacp" in n else ())
        return {"interface": ("srl_nokia-interfaces",), "network-instance": ("srl_nokia-bgp",)}.get(n[0], ())

    def classify(self, path: gp.PathT, value: object) -> Leaf | None:
        n = gp.names(path)
        if n[:1] == ("interface",) and len(n) >= 2:
            intf = gp.key(path, "interface", "name")
            tail = n[1:]
            if tail == ("admin-state",):
                return Leaf(ADMIN, intf, value="enable" if value == "enable" else "disable")
            if tail == ("oper-state",):
                return Leaf(OPER, intf, value="up" if value == "up" else "down")
            if tail == ("ifindex",):
                return Leaf(IFINDEX, intf, value=int(value))
            if tail[:1] == ("statistics",) and len(tail) == 2:
                name = STATISTICS.get(tail[1])
                return Leaf(COUNTER, intf, name=name, value=int(value)) if name else Leaf(IGNORED)
            if tail == ("ethernet", "port-speed"):
                return Leaf(SPEED, intf, value=self.speed_bps(value))
            if tail[:2] == ("lag", "member") and len(tail) >= 3:
                member = gp.key(path, "member", "name")
                if tail[2:] == ("oper-state",):
                    return Leaf(MEMBER, intf, member, "oper-state", "up" if value == "up" else "down")
                if tail[2:3] == ("lacp",) and len(tail) == 4 and tail[3] in LACP_LEAVES:
                    return Leaf(MEMBER, intf, member, tail[3], value)
                return Leaf(IGNORED)
        if n == ("network-instance", "protocols", "bgp", "neighbor", "session-state"):
            return Leaf(BGP, gp.key(path, "network-instance", "name"), gp.key(path, "neighbor", "peer-address"),
                        value=str(value).lower())
        if n[:4] == _LLDP and len(n) == 5:
            if n[4] not in LLDP_LEAVES:
                return Leaf(IGNORED)
            return Leaf(LLDP, gp.key(path, "interface", "name"), gp.key(path, "neighbor", "id"), n[4], str(value))
        if n == ("system", "name", "host-name"):
            return Leaf(HOSTNAME, value=str(value))
        if n == ("system", "sflow", "source-address"):
            return Leaf(SFLOW_AGENT, value=str(value))
        if n == _ES + ("esi",):
            return Leaf(SEGMENT, gp.key(path, "ethernet-segment", "name"), name="esi", value=str(value))
        if n == _ES + ("interface", "ethernet-interface"):
            return Leaf(SEGMENT, gp.key(path, "ethernet-segment", "name"), name="interface", value=str(value))
        return None

    def removal(self, path: gp.PathT) -> Removal | None:
        n = gp.names(path)
        if n in (("interface",), ("interface", "admin-state"), ("interface", "oper-state")):
            return Removal(INTERFACE, gp.key(path, "interface", "name"))
        if n == ("interface", "lag") or n[:3] == ("interface", "lag", "member") and (
                n[3:] in ((), ("oper-state",), ("lacp",)) or n[3:4] == ("lacp",) and n[4:5] in ((), *((x,) for x in LACP_LEAVES))):
            return Removal(LAG_MEMBER, gp.key(path, "interface", "name"), gp.key(path, "member", "name"))
        if n and n == _BGP[:len(n)] or n == _BGP + ("session-state",):
            return Removal(NEIGHBOR, gp.key(path, "network-instance", "name"), gp.key(path, "neighbor", "peer-address"))
        if n[:4] == _LLDP and (len(n) == 4 or len(n) == 5 and n[4] in LLDP_LEAVES):
            return Removal(LLDP_NEIGHBOR, gp.key(path, "interface", "name"), gp.key(path, "neighbor", "id"))
        return None

    def admin_path(self, interface: str) -> str:
        return f"/interface[name={interface}]/admin-state"

    def admin_value(self, up: bool) -> str:
        return "enable" if up else "disable"

    def admin_target(self, path: gp.PathT) -> str | None:
        return gp.key(path, "interface", "name") if gp.names(path) == ("interface", "admin-state") else None

    def check_admin_value(self, value: object) -> bool | None:
        return {"enable": True, "disable": False}.get(value) if isinstance(value, str) else None

    def ifindexes(self, interfaces: list[str]) -> dict[str, int]:
        """SR Linux's numbering as a 7220 IXR-D2 reports it (SR Linux's SNMP
        documentation): ethernet-1/1 16382, ethernet-1/10 311294, i.e. the
        port's number less one above bit 15 over 0x3FFE; the slot above the
        port (fabtel's extrapolation: the documentation shows slot 1 only).
        A LAG's number is not in that documentation: the lab gives lagN
        0x50000000 + N (no ethernet number reaches it)."""
        out = {}
        for name in interfaces:
            if m := re.fullmatch(r"ethernet-(\d+)/(\d+)", name):
                out[name] = (int(m.group(1)) - 1) << 22 | (int(m.group(2)) - 1) << 15 | 0x3FFE
            elif m := re.fullmatch(r"lag(\d+)", name):
                out[name] = 0x50000000 + int(m.group(1))
        return out

    def render(self, device: DeviceView) -> dict:
        out: dict = {}
        for i in device.interfaces:
            base = (elem("interface", name=i.name),)
            out[base + (elem("admin-state"),)] = ("enable" if i.admin_up else "disable", STATE)
            out[base + (elem("oper-state"),)] = ("up" if i.oper_up else "down", STATE)
            if i.ifindex is not None:
                out[base + (elem("ifindex"),)] = (i.ifindex, STATE)
            for leaf, norm in STATISTICS.items():
                out[base + (elem("statistics"), elem(leaf))] = (i.counters[norm], SAMPLED)
            if i.speed_bps:
                out[base + (elem("ethernet"), elem("port-speed"))] = (self.speed_name(i.speed_bps), SAMPLED)
        for m in device.members:
            base = (elem("interface", name=m.lag), elem("lag"), elem("member", name=m.member))
            out[base + (elem("oper-state"),)] = ("up" if m.in_bundle else "down", STATE)
            for path, value in lacp_leaves(base + (elem("lacp"),), m).items():
                out[path] = (value, STATE)
        for s in device.sessions:
            path = (elem("network-instance", name=s.network_instance), elem("protocols"), elem("bgp"),
                    elem("neighbor", **{"peer-address": s.peer_address}), elem("session-state"))
            out[path] = (s.state, STATE)
        for nb in device.neighbors:
            base = (elem("system"), elem("lldp"), elem("interface", name=nb.interface), elem("neighbor", id=nb.id))
            out.update({p: (v, STATE) for p, v in lldp_leaves(base, nb).items()})
        if device.hostname:
            out[(elem("system"), elem("name"), elem("host-name"))] = (device.hostname, STATE)
        if device.sflow_agent:
            out[(elem("system"), elem("sflow"), elem("source-address"))] = (device.sflow_agent, STATE)
        for seg in device.segments:
            base = (elem("system"), elem("network-instance"), elem("protocols"), elem("evpn"),
                    elem("ethernet-segments"), elem("bgp-instance", id="1"), elem("ethernet-segment", name=seg.name))
            out[base + (elem("esi"),)] = (seg.esi, STATE)
            out[base + (elem("interface", **{"ethernet-interface": seg.interface}), elem("ethernet-interface"))] = (
                seg.interface, STATE)
        return out


PLATFORM = SrLinux()
