"""An oper-group that waits for the EVPN overlay: after a leaf's uplinks and
BGP sessions come back, its access link is re-enabled only once its
Ethernet-segment routes (EVPN types 1 and 4 for the segment's ESI) are seen
again at its spines, from the spines' BMP streams. Traffic sent to a leaf
whose segment the fabric does not know yet is the stall the seed's lab saw.

The BMP streams are spine1's and spine2's as routers send them (Initiation,
Peer Up with both OPENs, route monitoring of the leaf's routes, Peer Down),
built per the RFCs (tests/test_bmp_families.py checks such messages against
tshark) and decoded by the collector's code; the pipeline's plumbing (BMP
record -> segment presence -> the leaf's decision domain) is followed step
by step as the Faust agents do it."""
from __future__ import annotations

import dataclasses
import struct

import pytest

from conftest import EXAMPLE
from fabtel.config import ConfigError, parse_config
from fabtel.connectors.bmp import nlri as N
from fabtel.connectors.bmp.codec import (decode, encode, encode_mp_update, encode_open, encode_peer_header,
                                         encode_peer_up, tlv)
from fabtel.connectors.bmp.collector import Session
from fabtel.records import OperGroupDecision, RemediationCommand
from fabtel.partitioning import DecisionDomain
from fabtel.pipeline.domain import Domain
from fabtel.pipeline.evpn_segments import SegmentRoutes, relevant, waiting_segments
from test_pipeline_core import S, T0, bgp, healthy_leaf, lose_uplinks, of, state

ESI = "01:11:11:11:11:11:11:00:00:01"
LEAF1_ID = "198.19.0.11"
CAPS = N.encode_capabilities([(1, 1), (25, 70)], 65011)


@pytest.fixture(autouse=True)
def fresh_sessions():
    SESSIONS.clear()


@pytest.fixture()
def cfg():
    text = EXAMPLE.read_text().replace(
        "      sflow_agent: 198.18.0.11\n", f"      sflow_agent: 198.18.0.11\n      router_id: {LEAF1_ID}\n").replace(
        "down_links: [ethernet-1/1],\n     required_up_uplinks: 1, hold_down_ms: 0, hold_up_ms: 5000}\n  - {name: og-leaf2",
        "down_links: [ethernet-1/1],\n     required_up_uplinks: 1, hold_down_ms: 0, hold_up_ms: 5000, wait_for_evpn: true}\n"
        "  - {name: og-leaf2")
    c = parse_config(text, "fabric.yaml")
    assert c.oper_groups[0].wait_for_evpn and c.fabric.device("leaf1").router_id == LEAF1_ID
    return c


def spine_stream(spine: str, spine_id: str, t_up: int, t_routes: int | None, t_down: int | None = None) -> list[bytes]:
    """What a spine's BMP session says about its peer leaf1: up, leaf1's segment routes, maybe down."""
    peer = lambda t: encode_peer_header("198.18.0.0", 65011, LEAF1_ID, T0 + t)       # noqa: E731
    out = [encode("initiation", tlv(1, b"SR Linux") + tlv(2, spine.encode())),
           encode_peer_up(peer(t_up), "198.18.0.1", encode_open(65100, spine_id, CAPS), encode_open(65011, LEAF1_ID, CAPS))]
    if t_routes is not None:
        routes = (N.encode_evpn(1, f"{LEAF1_ID}:0", ESI, tag=0xFFFFFFFF) + N.encode_evpn(1, f"{LEAF1_ID}:3", ESI, vni=100)
                  + N.encode_evpn(4, f"{LEAF1_ID}:0", ESI, ip=LEAF1_ID))
        out.append(encode("route_monitoring", peer(t_routes)
                          + encode_mp_update(reach=(25, 70, routes), next_hop=bytes(4), encapsulation=8)))
    if t_down is not None:
        out.append(encode("peer_down", peer(t_down) + bytes([2]) + struct.pack("!H", 0)))
    return out


SESSIONS: dict[str, Session] = {}


def feed(domain: Domain, cfg, segments: SegmentRoutes, stream: list[bytes], now_ns: int, spine: str = "spine1") -> list:
    """The collector's decode (one BMP session per spine), then what the
    convergence agent and the evaluate agent do with each record."""
    session = SESSIONS.setdefault(spine, Session(spine))
    out, waiting = [], waiting_segments(cfg)
    for raw in stream:
        msg = decode(raw, session.peers)
        session.remember(msg)
        rec = session.record(msg, now_ns)
        if not relevant(rec):
            continue
        for origin, esi in segments.observe(rec):
            if (origin, esi) in waiting:
                p = segments.presence(origin, esi, rec.ts_ns)
                out += domain.apply_segment(waiting[(origin, esi)], esi, p.routers, p.routes, p.ts_ns, now_ns)[0]
    return out


def alive(d: Domain, t: int) -> None:
    """leaf1 keeps streaming telemetry (a fabtel never acts on a silent device)."""
    d.apply(state("leaf1", "ethernet-1/49", "up", t), T0 + t)


