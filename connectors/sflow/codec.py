"""sFlow v5 codec: datagram bytes <-> typed samples. No I/O, no Kafka.

Decodes the datagram header (IPv4 and IPv6 agents); flow samples (compact 0:1
and expanded 0:3) and counter samples (0:2 and 0:4); counter records generic
interface (0:1), ethernet (0:2), LAG port stats (0:7, 56-byte padded or 52-byte
unpadded) and processor (0:1001); the flow record raw packet header (0:1) with
its Ethernet, VLAN, IPv4, IPv6, TCP and UDP fields (and, in VXLAN, the VNI and
the inner packet's addresses and ports). Unknown enterprises and
formats are skipped by their length and reported in `Datagram.skipped`.

Anything whose declared count or length does not fit rejects the whole
datagram with `SFlowDecodeError(reason, offset, data_format)`; `reason` is a
short stable label fit for a metric. Field names follow sflowtool.
May import: the standard library and fabtel.records.
"""
from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass, field

from fabtel.records import (SflowAsPathSegment, SflowEthernetCounters, SflowExtendedGateway, SflowExtendedRouter,
                            SflowExtendedSwitch, SflowIfCounters, SflowLagPortStats, SflowProcessor, SflowSample,
                            SflowSampledHeader)

MAX_SAMPLES = 1000          # goflow2's cap: more in one datagram is refused
MAX_RECORDS = 1000
MAX_DATAGRAM = 65535

MAX_AS_PATH = 255           # ASNs in one extended gateway record
PORT_FORMATS = {0: "ifIndex", 1: "dropCode", 2: "multiple", 3: "format==3"}    # sflowtool's words
HEADER_ETHERNET, HEADER_IPV4, HEADER_IPV6 = 1, 11, 12
VXLAN_PORT = 4789          # IANA; a sampled VXLAN packet's VNI and inner 5-tuple are read too
# Drop codes of a discarded packet (output format 1), sFlow v5 section 5.3:
# 0-255 are ICMP destination-unreachable codes, then sFlow's own.
DROP_CODES = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
              4: "fragmentation needed", 5: "source route failed", 6: "destination network unknown",
              7: "destination host unknown", 8: "source host isolated", 9: "destination network prohibited",
              10: "destination host prohibited", 11: "network unreachable for TOS", 12: "host unreachable for TOS",
              13: "communication prohibited", 14: "host precedence violation", 15: "precedence cutoff",
              256: "unknown", 257: "ttl exceeded", 258: "ACL", 259: "no buffer space", 260: "RED",
              261: "traffic shaping/rate limiting", 262: "packet too big"}

_U32 = struct.Struct(">I")
_HDR4 = struct.Struct(">II4sIIII")           # version, addr type, v4 agent, sub agent, seq, uptime, nsamples
_HDR6_TAIL = struct.Struct(">IIII")
_REC_HDR = struct.Struct(">II")
_FLOW = struct.Struct(">IIIIIIII")            # seq, source id, rate, pool, drops, input, output, nrecords
_FLOW_X = struct.Struct(">IIIIIIIIIII")       # seq, src type, src index, rate, pool, drops, in fmt, in, out fmt, out, n
_CNT = struct.Struct(">III")                  # seq, source id, nrecords
_CNT_X = struct.Struct(">IIII")               # seq, src type, src index, nrecords
_IF = struct.Struct(">IIQIIQIIIIIIQIIIIII")   # 88 bytes
_ETH = struct.Struct(">13I")                  # 52 bytes
_LAG_TAIL = struct.Struct(">II8I")            # agg id, port state, 8 counters: 40 bytes
_PROC = struct.Struct(">iiiQQ")               # 28 bytes
_RAW_HDR = struct.Struct(">IIII")             # protocol, frame length, stripped, header length


class SFlowDecodeError(Exception):
    """A datagram that cannot be decoded. `reason` is a stable label."""

    def __init__(self, reason: str, offset: int, data_format: str | None = None, detail: str = ""):
        self.reason, self.offset, self.data_format, self.detail = reason, offset, data_format, detail
        where = f" in {data_format}" if data_format else ""
        super().__init__(f"{reason}{where} at byte {offset}" + (f": {detail}" if detail else ""))


