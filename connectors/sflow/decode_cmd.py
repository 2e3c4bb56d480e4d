"""`fabtel sflow decode [FILE|-]`: decode the sFlow datagrams of a pcap or
pcapng capture and print one JSON object per sample (sflowtool's field names
inside `records`). The capture is read as a stream, so `tcpdump -w - | fabtel
sflow decode -` prints samples as they arrive. A bad datagram prints a JSON
line with `error` on stderr and decoding goes on; exit 1 when the capture has
no sFlow on the given port, 2 only when it cannot be read. With the compiled
extension the JSON is written by fabtel._native.sflow_json, byte for byte
what sample_json and orjson write (the differential tests hold them equal);
the LACP fields of a LAG record are added here, since their bit order is
learnt per agent across the capture.
May import: fabtel.connectors.common.pcap, fabtel.connectors.sflow, fabtel.lacp,
fabtel.native, fabtel.records.
"""
from __future__ import annotations

import sys
from typing import Any

import orjson

from fabtel import lacp, native
from fabtel.connectors.common.pcap import CaptureError, read_packets
from fabtel.connectors.sflow.codec import PORT_FORMATS, SFlowDecodeError, decode_datagram
from fabtel.records import SflowSample

dumps, LINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE
LAG_STATES = ("actorAdminPortState", "actorOperPortState", "partnerAdminPortState", "partnerOperPortState")


def port_format(fmt: int) -> str:
    """sflowtool's word for a port's format; an expanded sample's 32-bit
    format may be any number ("format==N", as sflowtool names 3)."""
    return PORT_FORMATS.get(fmt) or f"format=={fmt}"


def _plain(rec) -> dict[str, Any]:
    return {k: v for k, v in rec.__dict__.items() if v is not None}


def lacp_fields(order_how: tuple[str, str], wire: tuple[int, ...]) -> dict[str, Any]:
    """A LAG record's bit order (lacp.Orders.order_of: learnt per agent) and its four states by name."""
    order, how = order_how
    return {"lacp_bit_order": f"{order} ({how})",
            "lacp": {k: lacp.names(lacp.to_ieee(v, order)) for k, v in zip(LAG_STATES, wire)}}


class NativeLines:
    """A datagram's JSON lines from the compiled decoder, with each LAG
    record's LACP fields."""

    def __init__(self, orders: lacp.Orders):
        self.orders, self.fields = orders, {}
        self.decode, self.error = native.module().sflow_json, native.module().DecodeError

    def __call__(self, payload: bytes) -> tuple[bytes, int]:
        try:
            parts, leftover = self.decode(payload)
        except self.error as exc:
            raise SFlowDecodeError(*exc.args) from None
        if len(parts) == 1:
            return parts[0], leftover
        out = []
        for part in parts:
            if part.__class__ is bytes:
                out.append(part)
                continue
            # order_of gives the same for the same agent, octets and what was learnt of the agent before
            agent, wire = part
            key = (agent, wire, self.orders.learnt.get(agent))
            text = self.fields.get(key)
            if text is None:   # the fields as orjson writes them inside the record: ,"lacp_bit_order":...,"lacp":{...}
                text = b"," + dumps(lacp_fields(self.orders.order_of(agent, wire), wire))[1:-1]
                if self.orders.learnt.get(agent) == key[2] and len(self.fields) < 4096:   # not the one it learnt from
                    self.fields[key] = text
            out.append(text)
        return b"".join(out), leftover


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
                   input=s.input, input_format=port_format(s.input_format or 0),
                   output=s.output, output_format=port_format(s.output_format or 0))
    records: dict[str, Any] = {}
    for name in ("if_counters", "ethernet_counters"):
        if (rec := getattr(s, name)) is not None:
            records[name] = rec
    if s.lag_port_stats is not None:
        lag = dict(s.lag_port_stats.__dict__)
        wire = tuple(lag[k] for k in LAG_STATES)
        lag.update(lacp_fields((orders or lacp.Orders()).order_of(s.agent, wire), wire))
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


def _python_lines(payload: bytes, orders: lacp.Orders) -> tuple[bytes, int]:
    dg = decode_datagram(payload)
    return b"".join(dumps(sample_json(s, orders), option=LINE) for s in dg.samples), dg.leftover


def decode_capture(path: str, port: int, out=None, err=None) -> int:
    out = out or sys.stdout.buffer
    err = err or sys.stderr
    try:
        f = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        print(f"fabtel sflow decode: cannot read {path}: {exc.strerror}", file=err)
        return 2
    orders = lacp.Orders()
    lines = NativeLines(orders) if native.available() else None
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
                    text, leftover = lines(pkt.payload) if lines else _python_lines(pkt.payload, orders)
                except SFlowDecodeError as exc:
                    err.write(orjson.dumps({"error": str(exc), "reason": exc.reason, "packet": n,
                                            "src": pkt.src}).decode() + "\n")
                    continue
                found += 1
                if leftover:
                    err.write(orjson.dumps({"warning": f"{leftover} bytes after the stated samples "
                                                       f"(decoded the samples, ignored the rest)",
                                            "packet": n, "src": pkt.src}).decode() + "\n")
                out.write(text)
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