def recovered_uplinks(d: Domain, t: int) -> None:
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.apply(state("leaf1", u, "up", t), T0 + t)
    d.apply(bgp("leaf1", "198.18.128.0", "established", t), T0 + t)
    d.apply(bgp("leaf1", "198.18.128.1", "established", t), T0 + t)


def test_reenable_waits_for_the_segment_routes_at_the_spines(cfg):
    d, segments = Domain(cfg, DecisionDomain.parse("leaf1+leaf2")), SegmentRoutes()
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    feed(d, cfg, segments, spine_stream("spine1", "198.19.0.1", 0, 1 * S), T0 + S)
    assert d.views["leaf1"].evpn[ESI][0] == ["spine1"]
    lose_uplinks(d, "leaf1", 10 * S)
    feed(d, cfg, segments, [spine_stream("spine1", "198.19.0.1", 0, None, 10 * S)[-1]], T0 + 10 * S)
    assert d.views["leaf1"].evpn[ESI][0] == [] and d.engine.states["og-leaf1"].state == "down"

    recovered_uplinks(d, 20 * S)                      # sessions established again at 20 s
    alive(d, 30 * S)
    out = d.tick(T0 + 26 * S)[0] + d.tick(T0 + 35 * S)[0]
    assert not of(OperGroupDecision, out), "enabled before the overlay had the segment back"
    assert d.engine.states["og-leaf1"].state == "down"

    # spine1's session to leaf1 is up again at 21 s, but leaf1's segment routes arrive only at 42 s
    alive(d, 40 * S)
    out = feed(d, cfg, segments, spine_stream("spine1", "198.19.0.1", 21 * S, None), T0 + 41 * S)
    assert not of(OperGroupDecision, out + d.tick(T0 + 41 * S)[0])
    out = feed(d, cfg, segments, spine_stream("spine1", "198.19.0.1", 21 * S, 42 * S)[-1:], T0 + 42 * S)
    assert not of(OperGroupDecision, out)             # the hold-up starts when the overlay is back
    alive(d, 46 * S)
    assert not of(OperGroupDecision, d.tick(T0 + 46 * S)[0])
    out = d.tick(T0 + 47 * S + 1)[0]
    [dec] = of(OperGroupDecision, out)
    assert dec.action == "enable" and dec.trigger_ts_ns == T0 + 42 * S
    assert "EVPN type-1/4 routes of 01:11:11:11:11:11:11:00:00:01 back" in dec.reason
    [evidence] = [e for e in dec.evidence if e.kind == "evpn_es_routes"]
    assert evidence.interface == f"esi {ESI}" and evidence.device_ts_ns == T0 + 42 * S
    assert evidence.value == (f"type-1 rd {LEAF1_ID}:0 at spine1; type-1 rd {LEAF1_ID}:3 at spine1; "
                              f"type-4 rd {LEAF1_ID}:0 at spine1")
    assert [c.value for c in of(RemediationCommand, out)] == ['"enable"']


def test_without_the_wait_the_session_alone_reenables(cfg):
    plain = dataclasses.replace(cfg, oper_groups=tuple(dataclasses.replace(g, wait_for_evpn=False) for g in cfg.oper_groups))
    d = Domain(plain, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    lose_uplinks(d, "leaf1", 10 * S)
    recovered_uplinks(d, 20 * S)
    [dec] = of(OperGroupDecision, d.tick(T0 + 25 * S + 1)[0])
    assert dec.action == "enable" and not any(e.kind == "evpn_es_routes" for e in dec.evidence)


def test_a_withdrawn_type_4_route_is_not_back(cfg):
    segments = SegmentRoutes()
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    feed(d, cfg, segments, spine_stream("spine1", "198.19.0.1", 0, S), T0 + S)
    assert segments.presence(LEAF1_ID, ESI, 0).routers == ["spine1"]
    peer = encode_peer_header("198.18.0.0", 65011, LEAF1_ID, T0 + 2 * S)
    withdraw = encode("route_monitoring", peer + encode_mp_update(unreach=(25, 70, N.encode_evpn(4, f"{LEAF1_ID}:0", ESI, ip=LEAF1_ID))))
    feed(d, cfg, segments, [spine_stream("spine1", "198.19.0.1", 0, None)[1], withdraw], T0 + 2 * S)
    assert segments.presence(LEAF1_ID, ESI, 0).routers == []          # type 1 alone is not the segment
    assert d.views["leaf1"].evpn[ESI][0] == []


def test_the_wait_needs_a_router_id_and_a_segment():
    text = EXAMPLE.read_text().replace("hold_up_ms: 5000}\n  - {name: og-leaf2", "hold_up_ms: 5000, wait_for_evpn: true}\n  - {name: og-leaf2", 1)
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "fabric.yaml")
    assert "waiting for EVPN needs leaf1's router_id" in str(exc.value)
    text = EXAMPLE.read_text().replace("hold_up_ms: 5000}\n\nthresholds", "hold_up_ms: 5000, wait_for_evpn: true}\n\nthresholds").replace(
        "      sflow_agent: 198.18.0.13\n", "      sflow_agent: 198.18.0.13\n      router_id: 198.19.0.13\n")
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "fabric.yaml")
    assert "no down-link of og-leaf3 is in an ethernet segment" in str(exc.value)
