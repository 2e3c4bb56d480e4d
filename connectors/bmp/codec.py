"""BMP v3 (RFC 7854) and the BGP-4 messages inside it (RFC 4271, 4760, 6793).
Pure: bytes in, dataclasses out; `encode_*` builds messages for tests and the
lab. Every malformed input raises BmpError with a stable reason.

May import: the standard library.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

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
ATTR_AS_PATH, ATTR_NEXT_HOP, ATTR_MP_REACH, ATTR_MP_UNREACH = 2, 3, 14, 15
AFI_IPV4, AFI_IPV6 = 1, 2


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
    announced: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    as_path: list[int] = field(default_factory=list)
    next_hop: str | None = None


@dataclass
class Message:
    type: str
    length: int
    peer: PeerHeader | None = None
    bgp: BgpMessage | None = None
    info: dict[str, str] = field(default_factory=dict)
    peer_down_reason: int | None = None


def frame_length(header: bytes, max_bytes: int = 1 << 20) -> int:
    """The total length of the BMP message whose first 6 bytes are `header`.
    A wrong version or an impossible length breaks the stream's framing."""
    version, length, _ = struct.unpack("!BIB", header)
    if version != VERSION:
        raise BmpError("unsupported BMP version", str(version))
    if not COMMON_HEADER <= length <= max_bytes:
        raise BmpError("impossible message length", str(length))
    return length


def decode(data: bytes) -> Message:
    """One complete BMP message (common header included)."""
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
    if kind == 0:
        msg.bgp = decode_bgp(bytes(body), msg.peer.two_byte_as)
    elif kind == 6:
        for t, value in _tlvs(body, "route mirroring"):
            if t == 0:
                msg.bgp = decode_bgp(bytes(value), msg.peer.two_byte_as)
            elif t == 1 and len(value) == 2:
                msg.info["mirroring"] = {0: "errored PDU", 1: "messages lost"}.get(struct.unpack("!H", value)[0], "?")
    elif kind == 2:
        if not body:
            raise BmpError("truncated peer down")
        msg.peer_down_reason = body[0]
        if len(body) > 1 and body[0] in (1, 3):
            msg.bgp = decode_bgp(bytes(body[1:]), msg.peer.two_byte_as)
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


def _peer_header(b: memoryview) -> PeerHeader:
    peer_type, flags = b[0], b[1]
    raw = bytes(b[10:26])
    address = str(ipaddress.IPv6Address(raw)) if flags & 0x80 else str(ipaddress.IPv4Address(raw[12:]))
    asn, bgp_id, sec, usec = struct.unpack_from("!I4sII", b, 26)
    if usec >= 1_000_000:
        raise BmpError("bad timestamp microseconds", str(usec))
    return PeerHeader(peer_type, flags, address, asn, str(ipaddress.IPv4Address(bgp_id)), sec * 1_000_000_000 + usec * 1000)


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
        if decode_bgp(bytes(b[i:i + n]), True).type != "open":
            raise BmpError("peer up without an OPEN", which)
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


def decode_bgp(b: bytes, two_byte_as: bool = False) -> BgpMessage:
    """One BGP message (marker included); an UPDATE's prefixes, AS_PATH and next hop."""
    n = _bgp_length(b, "bgp")
    if n != len(b):
        raise BmpError("BGP length disagrees with the message", f"{n} != {len(b)}")
    kind = BGP_TYPES.get(b[18])
    if kind is None:
        raise BmpError("unknown BGP message type", str(b[18]))
    msg = BgpMessage(kind, n)
    if kind == "update":
        _update(memoryview(b)[19:], msg, two_byte_as)
    return msg


def _update(b: memoryview, msg: BgpMessage, two_byte_as: bool) -> None:
    if len(b) < 4:
        raise BmpError("truncated UPDATE")
    wlen = struct.unpack_from("!H", b)[0]
    if 2 + wlen + 2 > len(b):
        raise BmpError("withdrawn routes past the UPDATE")
    msg.withdrawn = _prefixes(b[2:2 + wlen], AFI_IPV4)
    alen = struct.unpack_from("!H", b, 2 + wlen)[0]
    start = 4 + wlen
    if start + alen > len(b):
        raise BmpError("path attributes past the UPDATE")
    _attributes(b[start:start + alen], msg, two_byte_as)
    msg.announced += _prefixes(b[start + alen:], AFI_IPV4)


