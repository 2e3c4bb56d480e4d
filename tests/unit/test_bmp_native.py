"""The compiled BMP decoder against its reference, connectors/bmp/codec.py:
for every message, the same Message field by field (and so the same
record), or the same BmpError with the same reason and text. On the FRR
capture, every malformed case and every family's vectors, and on hypothesis
input: garbage of every message type, mutations of the corpus, UPDATEs built
attribute by attribute (well formed or not, every family's NLRI, add-path
and 2-byte AS sessions), Peer Ups with their capabilities followed by the
UPDATEs they govern, and the TLV messages (text that is not UTF-8 too).
Nothing escapes the compiled decoder but BmpError. FABTEL_NATIVE=off skips
them: there is nothing compiled to compare then."""
from __future__ import annotations

import ipaddress
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmp_cases import CAPTURE, CASES, MALFORMED, UPDATE, VECTORS, frames, mirror
from fabtel.connectors.bmp import nlri as N
from fabtel.connectors.bmp.codec import (BmpError, Negotiated, compiled_decoder, decode, encode, encode_bgp,
                                         encode_open, encode_peer_up, tlv)
from fabtel.connectors.bmp.collector import BmpCollector, Session

pytestmark = pytest.mark.skipif(os.environ.get("FABTEL_NATIVE", "on").lower() in ("off", "0", "no"),
                                reason="FABTEL_NATIVE=off: the Python path alone")
COMPILED = compiled_decoder()
FAMILIES = [(1, 1), (2, 1), (1, 2), (2, 2), (1, 4), (2, 4), (1, 128), (2, 128), (25, 70), (16388, 71), (1, 5)]


def outcome(decoder, raw: bytes, peers) -> tuple:
    try:
        return ("ok", decoder(raw, peers))
    except BmpError as exc:
        return ("error", exc.reason, str(exc))


def same(messages: list[bytes], peers: dict | None = None) -> list[tuple]:
    """Both decoders over one session's messages, its peers' negotiated
    capabilities kept as the collector keeps them; every outcome and record equal."""
    py_session, native_session = Session("198.18.0.1"), Session("198.18.0.1")
    if peers:
        py_session.peers.update(peers)
        native_session.peers.update(peers)
    out = []
    for raw in messages:
        want, got = outcome(decode, raw, py_session.peers), outcome(COMPILED.decode, raw, native_session.peers)
        assert got == want, raw.hex()
        if want[0] == "ok":
            py_session.remember(want[1])
            native_session.remember(got[1])
            assert native_session.record(got[1], 7) == py_session.record(want[1], 7)
        out.append(want)
    return out


def test_the_decoder_is_compiled_where_a_toolchain_is():
    assert COMPILED is not None, "fabtel._native is missing: `./run setup tests` builds it (cargo from rustup)"


def test_the_frr_capture_decodes_the_same():
    results = same(frames(CAPTURE.read_bytes()))
    assert len(results) == 24 and all(r[0] == "ok" for r in results)


@pytest.mark.parametrize("reason", MALFORMED)
def test_each_rejected_case_is_rejected_for_the_same_reason(reason):
    assert same([MALFORMED[reason]])[0][1] == reason


@pytest.mark.parametrize("case", CASES["partial"], ids=lambda c: c["case"])
def test_each_partial_case_keeps_the_same_routes_and_problems(case):
    (kind, msg), = same([bytes.fromhex(case["hex"])])
    assert kind == "ok" and msg.bgp.problems == case["problems"]


@pytest.mark.parametrize("name", VECTORS)
def test_every_family_vector_decodes_the_same(name):
    messages, expected = VECTORS[name]
    results = same(messages)
    assert results[-1][1].bgp.withdrawn + results[-1][1].bgp.announced == expected


def test_the_collector_decodes_compiled():
    """`fabtel collect bmp` takes the compiled decoder when it is built."""
    collector = BmpCollector(None, producer=object())
    assert type(collector.decode.__self__).__name__ == "BmpDecoder"


# ------------------------------------------------------------ hypothesis

def peer_header(peer_type=0, flags=0, distinguisher=bytes(8), address=bytes(16), asn=65001, bgp_id=b"\xc6\x13\0\1",
                sec=1_700_000_000, usec=0) -> bytes:
    return struct.pack("!BB8s16sI4sII", peer_type, flags, distinguisher, address, asn, bgp_id, sec, usec)


