"""A gNMI target per lab device, over real gRPC (grpcio with pygnmi's compiled
stubs): Capabilities, Get, Set and Subscribe (STREAM with SAMPLE, ON_CHANGE
and TARGET_DEFINED; ONCE; POLL), SR Linux native or OpenConfig paths by the
device's platform, wildcards in keys. Notifications carry the device's
timestamp in nanoseconds and full paths (no prefix). A Set of an admin state
takes effect in the traffic model at once. Unknown paths get NOT_FOUND (not in
the schema) or INVALID_ARGUMENT (not a path), as a real target answers.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from concurrent import futures

import grpc
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from fabtel import gnmi_paths as gp
from lab.model import Fabric, Node

log = logging.getLogger("fabtel.lab.gnmi")

STATE, COUNTER = "state", "counter"
TARGET_DEFINED_SAMPLE_NS = 10_000_000_000
MIN_SAMPLE_NS = 100_000_000


def _e(elem: str, **keys: str) -> gp.Elem:
    return (elem, tuple(sorted(keys.items())))


def snapshot(fabric: Fabric, node: Node) -> dict[gp.PathT, tuple[object, str]]:
    """Every leaf of a device: path -> (value, STATE or COUNTER)."""
    with fabric.lock:
        return _snapshot_oc(fabric, node) if node.platform == "openconfig" else _snapshot_srl(fabric, node)


def _lag_counters(node: Node, members: list[str]) -> dict[str, int]:
    total: dict[str, int] = {}
    for m in members:
        for k, v in node.ports[m].counters.items():
            total[k] = total.get(k, 0) + v
    return total


def _lacp_leaves(out: dict, base: gp.PathT, fabric: Fabric, node: Node, member: str) -> None:
    """A LAG member's LACP leaves (the same names on both platforms)."""
    port = node.ports[member]
    actor, _partner = fabric.lacp_states(node.name, member)
    out[base + (_e("activity"),)] = ("ACTIVE" if actor & 1 else "PASSIVE", STATE)
    out[base + (_e("timeout"),)] = ("SHORT" if actor & 2 else "LONG", STATE)
    out[base + (_e("aggregatable"),)] = (bool(actor & 4), STATE)
    out[base + (_e("synchronization"),)] = ("IN_SYNC" if actor & 8 else "OUT_SYNC", STATE)
    out[base + (_e("collecting"),)] = (bool(actor & 16), STATE)
    out[base + (_e("distributing"),)] = (bool(actor & 32), STATE)
    out[base + (_e("system-id"),)] = (node.system_id, STATE)
    peer_sys = fabric.nodes[port.peer.node].system_id if port.peer and port.oper_up else "00:00:00:00:00:00"
    out[base + (_e("partner-id"),)] = (peer_sys, STATE)


def _interfaces(fabric: Fabric, node: Node, interface) -> list[tuple[str, list[str], list[str]]]:
    """Call `interface(name, admin, oper, counters, speed)` for every port and
    LAG (a LAG's counters are its members' sums); return (lag, members, in bundle)."""
    for name, port in node.ports.items():
        interface(name, port.admin_up, port.oper_up, port.counters, port.speed_bps)
    lags = []
    for lag, members in node.lags.items():
        in_bundle = [m for m in members if fabric.member_in_bundle(node.ports[m])]
        interface(lag, True, bool(in_bundle), _lag_counters(node, members), None)
        lags.append((lag, members, in_bundle))
    return lags


def _snapshot_srl(fabric: Fabric, node: Node) -> dict:
    out: dict = {}

    def interface(name: str, admin: bool, oper: bool, counters: dict[str, int], speed: int | None):
        base = (_e("interface", name=name),)
        out[base + (_e("admin-state"),)] = ("enable" if admin else "disable", STATE)
        out[base + (_e("oper-state"),)] = ("up" if oper else "down", STATE)
        for leaf, norm in gp.SRL_COUNTERS.items():
            out[base + (_e("statistics"), _e(leaf))] = (counters[norm], COUNTER)
        if speed:
            out[base + (_e("ethernet"), _e("port-speed"))] = (gp.speed_text(speed, "srlinux"), COUNTER)

    for lag, members, in_bundle in _interfaces(fabric, node, interface):
        for m in members:
            base = (_e("interface", name=lag), _e("lag"), _e("member", name=m))
            out[base + (_e("oper-state"),)] = ("up" if m in in_bundle else "down", STATE)
            _lacp_leaves(out, base + (_e("lacp"),), fabric, node, m)
    for sess in node.bgp.values():
        path = (_e("network-instance", name="default"), _e("protocols"), _e("bgp"),
                _e("neighbor", **{"peer-address": sess.peer_address}), _e("session-state"))
        out[path] = (sess.state, STATE)
    return out


