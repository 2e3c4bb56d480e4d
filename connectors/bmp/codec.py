"""BMP v3 (RFC 7854) and the BGP-4 messages inside it (RFC 4271, 4760, 6793,
7911), with the routes of every family connectors/bmp/nlri.py knows.
Pure: bytes in, dataclasses out; `encode_*` builds messages for tests and the
lab. A malformed message raises BmpError with a stable reason. An UPDATE with
a malformed attribute is kept, as RFC 7606 keeps the session: the problem is
recorded on it (`problems`) and, where RFC 7606 says "treat-as-withdraw"
(a malformed AS_PATH, say), its announced routes are taken as withdrawn; a
malformed NLRI only marks its attribute, and the routes before it stay.

`compiled_decoder()` is the same `decode` in compiled code (fabtel.native:
bmp.rs), which returns these very objects; this module stays its reference
(tests/unit/test_bmp_native.py holds the two equal).

May import: the standard library, fabtel.native, fabtel.connectors.bmp.nlri.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Mapping

from fabtel import native
from fabtel.connectors.bmp.nlri import (AFI_IPV4, SAFI_UNICAST, Capabilities, NlriError, Route, add_path_families,
                                        decode_nlri, family, open_capabilities)

VERSION = 3
COMMON_HEADER = 6
PER_PEER_HEADER = 42
MSG_TYPES = {0: "route_monitoring", 1: "statistics", 2: "peer_down", 3: "peer_up", 4: "initiation",
             5: "termination", 6: "route_mirroring"}
WITH_PEER_HEADER = {0, 1, 2, 3, 6}
BGP_TYPES = {1: "open", 2: "update", 3: "notification", 4: "keepalive", 5: "route_refresh"}
BGP_MARKER = b"\xff" * 16
INFO_TLVS = {0: "string", 1: "sysDescr", 2: "sysName"}
TERMINATION_TLVS = {0: "string", 1: "reason"}
STAT_NAMES = {0: "rejected_prefixes", 1: "duplicate_advertisements", 2: "duplicate_withdraws",
              3: "invalid_cluster_list", 4: "invalid_as_path", 5: "invalid_originator_id",
              6: "invalid_as_confed", 7: "adj_rib_in_routes", 8: "loc_rib_routes"}
ATTR_AS_PATH, ATTR_NEXT_HOP, ATTR_MP_REACH, ATTR_MP_UNREACH, ATTR_EXT_COMMUNITIES = 2, 3, 14, 15, 16
VNI_TUNNELS = {8, 9, 12}     # VXLAN, NVGRE, VXLAN-GPE: EVPN label fields carry a 24-bit VNI (RFC 8365 5.1.3)
IPV4_UNICAST = (AFI_IPV4, SAFI_UNICAST)


class BmpError(ValueError):
    """A malformed BMP or BGP message; `reason` is stable (metrics label, dead letters)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class PeerHeader:
    peer_type: int
    flags: int
    address: str
    asn: int
    bgp_id: str
    ts_ns: int
    distinguisher: bytes = b"\0" * 8

    @property
    def key(self) -> tuple[bytes, str]:
        """Which peer of the router this is (a peer in a VRF has its distinguisher)."""
        return self.distinguisher, self.address

    @property
    def post_policy(self) -> bool:
        return bool(self.flags & 0x40)

    @property
    def two_byte_as(self) -> bool:
        return bool(self.flags & 0x20)


@dataclass
class BgpMessage:
    type: str
    size: int
    routes: list[Route] = field(default_factory=list)
    as_path: list[int] = field(default_factory=list)
    next_hop: str | None = None
    end_of_rib: str | None = None                    # the family an End-of-RIB marker closes
    problems: list[str] = field(default_factory=list)     # malformed attributes and NLRI, one line each
    treat_as_withdraw: bool = False                  # RFC 7606: an attribute error withdrew its announcements
    open_caps: Capabilities | None = None
    encapsulation: int | None = None                 # tunnel type of the Encapsulation extended community

    @property
    def announced(self) -> list[str]:
        return [r.text() for r in self.routes if r.action == "announce"]

    @property
    def withdrawn(self) -> list[str]:
        return [r.text() for r in self.routes if r.action == "withdraw"]


