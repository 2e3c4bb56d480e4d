"""Which routers hold a leaf's Ethernet-segment routes: EVPN type 1
(Ethernet auto-discovery) and type 4 (Ethernet segment) routes, by ESI, in
each router's Adj-RIB-In from each peer, as BMP reports them (route
monitoring and route mirroring; a Peer Down empties that peer's routes).

An oper-group with `wait_for_evpn` re-enables its down-links only when the
leaf's routes for their segments are back at enough of its spines: the
overlay, not just the BGP session, has converged. Pure.

May import: fabtel.records.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fabtel.records import BmpMessage

ES_ROUTE_TYPES = (1, 4)


@dataclass
class SegmentPresence:
    """Where one leaf's routes for one ESI are: routers holding both types, newest change (ns)."""
    routers: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)       # "type-1 rd R at spine1", ...
    ts_ns: int = 0


class SegmentRoutes:
    def __init__(self):
        # (router, peer address) -> (peer BGP id, {(route type, esi, rd)})
        self.held: dict[tuple[str, str], tuple[str, set[tuple[int, str, str]]]] = {}

    def observe(self, rec: BmpMessage) -> set[tuple[str, str]]:
        """Apply one BMP record; returns the (origin BGP id, ESI) pairs whose presence changed."""
        key = (rec.router, rec.peer_address or "")
        if rec.type == "peer_down":
            origin, routes = self.held.pop(key, ("", set()))
            return {(origin, esi) for _, esi, _ in routes}
        if rec.type not in ("route_monitoring", "route_mirroring") or rec.bgp_type != "update" or not rec.peer_bgp_id:
            return set()
        origin, routes = self.held.setdefault(key, (rec.peer_bgp_id, set()))
        changed = set()
        for r in rec.routes:
            if r.family != "evpn" or r.route_type not in ES_ROUTE_TYPES or not r.esi:
                continue
            entry = (r.route_type, r.esi, r.rd or "")
            if r.action == "announce" and entry not in routes:
                routes.add(entry)
            elif r.action == "withdraw" and entry in routes:
                routes.discard(entry)
            else:
                continue
            changed.add((origin, r.esi))
        return changed

    def presence(self, origin: str, esi: str, ts_ns: int) -> SegmentPresence:
        """The routers holding both a type-1 and a type-4 route of `esi` from the router `origin`."""
        out = SegmentPresence(ts_ns=ts_ns)
        for (router, _), (peer_id, routes) in sorted(self.held.items()):
            if peer_id != origin:
                continue
            mine = sorted(e for e in routes if e[1] == esi)
            if {t for t, _, _ in mine} >= set(ES_ROUTE_TYPES):
                out.routers.append(router)
                out.routes += [f"type-{t} rd {rd} at {router}" for t, _, rd in mine]
        out.routers = sorted(set(out.routers))
        return out


def relevant(rec) -> bool:
    """BMP records that can change where Ethernet-segment routes are."""
    if not isinstance(rec, BmpMessage):
        return False
    if rec.type == "peer_down":
        return True
    return rec.type in ("route_monitoring", "route_mirroring") and any(
        r.family == "evpn" and r.route_type in ES_ROUTE_TYPES for r in rec.routes)


def waiting_segments(cfg) -> dict[tuple[str, str], str]:
    """(router id, ESI) -> device, for every oper-group that waits for EVPN."""
    out = {}
    for g in cfg.oper_groups:
        if g.wait_for_evpn:
            dev = cfg.fabric.device(g.device)
            for link in g.down_links:
                if dev.router_id and (esi := dev.esi_of(link)):
                    out[(dev.router_id, esi)] = dev.name
    return out