def _snapshot_oc(fabric: Fabric, node: Node) -> dict:
    out: dict = {}

    def interface(name: str, admin: bool, oper: bool, counters: dict[str, int], speed: int | None):
        base = (_e("interfaces"), _e("interface", name=name))
        out[base + (_e("config"), _e("enabled"))] = (admin, STATE)
        out[base + (_e("state"), _e("admin-status"))] = ("UP" if admin else "DOWN", STATE)
        out[base + (_e("state"), _e("oper-status"))] = ("UP" if oper else "DOWN", STATE)
        for leaf, norm in gp.OC_COUNTERS.items():
            out[base + (_e("state"), _e("counters"), _e(leaf))] = (counters[norm], COUNTER)
        if speed:
            out[base + (_e("ethernet"), _e("state"), _e("port-speed"))] = (gp.speed_text(speed, "openconfig"), COUNTER)

    for lag, members, _ in _interfaces(fabric, node, interface):
        for m in members:
            _lacp_leaves(out, (_e("lacp"), _e("interfaces"), _e("interface", name=lag), _e("members"),
                               _e("member", interface=m), _e("state")), fabric, node, m)
    for sess in node.bgp.values():
        path = (_e("network-instances"), _e("network-instance", name="default"), _e("protocols"),
                _e("protocol", identifier="BGP", name="BGP"), _e("bgp"), _e("neighbors"),
                _e("neighbor", **{"neighbor-address": sess.peer_address}), _e("state"), _e("session-state"))
        out[path] = (sess.state.upper(), STATE)
    return out


_SCHEMAS: dict[str, set] = {}


def platform_schema(platform: str) -> set[tuple[str, ...]]:
    """The element names of every leaf the platform models, whether or not a
    given device has data there (a spine without LAGs still knows the path)."""
    if platform not in _SCHEMAS:
        from fabtel.config import Config, Device, Fabric as FabricCfg, InfluxConfig, KafkaConfig, Lag, Link
        dev = Device("schema", "leaf", platform, uplinks=("e1",), access=("e2",), lags=(Lag("lag1", ("e2",)),))
        spine = Device("peer", "spine", platform, fabric_ports=("e1", "e2"))
        cfg = Config(KafkaConfig(), InfluxConfig(), FabricCfg((dev, spine), (), (
            Link(("schema", "e1"), ("peer", "e1")), Link(("schema", "e2"), ("peer", "e2")))))
        fabric = Fabric(cfg)
        _SCHEMAS[platform] = {gp.names(p) for p in snapshot(fabric, fabric.nodes["schema"])}
    return _SCHEMAS[platform]


def typed_value(value: object) -> gnmi_pb2.TypedValue:
    if isinstance(value, bool):
        return gnmi_pb2.TypedValue(bool_val=value)
    if isinstance(value, int):
        return gnmi_pb2.TypedValue(uint_val=value)
    return gnmi_pb2.TypedValue(string_val=str(value))