def _attributes(b: memoryview, msg: BgpMessage, two_byte_as: bool) -> None:
    i = 0
    while i < len(b):
        if i + 3 > len(b):
            raise BmpError("truncated path attribute")
        flags, code = b[i], b[i + 1]
        if flags & 0x10:
            if i + 4 > len(b):
                raise BmpError("truncated path attribute")
            n, i = struct.unpack_from("!H", b, i + 2)[0], i + 4
        else:
            n, i = b[i + 2], i + 3
        if i + n > len(b):
            raise BmpError("path attribute past the UPDATE", f"type {code}")
        value = b[i:i + n]
        i += n
        if code == ATTR_AS_PATH:
            msg.as_path = _as_path(value, 2 if two_byte_as else 4)
        elif code == ATTR_NEXT_HOP and n == 4:
            msg.next_hop = str(ipaddress.IPv4Address(bytes(value)))
        elif code == ATTR_MP_REACH:
            _mp_reach(value, msg)
        elif code == ATTR_MP_UNREACH:
            if n < 3:
                raise BmpError("truncated MP_UNREACH_NLRI")
            afi = struct.unpack_from("!H", value)[0]
            msg.withdrawn += _prefixes(value[3:], afi)


def _as_path(b: memoryview, width: int) -> list[int]:
    out, i = [], 0
    while i < len(b):
        if i + 2 > len(b):
            raise BmpError("truncated AS_PATH segment")
        count = b[i + 1]
        end = i + 2 + count * width
        if end > len(b):
            raise BmpError("AS_PATH segment past the attribute")
        out += [int.from_bytes(b[j:j + width], "big") for j in range(i + 2, end, width)]
        i = end
    return out


def _mp_reach(b: memoryview, msg: BgpMessage) -> None:
    if len(b) < 5 or 4 + b[3] + 1 > len(b):
        raise BmpError("truncated MP_REACH_NLRI")
    afi, nh_len = struct.unpack_from("!H", b)[0], b[3]
    nh = bytes(b[4:4 + nh_len])
    if afi == AFI_IPV6 and nh_len in (16, 32):
        msg.next_hop = str(ipaddress.IPv6Address(nh[:16]))
    elif afi == AFI_IPV4 and nh_len == 4:
        msg.next_hop = str(ipaddress.IPv4Address(nh))
    msg.announced += _prefixes(b[5 + nh_len:], afi)


def _prefixes(b: memoryview, afi: int) -> list[str]:
    width = 4 if afi == AFI_IPV4 else 16
    out, i = [], 0
    while i < len(b):
        plen = b[i]
        nbytes = (plen + 7) // 8
        if plen > width * 8 or i + 1 + nbytes > len(b):
            raise BmpError("bad prefix length", str(plen))
        raw = bytes(b[i + 1:i + 1 + nbytes]).ljust(width, b"\0")
        addr = ipaddress.IPv4Address(raw) if afi == AFI_IPV4 else ipaddress.IPv6Address(raw)
        out.append(f"{addr}/{plen}")
        i += 1 + nbytes
    return out


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
    attrs = b"\x40\x01\x01\x00"                                              # ORIGIN IGP
    if as_path:
        seg = bytes([2, len(as_path)]) + b"".join(struct.pack("!I", a) for a in as_path)
        attrs += bytes([0x40, ATTR_AS_PATH, len(seg)]) + seg
    if next_hop:
        attrs += bytes([0x40, ATTR_NEXT_HOP, 4]) + ipaddress.IPv4Address(next_hop).packed
    w = prefixes(withdrawn)
    a = attrs if announced else b""
    return encode_bgp("update", struct.pack("!H", len(w)) + w + struct.pack("!H", len(a)) + a + prefixes(announced))


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