peer_headers = st.builds(peer_header, st.integers(0, 3), st.sampled_from([0, 0x20, 0x40, 0x80, 0xA0, 0xE0]),
                         st.sampled_from([bytes(8), b"\0\0\0\1\0\0\0\7"]),
                         st.one_of(st.just(bytes(12) + bytes([198, 18, 0, 1])), st.binary(min_size=16, max_size=16)),
                         st.integers(0, 2**32 - 1), st.binary(min_size=4, max_size=4), st.integers(0, 2**32 - 1),
                         st.one_of(st.integers(0, 999_999), st.integers(1_000_000, 2**32 - 1)))
families = st.sampled_from(FAMILIES)


def attribute(flags: int, code: int, value: bytes) -> bytes:
    if flags & 0x10 or len(value) > 255:
        return bytes([flags | 0x10, code]) + struct.pack("!H", len(value)) + value
    return bytes([flags, code, len(value)]) + value


@st.composite
def nlri(draw, fam, add_path: bool = False) -> bytes:
    """One family's NLRI: routes its encoders build (a path identifier before each with add-path), or any bytes."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=60))
    afi, safi = fam
    out = b""
    for _ in range(draw(st.integers(0, 3))):
        out += struct.pack("!I", draw(st.integers(0, 2**32 - 1))) if add_path else b""
        ip = draw(st.ip_addresses(v=4 if afi == 1 else 6))
        labels = draw(st.lists(st.integers(0, 2**20 - 1), min_size=1, max_size=3))
        room = 255 - 24 * len(labels) - (64 if safi == 128 else 0) if safi in (4, 128) else 255   # one length octet
        bits = draw(st.integers(0, min(ip.max_prefixlen, room)))
        prefix = f"{ip}/{bits}"
        if safi in (1, 2):
            out += N.encode_prefix(str(ipaddress.ip_network(prefix, strict=False)))
        elif safi in (4, 128):
            rd = draw(st.sampled_from([None if safi == 4 else "65000:1", "198.19.0.1:5", "4200000001:7"]))
            out += N.encode_labeled(str(ipaddress.ip_network(prefix, strict=False)), labels,
                                    rd if safi == 128 else None)
        elif fam == (25, 70) and draw(st.integers(0, 3)) == 0:      # an IP prefix route with host bits set
            value = N.encode_rd("65000:2") + bytes(14) + bytes([bits]) + ip.packed + bytes(len(ip.packed)) + b"\0\0\1"
            out += bytes([5, len(value)]) + value
        elif fam == (25, 70):
            kind = draw(st.integers(1, 5))
            v4 = draw(st.ip_addresses(v=4))
            out += N.encode_evpn(kind, draw(st.sampled_from(["65000:2", "198.19.0.1:3"])),
                                 draw(st.binary(min_size=10, max_size=10)).hex(":"), tag=draw(st.integers(0, 2**32 - 1)),
                                 label=draw(st.integers(0, 2**20 - 1)), mac="00:aa:bb:cc:dd:ee",
                                 ip=str(draw(st.sampled_from([v4, ip]))) if kind in (2, 3, 4) else None,
                                 prefix=str(ipaddress.ip_network(prefix, strict=False)) if kind == 5 else None,
                                 gateway=str(ip) if kind == 5 and draw(st.booleans()) else None)
        else:
            out += draw(st.binary(max_size=20))
    return out


@st.composite
def attributes(draw, add_path: set) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 7))):
        code = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 32, 99]))
        flags = draw(st.one_of(st.just({1: 0x40, 2: 0x40, 3: 0x40, 5: 0x40, 6: 0x40, 4: 0x80, 9: 0x80, 10: 0x80,
                                        14: 0x80, 15: 0x80}.get(code, 0xC0)), st.integers(0, 255)))
        if code == 1:
            value = bytes([draw(st.integers(0, 3))])
        elif code in (2, 17):
            width = draw(st.sampled_from([2, 4]))
            value = b"".join(bytes([draw(st.integers(0, 5)), len(asns)]) + b"".join(a.to_bytes(width, "big") for a in asns)
                             for asns in draw(st.lists(st.lists(st.integers(0, 2**(8 * width) - 1), max_size=4), max_size=3)))
        elif code == 3:
            value = draw(st.binary(min_size=4, max_size=4))
        elif code in (14, 15):
            fam = draw(families)
            routes = draw(nlri(fam, fam in add_path))
            if code == 15:
                value = struct.pack("!HB", *fam) + routes
            else:
                hop = draw(st.sampled_from([4, 12, 16, 24, 32, 0, 7]))
                value = struct.pack("!HBB", fam[0], fam[1], hop) + draw(st.binary(min_size=hop, max_size=hop)) + b"\0" + routes
        elif code == 16:
            value = b"".join(b"\x03\x0c" + bytes(4) + struct.pack("!H", t) for t in draw(st.lists(st.sampled_from([8, 9, 12, 2]), max_size=2)))
        else:
            value = draw(st.binary(max_size=16))
        if draw(st.integers(0, 9)) == 0:
            value = value[:draw(st.integers(0, len(value)))]
        out += attribute(flags, code, value)
    return out + (draw(st.binary(max_size=3)) if draw(st.integers(0, 9)) == 0 else b"")


@st.composite
def sessions(draw) -> tuple[list[bytes], dict]:
    """A peer's UPDATEs (monitored or mirrored), what its session negotiated, and the peer header they carry."""
    header = draw(peer_headers)
    add_path = set(draw(st.lists(families, max_size=3)))
    messages = []
    for _ in range(draw(st.integers(1, 3))):
        withdrawn = draw(nlri((1, 1), (1, 1) in add_path))
        attrs = draw(attributes(add_path))
        announced = draw(nlri((1, 1), (1, 1) in add_path))
        update = encode_bgp("update", struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(attrs))
                            + attrs + announced)
        kind = draw(st.sampled_from(["route_monitoring", "route_mirroring", "peer_down"]))
        body = {"route_monitoring": update, "route_mirroring": tlv(1, b"\0\1") + tlv(0, update),
                "peer_down": b"\x01" + update}[kind]
        messages.append(encode(kind, header + body))
    peers = {}
    if draw(st.booleans()):              # the Peer Up was seen: what it negotiated, under the peer's key
        address = ipaddress.ip_address(header[10:26] if header[1] & 0x80 else header[22:26])
        peers[(header[2:10], str(address))] = Negotiated(add_path, draw(st.booleans()))
    return messages, peers


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_updates_built_attribute_by_attribute_decode_the_same(session):
    messages, peers = session
    same(messages, peers)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 8))
