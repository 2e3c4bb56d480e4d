"""The simulated fabric's state and traffic model. Pure: no sockets, no
threads of its own; the runner advances it and the gNMI targets and sFlow
agents read it (under `LabFabric.lock`).

Forwarding, as in an EVPN all-active fabric:
- a client hashes each flow (by its 5-tuple) over its bond members that are
  up (LACP in the bundle);
- a leaf hashes over its usable uplinks (link up and BGP established); a leaf
  with none blackholes what reaches it (counted as in-discards on the access
  port);
- a spine hashes over the leaves that serve the destination client and are
  reachable over a usable fabric port; the destination leaf forwards over
  its access port.
Interface counters advance with the traffic; the ground truth keeps offered,
delivered and blackholed bytes per flow and per second, and the bytes that
arrived on and were discarded at each port.

The clock is exact: traffic is integrated between state changes
(`advance_to`), and every change (a scenario event, a gNMI Set, a BGP
session establishing) first integrates up to its own timestamp, then
applies; a change scheduled for later (a device's commit latency) waits in
`scheduled` and applies at its time. So a blackhole's bytes are its rate
times its duration to the nanosecond, whatever the runner's tick; each
change is logged (`changes`), and each stretch of constant blackholing per
client (`blackhole_spans`). What arrived on a device's port
in the last tick, and where it went (an output port, or a drop code), is
what the sFlow agents sample (`arrivals`). A device in `polarized` hashes
with the previous stage's bits, as two stages with the same hash function do.
"""
from __future__ import annotations

import hashlib
import heapq
import random
import threading
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from fabtel.config import Config
from fabtel.platforms import platform

PACKET_BYTES = 1000
NET_UNREACHABLE = 0        # sFlow drop code: no route (ICMP net unreachable)
LACP_HEALTHY = 61          # activity, aggregation, synchronization, collecting, distributing
LACP_DOWN_ACTOR = 0x45     # activity, aggregation, defaulted
BGP_ESTABLISH_S = 3.0

COUNTER_NAMES = ("in_octets", "out_octets", "in_unicast_pkts", "out_unicast_pkts", "in_multicast_pkts",
                 "out_multicast_pkts", "in_broadcast_pkts", "out_broadcast_pkts", "in_discards",
                 "out_discards", "in_errors", "out_errors")


@dataclass
class Port:
    node: str
    name: str
    speed_bps: int = 10_000_000_000
    admin_up: bool = True
    carrier: bool = True                 # False: the cable is cut (scenario "link: down")
    peer: "Port | None" = None
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))
    partner_state_override: int | None = None
    auto_negotiate: bool = False        # OpenConfig then reports SPEED_UNKNOWN and the negotiated speed
    _pkt_frac: float = 0.0

    @property
    def oper_up(self) -> bool:
        return (self.admin_up and self.carrier and self.peer is not None and self.peer.admin_up
                and self.peer.carrier)

    @property
    def key(self) -> str:
        return f"{self.node}:{self.name}"

    def add(self, direction: str, nbytes: float) -> None:
        self.counters[f"{direction}_octets"] += int(nbytes)
        pkts = nbytes / PACKET_BYTES + self._pkt_frac
        whole = int(pkts)
        self._pkt_frac = pkts - whole
        self.counters[f"{direction}_unicast_pkts"] += whole


@dataclass
class LabBgpSession:
    device: str
    port: str
    peer_address: str
    state: str = "established"
    since_ns: int = 0


