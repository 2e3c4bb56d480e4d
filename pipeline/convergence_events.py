"""From a router's-eye stream of BMP records to events: which element failed
or recovered, the routing messages it triggered, and when the fabric went
quiet. Pure (times are passed in); the Faust agent feeds it and sends what
`due` returns.

An event opens when a router reports a BGP session down (failure) or up
(recovery), or when someone names it (a RoutingEvent from the lab); it
collects every BGP UPDATE mirrored by any router (BMP route mirroring: each
message once, at its receiver), of every address family or only of the
configured `families` (an UPDATE counts when it carries a route or an
End-of-RIB of one of them), and closes when none came for `quiet_ns`, or
after `max_event_ns`. The element is the named one, else the node common to
every session that went down (one node: that node; two linked nodes: their
link). Senders are named by their BGP identifier, which each router's own
Peer Up messages tell.

May import: fabtel.records, pipeline.convergence.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from fabtel.records import BmpMessage, ConvergenceResult, RoutingEvent
from fabtel.pipeline.convergence import Element, RoutingMessage, Topology, TopologyError, measure, parse_element

log = logging.getLogger("fabtel.convergence")

UNSET_ID = "0.0.0.0"      # a peer whose session never came up (FRR's first Peer Down messages)


@dataclass
class OpenEvent:
    kind: str
    detected_ts_ns: int
    opened_at: int
    last_activity: int
    named: Element | None = None
    sessions: set[tuple[str, str]] = field(default_factory=set)     # (router, peer) that went down or up
    messages: list[RoutingMessage] = field(default_factory=list)
    last_message_ts_ns: int | None = None
    families: set[str] = field(default_factory=set)                 # of the UPDATEs counted


def matters(rec) -> bool:
    """What the tracker uses: named events, sessions going down or up, mirrored UPDATEs."""
    if isinstance(rec, RoutingEvent):
        return True
    return isinstance(rec, BmpMessage) and (rec.type in ("peer_down", "peer_up")
                                            or (rec.type == "route_mirroring" and rec.bgp_type == "update"))


def topology_of(cfg) -> Topology:
    """The convergence topology file of the configuration, else its fabric links."""
    from fabtel.pipeline.convergence import load_topology
    if cfg.convergence.topology:
        return load_topology(cfg.convergence.topology)
    return Topology(tuple((link.a[0], link.b[0]) for link in cfg.fabric.links))


def update_families(rec: BmpMessage) -> set[str]:
    """The address families an UPDATE record is about: its routes' and its End-of-RIB's."""
    fams = {r.family for r in rec.routes}
    if rec.end_of_rib:
        fams.add(rec.end_of_rib)
    return fams


class ConvergenceTracker:
    def __init__(self, topology: Topology, quiet_ns: int, max_event_ns: int, families: tuple[str, ...] = ()):
        self.topology = topology
        self.families = set(families)                # empty: every UPDATE counts
        self.quiet_ns = quiet_ns
        self.max_event_ns = max_event_ns
        self.names: dict[str, str] = {}          # BGP identifier -> router name
        self.event: OpenEvent | None = None
        self.unidentified = 0

    def observe(self, rec: BmpMessage | RoutingEvent, now_ns: int) -> None:
        if isinstance(rec, RoutingEvent):
            self._named(rec, now_ns)
            return
        if rec.router_bgp_id:
            self.names[rec.router_bgp_id] = rec.router
        if rec.type in ("peer_down", "peer_up") and rec.peer_bgp_id and rec.peer_bgp_id != UNSET_ID:
            kind = "failure" if rec.type == "peer_down" else "recovery"
            ev = self._open(kind, rec.receive_ts_ns, now_ns)
            ev.sessions.add((rec.router, self.names.get(rec.peer_bgp_id, rec.peer_bgp_id)))
            ev.last_activity = now_ns
        elif rec.type == "route_mirroring" and rec.bgp_type == "update" and self.event is not None:
            fams = update_families(rec)
            if self.families:
                fams &= self.families
                if not fams:
                    return
            self.event.families |= fams
            sender = self.names.get(rec.peer_bgp_id or "", rec.peer_bgp_id or rec.peer_address or "?")
            self.event.messages.append(RoutingMessage(rec.ts_ns / 1e6, sender, rec.router, "update", rec.size))
            self.event.last_message_ts_ns = max(self.event.last_message_ts_ns or 0, rec.ts_ns)
            self.event.last_activity = now_ns

    def _open(self, kind: str, detected_ts_ns: int, now_ns: int) -> OpenEvent:
        if self.event is None:
            self.event = OpenEvent(kind, detected_ts_ns, now_ns, now_ns)
        return self.event

    def _named(self, rec: RoutingEvent, now_ns: int) -> None:
        try:
            element = parse_element(rec.element, self.topology)
        except TopologyError as exc:
            log.warning("convergence: ignoring the named event %s: %s", rec.element, exc)
            return
        ev = self._open(rec.kind, rec.ts_ns, now_ns)
        ev.named, ev.kind = element, rec.kind
        ev.detected_ts_ns = min(ev.detected_ts_ns, rec.ts_ns)

    def infer(self, ev: OpenEvent) -> Element | None:
        if ev.named:
            return ev.named
        if not ev.sessions:
            return None
        common = set.intersection(*({a, b} for a, b in ev.sessions))
        if len(common) == 1:
            return Element((common.pop(),))
        if len(common) == 2 and self.topology.has_link(*sorted(common)):
            return Element(tuple(sorted(common)))
        return None

    def due(self, now_ns: int) -> list[ConvergenceResult]:
        ev = self.event
        if ev is None or (now_ns - ev.last_activity < self.quiet_ns and now_ns - ev.opened_at < self.max_event_ns):
            return []
        self.event = None
        element = self.infer(ev)
        if element is None or not all(n in self.topology.nodes for n in element.nodes):
            self.unidentified += 1
            log.warning("convergence: a %s event (%d sessions, %d messages) names no element of the topology; "
                        "not measured", ev.kind, len(ev.sessions), len(ev.messages))
            return []
        reporters = {r for r, _ in ev.sessions} - set(element.nodes if element.kind == "node" else ())
        m = measure(self.topology, element, ev.messages, sorted(reporters) or None)
        converged = ev.last_message_ts_ns or ev.detected_ts_ns
        event_id = hashlib.sha256(f"{element.name}|{ev.kind}|{ev.detected_ts_ns // 1_000_000}".encode()).hexdigest()[:16]
        return [ConvergenceResult(event_id, element.name, ev.kind, m.detectors, m.messages, m.bytes, m.locality,
                                  m.blast_radius, m.state_rounds, m.state_changes, ev.detected_ts_ns, converged, now_ns,
                                  sorted(self.families or ev.families))]
