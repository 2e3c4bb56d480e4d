"""Classic pcap files for tshark: UDP datagrams or one TCP stream, over
Ethernet and IPv4 (checksums left zero; tshark does not verify them)."""
from __future__ import annotations

import struct
from pathlib import Path

_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_ETHER = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"


def _ipv4(proto: int, payload: bytes, src: str, dst: str) -> bytes:
    addr = lambda a: bytes(int(x) for x in a.split("."))   # noqa: E731
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, addr(src), addr(dst)) + payload


def write_tcp_stream(path: Path, segments: list[bytes], dst_port: int, src: str = "198.18.0.2",
                     dst: str = "198.18.0.1", src_port: int = 40000) -> Path:
    """One established TCP connection carrying `segments` in order, one per packet."""
    out, seq = [_HEADER], 1
    for k, data in enumerate(segments):
        tcp = struct.pack("!HHIIBBHHH", src_port, dst_port, seq, 1, 5 << 4, 0x18, 65535, 0, 0) + data
        frame = _ETHER + _ipv4(6, tcp, src, dst)
        out.append(struct.pack("<IIII", 1_700_000_000 + k, 0, len(frame), len(frame)) + frame)
        seq += len(data)
    path.write_bytes(b"".join(out))
    return path
