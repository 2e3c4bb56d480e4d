"""Reading and writing capture files (pcap and pcapng) far enough to get UDP
and TCP payloads out and to write the UDP datagrams the tests build.

Link types: Ethernet (1), raw IP (101, 228, 229), BSD loopback (0), Linux
cooked SLL (113) and SLL2 (276). May import: the standard library only.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterator


class CaptureError(Exception):
    """The file is not a capture we can read."""


@dataclass
class Packet:
    ts_ns: int
    src: str
    dst: str
    proto: int           # 17 UDP, 6 TCP
    sport: int
    dport: int
    payload: bytes


def read_packets(f: BinaryIO) -> Iterator[Packet]:
    """UDP and TCP packets of a pcap or pcapng file; other frames are skipped."""
    magic = f.read(4)
    if len(magic) < 4:
        raise CaptureError("file too short to be a capture")
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng(f, magic)
    elif magic in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        yield from _pcap(f, magic)
    else:
        raise CaptureError(f"not a pcap or pcapng file (magic {magic.hex()})")


def _pcap(f: BinaryIO, magic: bytes) -> Iterator[Packet]:
    endian = "<" if magic[0] in (0xd4, 0x4d) else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    head = f.read(20)
    if len(head) < 20:
        raise CaptureError("truncated pcap header")
    linktype = struct.unpack(endian + "HHiIII", head)[5] & 0xFFFF
    rec = struct.Struct(endian + "IIII")
    while True:
        h = f.read(16)
        if len(h) < 16:
            return
        sec, frac, incl, _ = rec.unpack(h)
        data = f.read(incl)
        if len(data) < incl:
            return
        pkt = _frame(linktype, data, sec * 1_000_000_000 + (frac if nano else frac * 1000))
        if pkt:
            yield pkt


def _pcapng(f: BinaryIO, magic: bytes) -> Iterator[Packet]:
    endian = "<"
    links: list[tuple[int, int]] = []    # (linktype, ts units per second)
    first = True
    while True:
        head = magic if first else f.read(4)
        first = False
        if len(head) < 4:
            return
        if head == b"\x0a\x0d\x0d\x0a":
            rest = f.read(8)
            if len(rest) < 8:
                return
            endian = "<" if rest[4:8] == b"\x4d\x3c\x2b\x1a" else ">"
            (length,) = struct.unpack(endian + "I", rest[:4])
            f.read(length - 12)
            links = []
            continue
        (btype,) = struct.unpack(endian + "I", head)
        lb = f.read(4)
        if len(lb) < 4:
            return
        (length,) = struct.unpack(endian + "I", lb)
        if length < 12:
            raise CaptureError(f"bad pcapng block length {length}")
        body = f.read(length - 8)
        if len(body) < length - 8:
            return
        if btype == 1:       # interface description
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            links.append((linktype, _tsresol(body[8:-4], endian)))
        elif btype == 6:     # enhanced packet
            iface, hi, lo, cap, _ = struct.unpack_from(endian + "IIIII", body, 0)
            linktype, per_s = links[iface] if iface < len(links) else (1, 1_000_000)
            ts = (hi << 32 | lo) * 1_000_000_000 // per_s
            pkt = _frame(linktype, body[20:20 + cap], ts)
            if pkt:
                yield pkt


def _tsresol(options: bytes, endian: str) -> int:
    off = 0
    while off + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, off)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = options[off + 4]
            return 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        off += 4 + ((length + 3) & ~3)
    return 1_000_000


def _frame(linktype: int, data: bytes, ts_ns: int) -> Packet | None:
    if linktype == 1:
        if len(data) < 14:
            return None
        etype, off = struct.unpack_from(">H", data, 12)[0], 14
        while etype in (0x8100, 0x88A8) and len(data) >= off + 4:
            etype, off = struct.unpack_from(">H", data, off + 2)[0], off + 4
        return _ip(data[off:], ts_ns) if etype in (0x0800, 0x86DD) else None
    if linktype in (101, 228, 229):
        return _ip(data, ts_ns)
    if linktype == 0:
        return _ip(data[4:], ts_ns)
    if linktype == 113:
        return _ip(data[16:], ts_ns)
    if linktype == 276:
        return _ip(data[20:], ts_ns)
    return None


def _ip(d: bytes, ts_ns: int) -> Packet | None:
    if len(d) < 20:
        return None
    if d[0] >> 4 == 4:
        ihl = (d[0] & 0x0F) * 4
        total = struct.unpack_from(">H", d, 2)[0]
        proto = d[9]
        src, dst = socket.inet_ntop(socket.AF_INET, d[12:16]), socket.inet_ntop(socket.AF_INET, d[16:20])
        l4 = d[ihl:total] if total >= ihl else d[ihl:]
    elif d[0] >> 4 == 6 and len(d) >= 40:
        proto = d[6]
        plen = struct.unpack_from(">H", d, 4)[0]
        src, dst = socket.inet_ntop(socket.AF_INET6, d[8:24]), socket.inet_ntop(socket.AF_INET6, d[24:40])
        l4 = d[40:40 + plen]
    else:
        return None
    if proto == 17 and len(l4) >= 8:
        sport, dport = struct.unpack_from(">HH", l4, 0)
        return Packet(ts_ns, src, dst, 17, sport, dport, l4[8:])
    if proto == 6 and len(l4) >= 20:
        sport, dport = struct.unpack_from(">HH", l4, 0)
        return Packet(ts_ns, src, dst, 6, sport, dport, l4[(l4[12] >> 4) * 4:])
    return None


def write_udp_pcap(f: BinaryIO, datagrams: list[bytes], src: str = "127.0.0.1", dst: str = "127.0.0.1",
                   sport: int = 50000, dport: int = 6343, ts_ns: int = 1_700_000_000_000_000_000) -> None:
    """A pcap (Ethernet link type) holding each datagram as one UDP packet."""
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, payload in enumerate(datagrams):
        udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0x4000, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        ip = ip[:10] + struct.pack(">H", _checksum(ip)) + ip[12:]
        frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp
        t = ts_ns + i * 1000
        f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000 // 1000, len(frame), len(frame)))
        f.write(frame)


def _checksum(b: bytes) -> int:
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