def test_garbage_of_every_message_type_decodes_the_same(body, kind):
    same([struct.pack("!BIB", 3, 6 + len(body), kind) + body, body])


CORPUS = frames(CAPTURE.read_bytes()) + list(MALFORMED.values()) + [
    bytes.fromhex(c["hex"]) for c in CASES["partial"]] + [m for messages, _ in VECTORS.values() for m in messages] + [
    mirror(UPDATE)]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(CORPUS), st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), min_size=1, max_size=4),
       st.one_of(st.none(), st.integers(0, 2**16)), st.booleans())
def test_mutations_of_the_corpus_decode_the_same(raw, changes, cut, fix_length):
    data = bytearray(raw)
    for at, byte in changes:
        if data:
            data[at % len(data)] = byte
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    if fix_length and len(data) >= 6:
        data[1:5] = struct.pack("!I", len(data))
    same([bytes(data)])


caps = st.builds(N.encode_capabilities, st.lists(families, max_size=3), st.one_of(st.none(), st.integers(0, 2**32 - 1)),
                 st.dictionaries(families, st.integers(0, 3), max_size=3))


@settings(max_examples=500, deadline=None)
@given(peer_headers, caps, caps, st.lists(st.tuples(st.integers(0, 4), st.binary(max_size=12)), max_size=3), st.data())
def test_a_peer_up_and_the_updates_it_governs_decode_the_same(header, sent, received, tlvs, data):
    up = encode_peer_up(header, "198.18.0.2", encode_open(65002, "198.19.0.2", sent),
                        encode_open(65001, "198.19.0.1", received)) + b"".join(tlv(t, v) for t, v in tlvs)
    up = struct.pack("!BIB", 3, len(up), 3) + up[6:]
    messages = [up]
    for _ in range(2):
        fam = data.draw(families)
        attrs = attribute(0x40, 1, b"\0") + attribute(0x40, 2, b"") + attribute(
            0x80, 14, struct.pack("!HBB", fam[0], fam[1], 4) + bytes(4) + b"\0" + data.draw(nlri(fam, True)))
        messages.append(encode("route_monitoring", header + encode_bgp("update", b"\0\0" + struct.pack("!H", len(attrs)) + attrs)))
    same(messages)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["initiation", "termination", "statistics"]),
       st.lists(st.tuples(st.integers(0, 10), st.one_of(st.binary(max_size=10), st.sampled_from(
           [b"\xff\xfe", "sp\u00efne".encode(), b"\xe2\x82", b"\0\1", bytes(4), bytes(8)]))), max_size=4),
       st.integers(-1, 1), peer_headers)
def test_tlv_messages_decode_the_same(kind, tlvs, miscount, header):
    body = b"".join(tlv(t, v) for t, v in tlvs)
    if kind == "statistics":
        body = header + struct.pack("!I", max(0, len(tlvs) + miscount)) + body
    same([encode(kind, body)])