@dataclass
class Message:
    type: str
    length: int
    peer: PeerHeader | None = None
    bgp: BgpMessage | None = None
    info: dict[str, str] = field(default_factory=dict)
    peer_down_reason: int | None = None
    open_sent: Capabilities | None = None            # Peer Up: the monitored router's OPEN
    open_received: Capabilities | None = None        # Peer Up: its peer's OPEN


@dataclass
class Negotiated:
    """What a peer's session agreed (from its Peer Up's two OPENs) that changes how its UPDATEs decode."""
    add_path: set = field(default_factory=set)        # families whose NLRI carry path identifiers
    four_byte_as: bool = True

    @classmethod
    def of(cls, sent: Capabilities | None, received: Capabilities | None) -> "Negotiated":
        if sent is None or received is None:
            return cls()
        return cls(add_path_families(sent, received), sent.four_byte_as and received.four_byte_as)


Peers = Mapping[tuple, Negotiated]                     # PeerHeader.key -> what that session negotiated


def frame_length(header: bytes, max_bytes: int = 1 << 20) -> int:
    """The total length of the BMP message whose first 6 bytes are `header`.
    A wrong version or an impossible length breaks the stream's framing."""
    version, length, _ = struct.unpack("!BIB", header)
    if version != VERSION:
        raise BmpError("unsupported BMP version", str(version))
    if not COMMON_HEADER <= length <= max_bytes:
        raise BmpError("impossible message length", str(length))
    return length


def decode(data: bytes, peers: Peers | None = None) -> Message:
    """One complete BMP message (common header included). `peers` holds what
    each peer's session negotiated, from its Peer Up (the caller keeps it per
    BMP session): add-path families, and 4-byte AS numbers, which without a
    Peer Up come from the per-peer header's A flag."""
    if len(data) < COMMON_HEADER:
        raise BmpError("truncated common header")
    version, length, kind = struct.unpack_from("!BIB", data)
    if version != VERSION:
        raise BmpError("unsupported BMP version", str(version))
    if length != len(data):
        raise BmpError("length disagrees with the message", f"{length} != {len(data)}")
    if kind not in MSG_TYPES:
        raise BmpError("unknown message type", str(kind))
    msg = Message(MSG_TYPES[kind], length)
    body = memoryview(data)[COMMON_HEADER:]
    if kind in WITH_PEER_HEADER:
        if len(body) < PER_PEER_HEADER:
            raise BmpError("truncated per-peer header")
        msg.peer = _peer_header(body)
        body = body[PER_PEER_HEADER:]
    agreed = peers.get(msg.peer.key) if peers is not None and msg.peer is not None else None
    paths = agreed.add_path if agreed else set()
    two_byte_as = msg.peer.two_byte_as or (agreed is not None and not agreed.four_byte_as) if msg.peer else False
    if kind == 0:
        msg.bgp = decode_bgp(bytes(body), two_byte_as, paths)
    elif kind == 6:
        for t, value in _tlvs(body, "route mirroring"):
            if t == 0:
                msg.bgp = decode_bgp(bytes(value), two_byte_as, paths)
            elif t == 1 and len(value) == 2:
                msg.info["mirroring"] = {0: "errored PDU", 1: "messages lost"}.get(struct.unpack("!H", value)[0], "?")
    elif kind == 2:
        if not body:
            raise BmpError("truncated peer down")
        msg.peer_down_reason = body[0]
        if len(body) > 1 and body[0] in (1, 3):
            msg.bgp = decode_bgp(bytes(body[1:]), two_byte_as, paths)
    elif kind == 3:
        _peer_up(body, msg)
    elif kind == 1:
        _statistics(body, msg)
    elif kind in (4, 5):
        names = INFO_TLVS if kind == 4 else TERMINATION_TLVS
        for t, value in _tlvs(body, msg.type):
            name = names.get(t, f"tlv{t}")
            msg.info[name] = (str(struct.unpack("!H", value)[0]) if name == "reason" and len(value) == 2
                              else bytes(value).decode("utf-8", "replace"))
    return msg


