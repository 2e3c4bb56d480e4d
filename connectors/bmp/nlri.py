"""BGP routes by address family: the NLRI formats of IPv4/IPv6 unicast and
multicast (RFC 4760), labeled unicast (RFC 8277), VPNv4/VPNv6 (RFC 4364,
4659), EVPN (RFC 7432 route types 1-4, RFC 9136 type 5), with add-path
identifiers (RFC 7911) when the session negotiated them, and the BGP
capabilities of an OPEN (RFC 5492) that say so. Pure: bytes in, Route out;
`encode_*` builds NLRI for the tests and the lab.

A malformed NLRI raises NlriError with a stable reason; the caller keeps
what decoded before it (RFC 7606's spirit: the attribute is marked, the
message goes on). May import: the standard library.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

AFI_IPV4, AFI_IPV6, AFI_L2VPN = 1, 2, 25
SAFI_UNICAST, SAFI_MULTICAST, SAFI_LABELED, SAFI_EVPN, SAFI_VPN = 1, 2, 4, 70, 128
FAMILIES = {(1, 1): "ipv4-unicast", (2, 1): "ipv6-unicast", (1, 2): "ipv4-multicast", (2, 2): "ipv6-multicast",
            (1, 4): "ipv4-labeled-unicast", (2, 4): "ipv6-labeled-unicast", (1, 128): "vpnv4", (2, 128): "vpnv6",
            (25, 70): "evpn"}
EVPN_TYPES = {1: "ethernet-ad", 2: "mac-ip", 3: "inclusive-multicast", 4: "ethernet-segment", 5: "ip-prefix"}
CAP_MP, CAP_4BYTE_AS, CAP_ADD_PATH = 1, 65, 69
MAX_LABELS = 8


class NlriError(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def family(afi: int, safi: int) -> str:
    return FAMILIES.get((afi, safi), f"afi{afi}-safi{safi}")


@dataclass
class Route:
    """One route of an UPDATE: announced or withdrawn, of one family."""
    family: str
    action: str                        # announce | withdraw
    prefix: str | None = None          # the IP prefix (EVPN type 5 too), or None
    rd: str | None = None              # route distinguisher (VPN, EVPN)
    labels: list[int] = field(default_factory=list)
    path_id: int | None = None         # add-path identifier
    route_type: int | None = None      # EVPN route type (EVPN_TYPES names it)
    esi: str | None = None             # EVPN Ethernet segment identifier (types 1, 2, 4, 5)
    ethernet_tag: int | None = None
    mac: str | None = None
    ip: str | None = None              # EVPN types 2-4: the IP; type 5: the gateway
    length: int | None = None          # an unknown family's NLRI: its length in bytes

    def text(self) -> str:
        """A one-line form (the record's announced/withdrawn lists)."""
        parts = [] if self.family in ("ipv4-unicast", "ipv6-unicast") else [self.family]
        if self.path_id is not None:
            parts.append(f"path-id {self.path_id}")
        if self.route_type is not None:
            parts.append(EVPN_TYPES.get(self.route_type, f"type{self.route_type}"))
        if self.rd:
            parts.append(f"rd {self.rd}")
        if self.esi:
            parts.append(f"esi {self.esi}")
        if self.ethernet_tag is not None:
            parts.append(f"tag {self.ethernet_tag}")
        if self.mac:
            parts.append(f"mac {self.mac}")
        if self.ip:
            parts.append(f"ip {self.ip}")
        if self.prefix:
            parts.append(self.prefix)
        if self.labels:
            parts.append("label " + "/".join(map(str, self.labels)))
        if self.length is not None:
            parts.append(f"{self.length} bytes")
        return " ".join(parts)


# ------------------------------------------------------------ decode

def decode_nlri(b: bytes | memoryview, afi: int, safi: int, action: str, add_path: bool = False,
                vni: bool = False) -> list[Route]:
    """Every route of one NLRI field; NlriError(reason) with the routes so far in
    `.routes`. `vni`: EVPN label fields hold 24-bit VXLAN VNIs (the UPDATE's
    encapsulation community says so), else 20-bit MPLS labels."""
    name = family(afi, safi)
    out: list[Route] = []
    i, n = 0, len(b)
    try:
        while i < n:
            path_id = None
            if add_path:
                if i + 4 > n:
                    raise NlriError("truncated path identifier", name)
                path_id, i = struct.unpack_from("!I", b, i)[0], i + 4
                if i >= n:
                    raise NlriError("path identifier without a route", name)
            if (afi, safi) == (AFI_L2VPN, SAFI_EVPN):
                route, i = _evpn(b, i, action, vni)
            elif afi in (AFI_IPV4, AFI_IPV6) and safi in (SAFI_UNICAST, SAFI_MULTICAST):
                route, i = _ip(b, i, afi, name, action)
            elif afi in (AFI_IPV4, AFI_IPV6) and safi in (SAFI_LABELED, SAFI_VPN):
                route, i = _labeled(b, i, afi, name, action, safi == SAFI_VPN)
            else:
                return [Route(name, action, length=n)]          # kept whole and opaque: never a failure
            route.path_id = path_id
            out.append(route)
    except NlriError as exc:
        exc.routes = out
        raise
    return out


def _prefix(b, i: int, bits: int, afi: int, where: str) -> tuple[str, int]:
    width = 32 if afi == AFI_IPV4 else 128
    nbytes = (bits + 7) // 8
    if bits > width or i + nbytes > len(b):
        raise NlriError("bad prefix length", f"{where}: /{bits}")
    raw = bytes(b[i:i + nbytes]).ljust(width // 8, b"\0")
    addr = ipaddress.IPv4Address(raw) if afi == AFI_IPV4 else ipaddress.IPv6Address(raw)
    return f"{addr}/{bits}", i + nbytes


def _ip(b, i: int, afi: int, name: str, action: str) -> tuple[Route, int]:
    bits = b[i]
    prefix, i = _prefix(b, i + 1, bits, afi, name)
    return Route(name, action, prefix), i


def _labels(b, i: int, end: int, name: str, withdraw: bool) -> tuple[list[int], int]:
    """An MPLS label stack: 3 bytes each, to the bottom-of-stack bit (a withdrawal carries one)."""
    labels = []
    while True:
        if i + 3 > end or len(labels) >= MAX_LABELS:
            raise NlriError("bad label stack", name)
        raw = int.from_bytes(b[i:i + 3], "big")
        i += 3
        labels.append(raw >> 4)
        if raw & 1 or withdraw:
            return labels, i


def rd_text(raw: bytes) -> str:
    """A route distinguisher (RFC 4364 4.2): types 0, 1 and 2 as text."""
    kind = int.from_bytes(raw[:2], "big")
    if kind == 0:
        return f"{int.from_bytes(raw[2:4], 'big')}:{int.from_bytes(raw[4:8], 'big')}"
    if kind == 1:
        return f"{ipaddress.IPv4Address(raw[2:6])}:{int.from_bytes(raw[6:8], 'big')}"
    if kind == 2:
        return f"{int.from_bytes(raw[2:6], 'big')}:{int.from_bytes(raw[6:8], 'big')}"
    return f"type{kind}:{raw[2:].hex()}"


def _labeled(b, i: int, afi: int, name: str, action: str, vpn: bool) -> tuple[Route, int]:
    bits = b[i]
    end = i + 1 + (bits + 7) // 8
    if end > len(b):
        raise NlriError("bad prefix length", f"{name}: {bits} bits")
    labels, j = _labels(b, i + 1, end, name, action == "withdraw")
    used = (j - i - 1) * 8
    rd = None
    if vpn:
        if j + 8 > end:
            raise NlriError("truncated route distinguisher", name)
        rd, j = rd_text(bytes(b[j:j + 8])), j + 8
        used += 64
    if bits < used:
        raise NlriError("bad prefix length", f"{name}: {bits} bits, {used} of labels and RD")
    prefix, k = _prefix(b, j, bits - used, afi, name)
    if k != end:
        raise NlriError("bad prefix length", name)
    return Route(name, action, prefix, rd, labels), end


def esi_text(raw: bytes) -> str:
    return raw.hex(":")


def _ip_field(b, i: int, bits: int, where: str) -> tuple[str | None, int]:
    if bits == 0:
        return None, i
    if bits not in (32, 128) or i + bits // 8 > len(b):
        raise NlriError("bad IP address length", f"{where}: {bits} bits")
    raw = bytes(b[i:i + bits // 8])
    return str(ipaddress.ip_address(raw)), i + bits // 8


def _evpn(b, i: int, action: str, vni: bool) -> tuple[Route, int]:
    label = (lambda raw: int.from_bytes(raw, "big")) if vni else (lambda raw: int.from_bytes(raw, "big") >> 4)
    if i + 2 > len(b):
        raise NlriError("truncated EVPN route")
    kind, n = b[i], b[i + 1]
    start, end = i + 2, i + 2 + n
    if end > len(b):
        raise NlriError("EVPN route past the attribute", f"type {kind}, {n} bytes")
    v = bytes(b[start:end])
    name = EVPN_TYPES.get(kind)
    r = Route("evpn", action, route_type=kind)
    try:
        if kind == 1 and n >= 25:
            r.rd, r.esi, r.ethernet_tag = rd_text(v[:8]), esi_text(v[8:18]), int.from_bytes(v[18:22], "big")
            r.labels = [label(v[22:25])]
        elif kind == 2 and n >= 33:
            r.rd, r.esi, r.ethernet_tag = rd_text(v[:8]), esi_text(v[8:18]), int.from_bytes(v[18:22], "big")
            if v[22] != 48:
                raise NlriError("bad MAC address length", str(v[22]))
            r.mac = v[23:29].hex(":")
            r.ip, j = _ip_field(v, 30, v[29], "EVPN MAC/IP")
            labels = v[j:]
            if len(labels) not in (3, 6):
                raise NlriError("bad EVPN route length", f"type 2, {n} bytes")
            r.labels = [label(labels[k:k + 3]) for k in range(0, len(labels), 3)]
        elif kind == 3 and n >= 13:
            r.rd, r.ethernet_tag = rd_text(v[:8]), int.from_bytes(v[8:12], "big")
            r.ip, j = _ip_field(v, 13, v[12], "EVPN inclusive multicast")
            if j != n:
                raise NlriError("bad EVPN route length", f"type 3, {n} bytes")
        elif kind == 4 and n >= 19:
            r.rd, r.esi = rd_text(v[:8]), esi_text(v[8:18])
            r.ip, j = _ip_field(v, 19, v[18], "EVPN Ethernet segment")
            if j != n:
                raise NlriError("bad EVPN route length", f"type 4, {n} bytes")
        elif kind == 5 and n in (34, 58):
            width = 4 if n == 34 else 16
            r.rd, r.esi, r.ethernet_tag = rd_text(v[:8]), esi_text(v[8:18]), int.from_bytes(v[18:22], "big")
            bits = v[22]
            if bits > width * 8:
                raise NlriError("bad prefix length", f"EVPN IP prefix /{bits}")
            addr = ipaddress.ip_address(v[23:23 + width])
            r.prefix = f"{ipaddress.ip_network(f'{addr}/{bits}', strict=False).network_address}/{bits}"
            gw = ipaddress.ip_address(v[23 + width:23 + 2 * width])
            r.ip = None if gw.packed == bytes(width) else str(gw)
            r.labels = [label(v[23 + 2 * width:26 + 2 * width])]
        elif name is None:
            r.length = n                                       # a route type this decoder does not know: opaque
        else:
            raise NlriError("bad EVPN route length", f"type {kind}, {n} bytes")
    except (IndexError, ValueError) as exc:
        if isinstance(exc, NlriError):
            raise
        raise NlriError("bad EVPN route", f"type {kind}: {exc}") from None
    return r, end


# ------------------------------------------------------------ capabilities

@dataclass
class Capabilities:
    """What one OPEN advertises: multiprotocol families, 4-byte AS, add-path."""
    families: set[tuple[int, int]] = field(default_factory=set)
    four_byte_as: bool = False
    add_path: dict[tuple[int, int], int] = field(default_factory=dict)    # family -> 1 receive, 2 send, 3 both


def open_capabilities(open_body: bytes | memoryview) -> Capabilities:
    """The capabilities of an OPEN message's body (after the 19-byte header)."""
    caps = Capabilities()
    if len(open_body) < 10:
        return caps
    opt_len, i = open_body[9], 10
    end = min(10 + opt_len, len(open_body))
    while i + 2 <= end:
        ptype, plen = open_body[i], open_body[i + 1]
        value = open_body[i + 2:i + 2 + plen]
        i += 2 + plen
        if ptype != 2:                       # only the Capabilities parameter
            continue
        j = 0
        while j + 2 <= len(value):
            code, clen = value[j], value[j + 1]
            cap = bytes(value[j + 2:j + 2 + clen])
            j += 2 + clen
            if code == CAP_MP and len(cap) == 4:
                caps.families.add((int.from_bytes(cap[:2], "big"), cap[3]))
            elif code == CAP_4BYTE_AS:
                caps.four_byte_as = True
            elif code == CAP_ADD_PATH:
                for k in range(0, len(cap) - 3, 4):
                    caps.add_path[(int.from_bytes(cap[k:k + 2], "big"), cap[k + 2])] = cap[k + 3]
    return caps


def add_path_families(local: Capabilities, remote: Capabilities) -> set[tuple[int, int]]:
    """Families whose UPDATEs from `remote` to `local` carry path identifiers:
    the remote side advertised Send and the local side Receive (RFC 7911)."""
    return {f for f, mode in remote.add_path.items() if mode & 2 and local.add_path.get(f, 0) & 1}


# ------------------------------------------------------------ encode (tests, lab)

def encode_prefix(prefix: str) -> bytes:
    net = ipaddress.ip_network(prefix)
    return bytes([net.prefixlen]) + net.network_address.packed[:(net.prefixlen + 7) // 8]


def encode_rd(text: str) -> bytes:
    left, _, right = text.partition(":")
    if "." in left:
        return struct.pack("!H4sH", 1, ipaddress.IPv4Address(left).packed, int(right))
    if int(left) > 0xFFFF:
        return struct.pack("!HIH", 2, int(left), int(right))
    return struct.pack("!HHI", 0, int(left), int(right))


def encode_labeled(prefix: str, labels: list[int], rd: str | None = None, path_id: int | None = None) -> bytes:
    net = ipaddress.ip_network(prefix)
    stack = b"".join(((lab << 4) | (1 if k == len(labels) - 1 else 0)).to_bytes(3, "big") for k, lab in enumerate(labels))
    body = stack + (encode_rd(rd) if rd else b"") + net.network_address.packed[:(net.prefixlen + 7) // 8]
    bits = len(stack) * 8 + (64 if rd else 0) + net.prefixlen
    return (struct.pack("!I", path_id) if path_id is not None else b"") + bytes([bits]) + body


def encode_esi(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def encode_evpn(route_type: int, rd: str, esi: str = "00" * 10, tag: int = 0, label: int = 0, mac: str | None = None,
                ip: str | None = None, prefix: str | None = None, gateway: str | None = None,
                path_id: int | None = None, vni: int | None = None) -> bytes:
    """One EVPN route; `vni` fills the label field with a VXLAN VNI instead of an MPLS label."""
    labelb = vni.to_bytes(3, "big") if vni is not None else ((label << 4) | 1).to_bytes(3, "big")
    rdb, esib, tagb = encode_rd(rd), encode_esi(esi), struct.pack("!I", tag)
    ipb = ipaddress.ip_address(ip).packed if ip else b""
    if route_type == 1:
        v = rdb + esib + tagb + labelb
    elif route_type == 2:
        v = rdb + esib + tagb + bytes([48]) + bytes.fromhex(mac.replace(":", "")) + bytes([len(ipb) * 8]) + ipb + labelb
    elif route_type == 3:
        v = rdb + tagb + bytes([len(ipb) * 8]) + ipb
    elif route_type == 4:
        v = rdb + esib + bytes([len(ipb) * 8]) + ipb
    else:
        net = ipaddress.ip_network(prefix)
        width = 4 if net.version == 4 else 16
        gw = ipaddress.ip_address(gateway).packed if gateway else bytes(width)
        v = rdb + esib + tagb + bytes([net.prefixlen]) + net.network_address.packed + gw + labelb
    return (struct.pack("!I", path_id) if path_id is not None else b"") + bytes([route_type, len(v)]) + v


def encode_capabilities(families=(), four_byte_as: int | None = None, add_path: dict | None = None) -> bytes:
    caps = b""
    for afi, safi in families:
        caps += bytes([CAP_MP, 4]) + struct.pack("!HBB", afi, 0, safi)
    if four_byte_as is not None:
        caps += bytes([CAP_4BYTE_AS, 4]) + struct.pack("!I", four_byte_as)
    if add_path:
        body = b"".join(struct.pack("!HBB", afi, safi, mode) for (afi, safi), mode in add_path.items())
        caps += bytes([CAP_ADD_PATH, len(body)]) + body
    return bytes([2, len(caps)]) + caps
