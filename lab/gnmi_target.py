"""A gNMI target per lab device, over real gRPC (grpcio with pygnmi's compiled
stubs): Capabilities, Get, Set and Subscribe (STREAM with SAMPLE, ON_CHANGE
and TARGET_DEFINED; ONCE; POLL), wildcards in keys. What the device serves is
its platform's rendering (fabtel.platforms) of the traffic model.
Notifications carry the device's timestamp in nanoseconds and full paths (no
prefix). A Set of an admin state takes effect in the traffic model at once.

It refuses what a device refuses (gNMI specification, the published models):
- an encoding the platform does not offer (SR Linux: JSON_IETF and PROTO,
  no plain JSON): UNIMPLEMENTED, for Get, Subscribe and Set values;
- a Set value that is not valid JSON (`disable` unquoted, as pygnmi sends a
  Python string): INVALID_ARGUMENT, as is a value outside the model (an enum
  it does not list, a string where a boolean is due) or a Set on a state
  (config false) leaf;
- a path outside the model, or an interface the device does not have: NOT_FOUND.
A Set is validated whole before anything changes (it is a transaction).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from concurrent import futures

import grpc
from pygnmi.spec.v080 import gnmi_ext_pb2, gnmi_pb2, gnmi_pb2_grpc

from fabtel import gnmi_paths as gp
from fabtel.platforms import base, platform
from fabtel.platforms.path_table import path_table
from fabtel.lab.model import LabFabric, Node

log = logging.getLogger("fabtel.lab.gnmi")

STATE, COUNTER = base.STATE, base.SAMPLED
TARGET_DEFINED_SAMPLE_NS = 10_000_000_000


def junos_header(system_id: str) -> bytes:
    """Juniper's GnmiJuniperTelemetryHeaderExtension (system_id 1, component_id 2,
    sensor_name 4), as registered extension 1 carries it."""
    sid, sensor = system_id.encode(), b"fabtel-lab"
    return b"\x0a" + bytes([len(sid)]) + sid + b"\x10\x00\x22" + bytes([len(sensor)]) + sensor
MIN_SAMPLE_NS = 100_000_000


def device_view(fabric: LabFabric, node: Node) -> base.DeviceView:
    """The lab node's state in the platforms' neutral terms (a LAG's
    counters are its members' sums; its oper state: a member in the bundle)."""
    interfaces, members = [], []
    for name, port in node.ports.items():
        interfaces.append(base.InterfaceView(name, port.admin_up, port.oper_up, dict(port.counters), port.speed_bps,
                                             port.auto_negotiate, node.ifindex.get(name), node.alias.get(name)))
    for lag, names in node.lags.items():
        in_bundle = [m for m in names if fabric.member_in_bundle(node.ports[m])]
        totals: dict[str, int] = {}
        for m in names:
            for k, v in node.ports[m].counters.items():
                totals[k] = totals.get(k, 0) + v
        interfaces.append(base.InterfaceView(lag, True, bool(in_bundle), totals, ifindex=node.ifindex.get(lag)))
        for m in names:
            port = node.ports[m]
            actor, _partner = fabric.lacp_states(node.name, m)
            partner = fabric.nodes[port.peer.node].system_id if port.peer and port.oper_up else "00:00:00:00:00:00"
            members.append(base.MemberView(lag, m, m in in_bundle, actor, node.system_id, partner))
    sessions = [base.SessionView("default", s.peer_address, s.state) for s in node.bgp.values()]
    return base.DeviceView(tuple(interfaces), tuple(members), tuple(sessions), node.name, neighbors(fabric, node),
                           tuple(base.SegmentView(f"es-{lag}", esi, lag) for lag, esi in sorted(node.segments.items())),
                           node.sflow_agent)


def neighbors(fabric: LabFabric, node: Node) -> tuple[base.NeighborView, ...]:
    """What each port of `node` hears in LLDP: the far end's chassis, name and
    port as the far end advertises it (its platform's choice; a host runs
    lldpd, whose port ID is its MAC and whose port description is its
    interface's name)."""
    out = []
    for name, port in node.ports.items():
        far = fabric.neighbor_of(port)
        if far is None:
            continue
        peer, peer_port = far
        if peer.role == "client":
            adv = base.Advertised(_port_mac(peer, peer_port.name), base.MAC_ADDRESS, peer_port.name)
        else:
            adv = platform(peer.platform).advertise(peer_port.name, peer.ifindex.get(peer_port.name),
                                                    peer.alias.get(peer_port.name))
        out.append(base.NeighborView(name, peer.mac, peer.mac, peer.name, adv))
    return tuple(out)


def _port_mac(node: Node, port: str) -> str:
    """A host port's MAC: its node's MAC with the port's position in the last octet."""
    return node.mac[:-2] + f"{list(node.ports).index(port) + 1:02x}"


def snapshot(fabric: LabFabric, node: Node) -> dict[gp.PathT, tuple[object, str]]:
    """Every leaf of a device: path -> (value, STATE or COUNTER)."""
    with fabric.lock:
        view = device_view(fabric, node)
    return platform(node.platform).render(view)


def platform_schema(name: str) -> set[tuple[str, ...]]:
    """The element names of every node the platform's models have (its path
    table, fabtel.platforms.path_table), whether or not a given device has
    data there: a path outside them is NOT_FOUND, as on the device."""
    table = path_table(name)
    return set(table.rows) | {names for names, _ in table.wild}


ENCODINGS = {name: gnmi_pb2.Encoding.Value(name) for name in (base.JSON, base.JSON_IETF, base.PROTO, base.ASCII)}


def typed_value(value: object, encoding: int) -> gnmi_pb2.TypedValue:
    """A leaf's value as the device sends it in `encoding`. JSON_IETF follows
    RFC 7951: 64-bit integers are strings, identityrefs carry their module."""
    if encoding == gnmi_pb2.PROTO:
        if isinstance(value, bool):
            return gnmi_pb2.TypedValue(bool_val=value)
        if isinstance(value, int):
            return gnmi_pb2.TypedValue(uint_val=value)
        return gnmi_pb2.TypedValue(string_val=str(value))
    if encoding == gnmi_pb2.JSON_IETF:
        if isinstance(value, base.Identity):
            value = f"{value.module}:{value.name}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return gnmi_pb2.TypedValue(json_ietf_val=json.dumps(value).encode())
    return gnmi_pb2.TypedValue(json_val=json.dumps(str(value) if isinstance(value, base.Identity) else value).encode())


class _Stream:
    """One Subscribe stream's wake-ups: change events from the model."""

    def __init__(self):
        self.changes: queue.Queue = queue.Queue(maxsize=1000)

    def wake(self, device, changes, ts_ns):
        try:
            self.changes.put_nowait(ts_ns)
        except queue.Full:
            pass


class DeviceServicer(gnmi_pb2_grpc.gNMIServicer):
    def __init__(self, fabric: LabFabric, node: Node, credentials: tuple[str, str] | None):
        self.fabric, self.node, self.credentials = fabric, node, credentials
        self.platform = platform(node.platform)
        self.schema = platform_schema(node.platform)
        self.streams: dict[int, _Stream] = {}
        self._lock = threading.Lock()
        fabric.listeners.append(self._on_change)

    def _on_change(self, device, changes, ts_ns):
        if device != self.node.name:
            return
        with self._lock:
            streams = list(self.streams.values())
        for s in streams:
            s.wake(device, changes, ts_ns)

    # ------------------------------------------------------------ helpers

    def _auth(self, context) -> None:
        if self.credentials is None:
            return
        md = dict(context.invocation_metadata())
        if (md.get("username"), md.get("password")) != self.credentials:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid username or password")

    def _check_origin(self, prefix, path, context) -> None:
        """A path's origin must name this device's schema ("" is its default)."""
        origin = path.origin or prefix.origin if prefix is not None else path.origin
        if origin not in ("", self.platform.origin, *self.platform.origins):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown origin {origin!r} on {self.node.name}")

    def _patterns(self, prefix, paths, context) -> list[gp.PathT]:
        out = []
        for p in paths:
            self._check_origin(prefix, p, context)
            pattern = gp.from_proto(prefix, p)
            if not pattern:
                out.append(pattern)
                continue
            if not gp.in_schema(pattern, self.schema):
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"path {gp.render(pattern)} is not found in the {self.node.platform} schema")
            out.append(pattern)
        return out

    def _notification(self, leaves, patterns, encoding: int, kind: str | None = None,
                      deleted=()) -> gnmi_pb2.Notification | None:
        updates = [gnmi_pb2.Update(path=gp.to_proto(path, gnmi_pb2), val=typed_value(value, encoding))
                   for path, (value, k) in leaves.items()
                   if (kind is None or k == kind) and any(gp.matches(pt, path) for pt in patterns)]
        deletes = [gp.to_proto(path, gnmi_pb2) for path in deleted if any(gp.matches(pt, path) for pt in patterns)]
        if not updates and not deletes:
            return None
        return gnmi_pb2.Notification(timestamp=time.time_ns(), update=updates, delete=deletes)

    def _response(self, notification) -> gnmi_pb2.SubscribeResponse:
        """A notification as the device sends it: Junos adds its header in a
        registered extension (telegraf#13116), which a collector must pass over."""
        resp = gnmi_pb2.SubscribeResponse(update=notification)
        if self.platform.name == "junos":
            resp.extension.add().registered_ext.CopyFrom(
                gnmi_ext_pb2.RegisteredExtension(id=1, msg=junos_header(self.node.name)))
        return resp

    def _encoding(self, encoding: int, context) -> int:
        name = gnmi_pb2.Encoding.Name(encoding) if encoding in gnmi_pb2.Encoding.values() else str(encoding)
        if name not in self.platform.encodings:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          f"unsupported encoding: {name} (this device offers {', '.join(self.platform.encodings)})")
        return encoding

    # ------------------------------------------------------------ RPCs

    def Capabilities(self, request, context):  # noqa: N802 (gRPC names)
        self._auth(context)
        models = [gnmi_pb2.ModelData(name=n, organization=o, version=v) for n, o, v in self.platform.models]
        return gnmi_pb2.CapabilityResponse(supported_models=models, gNMI_version="0.10.0",
                                           supported_encodings=[ENCODINGS[e] for e in self.platform.encodings])

    def Get(self, request, context):  # noqa: N802
        self._auth(context)
        encoding = self._encoding(request.encoding, context)
        patterns = self._patterns(request.prefix, request.path, context)
        leaves = snapshot(self.fabric, self.node)
        notes = []
        for pattern in patterns:
            n = self._notification(leaves, [pattern], encoding)
            if n is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no data at {gp.render(pattern)} on {self.node.name}")
            notes.append(n)
        return gnmi_pb2.GetResponse(notification=notes)

    def Set(self, request, context):  # noqa: N802
        self._auth(context)
        if request.delete:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "delete is not supported by the lab target")
        changes = []           # validated whole first: a Set is a transaction
        for upd in list(request.replace) + list(request.update):
            self._check_origin(request.prefix, upd.path, context)
            path = gp.from_proto(request.prefix, upd.path)
            changes.append((upd.path, self._admin_change(path, self._set_value(path, upd.val, context), context)))
        ts = time.time_ns()
        due = ts + self.fabric.set_latency_ns         # a device that takes this long to commit
        for _, (iface, up) in changes:
            self.fabric.schedule(due, lambda at, iface=iface, up=up: self.fabric.set_admin(
                self.node.name, iface, up, at, origin="gnmi", requested_ns=ts))
        if self.fabric.set_latency_ns:
            time.sleep(self.fabric.set_latency_ns / 1e9)
        self.fabric.advance_to(due)                   # committed when the Set returns, as a device's is
        self.fabric.set_requests[self.node.name] += len(changes)
        results = [gnmi_pb2.UpdateResult(path=p, op=gnmi_pb2.UpdateResult.UPDATE) for p, _ in changes]
        return gnmi_pb2.SetResponse(response=results, timestamp=ts)

    def _set_value(self, path: gp.PathT, tv: gnmi_pb2.TypedValue, context) -> object:
        """A Set value decoded as the device decodes it, or the device's error."""
        kind = tv.WhichOneof("value")
        where = gp.render(path)
        if kind in ("json_val", "json_ietf_val"):
            encoding = "JSON" if kind == "json_val" else "JSON_IETF"
            if encoding not in self.platform.encodings:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"unsupported encoding: {encoding} in the value of {where}")
            raw = getattr(tv, kind)
            try:
                return json.loads(raw)
            except ValueError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"failed to parse JSON value {raw[:64]!r} for {where}: {exc}")
        if kind in ("string_val", "bool_val", "uint_val", "int_val") and base.PROTO in self.platform.encodings:
            return getattr(tv, kind)
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"unsupported value type {kind} for {where}")

    def _admin_change(self, path: gp.PathT, value, context) -> tuple[str, bool]:
        iface = self.platform.admin_target(path)
        if iface is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT if gp.in_schema(path, self.schema) else grpc.StatusCode.NOT_FOUND,
                          f"path {gp.render(path)} is not settable on {self.node.name}")
        up = self.platform.check_admin_value(value)
        if up is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"invalid value {json.dumps(value)} for {gp.render(path)}: not allowed by the model")
        if iface not in self.node.ports:
            context.abort(grpc.StatusCode.NOT_FOUND, f"interface {iface} does not exist on {self.node.name}")
        return iface, up

    def Subscribe(self, request_iterator, context):  # noqa: N802
        self._auth(context)
        try:
            first = next(request_iterator)
        except StopIteration:
            return
        sl = first.subscribe
        encoding = self._encoding(sl.encoding, context)
        subs = list(sl.subscription)
        patterns = self._patterns(sl.prefix, [s.path for s in subs], context)
        # Listening before the snapshot: a change made after it wakes the
        # stream, which then sends what the snapshot lacks (registered after,
        # a change between the two was never sent, nor the next one that
        # restored the snapshot's value).
        stream = _Stream()
        if sl.mode == gnmi_pb2.SubscriptionList.STREAM:
            with self._lock:
                self.streams[id(stream)] = stream
        try:
            leaves = snapshot(self.fabric, self.node)
            if not sl.updates_only:
                n = self._notification(leaves, patterns, encoding)
                if n is not None:
                    yield self._response(n)
            yield gnmi_pb2.SubscribeResponse(sync_response=True)
            if sl.mode == gnmi_pb2.SubscriptionList.ONCE:
                return
            if sl.mode == gnmi_pb2.SubscriptionList.POLL:
                for req in request_iterator:
                    if req.HasField("poll"):
                        n = self._notification(snapshot(self.fabric, self.node), patterns, encoding)
                        if n is not None:
                            yield gnmi_pb2.SubscribeResponse(update=n)
                        yield gnmi_pb2.SubscribeResponse(sync_response=True)
                return
            yield from self._stream(context, stream, subs, patterns, leaves, encoding)
        finally:
            with self._lock:
                self.streams.pop(id(stream), None)

    def _stream(self, context, stream, subs, patterns, leaves, encoding):
        on_change, sampled = [], []          # patterns; sampled: (pattern, interval_ns, kind)
        for sub, pattern in zip(subs, patterns):
            if sub.mode == gnmi_pb2.ON_CHANGE:
                on_change.append(pattern)
            elif sub.mode == gnmi_pb2.SAMPLE:
                sampled.append((pattern, max(sub.sample_interval or 1_000_000_000, MIN_SAMPLE_NS), None))
            else:   # TARGET_DEFINED: state leaves on change, counters sampled
                on_change.append(pattern)
                sampled.append((pattern, max(sub.sample_interval or TARGET_DEFINED_SAMPLE_NS, MIN_SAMPLE_NS), COUNTER))
        last_state = {p: v for p, (v, k) in leaves.items() if k == STATE}
        due = {i: time.monotonic_ns() + iv for i, (_, iv, _) in enumerate(sampled)}
        while context.is_active():
            wait_ns = min(due.values(), default=time.monotonic_ns() + 1_000_000_000) - time.monotonic_ns()
            try:
                stream.changes.get(timeout=max(wait_ns, 0) / 1e9)
                while not stream.changes.empty():
                    stream.changes.get_nowait()
                changed = True
            except queue.Empty:
                changed = False
            if not self.fabric_alive():
                context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.node.name} is shutting down")
            leaves = snapshot(self.fabric, self.node)
            if changed and on_change:
                diff = {p: (v, k) for p, (v, k) in leaves.items() if k == STATE and last_state.get(p) != v}
                gone = [p for p in last_state if p not in leaves]        # an LLDP neighbour that left, say
                last_state.update({p: v for p, (v, _) in diff.items()})
                for p in gone:
                    del last_state[p]
                n = self._notification(diff, on_change, encoding, deleted=gone)
                if n is not None:
                    yield self._response(n)
            now = time.monotonic_ns()
            for i, (pattern, interval, kind) in enumerate(sampled):
                if due[i] <= now:
                    n = self._notification(leaves, [pattern], encoding, kind)
                    if n is not None:
                        yield self._response(n)
                    due[i] = max(due[i] + interval, now)

    def fabric_alive(self) -> bool:
        return not getattr(self, "closing", False)