@dataclass
class Datagram:
    agent: str
    sub_agent_id: int
    sequence: int
    uptime_ms: int
    samples: list[SflowSample]
    skipped: list[str] = field(default_factory=list)   # "sample 0:5", "counters 4413:1", ...
    leftover: int = 0          # bytes after the stated samples (decoded anyway, as sflowtool does)


def drop_reason(code: int) -> str:
    return DROP_CODES.get(code, f"code {code}")


def mac_text(b: bytes) -> str:
    return b.hex(":")


# ------------------------------------------------------------------ decode

def decode_datagram(data: bytes, receive_ts_ns: int = 0) -> Datagram:
    """Decode one sFlow v5 datagram; raise SFlowDecodeError when it is bad."""
    n = len(data)
    if n < 28:
        raise SFlowDecodeError("truncated header", 0, detail=f"{n} bytes")
    version, addr_type = struct.unpack_from(">II", data, 0)
    if version != 5:
        raise SFlowDecodeError("wrong version", 0, detail=f"version {version}")
    if addr_type == 1:
        _, _, a4, sub_agent, seq, uptime, nsamples = _HDR4.unpack_from(data, 0)
        agent = socket.inet_ntop(socket.AF_INET, a4)
        off = 28
    elif addr_type == 2:
        if n < 40:
            raise SFlowDecodeError("truncated header", 0, detail=f"{n} bytes for an IPv6 agent")
        agent = socket.inet_ntop(socket.AF_INET6, data[8:24])
        sub_agent, seq, uptime, nsamples = _HDR6_TAIL.unpack_from(data, 24)
        off = 40
    else:
        raise SFlowDecodeError("bad agent address type", 4, detail=f"type {addr_type}")
    if nsamples > MAX_SAMPLES or nsamples * 8 > n - off:
        raise SFlowDecodeError("sample count does not fit", off - 4, detail=f"{nsamples} samples in {n - off} bytes")
    dgram = Datagram(agent, sub_agent, seq, uptime, [])
    for _ in range(nsamples):
        if off + 8 > n:
            raise SFlowDecodeError("truncated sample header", off)
        fmt, length = _REC_HDR.unpack_from(data, off)
        start, end = off + 8, off + 8 + length
        if end > n:
            raise SFlowDecodeError("sample length past the end", off, _fmt(fmt), f"{length} bytes declared, {n - start} left")
        if fmt in (1, 3):
            sample = _decode_flow_sample(data, start, end, fmt == 3, dgram)
        elif fmt in (2, 4):
            sample = _decode_counter_sample(data, start, end, fmt == 4, dgram)
        else:
            dgram.skipped.append(f"sample {_fmt(fmt)}")
            off = end
            continue
        sample.receive_ts_ns = receive_ts_ns
        dgram.samples.append(sample)
        off = end
    dgram.leftover = n - off
    return dgram


def _fmt(fmt: int) -> str:
    return f"{fmt >> 12}:{fmt & 0xFFF}"


def _record_count(data: bytes, off: int, count: int, end: int, what: str) -> None:
    if count > MAX_RECORDS or count * 8 > end - off:
        raise SFlowDecodeError("record count does not fit", off - 4, what, f"{count} records in {end - off} bytes")


def _decode_counter_sample(data: bytes, off: int, end: int, expanded: bool, dg: Datagram) -> SflowSample:
    fmt_name = "0:4" if expanded else "0:2"
    if expanded:
        if end - off < 16:
            raise SFlowDecodeError("truncated sample", off, fmt_name)
        seq, src_type, src_index, nrec = _CNT_X.unpack_from(data, off)
        off += 16
    else:
        if end - off < 12:
            raise SFlowDecodeError("truncated sample", off, fmt_name)
        seq, source, nrec = _CNT.unpack_from(data, off)
        src_type, src_index = source >> 24, source & 0xFFFFFF
        off += 12
    sample = SflowSample(dg.agent, None, dg.sub_agent_id, dg.sequence, dg.uptime_ms, "counters", seq, src_type, src_index)
    _walk_records(data, off, end, nrec, fmt_name, "counters", dg, sample, _counter_record)
    return sample