def _decode_set_value(tv: gnmi_pb2.TypedValue) -> object:
    kind = tv.WhichOneof("value")
    if kind in ("json_val", "json_ietf_val"):
        raw = getattr(tv, kind).decode()
        try:
            return json.loads(raw)
        except ValueError:
            return raw          # pygnmi sends a plain string unquoted
    return getattr(tv, kind)


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
    def __init__(self, fabric: Fabric, node: Node, credentials: tuple[str, str] | None):
        self.fabric, self.node, self.credentials = fabric, node, credentials
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

    def _patterns(self, prefix, paths, context) -> list[gp.PathT]:
        out = []
        for p in paths:
            pattern = gp.from_proto(prefix, p)
            if not pattern:
                out.append(pattern)
                continue
            if not gp.in_schema(pattern, self.schema):
                context.abort(grpc.StatusCode.NOT_FOUND,
                              f"path {gp.render(pattern)} is not found in the {self.node.platform} schema")
            out.append(pattern)
        return out

    def _notification(self, leaves, patterns, kind: str | None = None) -> gnmi_pb2.Notification | None:
        updates = [gnmi_pb2.Update(path=gp.to_proto(path, gnmi_pb2), val=typed_value(value))
                   for path, (value, k) in leaves.items()
                   if (kind is None or k == kind) and any(gp.matches(pt, path) for pt in patterns)]
        if not updates:
            return None
        return gnmi_pb2.Notification(timestamp=time.time_ns(), update=updates)

    # ------------------------------------------------------------ RPCs

    def Capabilities(self, request, context):  # noqa: N802 (gRPC names)
        self._auth(context)
        models = [gnmi_pb2.ModelData(name="urn:srl_nokia/interfaces" if self.node.platform == "srlinux"
                                     else "openconfig-interfaces", organization="fabtel lab", version="1")]
        return gnmi_pb2.CapabilityResponse(supported_models=models, gNMI_version="0.8.0",
                                           supported_encodings=[gnmi_pb2.JSON, gnmi_pb2.JSON_IETF])

    def Get(self, request, context):  # noqa: N802
        self._auth(context)
        patterns = self._patterns(request.prefix, request.path, context)
        leaves = snapshot(self.fabric, self.node)
        notes = []
        for pattern in patterns:
            n = self._notification(leaves, [pattern])
            if n is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no data at {gp.render(pattern)} on {self.node.name}")
            notes.append(n)
        return gnmi_pb2.GetResponse(notification=notes)

    def Set(self, request, context):  # noqa: N802
        self._auth(context)
        results = []
        ts = time.time_ns()
        for upd in list(request.replace) + list(request.update):
            path = gp.from_proto(request.prefix, upd.path)
            value = _decode_set_value(upd.val)
            iface, up = self._admin_target(path, value, context)
            self.fabric.set_admin(self.node.name, iface, up, ts, origin="gnmi")
            results.append(gnmi_pb2.UpdateResult(path=upd.path, op=gnmi_pb2.UpdateResult.UPDATE))
        if request.delete:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "delete is not supported by the lab target")
        return gnmi_pb2.SetResponse(response=results, timestamp=ts)

    def _admin_target(self, path: gp.PathT, value, context) -> tuple[str, bool]:
        n = gp.names(path)
        if self.node.platform == "openconfig" and n == ("interfaces", "interface", "config", "enabled"):
            iface, up = gp.key(path, "interface", "name"), value
            if not isinstance(up, bool):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"enabled must be true or false, got {value!r}")
        elif self.node.platform == "srlinux" and n == ("interface", "admin-state"):
            iface = gp.key(path, "interface", "name")
            if value not in ("enable", "disable"):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"admin-state must be enable or disable, got {value!r}")
            up = value == "enable"
        else:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT if gp.in_schema(path, self.schema) else grpc.StatusCode.NOT_FOUND,
                          f"path {gp.render(path)} is not settable on {self.node.name}")
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
        subs = list(sl.subscription)
        patterns = self._patterns(sl.prefix, [s.path for s in subs], context)
        leaves = snapshot(self.fabric, self.node)
        if not sl.updates_only:
            n = self._notification(leaves, patterns)
            if n is not None:
                yield gnmi_pb2.SubscribeResponse(update=n)
        yield gnmi_pb2.SubscribeResponse(sync_response=True)
        if sl.mode == gnmi_pb2.SubscriptionList.ONCE:
            return
        if sl.mode == gnmi_pb2.SubscriptionList.POLL:
            for req in request_iterator:
                if req.HasField("poll"):
                    n = self._notification(snapshot(self.fabric, self.node), patterns)
                    if n is not None:
                        yield gnmi_pb2.SubscribeResponse(update=n)
                    yield gnmi_pb2.SubscribeResponse(sync_response=True)
            return
        yield from self._stream(context, subs, patterns, leaves)

    def _stream(self, context, subs, patterns, leaves):
        on_change, sampled = [], []          # patterns; sampled: (pattern, interval_ns, kind)
        for sub, pattern in zip(subs, patterns):
            if sub.mode == gnmi_pb2.ON_CHANGE:
                on_change.append(pattern)
            elif sub.mode == gnmi_pb2.SAMPLE:
                sampled.append((pattern, max(sub.sample_interval or 1_000_000_000, MIN_SAMPLE_NS), None))
            else:   # TARGET_DEFINED: state leaves on change, counters sampled
                on_change.append(pattern)
                sampled.append((pattern, max(sub.sample_interval or TARGET_DEFINED_SAMPLE_NS, MIN_SAMPLE_NS), COUNTER))
        stream = _Stream()
        with self._lock:
            self.streams[id(stream)] = stream
        last_state = {p: v for p, (v, k) in leaves.items() if k == STATE}
        due = {i: time.monotonic_ns() + iv for i, (_, iv, _) in enumerate(sampled)}
        try:
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
                    last_state.update({p: v for p, (v, _) in diff.items()})
                    n = self._notification(diff, on_change)
                    if n is not None:
                        yield gnmi_pb2.SubscribeResponse(update=n)
                now = time.monotonic_ns()
                for i, (pattern, interval, kind) in enumerate(sampled):
                    if due[i] <= now:
                        n = self._notification(leaves, [pattern], kind)
                        if n is not None:
                            yield gnmi_pb2.SubscribeResponse(update=n)
                        due[i] = max(due[i] + interval, now)
        finally:
            with self._lock:
                self.streams.pop(id(stream), None)

    def fabric_alive(self) -> bool:
        return not getattr(self, "closing", False)


class DeviceTarget:
    """A gRPC server for one device; stop() and start() simulate a crash and a reboot."""

    def __init__(self, fabric: Fabric, node: Node, address: str, credentials: tuple[str, str] | None = None,
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
        if self.tls:
            creds = grpc.ssl_server_credentials([(self.tls[1], self.tls[0])])
            port = self.server.add_secure_port(self.address, creds)
        else:
            port = self.server.add_insecure_port(self.address)
        if port == 0:
            raise OSError(f"cannot listen on {self.address} for {self.node.name}")
        self.server.start()

    def stop(self, grace: float | None = 0) -> None:
        if self.server is not None:
            self.servicer.closing = True
            if self.servicer._on_change in self.fabric.listeners:
                self.fabric.listeners.remove(self.servicer._on_change)
            self.server.stop(grace).wait(5)
            self.server = None