def compiled_decoder():
    """The compiled `decode` (fabtel._native.BmpDecoder: `.decode(data, peers)`
    gives the same Message, or raises the same BmpError), or None on the Python path."""
    if not native.available():
        return None
    return native.module().BmpDecoder(Message, PeerHeader, BgpMessage, Route, Capabilities, BmpError)


def _peer_header(b: memoryview) -> PeerHeader:
    peer_type, flags = b[0], b[1]
    raw = bytes(b[10:26])
    address = str(ipaddress.IPv6Address(raw)) if flags & 0x80 else str(ipaddress.IPv4Address(raw[12:]))
    asn, bgp_id, sec, usec = struct.unpack_from("!I4sII", b, 26)
    if usec >= 1_000_000:
        raise BmpError("bad timestamp microseconds", str(usec))
    return PeerHeader(peer_type, flags, address, asn, str(ipaddress.IPv4Address(bgp_id)), sec * 1_000_000_000 + usec * 1000,
                      bytes(b[2:10]))


def _tlvs(b: memoryview, where: str):
    i = 0
    while i < len(b):
        if i + 4 > len(b):
            raise BmpError("truncated TLV", where)
        t, n = struct.unpack_from("!HH", b, i)
        if i + 4 + n > len(b):
            raise BmpError("TLV length past the message", where)
        yield t, b[i + 4:i + 4 + n]
        i += 4 + n


def _peer_up(b: memoryview, msg: Message) -> None:
    if len(b) < 20:
        raise BmpError("truncated peer up")
    i = 20
    for which in ("sent", "received"):
        n = _bgp_length(b[i:], f"peer up {which} OPEN")
        opened = decode_bgp(bytes(b[i:i + n]), True)
        if opened.type != "open":
            raise BmpError("peer up without an OPEN", which)
        setattr(msg, f"open_{which}", opened.open_caps)
        i += n
    for t, value in _tlvs(b[i:], "peer up"):
        msg.info[INFO_TLVS.get(t, f"tlv{t}")] = bytes(value).decode("utf-8", "replace")


def _statistics(b: memoryview, msg: Message) -> None:
    if len(b) < 4:
        raise BmpError("truncated statistics")
    count = struct.unpack_from("!I", b)[0]
    stats = list(_tlvs(b[4:], "statistics"))
    if len(stats) != count:
        raise BmpError("statistics count disagrees with its TLVs", f"{count} != {len(stats)}")
    parts = []
    for t, value in stats:
        v = int.from_bytes(value, "big") if len(value) in (4, 8) else len(value)
        parts.append(f"{STAT_NAMES.get(t, f'stat{t}')}={v}")
    msg.info["stats"] = ",".join(parts)


def _bgp_length(b: memoryview | bytes, where: str) -> int:
    if len(b) < 19:
        raise BmpError("truncated BGP header", where)
    if bytes(b[:16]) != BGP_MARKER:
        raise BmpError("bad BGP marker", where)
    n = struct.unpack_from("!H", b, 16)[0]
    if not 19 <= n <= len(b):
        raise BmpError("BGP length past the message", where)
    return n


def decode_bgp(b: bytes, two_byte_as: bool = False, add_path: set = frozenset()) -> BgpMessage:
    """One BGP message (marker included): an UPDATE's routes of every family,
    AS_PATH and next hop; an OPEN's capabilities."""
    n = _bgp_length(b, "bgp")
    if n != len(b):
        raise BmpError("BGP length disagrees with the message", f"{n} != {len(b)}")
    kind = BGP_TYPES.get(b[18])
    if kind is None:
        raise BmpError("unknown BGP message type", str(b[18]))
    msg = BgpMessage(kind, n)
    if kind == "update":
        _update(memoryview(b)[19:], msg, two_byte_as, add_path)
    elif kind == "open":
        msg.open_caps = open_capabilities(memoryview(b)[19:])
    return msg


