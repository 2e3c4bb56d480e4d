"""OpenConfig (openconfig/public v5.9.0): interfaces, if-ethernet, lacp,
lldp, network-instance BGP, system and ethernet-segments. The vendor modules
that speak OpenConfig (eos, junos, sonic) subclass it and change what their
devices do differently.

Paths carry the origin "openconfig". The BGP protocol instance is keyed
`[identifier=BGP][name=...]`, and `name`
is the vendor's choice (SR Linux's own OpenConfig mapping answers `bgp`), so
fabtel subscribes with a wildcard name. Port speeds are identityrefs of
openconfig-if-ethernet (JSON_IETF qualifies them with the module); under
auto-negotiation `port-speed` may be SPEED_UNKNOWN and `negotiated-port-speed`
carries the speed in use. May import: the standard library,
fabtel.platforms.base, fabtel.gnmi_paths.
"""
from __future__ import annotations

from fabtel import gnmi_paths as gp
from fabtel.platforms.base import (ADMIN, BGP, COUNTER, HOSTNAME, IFINDEX, IGNORED, INTERFACE, JSON, JSON_IETF,
                                   LACP_LEAVES, LAG_MEMBER, LAG_OF, LLDP, LLDP_LEAVES, LLDP_NEIGHBOR, MEMBER,
                                   NEGOTIATED_SPEED, NEIGHBOR, OPER, PROTO, SAMPLED, SEGMENT, SFLOW_AGENT, SPEED, STATE,
                                   DeviceView, Identity, Leaf, Platform, Removal, elem, lacp_leaves, lldp_leaves)

COUNTERS = {
    "in-octets": "in_octets", "out-octets": "out_octets",
    "in-unicast-pkts": "in_unicast_pkts", "out-unicast-pkts": "out_unicast_pkts",
    "in-multicast-pkts": "in_multicast_pkts", "out-multicast-pkts": "out_multicast_pkts",
    "in-broadcast-pkts": "in_broadcast_pkts", "out-broadcast-pkts": "out_broadcast_pkts",
    "in-discards": "in_discards", "out-discards": "out_discards",
    "in-errors": "in_errors", "out-errors": "out_errors",
}
# openconfig-if-ethernet ETHERNET_SPEED identities (SPEED_UNKNOWN has no rate)
ETHERNET_SPEEDS = {"SPEED_10MB": 10**7, "SPEED_100MB": 10**8, "SPEED_1GB": 10**9, "SPEED_2500MB": 25 * 10**8,
                   "SPEED_5GB": 5 * 10**9, "SPEED_10GB": 10**10, "SPEED_25GB": 25 * 10**9, "SPEED_40GB": 40 * 10**9,
                   "SPEED_50GB": 50 * 10**9, "SPEED_100GB": 10**11, "SPEED_200GB": 2 * 10**11,
                   "SPEED_400GB": 4 * 10**11, "SPEED_600GB": 6 * 10**11, "SPEED_800GB": 8 * 10**11,
                   "SPEED_1600GB": 16 * 10**11}
ETHERNET_MODULE = "openconfig-if-ethernet"
_BGP = ("network-instances", "network-instance", "protocols", "protocol", "bgp", "neighbors", "neighbor")
_LLDP = ("lldp", "interfaces", "interface", "neighbors", "neighbor")
_ES = ("ethernet-segments", "ethernet-segment")
_SFLOW_SOURCE = ("sampling", "sflow", "collectors", "collector", "state", "source-address")
# The model each subtree's leaves come from (what Capabilities must list).
MODEL_OF = {"interfaces": "openconfig-interfaces", "lacp": "openconfig-lacp", "lldp": "openconfig-lldp",
            "network-instances": "openconfig-network-instance", "system": "openconfig-system",
            "ethernet-segments": "openconfig-ethernet-segments", "sampling": "openconfig-sampling-sflow"}


