"""BGP routes of every family the routers of a fabric send over BMP: test
vectors built per the RFCs (labeled unicast RFC 8277, VPNv4/VPNv6 RFC 4364
and 4659 with route distinguisher types 0-2, EVPN RFC 7432 types 1-4 and
RFC 9136 type 5 over MPLS and VXLAN (RFC 8365), add-path RFC 7911 negotiated
in Peer Up, End-of-RIB RFC 4724), decoded by fabtel and checked against
tshark's dissection of the same bytes; unknown families kept opaque; the
collector's records and counters; hypothesis over every family."""
from __future__ import annotations

import ipaddress
import shutil
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bmp_tshark
from bmp_cases import CASES, ESI, NH4, PEER, VECTORS, monitored
from pcap import write_tcp_stream
from fabtel.connectors.bmp import nlri as N
from fabtel.connectors.bmp.codec import (BmpError, Negotiated, decode, encode_bgp, encode_mp_update, encode_open,
                                         encode_peer_up, encode_update)
from fabtel.connectors.bmp.collector import BmpCollector, Session

PORT = 11019
# tshark 4.0 has no Peer Up state: it guesses add-path per NLRI, for unicast and EVPN only
TSHARK_BLIND = {"add-path vpnv4, negotiated in Peer Up"}


def decoded(messages: list[bytes]):
    session = Session("198.18.0.1")
    out = []
    for raw in messages:
        msg = decode(raw, session.peers)
        session.remember(msg)
        out.append(msg)
    return out


@pytest.mark.parametrize("name", VECTORS)
def test_rfc_vectors_decode(name):
    messages, expected = VECTORS[name]
    last = decoded(messages)[-1]
    assert last.bgp.problems == []
    assert last.bgp.withdrawn + last.bgp.announced == expected


@pytest.fixture(scope="module")
def tshark_view(tmp_path_factory):
    assert shutil.which("tshark"), "tshark is needed (./run installs Debian's tshark)"
    stream = [raw for messages, _ in VECTORS.values() for raw in messages]
    return stream, bmp_tshark.messages(write_tcp_stream(tmp_path_factory.mktemp("bmp") / "vectors.pcap", stream, PORT), PORT)


def test_tshark_reads_every_vector_as_fabtel_does(tshark_view):
    stream, theirs = tshark_view
    assert len(theirs) == len(stream)
    ours = [(name, msg) for name, (messages, _) in VECTORS.items() for msg in decoded(messages)]
    compared = 0
    for k, ((name, mine), tshark) in enumerate(zip(ours, theirs)):
        if name in TSHARK_BLIND:
            assert mine.type == "peer_up" or tshark["expert"], "tshark reads add-path on VPN now: compare it"
            continue
        assert not tshark["malformed"] and not tshark["expert"], f"tshark finds message {k} malformed"
        mine_routes = bmp_tshark.mine(mine, tshark)
        assert mine_routes == sorted(tshark["routes"], key=repr), f"message {k} ({mine.type})"
        compared += len(mine_routes)
    assert compared == sum(len(expected) for name, (_, expected) in VECTORS.items() if name not in TSHARK_BLIND)


def test_add_path_needs_the_peer_up():
    """Without the Peer Up's OPENs the path identifiers read as prefixes: the
    UPDATE is kept, marked, and the collector remembers per peer."""
    messages, _ = VECTORS["add-path ipv4 unicast, negotiated in Peer Up"]
    alone = decode(messages[1])
    assert alone.bgp.problems and alone.bgp.problems[0].startswith("NLRI ipv4-unicast:")
    up = decode(messages[0])
    assert Negotiated.of(up.open_sent, up.open_received).add_path == {(1, 1)}
    one_sided = N.encode_capabilities([(1, 1)], 65001, {(1, 1): 1})             # receive only: no path ids sent to it
    up = decode(encode_peer_up(PEER, "198.18.0.2", encode_open(65002, "198.19.0.2", one_sided),
                               encode_open(65001, "198.19.0.1", N.encode_capabilities([(1, 1)], 65001))))
    assert Negotiated.of(up.open_sent, up.open_received).add_path == set()


def test_two_byte_as_sessions_from_the_peer_up():
    caps2 = N.encode_capabilities([(1, 1)])                                     # no 4-byte AS capability
    up = encode_peer_up(PEER, "198.18.0.2", encode_open(65002, "198.19.0.2", caps2), encode_open(65001, "198.19.0.1", caps2))
    seg = bytes([2, 2]) + struct.pack("!HH", 65001, 65100)
    attrs = b"\x40\x01\x01\x00" + bytes([0x40, 2, len(seg)]) + seg + bytes([0x40, 3, 4]) + NH4
    update = encode_bgp("update", struct.pack("!HH", 0, len(attrs)) + attrs + N.encode_prefix("198.19.9.0/24"))
    assert decoded([up, monitored(update)])[-1].bgp.as_path == [65001, 65100]


def test_end_of_rib_markers():
    assert decode(monitored(encode_bgp("update", bytes(4)))).bgp.end_of_rib == "ipv4-unicast"
    assert decode(monitored(encode_mp_update(unreach=(25, 70, b"")))).bgp.end_of_rib == "evpn"
    assert decode(monitored(encode_mp_update(unreach=(1, 128, b"")))).bgp.end_of_rib == "vpnv4"
    assert decode(monitored(encode_update(["198.19.3.0/24"], [], [65001], "198.18.0.1"))).bgp.end_of_rib is None