def _routes(msg: BgpMessage, b, afi: int, safi: int, action: str, add_path: set, where: str) -> None:
    """The routes of one NLRI field; a malformed one marks `where` and keeps the rest of the message."""
    try:
        msg.routes += decode_nlri(b, afi, safi, action, (afi, safi) in add_path, msg.encapsulation in VNI_TUNNELS)
    except NlriError as exc:
        msg.routes += exc.routes
        msg.problems.append(f"{where} {family(afi, safi)}: {exc.reason}")


def _update(b: memoryview, msg: BgpMessage, two_byte_as: bool, add_path: set) -> None:
    if len(b) < 4:
        raise BmpError("truncated UPDATE")
    wlen = struct.unpack_from("!H", b)[0]
    if 2 + wlen + 2 > len(b):
        raise BmpError("withdrawn routes past the UPDATE")
    alen = struct.unpack_from("!H", b, 2 + wlen)[0]
    start = 4 + wlen
    if start + alen > len(b):
        raise BmpError("path attributes past the UPDATE")
    codes, mp = _attributes(b[start:start + alen], msg, two_byte_as)
    # The NLRI are read after every attribute: the encapsulation community,
    # wherever it comes, says whether EVPN label fields are VXLAN VNIs.
    _routes(msg, b[2:2 + wlen], AFI_IPV4, SAFI_UNICAST, "withdraw", add_path, "withdrawn routes")
    for afi, safi, action, nlri, where in mp:
        _routes(msg, nlri, afi, safi, action, add_path, where)
    _routes(msg, b[start + alen:], AFI_IPV4, SAFI_UNICAST, "announce", add_path, "NLRI")
    announced = [r for r in msg.routes if r.action == "announce"]
    if announced:
        missing = [ATTRIBUTES[c][0] for c in (ATTR_ORIGIN, ATTR_AS_PATH) if c not in codes]
        if ATTR_NEXT_HOP not in codes and any(r.family == family(*IPV4_UNICAST) for r in announced) \
                and len(b) > start + alen:
            missing.append(ATTRIBUTES[ATTR_NEXT_HOP][0])
        for name in missing:
            _malformed(msg, name, "missing (well-known mandatory)", WITHDRAW)
    if msg.treat_as_withdraw:
        # RFC 7606 2: the routes stay in the message, as the router itself takes them: withdrawn
        msg.routes = [dataclasses.replace(r, action="withdraw") if r.action == "announce" else r for r in msg.routes]
    # End-of-RIB (RFC 4724): an empty UPDATE for IPv4 unicast; for another
    # family, an UPDATE whose only attribute is an MP_UNREACH_NLRI without routes.
    if len(b) == 4:
        msg.end_of_rib = family(*IPV4_UNICAST)
    elif codes == [ATTR_MP_UNREACH] and len(mp) == 1 and not mp[0][3] and wlen == 0 and len(b) == start + alen:
        msg.end_of_rib = family(mp[0][0], mp[0][1])


