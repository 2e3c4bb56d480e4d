"""gNMI notifications -> the normalized telemetry records. Pure: no I/O.

Each update is identified by its own full path (prefix + path, per update),
never by "the last prefix seen": that is how pygnmi's merged first response
(issue #177) loses interface identity, and why we read the raw stream. What
a path means is the device platform's knowledge (fabtel.platforms); this
module only accumulates it.

ON_CHANGE streams send only the leaves that changed, so a per-device cache
keeps each interface's, LAG member's and BGP neighbour's latest values and
every record carries the whole known state. Counters too: some devices
(OpenConfig's reference device, lemming) send each sampled counter leaf in a
notification of its own, and a record of one counter would leave the other
rates without a reading; each counter record carries every counter known for
its interface. A delete that removes an
interface, a member or a neighbour drops it from the cache and yields a
record with `deleted` set (oper state down, session idle: safe for readers
that do not know the flag).

`read` takes a SubscribeResponse's bytes. The compiled reader
(fabtel._native.gnmi_response) gives each update's path as its raw bytes and
its value, with no message object per update; a path seen once as a counter
is then a dictionary lookup (a counter leaf is decided by its path alone and
carries int(value), fabtel.platforms.base). With FABTEL_NATIVE=off the
protobuf runtime reads the response and `feed` takes it: the reference, held
equal by tests/unit/test_gnmi_native.py. A value a platform cannot read is
counted and its update skipped; the rest of the notification is kept.
May import: fabtel.platforms, fabtel.records, fabtel.gnmi_paths, fabtel.native, pygnmi's stubs.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from pygnmi.spec.v080 import gnmi_pb2

from fabtel import gnmi_paths as gp
from fabtel import native
from fabtel.platforms import base, platform
from fabtel.records import (BgpSession, IfIndexEntry, InterfaceCounters, InterfaceIndexes, InterfaceState,
                            LagMemberState, LldpNeighbor)


log = logging.getLogger("fabtel.gnmi")
UPDATE, SYNC, OTHER = "update", "sync", "other"         # what a SubscribeResponse is, for the collector
_CACHE_MAX = 100_000          # counter paths remembered per prefix (a device has a few thousand)
# What reading a value as its leaf may raise: int("lots"), int(float("inf")), a platform's own parse.
UNREADABLE = (TypeError, ValueError, ArithmeticError, AttributeError)


class ResponseError(ValueError):
    """A SubscribeResponse that cannot be read (the message names the part)."""


def runtime_value(typed: bytes) -> object:
    """A TypedValue's bytes read by the protobuf runtime: what the compiled
    reader leaves to it (decimals, leaf lists, Any, JSON beyond a plain scalar)."""
    return value_of(gnmi_pb2.TypedValue.FromString(typed))


def _path(raw: bytes) -> gp.PathT:
    return gp.from_proto(None, gnmi_pb2.Path.FromString(raw))


def value_of(tv) -> object:
    """A TypedValue as a Python value (JSON values decoded)."""
    kind = tv.WhichOneof("value")
    if kind is None:
        return None
    v = getattr(tv, kind)
    if kind in ("json_val", "json_ietf_val"):
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


@dataclass
class _Interface:
    admin: str | None = None
    oper: str | None = None
    port_speed: int | None = None
    negotiated_speed: int | None = None
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def speed_bps(self) -> int | None:
        return self.negotiated_speed or self.port_speed


@dataclass
class _Batch:
    """What one notification touched."""
    states: set[str] = field(default_factory=set)
    counters: set[str] = field(default_factory=set)                 # interfaces whose counters came
    members: set[tuple[str, str]] = field(default_factory=set)
    sessions: set[tuple[str, str]] = field(default_factory=set)
    indexes: bool = False                                            # the ifIndex map changed
    neighbors: set[tuple[str, str]] = field(default_factory=set)    # (interface, neighbour id)
    deleted: list = field(default_factory=list)


class DeviceNormalizer:
    """Turns one device's notifications into typed records."""

    def __init__(self, device: str, platform_name: str = "srlinux"):
        self.device = device
        self.platform = platform(platform_name)
        self.interfaces: dict[str, _Interface] = {}
        self.members: dict[tuple[str, str], _Member] = {}          # (lag, member)
        self.sessions: dict[tuple[str, str], str] = {}             # (network instance, peer) -> state
        self.ifindex: dict[str, int] = {}                          # interface -> the ifIndex the device gives it
        self.alias: dict[str, str] = {}                            # interface -> its alias (SONiC)
        self.neighbors: dict[tuple[str, str], dict[str, str]] = {}  # (interface, id) -> LLDP leaf -> value
        self.map_reported = False
        self.unknown_paths: set[str] = set()
        self.unreadable: set[str] = set()                          # paths whose value could not be read, said once
        self.unreadable_values = 0
        # raw prefix -> (its path, raw path -> (interface, counter) of the counters seen under it)
        self._prefixes: dict[bytes, tuple[gp.PathT, dict[bytes, tuple[str, str]]]] = {}

    def read(self, data: bytes, receive_ts_ns: int) -> tuple[str, int, list]:
        """One SubscribeResponse's bytes: (UPDATE, SYNC or OTHER, the updates and
        deletes it carried, the records they make). ResponseError if unreadable."""
        if not native.available():
            try:
                resp = gnmi_pb2.SubscribeResponse.FromString(data)
            except DecodeError as exc:
                raise ResponseError(f"SubscribeResponse: {exc}") from None
            which = resp.WhichOneof("response")
            if which == "update":
                n = resp.update
                return UPDATE, len(n.update) + len(n.delete), self.feed(n, receive_ts_ns)
            return (SYNC if which == "sync_response" and resp.sync_response else OTHER), 0, []
        lib = native.module()
        try:
            kind, *rest = lib.gnmi_response(data, runtime_value)
        except lib.DecodeError as exc:
            reason, offset, message, _ = exc.args
            raise ResponseError(f"{message}: {reason} (byte {offset})") from None
        if kind == "update":
            ts, prefix, updates, deletes = rest
            return UPDATE, len(updates) + len(deletes), self._feed_raw(ts, prefix, updates, deletes, receive_ts_ns)
        return (SYNC if kind == "sync" and rest[0] else OTHER), 0, []

    def feed(self, notification, receive_ts_ns: int) -> list:
        ts = notification.timestamp or receive_ts_ns
        batch = _Batch()
        for path in notification.delete:
            self._delete(gp.from_proto(notification.prefix, path), batch)
        for upd in notification.update:
            self._update(gp.from_proto(notification.prefix, upd.path), value_of(upd.val), batch)
        return self._records(batch, ts, receive_ts_ns)

    def _feed_raw(self, ts: int, prefix_raw: bytes, updates: list, deletes: list, receive_ts_ns: int) -> list:
        """`feed` for the compiled reader's parts: paths as raw bytes."""
        ts = ts or receive_ts_ns
        batch = _Batch()
        known = self._prefixes.get(prefix_raw)
        if known is None:
            if len(self._prefixes) >= 64:
                self._prefixes.clear()
            known = self._prefixes[prefix_raw] = (_path(prefix_raw), {})
        prefix, counters = known
        for raw in deletes:
            self._delete(prefix + _path(raw), batch)
        for raw, value in updates:
            hit = counters.get(raw)
            if hit is None:
                path = prefix + _path(raw)
                leaf = self._update(path, value, batch)
                if leaf is not None and leaf.kind == base.COUNTER:
                    if len(counters) >= _CACHE_MAX:
                        counters.clear()
                    counters[raw] = (leaf.key, leaf.name)
                continue
            try:
                number = int(value)
            except UNREADABLE as exc:
                self._unreadable(prefix + _path(raw), value, exc)
                continue
            self._counter(hit[0], hit[1], number, batch)
        return self._records(batch, ts, receive_ts_ns)

    def _update(self, path: gp.PathT, value: object, batch: _Batch) -> base.Leaf | None:
        try:
            leaf = self.platform.classify(path, value)
        except UNREADABLE as exc:
            self._unreadable(path, value, exc)
            return None
        if leaf is None:
            self.unknown_paths.add(gp.render(path))
        else:
            self._apply(leaf, batch)
        return leaf

    def _unreadable(self, path: gp.PathT, value: object, exc: Exception) -> None:
        self.unreadable_values += 1
        where = gp.render(path)
        if where not in self.unreadable and len(self.unreadable) < 1000:
            self.unreadable.add(where)
            log.warning("gnmi %s: cannot read the value %.80r at %s (%s: %s); its updates are skipped and counted",
                        self.device, value, where, type(exc).__name__, exc)

    def synced(self, receive_ts_ns: int) -> list:
        """At the end of the first initial sync that brought no ifIndex: the
        empty map (the device gives none, or rejected the path), so that the
        sFlow numbers of the device stop waiting for one."""
        if self.map_reported:
            return []
        return [self._map(receive_ts_ns, receive_ts_ns)]

    def _map(self, ts: int, rts: int) -> InterfaceIndexes:
        self.map_reported = True          # the whole map each time: the topic is compacted by device
        return InterfaceIndexes(self.device, "gnmi", [IfIndexEntry(n, i, self.alias.get(n))
                                                      for n, i in sorted(self.ifindex.items())], ts, rts)

    # ------------------------------------------------------------ updates

    def _apply(self, leaf: base.Leaf, batch: _Batch) -> None:
        kind = leaf.kind
        if kind == base.COUNTER:
            self._counter(leaf.key, leaf.name, leaf.value, batch)
        elif kind in (base.ADMIN, base.OPER):
            intf = self.interfaces.setdefault(leaf.key, _Interface())
            setattr(intf, kind, leaf.value)
            batch.states.add(leaf.key)
        elif kind == base.SPEED:
            self.interfaces.setdefault(leaf.key, _Interface()).port_speed = leaf.value
        elif kind == base.NEGOTIATED_SPEED:
            self.interfaces.setdefault(leaf.key, _Interface()).negotiated_speed = leaf.value
        elif kind == base.MEMBER:
            m = self.members.setdefault((leaf.key, leaf.sub), _Member(leaf.key))
            if leaf.name == "oper-state":
                m.oper_state = leaf.value
            elif leaf.name == "system-id":
                m.system_id = str(leaf.value)
            elif leaf.name == "partner-id":
                m.partner_id = str(leaf.value)
            else:
                m.flags[leaf.name] = leaf.value
            batch.members.add((leaf.key, leaf.sub))
        elif kind == base.BGP:
            self.sessions[(leaf.key, leaf.sub)] = leaf.value
            batch.sessions.add((leaf.key, leaf.sub))
        elif kind == base.IFINDEX and self.ifindex.get(leaf.key) != leaf.value:
            self.ifindex[leaf.key] = leaf.value
            batch.indexes = True
        elif kind == base.ALIAS and self.alias.get(leaf.key) != leaf.value:
            self.alias[leaf.key] = leaf.value
            batch.indexes = True
        elif kind == base.LLDP:
            self.neighbors.setdefault((leaf.key, leaf.sub), {})[leaf.name] = leaf.value
            batch.neighbors.add((leaf.key, leaf.sub))

    def _counter(self, interface: str, name: str, value: int, batch: _Batch) -> None:
        intf = self.interfaces.get(interface)
        if intf is None:
            intf = self.interfaces[interface] = _Interface()
        intf.counters[name] = value
        batch.counters.add(interface)

    # ------------------------------------------------------------ deletes

    def _delete(self, path: gp.PathT, batch: _Batch) -> None:
        gone = self.platform.removal(path)
        if gone is None:
            self.unknown_paths.add(gp.render(path))
            return
        if gone.what == base.INTERFACE:
            if self.interfaces.pop(gone.key, None) is not None:
                batch.deleted.append(("interface", gone.key))
            if self.ifindex.pop(gone.key, None) is not None:
                batch.indexes = True
            batch.states.discard(gone.key)
            batch.counters.discard(gone.key)
            self._drop_members(gone.key, None, batch)          # a deleted LAG takes its members
            for (lag, member) in [k for k in self.members if k[1] == gone.key]:
                self._drop_members(lag, member, batch)         # a deleted port leaves its LAG
        elif gone.what == base.LAG_MEMBER:
            self._drop_members(gone.key, gone.sub, batch)
        elif gone.what == base.NEIGHBOR:
            for key in [k for k in self.sessions if k[0] == gone.key and gone.sub in (None, k[1])]:
                del self.sessions[key]
                batch.sessions.discard(key)
                batch.deleted.append(("neighbor", key))
        elif gone.what == base.LLDP_NEIGHBOR:
            for key in [k for k in self.neighbors if k[0] == gone.key and gone.sub in (None, k[1])]:
                leaves = self.neighbors.pop(key)
                batch.neighbors.discard(key)
                batch.deleted.append(("lldp", key, leaves))

    def _drop_members(self, lag: str, member: str | None, batch: _Batch) -> None:
        for key in [k for k in self.members if k[0] == lag and member in (None, k[1])]:
            m = self.members.pop(key)
            batch.members.discard(key)
            batch.deleted.append(("member", key, m))

    # ------------------------------------------------------------ records

    def _records(self, batch: _Batch, ts: int, rts: int) -> list:
        out: list = []
        for what, key, *rest in batch.deleted:
            if what == "interface":
                out.append(InterfaceState(self.device, key, "gnmi", ts, rts, None, "down", deleted=True))
            elif what == "member":
                out.append(LagMemberState(self.device, key[0], key[1], "gnmi", ts, rts, "down", deleted=True))
            elif what == "lldp":
                out.append(self._neighbor_record(key, rest[0], ts, rts, deleted=True))
            else:
                out.append(BgpSession(self.device, key[0], key[1], ts, rts, "idle", deleted=True))
        for name in sorted(batch.states):
            intf = self.interfaces[name]
            out.append(InterfaceState(self.device, name, "gnmi", ts, rts, intf.admin, intf.oper))
        for name in sorted(batch.counters):
            intf = self.interfaces[name]
            out.append(InterfaceCounters(self.device, name, "gnmi", ts, rts, speed_bps=intf.speed_bps, **intf.counters))
        for key in sorted(batch.members):
            out.append(self._member_record(key, ts, rts))
        for key in sorted(batch.sessions):
            out.append(BgpSession(self.device, key[0], key[1], ts, rts, self.sessions[key]))
        for key in sorted(batch.neighbors):
            out.append(self._neighbor_record(key, self.neighbors[key], ts, rts))
        if batch.indexes:
            out.append(self._map(ts, rts))
        return out

    def _neighbor_record(self, key: tuple[str, str], leaves: dict, ts: int, rts: int, deleted: bool = False):
        return LldpNeighbor(self.device, key[0], key[1], ts, rts, leaves.get("system-name"), leaves.get("chassis-id"),
                            leaves.get("port-id"), leaves.get("port-id-type"), leaves.get("port-description"), deleted)

    def _member_record(self, key: tuple[str, str], ts: int, rts: int) -> LagMemberState:
        lag, member = key
        m = self.members[key]
        state = base.lacp_state(m.flags) if m.flags else None
        oper = m.oper_state
        if oper is None and member in self.interfaces:       # OpenConfig has no member oper-state: the port's
            oper = self.interfaces[member].oper
        return LagMemberState(self.device, lag, member, "gnmi", ts, rts, oper, m.system_id, m.partner_id,
                              actor_oper_port_state=state)