def _counter_record(sample: SflowSample, data: bytes, rfmt: int, start: int, rlen: int, off: int) -> bool:
    if rfmt == 1:
        if rlen != 88:
            raise SFlowDecodeError("record length disagrees with format", off, "counters 0:1", f"{rlen} bytes, expected 88")
        sample.if_counters = SflowIfCounters(*_IF.unpack_from(data, start))
    elif rfmt == 2:
        if rlen != 52:
            raise SFlowDecodeError("record length disagrees with format", off, "counters 0:2", f"{rlen} bytes, expected 52")
        sample.ethernet_counters = SflowEthernetCounters(*_ETH.unpack_from(data, start))
    elif rfmt == 7:
        sample.lag_port_stats = _decode_lag(data, start, rlen, off)
    elif rfmt == 1001:
        if rlen != 28:
            raise SFlowDecodeError("record length disagrees with format", off, "counters 0:1001", f"{rlen} bytes, expected 28")
        sample.processor = SflowProcessor(*_PROC.unpack_from(data, start))
    else:
        return False
    return True


def _walk_records(data: bytes, off: int, end: int, nrec: int, fmt_name: str, kind: str, dg: Datagram,
                  sample: SflowSample, decode_record) -> None:
    """Each record of a sample: header checks, then `decode_record` (False:
    an unknown format, skipped by its length and reported)."""
    _record_count(data, off, nrec, end, fmt_name)
    for _ in range(nrec):
        if off + 8 > end:
            raise SFlowDecodeError("truncated record header", off, fmt_name)
        rfmt, rlen = _REC_HDR.unpack_from(data, off)
        start, rend = off + 8, off + 8 + rlen
        if rend > end:
            raise SFlowDecodeError("record length past the sample", off, f"{kind} {_fmt(rfmt)}", f"{rlen} bytes declared")
        if not decode_record(sample, data, rfmt, start, rlen, off):
            dg.skipped.append(f"{kind} {_fmt(rfmt)}")
        off = rend
    if off != end:
        raise SFlowDecodeError("sample length disagrees with its records", off, fmt_name, f"{end - off} bytes left over")


def _decode_lag(data: bytes, start: int, rlen: int, off: int) -> SflowLagPortStats:
    if rlen == 56:       # spec: each MAC is XDR opaque padded to 8 bytes
        actor, partner, tail = data[start:start + 6], data[start + 8:start + 14], start + 16
    elif rlen == 52:     # agents that pack the MACs unpadded
        actor, partner, tail = data[start:start + 6], data[start + 6:start + 12], start + 12
    else:
        raise SFlowDecodeError("record length disagrees with format", off, "counters 0:7", f"{rlen} bytes, expected 56 or 52")
    agg, state, *counts = _LAG_TAIL.unpack_from(data, tail)
    # Bytes in the spec's order: actor admin, actor oper, partner admin, partner oper.
    return SflowLagPortStats(mac_text(actor), mac_text(partner), agg, state,
                             state >> 24, (state >> 16) & 0xFF, (state >> 8) & 0xFF, state & 0xFF, *counts)


def _decode_flow_sample(data: bytes, off: int, end: int, expanded: bool, dg: Datagram) -> SflowSample:
    fmt_name = "0:3" if expanded else "0:1"
    if expanded:
        if end - off < 44:
            raise SFlowDecodeError("truncated sample", off, fmt_name)
        seq, src_type, src_index, rate, pool, drops, in_fmt, inp, out_fmt, outp, nrec = _FLOW_X.unpack_from(data, off)
        off += 44
    else:
        if end - off < 32:
            raise SFlowDecodeError("truncated sample", off, fmt_name)
        seq, source, rate, pool, drops, inp, outp, nrec = _FLOW.unpack_from(data, off)
        src_type, src_index = source >> 24, source & 0xFFFFFF
        # the top two bits say what the other 30 are: an ifIndex, a drop code, a count
        in_fmt, out_fmt, inp, outp = inp >> 30, outp >> 30, inp & 0x3FFFFFFF, outp & 0x3FFFFFFF
        off += 32
    sample = SflowSample(dg.agent, None, dg.sub_agent_id, dg.sequence, dg.uptime_ms, "flow", seq, src_type, src_index,
                         rate, pool, drops, inp, outp, input_format=in_fmt, output_format=out_fmt)
    _walk_records(data, off, end, nrec, fmt_name, "flow", dg, sample, _flow_record)
    return sample