# RFC 7606's ways to handle a malformed attribute and keep the session (and here, the message)
WITHDRAW, DISCARD = "routes treated as withdrawn", "attribute discarded"
ATTR_ORIGIN, ATTR_MED, ATTR_LOCAL_PREF, ATTR_ATOMIC_AGGREGATE, ATTR_AGGREGATOR = 1, 4, 5, 6, 7
ATTR_COMMUNITIES, ATTR_ORIGINATOR_ID, ATTR_CLUSTER_LIST = 8, 9, 10
ATTR_AS4_PATH, ATTR_AS4_AGGREGATOR, ATTR_LARGE_COMMUNITIES = 17, 18, 32
# code -> (name, optional bit, transitive bit, what a malformed one costs: RFC 7606 7)
ATTRIBUTES = {
    ATTR_ORIGIN: ("ORIGIN", 0, 1, WITHDRAW), ATTR_AS_PATH: ("AS_PATH", 0, 1, WITHDRAW),
    ATTR_NEXT_HOP: ("NEXT_HOP", 0, 1, WITHDRAW), ATTR_MED: ("MULTI_EXIT_DISC", 1, 0, WITHDRAW),
    # LOCAL_PREF: RFC 7606 7.5 discards it from an eBGP peer; the monitor cannot tell, so the stricter way
    ATTR_LOCAL_PREF: ("LOCAL_PREF", 0, 1, WITHDRAW), ATTR_ATOMIC_AGGREGATE: ("ATOMIC_AGGREGATE", 0, 1, DISCARD),
    ATTR_AGGREGATOR: ("AGGREGATOR", 1, 1, DISCARD), ATTR_COMMUNITIES: ("COMMUNITIES", 1, 1, WITHDRAW),
    ATTR_ORIGINATOR_ID: ("ORIGINATOR_ID", 1, 0, WITHDRAW), ATTR_CLUSTER_LIST: ("CLUSTER_LIST", 1, 0, WITHDRAW),
    ATTR_MP_REACH: ("MP_REACH_NLRI", 1, 0, WITHDRAW), ATTR_MP_UNREACH: ("MP_UNREACH_NLRI", 1, 0, WITHDRAW),
    ATTR_EXT_COMMUNITIES: ("EXTENDED_COMMUNITIES", 1, 1, WITHDRAW), ATTR_AS4_PATH: ("AS4_PATH", 1, 1, DISCARD),
    ATTR_AS4_AGGREGATOR: ("AS4_AGGREGATOR", 1, 1, DISCARD), ATTR_LARGE_COMMUNITIES: ("LARGE_COMMUNITY", 1, 1, WITHDRAW),
}


def _malformed(msg: BgpMessage, name: str, what: str, action: str) -> None:
    """Record an attribute error on the message (RFC 7606): its routes are
    then withdrawn, or the attribute is only ignored."""
    msg.problems.append(f"{name}: {what} ({action}, RFC 7606)")
    if action == WITHDRAW:
        msg.treat_as_withdraw = True


def _length_fault(code: int, n: int, two_byte_as: bool) -> str | None:
    """What is wrong with an attribute's length, by its definition (RFC 7606 7)."""
    fixed = {ATTR_ORIGIN: 1, ATTR_NEXT_HOP: 4, ATTR_MED: 4, ATTR_LOCAL_PREF: 4, ATTR_ATOMIC_AGGREGATE: 0,
             ATTR_AGGREGATOR: 6 if two_byte_as else 8, ATTR_ORIGINATOR_ID: 4, ATTR_AS4_AGGREGATOR: 8}
    multiple = {ATTR_COMMUNITIES: 4, ATTR_CLUSTER_LIST: 4, ATTR_EXT_COMMUNITIES: 8, ATTR_LARGE_COMMUNITIES: 12}
    if code in fixed and n != fixed[code]:
        return f"length {n}, not {fixed[code]}"
    if code in multiple and n % multiple[code]:
        return f"length {n}, not a multiple of {multiple[code]}"
    if code == ATTR_CLUSTER_LIST and n == 0:
        return "empty"
    return None