@dataclass
class Node:
    name: str
    role: str                                      # leaf, spine, border or client
    platform: str = "srlinux"
    ports: dict[str, Port] = field(default_factory=dict)
    lags: dict[str, list[str]] = field(default_factory=dict)      # lag -> members
    system_id: str = "00:00:00:00:00:00"
    bgp: dict[str, LabBgpSession] = field(default_factory=dict)      # peer address -> session
    uplinks: tuple[str, ...] = ()
    access: tuple[str, ...] = ()
    ifindex: dict[str, int] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)            # SONiC's etpN
    segments: dict[str, str] = field(default_factory=dict)         # LAG -> its ESI
    sflow_agent: str = ""

    @property
    def mac(self) -> str:
        """Its chassis MAC (LLDP's chassis ID), stable per name."""
        return "0e:" + ":".join(f"{b:02x}" for b in zlib.crc32(self.name.encode()).to_bytes(4, "big")) + ":00"

    def lag_of(self, member: str) -> str | None:
        return next((lag for lag, members in self.lags.items() if member in members), None)


@dataclass
class Flow:
    flow_id: str
    src: str                      # client
    dst: str
    rate_bps: float
    five_tuple: tuple
    hash: int = 0

    def __post_init__(self):
        self.hash = int.from_bytes(hashlib.blake2b(repr(self.five_tuple).encode(), digest_size=8).digest(), "big")

    def pick(self, stage: int, n: int) -> int:
        """The member a hash stage picks among n (client LAG, leaf ECMP, spine ECMP)."""
        return (self.hash >> (16 * stage)) % n


@dataclass
class Second:
    offered: float = 0.0
    delivered: float = 0.0
    blackholed: float = 0.0
    flows: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0, 0.0]))
    links: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    arrived: dict[str, float] = field(default_factory=lambda: defaultdict(float))      # port -> bytes received
    discarded: dict[str, float] = field(default_factory=lambda: defaultdict(float))    # port -> bytes dropped on arrival
    paths: dict[str, set] = field(default_factory=lambda: defaultdict(set))            # flow -> ports it arrived on


Listener = Callable[[str, list[tuple[str, str, object]], int], None]   # (device, [(kind, key, value)], ts_ns)