_SWITCH = struct.Struct(">IIII")


def _flow_record(sample: SflowSample, data: bytes, rfmt: int, start: int, rlen: int, off: int) -> bool:
    if rfmt == 1:
        sample.sampled_header = _decode_raw_header(data, start, rlen, off)
    elif rfmt == 1001:
        if rlen != 16:
            raise SFlowDecodeError("record length disagrees with format", off, "flow 0:1001", f"{rlen} bytes, expected 16")
        sample.extended_switch = SflowExtendedSwitch(*_SWITCH.unpack_from(data, start))
    elif rfmt == 1002:
        sample.extended_router = _decode_router(data, start, start + rlen, off)
    elif rfmt == 1003:
        sample.extended_gateway = _decode_gateway(data, start, start + rlen, off)
    else:
        return False
    return True


class _Reader:
    """Reads XDR words inside one record, raising the record's own error at its end."""
    __slots__ = ("data", "pos", "end", "off", "what")

    def __init__(self, data: bytes, start: int, end: int, off: int, what: str):
        self.data, self.pos, self.end, self.off, self.what = data, start, end, off, what

    def u32(self) -> int:
        if self.pos + 4 > self.end:
            raise SFlowDecodeError("record length disagrees with format", self.off, self.what,
                                   f"ends inside the record ({self.end - self.off - 8} bytes)")
        (v,) = _U32.unpack_from(self.data, self.pos)
        self.pos += 4
        return v

    def address(self) -> str:
        kind = self.u32()
        size = {1: 4, 2: 16}.get(kind)
        if size is None:
            raise SFlowDecodeError("bad address type", self.pos - 4, self.what, f"type {kind}")
        if self.pos + size > self.end:
            raise SFlowDecodeError("record length disagrees with format", self.off, self.what, "address past the record")
        text = socket.inet_ntop(socket.AF_INET if size == 4 else socket.AF_INET6, self.data[self.pos:self.pos + size])
        self.pos += size
        return text

    def done(self) -> None:
        if self.pos != self.end:
            raise SFlowDecodeError("record length disagrees with format", self.off, self.what,
                                   f"{self.end - self.pos} bytes left over")


def _decode_router(data: bytes, start: int, end: int, off: int) -> SflowExtendedRouter:
    r = _Reader(data, start, end, off, "flow 0:1002")
    rec = SflowExtendedRouter(r.address(), r.u32(), r.u32())
    r.done()
    return rec


def _decode_gateway(data: bytes, start: int, end: int, off: int) -> SflowExtendedGateway:
    r = _Reader(data, start, end, off, "flow 0:1003")
    nexthop, my_as, src_as, src_peer_as = r.address(), r.u32(), r.u32(), r.u32()
    segments, total = [], 0
    nseg = r.u32()
    if nseg * 8 > end - r.pos:
        raise SFlowDecodeError("record length disagrees with format", off, "flow 0:1003", f"{nseg} AS path segments")
    for _ in range(nseg):
        seg_type, seg_len = r.u32(), r.u32()
        total += seg_len
        if total > MAX_AS_PATH:
            raise SFlowDecodeError("AS path too long", off, "flow 0:1003", f"over {MAX_AS_PATH} ASNs")
        segments.append(SflowAsPathSegment(seg_type, [r.u32() for _ in range(seg_len)]))
    count = r.u32()
    if count * 4 > end - r.pos:
        raise SFlowDecodeError("record length disagrees with format", off, "flow 0:1003", f"{count} communities")
    communities = [r.u32() for _ in range(count)]
    localpref = r.u32()
    r.done()
    asns = [a for seg in segments for a in seg.asns]
    first = segments[0].asns[0] if segments and segments[0].asns else 0
    last = segments[-1].asns[-1] if segments and segments[-1].asns else 0
    return SflowExtendedGateway(nexthop, my_as, src_as, src_peer_as, segments, last if asns else 0, first,
                                communities, localpref)