def _attributes(b: memoryview, msg: BgpMessage, two_byte_as: bool) -> tuple[list[int], list[tuple]]:
    """Decode the path attributes; return the codes of those present (well
    formed or not) and the MP_REACH/MP_UNREACH NLRI fields, (afi, safi, action, bytes, attribute
    name) each, still to read. A malformed attribute is handled as RFC 7606
    says (`_malformed`); only a second MP_REACH or MP_UNREACH, after which
    no route can be trusted, refuses the message."""
    codes, i, mp = [], 0, []
    while i < len(b):
        if i + 3 > len(b) or (b[i] & 0x10 and i + 4 > len(b)):
            _malformed(msg, "path attributes", "an attribute's header past their length", WITHDRAW)   # RFC 7606 4
            break
        flags, code = b[i], b[i + 1]
        if flags & 0x10:
            n, i = struct.unpack_from("!H", b, i + 2)[0], i + 4
        else:
            n, i = b[i + 2], i + 3
        name, optional, transitive, action = ATTRIBUTES.get(code, (f"attribute {code}", None, None, DISCARD))
        if i + n > len(b):
            codes.append(code)
            _malformed(msg, name, "past the path attributes' length", WITHDRAW)                          # RFC 7606 4
            break
        value = b[i:i + n]
        i += n
        if code in codes:
            if code in (ATTR_MP_REACH, ATTR_MP_UNREACH):                                                   # RFC 7606 3.g
                raise BmpError("MP_REACH_NLRI or MP_UNREACH_NLRI twice in an UPDATE", name)
            msg.problems.append(f"{name}: repeated (the first kept, RFC 7606)")
            continue
        codes.append(code)
        if optional is not None and (bool(flags & 0x80), bool(flags & 0x40)) != (bool(optional), bool(transitive)):
            _malformed(msg, name, f"flags 0x{flags:02x} disagree with its definition", action)               # RFC 7606 3.c
            continue
        fault = _length_fault(code, n, two_byte_as)
        if fault:
            _malformed(msg, name, fault, action)
            continue
        if code == ATTR_ORIGIN and value[0] > 2:
            _malformed(msg, name, f"undefined value {value[0]}", WITHDRAW)                                 # RFC 7606 7.1
        elif code in (ATTR_AS_PATH, ATTR_AS4_PATH):
            try:
                path = _as_path(value, 4 if code == ATTR_AS4_PATH else 2 if two_byte_as else 4)
            except BmpError as exc:
                _malformed(msg, name, exc.reason, action)                                                  # RFC 7606 7.2
                continue
            if code == ATTR_AS_PATH:
                msg.as_path = path
        elif code == ATTR_NEXT_HOP:
            msg.next_hop = str(ipaddress.IPv4Address(bytes(value)))
        elif code == ATTR_EXT_COMMUNITIES:
            for k in range(0, n - 7, 8):
                if value[k] == 0x03 and value[k + 1] == 0x0C:          # Encapsulation (RFC 9012 4.1)
                    msg.encapsulation = struct.unpack_from("!H", value, k + 6)[0]
        elif code == ATTR_MP_REACH:
            if n < 5 or 4 + value[3] + 1 > n:
                _malformed(msg, name, "truncated", WITHDRAW)
                continue
            afi, safi, nh_len = struct.unpack_from("!H", value)[0], value[2], value[3]
            msg.next_hop = _mp_next_hop(bytes(value[4:4 + nh_len])) or msg.next_hop
            mp.append((afi, safi, "announce", value[5 + nh_len:], name))
        elif code == ATTR_MP_UNREACH:
            if n < 3:
                _malformed(msg, name, "truncated", WITHDRAW)
                continue
            mp.append((struct.unpack_from("!H", value)[0], value[2], "withdraw", value[3:], name))
    return codes, mp


def _as_path(b: memoryview, width: int) -> list[int]:
    """An AS_PATH's numbers; BmpError naming the fault of a malformed one (RFC 7606 7.2)."""
    out, i = [], 0
    while i < len(b):
        if i + 2 > len(b):
            raise BmpError("truncated AS_PATH segment")
        kind, count = b[i], b[i + 1]
        if kind not in (1, 2, 3, 4):
            raise BmpError("undefined AS_PATH segment type", str(kind))
        if count == 0:
            raise BmpError("empty AS_PATH segment")
        end = i + 2 + count * width
        if end > len(b):
            raise BmpError("AS_PATH segment past the attribute")
        out += [int.from_bytes(b[j:j + width], "big") for j in range(i + 2, end, width)]
        i = end
    return out


def _mp_next_hop(nh: bytes) -> str | None:
    if len(nh) in (12, 24):              # VPN: a zero route distinguisher before the address (RFC 4364, 4659)
        nh = nh[8:]
    if len(nh) in (16, 32):
        return str(ipaddress.IPv6Address(nh[:16]))
    if len(nh) == 4:
        return str(ipaddress.IPv4Address(nh))
    return None


# ------------------------------------------------------------ encoding (tests, lab)

def encode_bgp(kind: str, body: bytes = b"") -> bytes:
    code = {v: k for k, v in BGP_TYPES.items()}[kind]
    return BGP_MARKER + struct.pack("!HB", 19 + len(body), code) + body


