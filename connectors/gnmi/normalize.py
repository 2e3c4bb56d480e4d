"""gNMI notifications -> the normalized telemetry records. Pure: no I/O.

Each update is identified by its own full path (prefix + path, per update),
never by "the last prefix seen": that is how pygnmi's merged first response
(issue #177) loses interface identity, and why we read the raw stream.

ON_CHANGE streams send only the leaves that changed, so a per-device cache
keeps each interface's and LAG member's latest values and every record
carries the whole known state. SR Linux native and OpenConfig paths.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fabtel import gnmi_paths as gp
from fabtel.records import BgpSession, InterfaceCounters, InterfaceState, LagMemberState

LACP_FLAGS = {"activity": (1, "ACTIVE"), "timeout": (2, "SHORT"), "aggregatable": (4, True),
              "synchronization": (8, "IN_SYNC"), "collecting": (16, True), "distributing": (32, True)}
BGP_STATES = {"idle", "connect", "active", "opensent", "openconfirm", "established"}


def value_of(tv) -> object:
    """A TypedValue as a Python value (JSON values decoded)."""
    kind = tv.WhichOneof("value")
    if kind is None:
        return None
    v = getattr(tv, kind)
    if kind in ("json_val", "json_ietf_val"):
        import json
        try:
            return json.loads(v)
        except ValueError:
            return v.decode(errors="replace")
    if kind == "decimal_val":
        return v.digits / 10 ** v.precision
    return v


@dataclass
class _Member:
    lag: str | None
    oper_state: str | None = None
    flags: dict[str, object] = field(default_factory=dict)
    system_id: str | None = None
    partner_id: str | None = None


class DeviceNormalizer:
    """Turns one device's notifications into typed records."""

    def __init__(self, device: str, platform: str = "srlinux"):
        self.device, self.platform = device, platform
        self.state: dict[str, list[str | None]] = {}          # interface -> [admin, oper]
        self.members: dict[str, _Member] = {}
        self.speeds: dict[str, int] = {}
        self.unknown_paths: set[str] = set()

    def feed(self, notification, receive_ts_ns: int) -> list:
        ts = notification.timestamp or receive_ts_ns
        counters: dict[str, dict[str, int]] = {}
        states: set[str] = set()
        members: set[str] = set()
        out: list = []
        for upd in notification.update:
            path = gp.from_proto(notification.prefix, upd.path)
            value = value_of(upd.val)
            if self.platform == "openconfig":
                self._openconfig(path, value, counters, states, members, out, ts, receive_ts_ns)
            else:
                self._srlinux(path, value, counters, states, members, out, ts, receive_ts_ns)
        for intf in sorted(states):
            admin, oper = self.state[intf]
            out.append(InterfaceState(self.device, intf, "gnmi", ts, receive_ts_ns, admin, oper))
        for intf, values in sorted(counters.items()):
            out.append(InterfaceCounters(self.device, intf, "gnmi", ts, receive_ts_ns,
                                         speed_bps=self.speeds.get(intf), **values))
        for m in sorted(members):
            out.append(self._member_record(m, ts, receive_ts_ns))
        return out

    # ------------------------------------------------------------ SR Linux

    def _srlinux(self, path, value, counters, states, members, out, ts, rts) -> None:
        n = gp.names(path)
        if n[:1] == ("interface",) and len(n) >= 2:
            intf = gp.key(path, "interface", "name")
            if n[1:] == ("admin-state",):
                self._set_state(intf, 0, str(value), states)
                return
            if n[1:] == ("oper-state",):
                self._set_state(intf, 1, str(value), states)
                return
            if n[1:2] == ("statistics",) and len(n) == 3 and n[2] in gp.SRL_COUNTERS:
                counters.setdefault(intf, {})[gp.SRL_COUNTERS[n[2]]] = int(value)
                return
            if n[1:] == ("ethernet", "port-speed"):
                self._set_speed(intf, value)
                return
            if n[1:3] == ("lag", "member") and len(n) >= 4:
                self._member_leaf(intf, gp.key(path, "member", "name"), n[3:], value, members)
                return
        if n[:1] == ("network-instance",) and n[-1:] == ("session-state",) and "neighbor" in n:
            out.append(BgpSession(self.device, gp.key(path, "network-instance", "name"),
                                  gp.key(path, "neighbor", "peer-address"), ts, rts, str(value).lower()))
            return
        self._unknown(path)

    # ------------------------------------------------------------ OpenConfig

    def _openconfig(self, path, value, counters, states, members, out, ts, rts) -> None:
        n = gp.names(path)
        if n[:2] == ("interfaces", "interface") and len(n) >= 4:
            intf = gp.key(path, "interface", "name")
            tail = n[2:]
            if tail == ("state", "admin-status"):
                self._set_state(intf, 0, "enable" if str(value).upper() == "UP" else "disable", states)
                return
            if tail == ("state", "oper-status"):
                self._set_state(intf, 1, "up" if str(value).upper() == "UP" else "down", states)
                return
            if tail in (("config", "enabled"), ("state", "enabled")):
                self._set_state(intf, 0, "enable" if value is True else "disable", states)
                return
            if tail[:2] == ("state", "counters") and len(tail) == 3 and tail[2] in gp.OC_COUNTERS:
                counters.setdefault(intf, {})[gp.OC_COUNTERS[tail[2]]] = int(value)
                return
            if tail == ("ethernet", "state", "port-speed"):
                self._set_speed(intf, value)
                return
        if n[:5] == ("lacp", "interfaces", "interface", "members", "member") and len(n) >= 7:
            self._member_leaf(gp.key(path, "interface", "name"), gp.key(path, "member", "interface"), n[6:], value, members)
            return
        if n[:1] == ("network-instances",) and n[-1:] == ("session-state",) and "neighbor" in n:
            out.append(BgpSession(self.device, gp.key(path, "network-instance", "name"),
                                  gp.key(path, "neighbor", "neighbor-address"), ts, rts, str(value).lower()))
            return
        self._unknown(path)

    # ------------------------------------------------------------ shared

    def _set_state(self, intf: str, index: int, value: str, states: set[str]) -> None:
        self.state.setdefault(intf, [None, None])[index] = value
        states.add(intf)

    def _set_speed(self, intf: str, value) -> None:
        bps = gp.speed_bps(str(value))
        if bps:
            self.speeds[intf] = bps

    def _member_leaf(self, lag: str, member: str, tail: tuple[str, ...], value, members: set[str]) -> None:
        m = self.members.setdefault(member, _Member(lag))
        m.lag = lag
        leaf = tail[-1]
        if tail == ("oper-state",):
            m.oper_state = str(value)
        elif leaf == "system-id":
            m.system_id = str(value)
        elif leaf == "partner-id":
            m.partner_id = str(value)
        elif leaf in LACP_FLAGS:
            m.flags[leaf] = value
        else:
            return
        members.add(member)

    def _member_record(self, member: str, ts: int, rts: int) -> LagMemberState:
        m = self.members[member]
        state = None
        if m.flags:
            state = 0
            for leaf, (bit, on) in LACP_FLAGS.items():
                v = m.flags.get(leaf)
                if v is True or (isinstance(v, str) and v.upper() == str(on)):
                    state |= bit
        oper = m.oper_state
        if oper is None and self.platform == "openconfig" and member in self.state:
            oper = self.state[member][1]
        return LagMemberState(self.device, m.lag, member, "gnmi", ts, rts, oper, m.system_id, m.partner_id,
                              actor_oper_port_state=state)

    def _unknown(self, path) -> None:
        self.unknown_paths.add(gp.render(path))