class DeviceTarget:
    """A gRPC server for one device; stop() and start() simulate a crash and a reboot."""

    def __init__(self, fabric: LabFabric, node: Node, address: str, credentials: tuple[str, str] | None = None,
                 tls: tuple[bytes, bytes] | None = None):
        self.fabric, self.node, self.address = fabric, node, address
        self.credentials, self.tls = credentials, tls
        self.server: grpc.Server | None = None
        self.servicer: DeviceServicer | None = None

    def start(self) -> None:
        self.servicer = DeviceServicer(self.fabric, self.node, self.credentials)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix=f"gnmi-{self.node.name}"),
                                  options=[("grpc.so_reuseport", 0)])
        gnmi_pb2_grpc.add_gNMIServicer_to_server(self.servicer, self.server)
        try:
            if self.tls:
                creds = grpc.ssl_server_credentials([(self.tls[1], self.tls[0])])
                port = self.server.add_secure_port(self.address, creds)
            else:
                port = self.server.add_insecure_port(self.address)
        except RuntimeError:           # grpc >= 1.5x raises where older ones returned 0
            port = 0
        if port == 0:
            self.server = None
            raise OSError(f"cannot listen on {self.address} for {self.node.name}: the port is in use "
                          "(another lab running?) or not this machine's")
        self.server.start()

    def stop(self, grace: float | None = 0) -> None:
        if self.server is not None:
            self.servicer.closing = True
            if self.servicer._on_change in self.fabric.listeners:
                self.fabric.listeners.remove(self.servicer._on_change)
            self.server.stop(grace).wait(5)
            self.server = None