def _decode_raw_header(data: bytes, start: int, rlen: int, off: int) -> SflowSampledHeader:
    if rlen < 16:
        raise SFlowDecodeError("record length disagrees with format", off, "flow 0:1", f"{rlen} bytes, at least 16 needed")
    proto, frame_len, stripped, hlen = _RAW_HDR.unpack_from(data, start)
    if 16 + ((hlen + 3) & ~3) != rlen:
        raise SFlowDecodeError("record length disagrees with format", off, "flow 0:1",
                               f"header of {hlen} bytes in a {rlen}-byte record")
    header = data[start + 16:start + 16 + hlen]
    rec = SflowSampledHeader(proto, frame_len, stripped, hlen, bytes(header))
    if proto == HEADER_ETHERNET:
        parse_ethernet(header, rec)
    elif proto in (HEADER_IPV4, HEADER_IPV6):       # raw IP, no link layer (hsflowd on tunnels, routers)
        parse_ip(header, 0, rec)
    return rec


def parse_ethernet(h: bytes, rec: SflowSampledHeader) -> None:
    """Fill the parsed fields of `rec` from an Ethernet header; stop quietly
    where the captured bytes end (a sampled header is a prefix)."""
    n = len(h)
    if n < 14:
        return
    rec.dstMAC, rec.srcMAC = mac_text(h[0:6]), mac_text(h[6:12])
    etype, off = (h[12] << 8) | h[13], 14
    while etype in (0x8100, 0x88A8) and n >= off + 4:
        if rec.vlan is None:
            rec.vlan = ((h[off] << 8) | h[off + 1]) & 0x0FFF
        etype, off = (h[off + 2] << 8) | h[off + 3], off + 4
    rec.etherType = etype
    if etype in (0x0800, 0x86DD):
        parse_ip(h, off, rec)


def parse_ip(h: bytes, off: int, rec: SflowSampledHeader) -> None:
    """The IPv4 or IPv6 header at `off` (its version nibble says which) and the TCP/UDP ports after it."""
    n = len(h)
    if n <= off:
        return
    version = h[off] >> 4
    if version == 4 and n >= off + 20:
        ihl = (h[off] & 0x0F) * 4
        rec.IPTOS, rec.IPTTL, rec.IPProtocol = h[off + 1], h[off + 8], h[off + 9]
        rec.srcIP = socket.inet_ntop(socket.AF_INET, h[off + 12:off + 16])
        rec.dstIP = socket.inet_ntop(socket.AF_INET, h[off + 16:off + 20])
        frag = ((h[off + 6] & 0x1F) << 8) | h[off + 7]
        l4 = off + ihl if ihl >= 20 and frag == 0 else None
    elif version == 6 and n >= off + 40:
        rec.IPTOS = ((h[off] & 0x0F) << 4) | (h[off + 1] >> 4)
        rec.IPProtocol, rec.IPTTL = h[off + 6], h[off + 7]
        rec.srcIP = socket.inet_ntop(socket.AF_INET6, h[off + 8:off + 24])
        rec.dstIP = socket.inet_ntop(socket.AF_INET6, h[off + 24:off + 40])
        l4 = off + 40
    else:
        return
    if l4 is None:
        return
    if rec.IPProtocol in (6, 17) and n >= l4 + 4:
        rec.srcPort, rec.dstPort = (h[l4] << 8) | h[l4 + 1], (h[l4 + 2] << 8) | h[l4 + 3]
        if rec.IPProtocol == 6 and n >= l4 + 14:
            rec.TCPFlags = h[l4 + 13]
        elif rec.dstPort == VXLAN_PORT and n >= l4 + 16 and h[l4 + 8] & 0x08:
            _parse_vxlan(h, l4 + 8, rec)