class LabFabric:
    """The lab fabric: nodes, links, flows, and the ground truth."""

    def __init__(self, cfg: Config, bgp_establish_s: float = BGP_ESTABLISH_S):
        self.lock = threading.RLock()
        self.nodes: dict[str, Node] = {}
        self.flows: list[Flow] = []
        self.truth: dict[int, Second] = defaultdict(Second)
        self.start_ns = 0
        self.bgp_establish_s = bgp_establish_s
        self.listeners: list[Listener] = []
        self.events_log: list[dict] = []
        # port -> [(flow, bytes, output port or None, drop code or None)] that arrived on it since take_arrivals
        self.arrivals: dict[str, list[tuple]] = defaultdict(list)
        self.polarized: set[str] = set()
        self.set_requests: dict[str, int] = defaultdict(int)          # device -> gNMI Set updates it accepted
        self.clock_ns: int | None = None        # the traffic is integrated up to here (None: not begun)
        self.scheduled: list[tuple[int, int, Callable[[int], None]]] = []    # (ts, seq, apply(ts)), heap
        self._seq = 0
        self.changes: list[dict] = []           # every state change, at its timestamp
        self.set_latency_ns = 0                 # how long a device takes to commit a gNMI Set
        self.blackhole_spans: list[list] = []   # [start_ns, end_ns, client, blackholed b/s], merged while constant
        self._build(cfg)

    # ------------------------------------------------------------ building

    def _build(self, cfg: Config) -> None:
        for dev in cfg.fabric.devices:
            sysid = "0c:" + ":".join(f"{b:02x}" for b in zlib.crc32(dev.name.encode()).to_bytes(4, "big")) + ":01"
            node = Node(dev.name, dev.role, dev.platform, system_id=sysid, uplinks=dev.uplinks, access=dev.access,
                        sflow_agent=dev.sflow_agent or "")
            lag_names = {lag.name for lag in dev.lags}
            for name in dev.interfaces:
                if name not in lag_names:
                    node.ports[name] = Port(dev.name, name)
            # the device's own numbering and aliases (its platform's), unless the configuration states them
            plat = platform(dev.platform)
            node.ifindex = {**plat.ifindexes(list(dev.interfaces)), **dev.ifindex}
            node.alias = plat.aliases(list(dev.interfaces))
            for lag in dev.lags:
                node.lags[lag.name] = list(lag.members)
                if lag.esi:   # ESI-LAG: every leaf of the segment presents the same LACP system ID
                    node.system_id = "02:" + ":".join(lag.esi.split(":")[-5:]).lower()
                    node.segments[lag.name] = lag.esi
            self.nodes[dev.name] = node
        for client in cfg.fabric.clients:
            node = Node(client.name, "client", "linux", system_id=client.system_id or "00:c0:00:00:00:01")
            for name in client.interfaces:
                node.ports[name] = Port(client.name, name)
            if client.bond:
                node.lags["bond0"] = list(client.bond)
            self.nodes[client.name] = node
        for i, link in enumerate(cfg.fabric.links):
            a = self.nodes[link.a[0]].ports[link.a[1]]
            b = self.nodes[link.b[0]].ports[link.b[1]]
            a.peer, b.peer = b, a
            a.speed_bps = b.speed_bps = link.speed_bps
            # BGP over each leaf-spine link, addressed from 198.18.128.0/17 (/31 per link).
            if {self.nodes[a.node].role, self.nodes[b.node].role} <= {"leaf", "spine", "border"} and \
                    self.nodes[a.node].role != self.nodes[b.node].role:
                base = (198 << 24) | (18 << 16) | (128 << 8)
                addr_a = _ip(base + 2 * i)
                addr_b = _ip(base + 2 * i + 1)
                self.nodes[a.node].bgp[addr_b] = LabBgpSession(a.node, a.name, addr_b)
                self.nodes[b.node].bgp[addr_a] = LabBgpSession(b.node, b.name, addr_a)

    def add_flows(self, src: str, dst: str, streams: int, rate_bps: float, first_port: int = 10000,
                  skew: float | None = None, elephants: int = 0, elephant_factor: float = 10.0) -> None:
        """`streams` UDP flows at rate_bps each (with `skew`, Pareto-distributed
        rates of that mean, the same every run), plus `elephants` TCP flows at
        elephant_factor x rate_bps."""
        rates = [rate_bps] * streams
        if skew:
            rng = random.Random(f"{src}-{dst}-{streams}")
            draws = [rng.paretovariate(skew) for _ in range(streams)]
            rates = [rate_bps * streams * d / sum(draws) for d in draws]
        for i, rate in enumerate(rates):
            tup = (f"198.18.{len(self.flows) // 250}.{len(self.flows) % 250 + 1}", f"198.18.200.{i % 250 + 1}",
                   17, first_port + i, 5201)
            self.flows.append(Flow(f"{src}-{dst}-{i}", src, dst, rate, tup))
        for i in range(elephants):
            tup = (f"198.18.{len(self.flows) // 250}.{len(self.flows) % 250 + 1}", f"198.18.201.{i % 250 + 1}",
                   6, 443, 51514 + i)
            self.flows.append(Flow(f"{src}-{dst}-elephant{i}", src, dst, rate_bps * elephant_factor, tup))

    def swap_cables(self, a: str, b: str) -> None:
        """Plug the cables at two ports ("device:port") into each other's
        port: the far ends trade places (a miswiring the configuration does not know)."""
        pa, pb = (self.nodes[x.split(":", 1)[0]].ports[x.split(":", 1)[1]] for x in (a, b))
        fa, fb = pa.peer, pb.peer
        pa.peer, pb.peer = fb, fa
        if fa is not None:
            fa.peer = pb
        if fb is not None:
            fb.peer = pa

    def neighbor_of(self, port: Port):
        """The LLDP neighbour a port sees (the far end's node and port), or None while the link is down."""
        if not port.oper_up or port.peer is None:
            return None
        return self.nodes[port.peer.node], port.peer

    # ------------------------------------------------------------ changes

    def notify(self, device: str, changes: list[tuple[str, str, object]], ts_ns: int) -> None:
        for listener in list(self.listeners):
            listener(device, changes, ts_ns)

    def begin(self, start_ns: int) -> None:
        """Time starts: the ground truth's second 0, and the clock's origin."""
        with self.lock:
            self.start_ns = self.clock_ns = start_ns

    def schedule(self, ts_ns: int, apply: Callable[[int], None]) -> None:
        """Run `apply(ts_ns)` when the clock reaches ts_ns (at once if it has)."""
        with self.lock:
            if self.clock_ns is None or ts_ns <= self.clock_ns:
                apply(ts_ns if self.clock_ns is None else max(ts_ns, self.clock_ns))
                return
            self._seq += 1
            heapq.heappush(self.scheduled, (ts_ns, self._seq, apply))

    def _at(self, ts_ns: int) -> int:
        """Integrate up to a change's time and return it (never before what is integrated)."""
        if self.clock_ns is None:
            return ts_ns
        ts_ns = max(ts_ns, self.clock_ns)
        self.advance_to(ts_ns)
        return ts_ns

    def set_admin(self, device: str, interface: str, up: bool, ts_ns: int, origin: str = "scenario",
                  requested_ns: int | None = None) -> bool:
        """Change an interface's admin state (scenario event or gNMI Set) at
        ts_ns; returns False when it already was in that state."""
        with self.lock:
            ts_ns = self._at(ts_ns)
            port = self.nodes[device].ports[interface]
            if port.admin_up == up:
                return False
            before = self._oper_snapshot(port)
            port.admin_up = up
            self._log(ts_ns, device, interface, "admin", "enable" if up else "disable", origin)
            self.notify(device, [("admin", interface, "enable" if up else "disable")], ts_ns)
            self._oper_changed(before, ts_ns)
            self.events_log.append({"ts_ns": ts_ns, "device": device, "interface": interface,
                                    "admin_state": "enable" if up else "disable", "origin": origin,
                                    "requested_ns": requested_ns or ts_ns})
            return True

    def set_carrier(self, device: str, interface: str, up: bool, ts_ns: int) -> None:
        with self.lock:
            ts_ns = self._at(ts_ns)
            port = self.nodes[device].ports[interface]
            before = self._oper_snapshot(port)
            port.carrier = up
            if port.peer:
                port.peer.carrier = up
            self._log(ts_ns, device, interface, "link", "up" if up else "down", "scenario")
            self._oper_changed(before, ts_ns)

    def set_partner_state(self, device: str, interface: str, state: int | None, ts_ns: int) -> None:
        with self.lock:
            ts_ns = self._at(ts_ns)
            self.nodes[device].ports[interface].partner_state_override = state
            self._log(ts_ns, device, interface, "lacp_partner_state", state, "scenario")
            self.notify(device, [("lacp", interface, state)], ts_ns)

    def _log(self, ts_ns: int, device: str, interface: str, what: str, value, origin: str) -> None:
        self.changes.append({"ts_ns": ts_ns, "at_ms": round((ts_ns - self.start_ns) / 1e6, 3), "device": device,
                             "interface": interface, "change": what, "value": value, "origin": origin})

    def _oper_snapshot(self, port: Port) -> list[tuple[Port, bool]]:
        ports = [port] + ([port.peer] if port.peer else [])
        return [(p, p.oper_up) for p in ports]

    def _oper_changed(self, before: list[tuple[Port, bool]], ts_ns: int) -> None:
        for port, was in before:
            now = port.oper_up
            if now == was:
                continue
            changes: list[tuple[str, str, object]] = [("oper", port.name, "up" if now else "down")]
            node = self.nodes[port.node]
            if node.lag_of(port.name):
                changes.append(("lacp", port.name, None))
            for sess in node.bgp.values():
                if sess.port == port.name:
                    if not now and sess.state != "idle":
                        sess.state, sess.since_ns = "idle", ts_ns     # fast external fall-over
                        changes.append(("bgp", sess.peer_address, "idle"))
                    elif now:
                        sess.state, sess.since_ns = "active", ts_ns
                        changes.append(("bgp", sess.peer_address, "active"))
            self.notify(port.node, changes, ts_ns)

    def advance_bgp(self, ts_ns: int) -> None:
        """Sessions whose link came back establish bgp_establish_s after it, at that time exactly."""
        with self.lock:
            due = sorted((sess.since_ns + int(self.bgp_establish_s * 1e9), node.name, sess.peer_address)
                         for node in self.nodes.values() for sess in node.bgp.values()
                         if sess.state == "active" and ts_ns - sess.since_ns >= self.bgp_establish_s * 1e9)
            for at, device, peer in due:
                at = self._at(at)
                sess = self.nodes[device].bgp[peer]
                sess.state, sess.since_ns = "established", at
                self._log(at, device, sess.port, "bgp", "established", "model")
                self.notify(device, [("bgp", peer, "established")], at)

    # ------------------------------------------------------------ LACP view

    def lacp_states(self, device: str, member: str) -> tuple[int, int]:
        """(actor oper state, partner oper state) of a LAG member."""
        port = self.nodes[device].ports[member]
        if not port.oper_up:
            return LACP_DOWN_ACTOR, 0
        partner = port.partner_state_override
        if partner is None:
            return LACP_HEALTHY, LACP_HEALTHY
        # A partner that does not collect keeps the actor from distributing.
        return (LACP_HEALTHY if partner & 0x10 else LACP_HEALTHY & ~0x20), partner

    def member_in_bundle(self, port: Port) -> bool:
        """A LAG member carries traffic when it is up and both sides collect and distribute."""
        if not port.oper_up:
            return False
        for side in (port, port.peer):
            if side is not None and side.partner_state_override is not None \
                    and side.partner_state_override & 0x30 != 0x30:
                return False
        return True

    # ------------------------------------------------------------ forwarding

    def usable_uplinks(self, node: Node) -> list[Port]:
        out = []
        for name in node.uplinks:
            port = node.ports[name]
            if port.oper_up and any(s.port == name and s.state == "established" for s in node.bgp.values()):
                out.append(port)
        return out

    def _serving_leaves(self, client: Node) -> list[tuple[Node, Port]]:
        out = []
        for port in client.ports.values():
            if port.peer is not None and self.member_in_bundle(port):
                leaf = self.nodes[port.peer.node]
                if self.usable_uplinks(leaf):
                    out.append((leaf, port.peer))
        return out

    def advance_to(self, t_ns: int) -> None:
        """Integrate the traffic up to t_ns: piecewise, at each second's
        boundary and at each scheduled change's time, with the state as it is
        over each piece."""
        with self.lock:
            if self.clock_ns is None:
                return
            while True:
                if self.scheduled and self.scheduled[0][0] <= self.clock_ns:
                    _, _, apply = heapq.heappop(self.scheduled)
                    apply(self.clock_ns)
                    continue
                if self.clock_ns >= t_ns:
                    return
                second = (self.clock_ns - self.start_ns) // 1_000_000_000
                end = min(t_ns, self.start_ns + (second + 1) * 1_000_000_000,
                          self.scheduled[0][0] if self.scheduled else t_ns)
                self._integrate(self.clock_ns, end, self.truth[int(second)])
                self.clock_ns = end

    def _integrate(self, t0: int, t1: int, bucket: Second) -> None:
        dt_s = (t1 - t0) / 1e9
        lost: dict[str, float] = defaultdict(float)
        for flow in self.flows:
            nbytes = flow.rate_bps / 8 * dt_s
            delivered = self._forward(flow, nbytes, bucket)
            entry = bucket.flows[flow.flow_id]
            entry[0] += nbytes
            entry[1 if delivered else 2] += nbytes
            bucket.offered += nbytes
            if delivered:
                bucket.delivered += nbytes
            else:
                bucket.blackholed += nbytes
                lost[flow.src] += flow.rate_bps
        for client, bps in lost.items():
            last = next((s for s in reversed(self.blackhole_spans) if s[2] == client), None)
            if last is not None and last[1] == t0 and last[3] == bps:
                last[1] = t1                   # the same blackhole goes on
            else:
                self.blackhole_spans.append([t0, t1, client, bps])

    def take_arrivals(self) -> dict[str, list[tuple]]:
        """What arrived on each port since the last call (the sFlow agents sample it)."""
        with self.lock:
            out, self.arrivals = self.arrivals, defaultdict(list)
            return out

    def _carry(self, port: Port, nbytes: float, bucket: Second, flow: Flow) -> None:
        port.add("out", nbytes)
        port.peer.add("in", nbytes)
        bucket.links[port.key] += nbytes

    def _arrive(self, port: Port, flow: Flow, nbytes: float, bucket: Second, out: Port | None) -> None:
        """`nbytes` of `flow` arrived on `port` and left on `out` (None: dropped, no route)."""
        bucket.arrived[port.key] += nbytes
        bucket.paths[flow.flow_id].add(port.key)
        if out is None:
            port.counters["in_discards"] += int(nbytes / PACKET_BYTES) or 1
            bucket.discarded[port.key] += nbytes
        self.arrivals[port.key].append((flow, nbytes, out.name if out else None, None if out else NET_UNREACHABLE))

    def _stage(self, node: Node, stage: int) -> int:
        return stage - 1 if node.name in self.polarized else stage

    def _forward(self, flow: Flow, nbytes: float, bucket: Second) -> bool:
        src = self.nodes[flow.src]
        members = [p for p in src.ports.values() if p.peer is not None and self.member_in_bundle(p)]
        if not members:
            return False
        first = members[flow.pick(0, len(members))]
        self._carry(first, nbytes, bucket, flow)
        leaf = self.nodes[first.peer.node]
        ingress = first.peer
        uplinks = self.usable_uplinks(leaf)
        if not uplinks:
            self._arrive(ingress, flow, nbytes, bucket, None)
            return False
        up = uplinks[flow.pick(self._stage(leaf, 1), len(uplinks))]
        self._arrive(ingress, flow, nbytes, bucket, up)
        self._carry(up, nbytes, bucket, flow)
        spine = self.nodes[up.peer.node]
        dst = self.nodes[flow.dst]
        candidates = []
        for dleaf, access in self._serving_leaves(dst):
            for p in spine.ports.values():
                if p.peer is not None and p.peer.node == dleaf.name and p.oper_up and any(
                        s.port == p.name and s.state == "established" for s in spine.bgp.values()):
                    candidates.append((p, access))
        if not candidates:
            self._arrive(up.peer, flow, nbytes, bucket, None)
            return False
        down, access = candidates[flow.pick(self._stage(spine, 2), len(candidates))]
        self._arrive(up.peer, flow, nbytes, bucket, down)
        self._carry(down, nbytes, bucket, flow)
        self._arrive(down.peer, flow, nbytes, bucket, access)
        self._carry(access, nbytes, bucket, flow)
        return True

    # ------------------------------------------------------------ ground truth

    def ground_truth(self) -> list[dict]:
        with self.lock:
            out = []
            for sec in sorted(self.truth):
                b = self.truth[sec]
                out.append({"t": sec, "offered_bytes": round(b.offered), "delivered_bytes": round(b.delivered),
                            "blackholed_bytes": round(b.blackholed),
                            "flows": {k: {"offered": round(v[0]), "delivered": round(v[1]), "blackholed": round(v[2])}
                                      for k, v in b.flows.items()},
                            "links": {k: round(v) for k, v in b.links.items()},
                            "arrived": {k: round(v) for k, v in b.arrived.items()},
                            "discarded": {k: round(v) for k, v in b.discarded.items()},
                            "paths": {k: sorted(v) for k, v in b.paths.items()}})
            return out


def _ip(n: int) -> str:
    return ".".join(str(n >> s & 0xFF) for s in (24, 16, 8, 0))
