"""`fabtel sflow decode [FILE|-]`: decode the sFlow datagrams of a pcap or
pcapng capture and print one JSON object per sample (sflowtool's field names
inside `records`). The capture is read as a stream, so `tcpdump -w - | fabtel
sflow decode -` prints samples as they arrive. A bad datagram prints a JSON
line with `error` on stderr and decoding goes on; exit 1 when the capture has
no sFlow on the given port, 2 only when it cannot be read.
May import: fabtel.connectors.common.pcap, fabtel.connectors.sflow, fabtel.lacp,
fabtel.records.
"""
from __future__ import annotations

import sys
from typing import Any

import orjson

from fabtel import lacp
from fabtel.connectors.common.pcap import CaptureError, read_packets
from fabtel.connectors.sflow.codec import PORT_FORMATS, SFlowDecodeError, decode_datagram
from fabtel.records import SflowSample

dumps, LINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE
LAG_STATES = ("actorAdminPortState", "actorOperPortState", "partnerAdminPortState", "partnerOperPortState")


def _plain(rec) -> dict[str, Any]:
    return {k: v for k, v in rec.__dict__.items() if v is not None}


def sample_json(s: SflowSample, orders: lacp.Orders | None = None) -> dict[str, Any]:
    # Per sample, in the decoder's hot loop: records that print as they are
    # go to orjson as dataclasses (it writes their fields itself).
    out: dict[str, Any] = {
        "agent": s.agent, "sub_agent_id": s.sub_agent_id, "datagram_sequence": s.datagram_sequence,
        "uptime_ms": s.uptime_ms, "sample_type": s.sample_type, "sample_sequence": s.sample_sequence,
        "source_id_type": s.source_id_type, "source_id_index": s.source_id_index,
    }
    if s.device:
        out["device"] = s.device
    if s.sample_type == "flow":
        out.update(sampling_rate=s.sampling_rate, sample_pool=s.sample_pool, drops=s.drops,
                   input=s.input, input_format=PORT_FORMATS[s.input_format or 0],
                   output=s.output, output_format=PORT_FORMATS[s.output_format or 0])
    records: dict[str, Any] = {}
    for name in ("if_counters", "ethernet_counters"):
        if (rec := getattr(s, name)) is not None:
            records[name] = rec
    if s.lag_port_stats is not None:
        lag = dict(s.lag_port_stats.__dict__)
        wire = tuple(lag[k] for k in LAG_STATES)
        order, how = (orders or lacp.Orders()).order_of(s.agent, wire)
        lag["lacp_bit_order"] = f"{order} ({how})"
        lag["lacp"] = {k: lacp.names(lacp.to_ieee(v, order)) for k, v in zip(LAG_STATES, wire)}
        records["lag_port_stats"] = lag
    if s.processor is not None:
        records["processor"] = s.processor
    if s.sampled_header is not None:
        h = _plain(s.sampled_header)
        h["headerBytes"] = s.sampled_header.headerBytes.hex()
        records["sampled_header"] = h
    for name in ("extended_switch", "extended_router"):
        if (rec := getattr(s, name)) is not None:
            records[name] = rec
    if s.extended_gateway is not None:
        g = dict(s.extended_gateway.__dict__)
        g["dst_as_path"] = [seg.__dict__ for seg in s.extended_gateway.dst_as_path]
        records["extended_gateway"] = g
    out["records"] = records
    return out


def decode_capture(path: str, port: int, out=None, err=None) -> int:
    out = out or sys.stdout.buffer
    err = err or sys.stderr
    try:
        f = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        print(f"fabtel sflow decode: cannot read {path}: {exc.strerror}", file=err)
        return 2
    orders = lacp.Orders()
    found = udp = 0
    interactive = path == "-"
    try:
        with f:
            for n, pkt in enumerate(read_packets(f), 1):
                if pkt.proto != 17:
                    continue
                udp += 1
                if port and pkt.dport != port:
                    continue
                try:
                    dg = decode_datagram(pkt.payload, pkt.ts_ns)
                except SFlowDecodeError as exc:
                    err.write(orjson.dumps({"error": str(exc), "reason": exc.reason, "packet": n,
                                            "src": pkt.src}).decode() + "\n")
                    continue
                found += 1
                if dg.leftover:
                    err.write(orjson.dumps({"warning": f"{dg.leftover} bytes after the stated samples "
                                                       f"(decoded the samples, ignored the rest)",
                                            "packet": n, "src": pkt.src}).decode() + "\n")
                out.write(b"".join(dumps(sample_json(s, orders), option=LINE) for s in dg.samples))
                if interactive:
                    out.flush()
        out.flush()
    except CaptureError as exc:
        print(f"fabtel sflow decode: {path}: {exc}", file=err)
        return 2
    if not found:
        where = f"UDP port {port}" if port else "any UDP port"
        print(f"fabtel sflow decode: no sFlow datagram on {where} in {path} ({udp} UDP packets); "
              f"--port sets the port (0: any)", file=err)
        return 1
    return 0