def encode_update(announced: list[str] = (), withdrawn: list[str] = (), as_path: list[int] = (),
                  next_hop: str | None = None) -> bytes:
    def prefixes(items):
        out = b""
        for p in items:
            net = ipaddress.IPv4Network(p)
            out += bytes([net.prefixlen]) + net.network_address.packed[:(net.prefixlen + 7) // 8]
        return out
    attrs = b"\x40\x01\x01\x00" + _as_path_attribute(as_path)                  # ORIGIN IGP, AS_PATH
    if next_hop:
        attrs += bytes([0x40, ATTR_NEXT_HOP, 4]) + ipaddress.IPv4Address(next_hop).packed
    w = prefixes(withdrawn)
    a = attrs if announced else b""
    return encode_bgp("update", struct.pack("!H", len(w)) + w + struct.pack("!H", len(a)) + a + prefixes(announced))


def _as_path_attribute(as_path) -> bytes:
    """AS_PATH, one AS_SEQUENCE of 4-byte numbers; empty (a route of the peer's own AS) when none."""
    seg = bytes([2, len(as_path)]) + b"".join(struct.pack("!I", a) for a in as_path) if as_path else b""
    return bytes([0x40, ATTR_AS_PATH, len(seg)]) + seg


def encode_peer_header(address: str, asn: int, bgp_id: str, ts_ns: int, flags: int = 0) -> bytes:
    ip = ipaddress.ip_address(address)
    raw = ip.packed.rjust(16, b"\0")
    flags |= 0x80 if ip.version == 6 else 0
    return struct.pack("!BB8s16sI4sII", 0, flags, b"\0" * 8, raw, asn, ipaddress.IPv4Address(bgp_id).packed,
                       ts_ns // 1_000_000_000, ts_ns % 1_000_000_000 // 1000)


def encode(kind: str, body: bytes) -> bytes:
    code = {v: k for k, v in MSG_TYPES.items()}[kind]
    return struct.pack("!BIB", VERSION, COMMON_HEADER + len(body), code) + body


def tlv(t: int, value: bytes) -> bytes:
    return struct.pack("!HH", t, len(value)) + value


def encode_mp_update(reach: tuple[int, int, bytes] | None = None, unreach: tuple[int, int, bytes] | None = None,
                     next_hop: bytes = b"", as_path: list[int] = (), encapsulation: int | None = None) -> bytes:
    """An UPDATE with MP_REACH_NLRI and/or MP_UNREACH_NLRI: (afi, safi, NLRI bytes) each;
    `encapsulation` adds the Encapsulation extended community (8: VXLAN)."""
    attrs = b"\x40\x01\x01\x00" + _as_path_attribute(as_path) if reach else b""
    if encapsulation is not None:
        attrs += bytes([0xC0, ATTR_EXT_COMMUNITIES, 8]) + b"\x03\x0c\x00\x00\x00\x00" + struct.pack("!H", encapsulation)
    if reach:
        afi, safi, nlri = reach
        v = struct.pack("!HBB", afi, safi, len(next_hop)) + next_hop + b"\x00" + nlri
        attrs += bytes([0x90, ATTR_MP_REACH]) + struct.pack("!H", len(v)) + v
    if unreach:
        afi, safi, nlri = unreach
        v = struct.pack("!HB", afi, safi) + nlri
        attrs += bytes([0x90, ATTR_MP_UNREACH]) + struct.pack("!H", len(v)) + v
    return encode_bgp("update", struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs)


def encode_open(asn: int, bgp_id: str, capabilities: bytes = b"", hold: int = 90) -> bytes:
    """An OPEN; `capabilities` is an optional parameter built by nlri.encode_capabilities."""
    return encode_bgp("open", struct.pack("!BHH4sB", 4, min(asn, 23456), hold, ipaddress.IPv4Address(bgp_id).packed,
                                          len(capabilities)) + capabilities)


def encode_peer_up(peer_header: bytes, local_address: str, sent_open: bytes, received_open: bytes,
                   local_port: int = 179, remote_port: int = 40000) -> bytes:
    local = ipaddress.ip_address(local_address).packed.rjust(16, b"\0")
    return encode("peer_up", peer_header + local + struct.pack("!HH", local_port, remote_port) + sent_open + received_open)