def test_unknown_families_are_kept_opaque():
    bgp_ls = encode_mp_update(reach=(16388, 71, b"\x00\x01\x00\x05abcde"), next_hop=NH4)
    flowspec = encode_mp_update(unreach=(1, 133, b"\x05\x01\x18\xc0\x00\x02"))
    for update, fam, n in ((bgp_ls, "afi16388-safi71", 9), (flowspec, "ipv4-flowspec", 6)):
        msg = decode(monitored(update))
        assert msg.bgp.problems == [] and [(r.family, r.length) for r in msg.bgp.routes] == [(fam if fam != "ipv4-flowspec" else "afi1-safi133", n)]


def test_the_collector_records_routes_and_counts_problems():
    from conftest import EXAMPLE
    from fabtel.config import load_config
    from fabtel.topics import topic_key_of
    config = load_config(EXAMPLE)
    from fabtel.records import BmpRoute
    sent = []
    collector = BmpCollector(config, type("Capture", (), {"send": lambda self, rec: sent.append((topic_key_of(rec), rec))})())
    session = Session("198.18.0.1")
    for raw in VECTORS["add-path evpn, negotiated in Peer Up"][0] + VECTORS["add-path vpnv4, negotiated in Peer Up"][0][1:]:
        collector.handle(session, raw)
    partial = next(c for c in CASES["partial"] if c["case"] == "VPNv4 label stack without a bottom")
    collector.handle(Session("198.18.0.9"), bytes.fromhex(partial["hex"]))
    records = [rec for topic, rec in sent if topic == "bmp_messages"]
    assert [r.type for r in records] == ["peer_up", "route_monitoring", "route_monitoring", "route_mirroring"]
    assert records[1].routes == [BmpRoute("evpn", "announce", rd="198.19.0.1:0", path_id=9, route_type=4, esi=ESI, ip="198.19.0.1")]
    assert records[3].problems == ["MP_REACH_NLRI vpnv4: bad label stack"] and len(records[3].routes) == 1
    assert collector.metrics.get("attribute_problems_total", "MP_REACH_NLRI vpnv4: bad label stack") == 1
    assert collector.metrics.get("routes_total", "evpn", "announce") == 1
    assert collector.metrics.get("routes_total", "vpnv4", "announce") == 2


# ------------------------------------------------------------ hypothesis

FAMILY_CODES = [(1, 1), (2, 1), (1, 2), (1, 4), (2, 4), (1, 128), (2, 128), (25, 70), (16388, 71)]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(FAMILY_CODES), st.binary(max_size=120), st.booleans(), st.booleans(), st.sampled_from(["announce", "withdraw"]))
def test_any_nlri_bytes_decode_or_name_their_fault(fam, body, add_path, vni, action):
    try:
        routes = N.decode_nlri(body, *fam, action, add_path, vni)
    except N.NlriError as exc:
        assert exc.reason and all(r.family == N.family(*fam) for r in exc.routes)
    else:
        assert all(r.action == action for r in routes)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FAMILY_CODES), st.binary(max_size=120), st.sampled_from([0, 1, 2]))
def test_an_update_around_any_nlri_is_kept_or_rejected_with_a_reason(fam, body, where):
    reach = (fam[0], fam[1], body) if where != 1 else None
    unreach = (fam[0], fam[1], body) if where != 0 else None
    try:
        msg = decode(monitored(encode_mp_update(reach=reach, unreach=unreach, next_hop=NH4)))
    except BmpError as exc:
        assert exc.reason
    else:
        assert msg.bgp is not None


rds = st.one_of(st.tuples(st.integers(0, 65535), st.integers(0, 2**32 - 1)).map(lambda t: f"{t[0]}:{t[1]}"),
                st.tuples(st.ip_addresses(v=4), st.integers(0, 65535)).map(lambda t: f"{t[0]}:{t[1]}"),
                st.tuples(st.integers(65536, 2**32 - 1), st.integers(0, 65535)).map(lambda t: f"{t[0]}:{t[1]}"))
esis = st.binary(min_size=10, max_size=10).map(lambda b: b.hex(":"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), rds, esis, st.integers(0, 2**32 - 1), st.integers(0, 2**20 - 1),
                          st.ip_addresses(v=4), st.integers(0, 32), st.booleans()), min_size=1, max_size=6))
def test_evpn_routes_round_trip(routes):
    raw, expected = b"", []
    for kind, rd, esi, tag, label, ip, bits, with_ip in routes:
        mac = "02:00:00:00:00:01"
        prefix = str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))
        raw += N.encode_evpn(kind, rd, esi, tag, label, mac, str(ip) if with_ip or kind in (3, 4) else None, prefix)
        expected.append((kind, rd, esi if kind != 3 else None))
    got = N.decode_nlri(raw, 25, 70, "announce")
    assert [(r.route_type, r.rd, r.esi) for r in got] == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: ipaddress.ip_network(f"{t[0]}/{t[1]}", strict=False)), st.lists(st.integers(16, 2**20 - 1), min_size=1, max_size=3), rds,
                          st.one_of(st.none(), st.integers(0, 2**32 - 1))), min_size=1, max_size=6))
def test_vpn_routes_round_trip(routes):
    raw = b"".join(N.encode_labeled(str(net), labels, rd, pid) for net, labels, rd, pid in routes)
    pids = {pid is None for *_, pid in routes}
    if len(pids) > 1:                 # add-path applies to a whole session's family, never per route
        return
    got = N.decode_nlri(raw, 1, 128, "announce", add_path=routes[0][3] is not None)
    assert [(r.prefix, r.labels, r.rd, r.path_id) for r in got] == [(str(n), lab, rd, pid) for n, lab, rd, pid in routes]
