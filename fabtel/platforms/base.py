"""What every platform module provides, and the neutral values they exchange
with the rest of fabtel. Pure.

A platform module knows one kind of device's gNMI tree: which paths the
collector subscribes to, what each update means (`Leaf`), what a delete
removes (`Removal`), where and how the admin state is set, the counter and
speed names, and how the lab renders a device of that kind. The gNMI
normalizer, the executor and the lab ask the platform and hold no path of
their own. May import: the standard library, fabtel.gnmi_paths, fabtel.lacp.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from fabtel import gnmi_paths as gp
from fabtel import lacp

# Leaf kinds (what an update is about)
ADMIN, OPER, COUNTER, SPEED, NEGOTIATED_SPEED, MEMBER, BGP, IFINDEX, IGNORED = (
    "admin", "oper", "counter", "speed", "negotiated_speed", "member", "bgp", "ifindex", "ignored")
# ... an interface's alias (SONiC advertises it in LLDP), an LLDP neighbour's leaf (key: the local
# interface, sub: the neighbour's id, name: system-name, port-id, port-id-type, chassis-id or
# port-description), the device's host name, an ethernet segment's leaf (key: the segment, name:
# esi or interface) and a member's LAG (key: the member, value: its LAG), for `fabtel discover`
ALIAS, LLDP, HOSTNAME, SEGMENT, LAG_OF, SFLOW_AGENT = "alias", "lldp", "hostname", "segment", "lag_of", "sflow_agent"
# What a delete removes
INTERFACE, LAG_MEMBER, NEIGHBOR, LLDP_NEIGHBOR = "interface", "lag_member", "neighbor", "lldp_neighbor"
LLDP_LEAVES = ("system-name", "port-id", "port-id-type", "chassis-id", "port-description")
# LLDP port ID subtypes as both models name them (IEEE 802.1AB; openconfig-lldp-types, srl_nokia-lldp-types)
INTERFACE_NAME, LOCAL, MAC_ADDRESS, INTERFACE_ALIAS = "INTERFACE_NAME", "LOCAL", "MAC_ADDRESS", "INTERFACE_ALIAS"

JSON, JSON_IETF, PROTO, ASCII = "JSON", "JSON_IETF", "PROTO", "ASCII"


@dataclass(frozen=True)
class Leaf:
    """One update, understood. `key` is the interface (the LAG for a member
    leaf, the network instance for BGP), `sub` the member or the neighbour,
    `name` the counter, LACP flag or member leaf."""
    kind: str
    key: str | None = None
    sub: str | None = None
    name: str | None = None
    value: object = None


@dataclass(frozen=True)
class Removal:
    """A delete that removes an entity: an interface, a LAG member or a BGP
    neighbour (`key` and `sub` as in Leaf)."""
    what: str
    key: str
    sub: str | None = None


@dataclass(frozen=True)
class Identity:
    """A YANG identityref value: JSON_IETF qualifies it with its module."""
    module: str
    name: str

    def __str__(self) -> str:
        return self.name


def identity_name(value: object) -> str:
    """'openconfig-if-ethernet:SPEED_10GB' or 'SPEED_10GB' -> 'SPEED_10GB'."""
    return str(value).rsplit(":", 1)[-1]


# ------------------------------------------------------------ lab device views

@dataclass(frozen=True)
class InterfaceView:
    name: str
    admin_up: bool
    oper_up: bool
    counters: dict[str, int]
    speed_bps: int | None = None
    auto_negotiate: bool = False
    ifindex: int | None = None
    alias: str | None = None


@dataclass(frozen=True)
class Advertised:
    """What a port says of itself in LLDP: its port ID and that ID's subtype,
    and its port description (each platform's own choice: `Platform.advertise`)."""
    port_id: str
    port_id_type: str
    port_description: str = ""


@dataclass(frozen=True)
class NeighborView:
    """An LLDP neighbour as a device shows it on one of its interfaces."""
    interface: str
    id: str
    chassis_id: str
    system_name: str
    port: Advertised


@dataclass(frozen=True)
class SegmentView:
    """An EVPN ethernet segment: its name, ESI and interface."""
    name: str
    esi: str
    interface: str


@dataclass(frozen=True)
class MemberView:
    lag: str
    member: str
    in_bundle: bool
    actor_state: int               # 802.1AX order
    system_id: str
    partner_id: str


@dataclass(frozen=True)
class SessionView:
    network_instance: str
    peer_address: str
    state: str                     # BGP FSM state, lower case


@dataclass(frozen=True)
class DeviceView:
    """A device's state in neutral terms: what the lab renders per platform."""
    interfaces: tuple[InterfaceView, ...]
    members: tuple[MemberView, ...] = ()
    sessions: tuple[SessionView, ...] = ()
    hostname: str = ""
    neighbors: tuple[NeighborView, ...] = ()
    segments: tuple[SegmentView, ...] = ()
    sflow_agent: str = ""


STATE, SAMPLED = "state", "counter"      # how a rendered leaf changes: on change, or sampled


class Platform:
    """One device platform. A module per platform subclasses it and fills in
    the tables and the matchers."""
    name: str
    origin: str                                      # gNMI path origin of the platform's models ("" the default)
    origins: tuple[str, ...] = ()                    # more origins its devices serve (SONiC's sonic-db)
    encodings: tuple[str, ...]                       # what the device offers (Capabilities), preferred first
    models: tuple[tuple[str, str, str], ...]         # (name, organization, version)
    subscriptions: tuple[tuple[str, str], ...]       # (path, on_change | sample)
    discovery: tuple[str, ...] = ()                  # what `fabtel discover` reads (a ONCE subscription)
    counters: dict[str, str]                         # device counter leaf -> normalized name
    speeds: dict[str, int]                           # device speed name -> bits per second

    # -- reading updates
    def classify(self, path: gp.PathT, value: object) -> Leaf | None:
        raise NotImplementedError

    def removal(self, path: gp.PathT) -> Removal | None:
        raise NotImplementedError

    def speed_bps(self, value: object) -> int | None:
        return self.speeds.get(identity_name(value))

    # -- writing
    def admin_path(self, interface: str) -> str:
        raise NotImplementedError

    def admin_value(self, up: bool) -> object:
        raise NotImplementedError

    def admin_command(self, interface: str, up: bool) -> tuple[str, str]:
        """(path, JSON text of the value) that sets an interface's admin state."""
        return self.admin_path(interface), json.dumps(self.admin_value(up))

    def admin_target(self, path: gp.PathT) -> str | None:
        """The interface whose admin state `path` sets, or None."""
        raise NotImplementedError

    def check_admin_value(self, value: object) -> bool | None:
        """The admin state a decoded Set value asks for, or None if the model rejects it."""
        raise NotImplementedError

    def models_for(self, path: str) -> tuple[str, ...]:
        """The models (of `models`) a subscribed path needs: the collector
        checks them against the device's Capabilities and says which are missing."""
        return ()

    # -- the lab
    def advertise(self, interface: str, ifindex: int | None, alias: str | None) -> Advertised:
        """How a device of this platform names `interface` in the LLDP it sends."""
        return Advertised(interface, INTERFACE_NAME)

    def aliases(self, interfaces: list[str]) -> dict[str, str]:
        """The alias a device of this platform gives each interface (SONiC's etpN), if any."""
        return {}

    def ifindexes(self, interfaces: list[str]) -> dict[str, int]:
        """The ifIndex a device of this platform gives each of its interfaces
        (what it reports over gNMI and puts in sFlow): its own scheme, never one fabtel invents."""
        raise NotImplementedError

    def speed_name(self, bps: int) -> str | Identity:
        for name, v in self.speeds.items():
            if v == bps:
                return name
        raise ValueError(f"{self.name} has no port speed of {bps} b/s")

    def render(self, device: DeviceView) -> dict[gp.PathT, tuple[object, str]]:
        raise NotImplementedError


def elem(element: str, /, **keys: str) -> gp.Elem:
    return (element, tuple(sorted(keys.items())))


# LACP member leaves: the same names and values in both models.
LACP_LEAVES = ("activity", "timeout", "aggregatable", "synchronization", "collecting", "distributing",
               "system-id", "partner-id")
LACP_FLAGS = {"activity": (lacp.ACTIVITY, "ACTIVE"), "timeout": (lacp.TIMEOUT, "SHORT"),
              "aggregatable": (lacp.AGGREGATION, True), "synchronization": (lacp.SYNCHRONIZATION, "IN_SYNC"),
              "collecting": (lacp.COLLECTING, True), "distributing": (lacp.DISTRIBUTING, True)}


def lacp_state(flags: dict[str, object]) -> int:
    """The 802.1AX state octet of a member's LACP flag leaves."""
    state = 0
    for leaf, (bit, on) in LACP_FLAGS.items():
        v = flags.get(leaf)
        if v is True or (isinstance(v, str) and v.upper() == str(on).upper()):
            state |= bit
    return state


def lacp_leaves(base: gp.PathT, m: MemberView) -> dict:
    """A member's LACP leaves under `base`, rendered from its actor state."""
    out = {}
    for leaf, (bit, on) in LACP_FLAGS.items():
        set_ = bool(m.actor_state & bit)
        if on is True:
            out[base + (elem(leaf),)] = set_
        else:
            off = {"ACTIVE": "PASSIVE", "SHORT": "LONG", "IN_SYNC": "OUT_SYNC"}[on]
            out[base + (elem(leaf),)] = on if set_ else off
    out[base + (elem("system-id"),)] = m.system_id
    out[base + (elem("partner-id"),)] = m.partner_id
    return out


def lldp_leaves(base: gp.PathT, nb: NeighborView) -> dict:
    """A neighbour's LLDP leaves under `base` (the neighbor list entry); the
    same leaf names in SR Linux's model and OpenConfig's `state` container."""
    out = {base + (elem("system-name"),): nb.system_name, base + (elem("chassis-id"),): nb.chassis_id,
           base + (elem("port-id"),): nb.port.port_id, base + (elem("port-id-type"),): nb.port.port_id_type}
    if nb.port.port_description:
        out[base + (elem("port-description"),)] = nb.port.port_description
    return out
