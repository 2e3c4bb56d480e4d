"""`fabtel sflow decode [FILE|-]`: decode the sFlow datagrams of a pcap or
pcapng capture and print one JSON object per sample (sflowtool's field names
inside `records`). A bad datagram prints a JSON line with `error` on stderr
and decoding goes on; exit 2 only when the capture cannot be read."""
from __future__ import annotations

import io
import json
import sys
from typing import Any

from fabtel.connectors.common.pcap import CaptureError, read_packets
from fabtel.connectors.sflow.codec import SFlowDecodeError, decode_datagram, lacp_bits
from fabtel.records import SflowSample

RECORD_FIELDS = ("if_counters", "ethernet_counters", "lag_port_stats", "processor", "sampled_header")


def sample_json(s: SflowSample) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agent": s.agent, "sub_agent_id": s.sub_agent_id, "datagram_sequence": s.datagram_sequence,
        "uptime_ms": s.uptime_ms, "sample_type": s.sample_type, "sample_sequence": s.sample_sequence,
        "source_id_type": s.source_id_type, "source_id_index": s.source_id_index,
    }
    if s.device:
        out["device"] = s.device
    if s.sample_type == "flow":
        out.update(sampling_rate=s.sampling_rate, sample_pool=s.sample_pool, drops=s.drops,
                   input=s.input, output=s.output)
    records: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        rec = getattr(s, name)
        if rec is None:
            continue
        d = dict(rec.__dict__)
        if name == "sampled_header":
            d["headerBytes"] = rec.headerBytes.hex()
            d = {k: v for k, v in d.items() if v is not None}
        if name == "lag_port_stats":
            d["lacp"] = {k: lacp_bits(d[k]) for k in ("actorAdminPortState", "actorOperPortState",
                                                         "partnerAdminPortState", "partnerOperPortState")}
        records[name] = d
    out["records"] = records
    return out


def decode_capture(path: str, port: int, out=sys.stdout, err=sys.stderr) -> int:
    try:
        f = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        print(f"fabtel sflow decode: cannot read {path}: {exc.strerror}", file=err)
        return 2
    with f:
        data = io.BytesIO(f.read())
    try:
        n = 0
        for n, pkt in enumerate(read_packets(data), 1):
            if pkt.proto != 17 or (port and pkt.dport != port):
                continue
            try:
                dg = decode_datagram(pkt.payload, pkt.ts_ns)
            except SFlowDecodeError as exc:
                print(json.dumps({"error": str(exc), "reason": exc.reason, "packet": n, "src": pkt.src}), file=err)
                continue
            for sample in dg.samples:
                out.write(json.dumps(sample_json(sample)) + "\n")
    except CaptureError as exc:
        print(f"fabtel sflow decode: {path}: {exc}", file=err)
        return 2
    return 0