def _parse_vxlan(h: bytes, off: int, rec: SflowSampledHeader) -> None:
    """A VXLAN header (RFC 7348: I flag, 24-bit VNI) and the inner Ethernet frame after it."""
    rec.vni = (h[off + 4] << 16) | (h[off + 5] << 8) | h[off + 6]
    inner = SflowSampledHeader(0, 0, 0, 0, b"")
    parse_ethernet(h[off + 8:], inner)
    rec.innerSrcIP, rec.innerDstIP, rec.innerIPProtocol = inner.srcIP, inner.dstIP, inner.IPProtocol
    rec.innerSrcPort, rec.innerDstPort = inner.srcPort, inner.dstPort


# ------------------------------------------------------------------ encode

def encode_datagram(agent: str, sub_agent_id: int, sequence: int, uptime_ms: int, samples: list[SflowSample],
                    *, expanded: bool = False, lag_padded: bool = True) -> bytes:
    """Encode samples into one sFlow v5 datagram (the lab's agents and the
    tests use this). Compact sample formats unless `expanded`."""
    if ":" in agent:
        head = struct.pack(">II", 5, 2) + socket.inet_pton(socket.AF_INET6, agent)
    else:
        head = struct.pack(">II", 5, 1) + socket.inet_pton(socket.AF_INET, agent)
    parts = [head, struct.pack(">IIII", sub_agent_id, sequence, uptime_ms, len(samples))]
    for s in samples:
        body = _encode_flow(s, expanded) if s.sample_type == "flow" else _encode_counters(s, expanded, lag_padded)
        fmt = (3 if expanded else 1) if s.sample_type == "flow" else (4 if expanded else 2)
        parts.append(_REC_HDR.pack(fmt, len(body)))
        parts.append(body)
    return b"".join(parts)


def _record(fmt: int, body: bytes) -> bytes:
    return _REC_HDR.pack(fmt, len(body)) + body


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _encode_counters(s: SflowSample, expanded: bool, lag_padded: bool) -> bytes:
    recs = []
    if s.if_counters is not None:
        recs.append(_record(1, _IF.pack(*s.if_counters.__dict__.values())))
    if s.ethernet_counters is not None:
        recs.append(_record(2, _ETH.pack(*s.ethernet_counters.__dict__.values())))
    if s.lag_port_stats is not None:
        lag = s.lag_port_stats
        pad = b"\x00\x00" if lag_padded else b""
        state = (lag.actorAdminPortState << 24 | lag.actorOperPortState << 16
                 | lag.partnerAdminPortState << 8 | lag.partnerOperPortState)
        recs.append(_record(7, _mac(lag.actorSystemID) + pad + _mac(lag.partnerSystemID) + pad + _LAG_TAIL.pack(
            lag.attachedAggID, state, lag.LACPDUsRx, lag.markerPDUsRx, lag.markerResponsePDUsRx, lag.unknownRx,
            lag.illegalRx, lag.LACPDUsTx, lag.markerPDUsTx, lag.markerResponsePDUsTx)))
    if s.processor is not None:
        recs.append(_record(1001, _PROC.pack(*s.processor.__dict__.values())))
    if expanded:
        head = _CNT_X.pack(s.sample_sequence, s.source_id_type, s.source_id_index, len(recs))
    else:
        head = _CNT.pack(s.sample_sequence, s.source_id_type << 24 | s.source_id_index, len(recs))
    return head + b"".join(recs)


def _address(text: str) -> bytes:
    if ":" in text:
        return struct.pack(">I", 2) + socket.inet_pton(socket.AF_INET6, text)
    return struct.pack(">I", 1) + socket.inet_pton(socket.AF_INET, text)