class OpenConfig(Platform):
    name = "openconfig"
    # A device that serves its native models too (SR Linux) tells the schemas
    # apart by origin; OpenConfig's reference device (lemming) requires it.
    origin = "openconfig"
    encodings = (JSON_IETF, JSON, PROTO)
    models = (("openconfig-interfaces", "OpenConfig working group", "3.7.1"),
              ("openconfig-if-ethernet", "OpenConfig working group", "2.14.0"),
              ("openconfig-lacp", "OpenConfig working group", "2.0.0"),
              ("openconfig-lldp", "OpenConfig working group", "0.2.1"),
              ("openconfig-network-instance", "OpenConfig working group", "4.4.1"),
              ("openconfig-system", "OpenConfig working group", "2.3.0"))
    subscriptions = (
        ("/interfaces/interface[name=*]/state/admin-status", "on_change"),
        ("/interfaces/interface[name=*]/state/oper-status", "on_change"),
        ("/interfaces/interface[name=*]/state/ifindex", "on_change"),
        *((f"/lacp/interfaces/interface[name=*]/members/member[interface=*]/state/{leaf}", "on_change")
          for leaf in LACP_LEAVES),
        ("/network-instances/network-instance[name=*]/protocols/protocol[identifier=BGP][name=*]/bgp/neighbors/"
         "neighbor[neighbor-address=*]/state/session-state", "on_change"),
        *((f"/lldp/interfaces/interface[name=*]/neighbors/neighbor[id=*]/state/{leaf}", "on_change")
          for leaf in LLDP_LEAVES),
        ("/interfaces/interface[name=*]/state/counters", "sample"),
        ("/interfaces/interface[name=*]/ethernet/state/port-speed", "sample"),
        ("/interfaces/interface[name=*]/ethernet/state/negotiated-port-speed", "sample"),
    )
    discovery = ("/system/state/hostname", "/interfaces/interface[name=*]/ethernet/state/aggregate-id",
                 "/ethernet-segments/ethernet-segment[name=*]/state/esi",
                 "/ethernet-segments/ethernet-segment[name=*]/state/interface",
                 "/sampling/sflow/collectors/collector[address=*][port=*]/state/source-address")
    counters = COUNTERS
    speeds = ETHERNET_SPEEDS
    bgp_protocol_name = "bgp"      # what its devices call their BGP instance (SR Linux's OpenConfig mapping says bgp)

    def models_for(self, path: str) -> tuple[str, ...]:
        first = gp.names(gp.parse(path))[:1]
        return (MODEL_OF[first[0]],) if first and first[0] in MODEL_OF else ()

    def classify(self, path: gp.PathT, value: object) -> Leaf | None:
        n = gp.names(path)
        if n[:2] == ("interfaces", "interface") and len(n) >= 4:
            intf = gp.key(path, "interface", "name")
            tail = n[2:]
            if tail == ("state", "admin-status"):
                return Leaf(ADMIN, intf, value="enable" if str(value).upper() == "UP" else "disable")
            if tail == ("state", "oper-status"):
                return Leaf(OPER, intf, value="up" if str(value).upper() == "UP" else "down")
            if tail == ("state", "ifindex"):
                return Leaf(IFINDEX, intf, value=int(value))
            if tail in (("config", "enabled"), ("state", "enabled")):
                return Leaf(ADMIN, intf, value="enable" if value is True else "disable")
            if tail[:2] == ("state", "counters") and len(tail) == 3:
                name = COUNTERS.get(tail[2])
                return Leaf(COUNTER, intf, name=name, value=int(value)) if name else Leaf(IGNORED)
            if tail == ("ethernet", "state", "port-speed"):
                return Leaf(SPEED, intf, value=self.speed_bps(value))
            if tail == ("ethernet", "state", "negotiated-port-speed"):
                return Leaf(NEGOTIATED_SPEED, intf, value=self.speed_bps(value))
            if tail == ("ethernet", "state", "aggregate-id"):
                return Leaf(LAG_OF, intf, value=str(value))
            return None
        if n[:5] == ("lacp", "interfaces", "interface", "members", "member") and n[5:6] == ("state",):
            if len(n) == 7 and n[6] in LACP_LEAVES:
                return Leaf(MEMBER, gp.key(path, "interface", "name"), gp.key(path, "member", "interface"), n[6], value)
            return Leaf(IGNORED)
        if n == _BGP + ("state", "session-state") and _is_bgp(path):
            return Leaf(BGP, gp.key(path, "network-instance", "name"), gp.key(path, "neighbor", "neighbor-address"),
                        value=str(value).lower())
        if n[:5] == _LLDP and n[5:6] == ("state",) and len(n) == 7:
            if n[6] not in LLDP_LEAVES:
                return Leaf(IGNORED)
            return Leaf(LLDP, gp.key(path, "interface", "name"), gp.key(path, "neighbor", "id"), n[6],
                        str(value).rsplit(":", 1)[-1] if n[6] == "port-id-type" else str(value))
        if n == ("system", "state", "hostname"):
            return Leaf(HOSTNAME, value=str(value))
        if n[:2] == _ES and n[2:3] == ("state",) and len(n) == 4 and n[3] in ("esi", "interface"):
            return Leaf(SEGMENT, gp.key(path, "ethernet-segment", "name"), name=n[3], value=str(value))
        if n == _SFLOW_SOURCE:
            return Leaf(SFLOW_AGENT, value=str(value))
        return None

    def removal(self, path: gp.PathT) -> Removal | None:
        n = gp.names(path)
        if n[:2] == ("interfaces", "interface") and n[2:] in ((), ("state",), ("state", "admin-status"),
                                                             ("state", "oper-status")):
            return Removal(INTERFACE, gp.key(path, "interface", "name"))
        if n[:3] == ("lacp", "interfaces", "interface"):
            return Removal(LAG_MEMBER, gp.key(path, "interface", "name"), gp.key(path, "member", "interface"))
        if len(n) >= 2 and n[:len(_BGP)] == _BGP[:len(n)] and n[len(_BGP):] in ((), ("state",), ("state", "session-state")) \
                and _is_bgp(path):
            return Removal(NEIGHBOR, gp.key(path, "network-instance", "name"),
                           gp.key(path, "neighbor", "neighbor-address"))
        if n[:5] == _LLDP and n[5:] in ((), ("state",), *((("state", x),) for x in LLDP_LEAVES)):
            return Removal(LLDP_NEIGHBOR, gp.key(path, "interface", "name"), gp.key(path, "neighbor", "id"))
        return None

    def admin_path(self, interface: str) -> str:
        return f"/interfaces/interface[name={interface}]/config/enabled"

    def admin_value(self, up: bool) -> bool:
        return up

    def admin_target(self, path: gp.PathT) -> str | None:
        if gp.names(path) == ("interfaces", "interface", "config", "enabled"):
            return gp.key(path, "interface", "name")
        return None

    def check_admin_value(self, value: object) -> bool | None:
        return value if isinstance(value, bool) else None

    def ifindexes(self, interfaces: list[str]) -> dict[str, int]:
        """A Linux-based OpenConfig device's numbering: the kernel's, in the
        order its ports were made (1 is the loopback). OpenConfig's reference
        device (lemming v0.5.0) serves interfaces by their Linux names and no
        state/ifindex at all (checked with gnmic): the kernel's numbers are
        the ones its sFlow would carry."""
        return {name: i + 2 for i, name in enumerate(interfaces)}

    def render(self, device: DeviceView) -> dict:
        out: dict = {}
        for i in device.interfaces:
            base = (elem("interfaces"), elem("interface", name=i.name))
            out[base + (elem("config"), elem("enabled"))] = (i.admin_up, STATE)
            out[base + (elem("state"), elem("admin-status"))] = ("UP" if i.admin_up else "DOWN", STATE)
            out[base + (elem("state"), elem("oper-status"))] = ("UP" if i.oper_up else "DOWN", STATE)
            if i.ifindex is not None:
                out[base + (elem("state"), elem("ifindex"))] = (i.ifindex, STATE)
            for leaf, norm in COUNTERS.items():
                out[base + (elem("state"), elem("counters"), elem(leaf))] = (i.counters[norm], SAMPLED)
            if i.speed_bps:
                eth = base + (elem("ethernet"), elem("state"))
                speed = self.speed_identity(i.speed_bps)
                if i.auto_negotiate:
                    out[eth + (elem("port-speed"),)] = (Identity(ETHERNET_MODULE, "SPEED_UNKNOWN"), SAMPLED)
                    out[eth + (elem("negotiated-port-speed"),)] = (speed, SAMPLED)
                else:
                    out[eth + (elem("port-speed"),)] = (speed, SAMPLED)
        for m in device.members:
            base = (elem("lacp"), elem("interfaces"), elem("interface", name=m.lag), elem("members"),
                    elem("member", interface=m.member), elem("state"))
            for path, value in lacp_leaves(base, m).items():
                out[path] = (value, STATE)
        for s in device.sessions:
            path = (elem("network-instances"), elem("network-instance", name=s.network_instance), elem("protocols"),
                    elem("protocol", identifier="BGP", name=self.bgp_protocol_name), elem("bgp"), elem("neighbors"),
                    elem("neighbor", **{"neighbor-address": s.peer_address}), elem("state"), elem("session-state"))
            out[path] = (s.state.upper(), STATE)
        self.render_discovery(device, out)
        return out

    def speed_identity(self, bps: int) -> Identity:
        return Identity(ETHERNET_MODULE, self.speed_name(bps))

    def render_discovery(self, device: DeviceView, out: dict) -> None:
        """LLDP, the host name, LAG membership, and where its models have them (`discovery`)
        ethernet segments and the sFlow agent's address."""
        modelled = {p.split("/")[1] for p in self.discovery}
        for nb in device.neighbors:
            base = (elem("lldp"), elem("interfaces"), elem("interface", name=nb.interface), elem("neighbors"),
                    elem("neighbor", id=nb.id), elem("state"))
            out.update({p: (v, STATE) for p, v in lldp_leaves(base, nb).items()})
        if device.hostname:
            out[(elem("system"), elem("state"), elem("hostname"))] = (device.hostname, STATE)
        for m in device.members:
            out[(elem("interfaces"), elem("interface", name=m.member), elem("ethernet"), elem("state"),
                 elem("aggregate-id"))] = (m.lag, STATE)
        for seg in device.segments if "ethernet-segments" in modelled else ():
            base = (elem("ethernet-segments"), elem("ethernet-segment", name=seg.name), elem("state"))
            out[base + (elem("esi"),)] = (seg.esi, STATE)
            out[base + (elem("interface"),)] = (seg.interface, STATE)
        if device.sflow_agent and "sampling" in modelled:
            out[(elem("sampling"), elem("sflow"), elem("collectors"), elem("collector", address="198.18.255.1",
                                                                           port="6343"), elem("state"),
                 elem("source-address"))] = (device.sflow_agent, STATE)


def _is_bgp(path: gp.PathT) -> bool:
    """The protocol instance is BGP, whatever its name (identifier may be module-qualified)."""
    ident = gp.key(path, "protocol", "identifier")
    return ident is None or ident.rsplit(":", 1)[-1] == "BGP"


PLATFORM = OpenConfig()