def _encode_flow(s: SflowSample, expanded: bool) -> bytes:
    recs = []
    if s.sampled_header is not None:
        h = s.sampled_header
        padded = h.headerBytes + b"\x00" * (-len(h.headerBytes) % 4)
        recs.append(_record(1, _RAW_HDR.pack(h.headerProtocol, h.sampledPacketSize, h.strippedBytes,
                                             len(h.headerBytes)) + padded))
    if s.extended_switch is not None:
        x = s.extended_switch
        recs.append(_record(1001, _SWITCH.pack(x.in_vlan, x.in_priority, x.out_vlan, x.out_priority)))
    if s.extended_router is not None:
        x = s.extended_router
        recs.append(_record(1002, _address(x.nextHop) + struct.pack(">II", x.srcSubnetMask, x.dstSubnetMask)))
    if s.extended_gateway is not None:
        x = s.extended_gateway
        body = _address(x.bgp_nexthop) + struct.pack(">IIII", x.my_as, x.src_as, x.src_peer_as, len(x.dst_as_path))
        for seg in x.dst_as_path:
            body += struct.pack(f">II{len(seg.asns)}I", seg.type, len(seg.asns), *seg.asns)
        body += struct.pack(f">I{len(x.BGP_communities)}II", len(x.BGP_communities), *x.BGP_communities,
                            x.BGP_localpref)
        recs.append(_record(1003, body))
    in_fmt, out_fmt = s.input_format or 0, s.output_format or 0
    if expanded:
        head = _FLOW_X.pack(s.sample_sequence, s.source_id_type, s.source_id_index, s.sampling_rate, s.sample_pool,
                            s.drops, in_fmt, s.input, out_fmt, s.output, len(recs))
    else:
        head = _FLOW.pack(s.sample_sequence, s.source_id_type << 24 | s.source_id_index, s.sampling_rate,
                          s.sample_pool, s.drops, in_fmt << 30 | s.input, out_fmt << 30 | s.output, len(recs))
    return head + b"".join(recs)


def build_vxlan_header(src_vtep: str, dst_vtep: str, vni: int, inner: bytes, *, snap: int = 128) -> bytes:
    """A VXLAN packet (outer Ethernet/IPv4/UDP 4789, RFC 7348 header) around
    the inner frame `inner`, as a spine samples it; the outer UDP source port
    is the inner frame's hash, as VTEPs do."""
    entropy = 49152 + zlib.crc32(inner[:64]) % 16384
    vxlan = struct.pack(">II", 0x08000000, vni << 8) + inner
    return build_header("00:0c:00:00:00:01", "00:0c:00:00:00:02", src_vtep, dst_vtep, 17, entropy, VXLAN_PORT,
                        payload=vxlan, snap=snap)


def build_header(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, proto: int, src_port: int, dst_port: int,
                 *, vlan: int | None = None, ttl: int = 64, tos: int = 0, tcp_flags: int = 0x10,
                 payload_len: int = 0, snap: int = 128, payload: bytes | None = None) -> bytes:
    """An Ethernet/IP/TCP-or-UDP header as a switch would sample it (first
    `snap` bytes); used by the lab's agents and the tests."""
    if payload is not None:
        payload_len = len(payload)
    v6 = ":" in src_ip
    eth = _mac(dst_mac) + _mac(src_mac)
    if vlan is not None:
        eth += struct.pack(">HH", 0x8100, vlan)
    l4 = (struct.pack(">HHIIBBHHH", src_port, dst_port, 1, 0, 5 << 4, tcp_flags, 65535, 0, 0) if proto == 6
          else struct.pack(">HHHH", src_port, dst_port, 8 + payload_len, 0))
    if v6:
        ip = struct.pack(">IHBB", 6 << 28 | tos << 20, len(l4) + payload_len, proto, ttl) + \
            socket.inet_pton(socket.AF_INET6, src_ip) + socket.inet_pton(socket.AF_INET6, dst_ip)
        eth += b"\x86\xdd"
    else:
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, tos, 20 + len(l4) + payload_len, 0, 0, ttl, proto, 0,
                         socket.inet_pton(socket.AF_INET, src_ip), socket.inet_pton(socket.AF_INET, dst_ip))
        eth += b"\x08\x00"
    return (eth + ip + l4 + (payload if payload is not None else b"\x00" * payload_len))[:snap]
