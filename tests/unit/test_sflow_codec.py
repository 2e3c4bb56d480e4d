"""The sFlow decoder agrees field by field with tshark (an independent
decoder) through `fabtel sflow decode`, survives any garbage, and rejects bad
datagrams with a named reason."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import fabtel
from fabtel.connectors.common.pcap import write_udp_pcap
from fabtel import lacp
from fabtel.connectors.sflow.codec import (PORT_FORMATS, SFlowDecodeError, build_header, build_vxlan_header,
                                           decode_datagram, encode_datagram)
from fabtel.records import SflowSample, SflowSampledHeader
from sflow_cases import BAD_CASES, HEALTHY, SYNC_ONLY, bad_datagram, counters, every_case



# ------------------------------------------------------------------ tshark oracle

def _pairs(node):
    return node if isinstance(node, list) and all(isinstance(x, tuple) for x in node) else None


def _flatten(pairs, out):
    for key, value in pairs:
        sub = _pairs(value)
        if sub is not None:
            _flatten(sub, out)
        else:
            out.setdefault(key, []).append(value)
    return out


def _sample_nodes(sflow_pairs):
    return [(k, v) for k, v in sflow_pairs if k.split(",")[0].endswith("sample")]


def tshark_samples(pcap: Path) -> list[tuple[dict, dict, dict]]:
    """(datagram fields, sample fields, {record title: fields}) per sample."""
    out = subprocess.run(["tshark", "-r", str(pcap), "-d", "udp.port==6343,sflow", "-T", "json"],
                         capture_output=True, text=True, check=True).stdout
    packets = json.loads(out, object_pairs_hook=lambda p: p)
    result = []
    for pkt in packets:
        layers = dict(dict(dict(pkt)["_source"])["layers"])
        sflow = layers["sflow"]
        dgram = {k: v for k, v in sflow if not _pairs(v)}
        for _, sample in _sample_nodes(sflow):
            # Record nodes have titles ("Raw packet header"); subtrees of fields have dotted names.
            fields = {k: v[0] for k, v in _flatten([(k, v) for k, v in sample if "." in k], {}).items()}
            recs = {k: _flatten(v, {}) for k, v in sample if _pairs(v) and "." not in k}
            result.append((dgram, fields, recs))
    return result


def _one(fields, key):
    return fields[key][0] if isinstance(fields[key], list) else fields[key]


def _assert_same(ours: dict, theirs: dict) -> None:
    dgram, fields, recs = theirs
    agent_key = "sflow_245.agent.v6" if ":" in ours["agent"] else "sflow_245.agent"
    assert dgram[agent_key] == ours["agent"]
    assert int(dgram["sflow_245.sub_agent_id"]) == ours["sub_agent_id"]
    assert int(dgram["sflow_245.sequence_number"]) == ours["datagram_sequence"]
    assert int(dgram["sflow_245.sysuptime"]) == ours["uptime_ms"]
    kind = "counters_sample" if ours["sample_type"] == "counters" else "flow_sample"
    assert int(fields[f"sflow.{kind}.sequence_number"]) == ours["sample_sequence"]
    if kind == "flow_sample" and "sflow.flow_sample.index" in fields:    # compact form
        assert int(fields["sflow.flow_sample.source_id_class"]) == ours["source_id_type"]
        assert int(fields["sflow.flow_sample.index"]) == ours["source_id_index"]
    else:
        assert int(fields[f"sflow.{kind}.source_id_type"]) == ours["source_id_type"]
        assert int(fields[f"sflow.{kind}.source_id_index"]) == ours["source_id_index"]
    r = ours["records"]
    if kind == "flow_sample":
        assert int(fields["sflow.flow_sample.sampling_rate"]) == ours["sampling_rate"]
        assert int(fields["sflow.flow_sample.sample_pool"]) == ours["sample_pool"]
        assert int(fields["sflow.flow_sample.dropped_packets"]) == ours["drops"]
        assert int(fields.get("sflow.flow_sample.input_interface_value", fields.get("sflow.flow_sample.input_interface"))) == ours["input"]
        assert int(fields["sflow.flow_sample.output_interface_value"]) == ours["output"]
        out_format = fields.get("sflow.flow_sample.output_interface_format",       # compact form
                                fields.get("sflow.flow_sample.output_interface.format"))   # expanded form
        assert PORT_FORMATS[int(out_format)] == ours["output_format"]
        _assert_header(r["sampled_header"], recs["Raw packet header"])
        if "extended_switch" in r:
            t, x = recs["Extended switch data"], r["extended_switch"]
            for ours_name, ts_name in (("in_vlan", "vlan.in"), ("in_priority", "pri.in"), ("out_vlan", "vlan.out"),
                                       ("out_priority", "pri.out")):
                assert int(_one(t, f"sflow_245.{ts_name}")) == x[ours_name], ours_name
        if "extended_router" in r:
            t, x = recs["Extended router data"], r["extended_router"]
            assert _one(t, "sflow_245.nexthop") == x["nextHop"]
            assert int(_one(t, "sflow_245.nexthop.src_mask")) == x["srcSubnetMask"]
            assert int(_one(t, "sflow_245.nexthop.dst_mask")) == x["dstSubnetMask"]
        if "extended_gateway" in r:
            t, x = recs["Extended gateway data"], r["extended_gateway"]
            assert _one(t, "sflow_245.nexthop") == x["bgp_nexthop"]
            for ours_name, ts_name in (("my_as", "as"), ("src_as", "srcAS"), ("src_peer_as", "peerAS"),
                                       ("BGP_localpref", "localpref")):
                assert int(_one(t, f"sflow_245.{ts_name}")) == x[ours_name], ours_name
            assert int(_one(t, "sflow_245.dstASentries")) == len(x["dst_as_path"])
            assert int(_one(t, "sflow_245.communityEntries")) == len(x["BGP_communities"])
        return
    ic, t = r["if_counters"], recs["Generic interface counters"]
    names = {"ifIndex": "ifindex", "ifType": "iftype", "ifSpeed": "ifspeed", "ifDirection": "ifdirection",
             "ifInOctets": "ifinoct", "ifInUcastPkts": "ifinpkt", "ifInMulticastPkts": "ifinmcast",
             "ifInBroadcastPkts": "ifinbcast", "ifInDiscards": "ifindisc", "ifInErrors": "ifinerr",
             "ifInUnknownProtos": "ifinunk", "ifOutOctets": "ifoutoct", "ifOutUcastPkts": "ifoutpkt",
             "ifOutMulticastPkts": "ifoutmcast", "ifOutBroadcastPkts": "ifoutbcast", "ifOutDiscards": "ifoutdisc",
             "ifOutErrors": "ifouterr", "ifPromiscuousMode": "ifpromisc"}
    for ours_name, ts_name in names.items():
        assert int(_one(t, f"sflow_245.{ts_name}")) == ic[ours_name], ours_name
    assert int(_one(t, "sflow_245.ifadmin_status")) == ic["ifStatus"] & 1
    assert int(_one(t, "sflow_245.ifoper_status")) == ic["ifStatus"] >> 1 & 1
    t = recs["Ethernet interface counters"]
    for name, value in r["ethernet_counters"].items():
        assert int(_one(t, f"sflow_245.{name}")) == value, name
    t = recs["Processor information"]
    for ours_name, ts_name in (("cpu_percentage_5s", "cpu_5s"), ("cpu_percentage_1m", "cpu_1m"),
                               ("cpu_percentage_5m", "cpu_5m"), ("total_memory", "total_memory"),
                               ("free_memory", "free_memory")):
        assert int(_one(t, f"sflow_5.{ts_name}")) == r["processor"][ours_name], ours_name
    if "lag_port_stats" not in r:
        assert "LAG counters" not in recs
        return
    lag, t = r["lag_port_stats"], recs["LAG counters"]
    assert _one(t, "sflow.lag_port.actor_system_id") == lag["actorSystemID"]
    assert _one(t, "sflow.lag_port.partner_oper_system_id") == lag["partnerSystemID"]
    assert int(_one(t, "sflow.lag_port.attached_agg_id")) == lag["attachedAggID"]
    # tshark 4.0 mislabels the per-byte states: compare the raw 32-bit value.
    assert int(_one(t, "sflow.lag_port.state"), 16) == lag["portStateRaw"]
    for ours_name, ts_name in (("LACPDUsRx", "lacpdus.rx"), ("markerPDUsRx", "marker_pdus.rx"),
                               ("markerResponsePDUsRx", "marker_response_pdus.rx"), ("unknownRx", "unknown.rx"),
                               ("illegalRx", "illegal.rx"), ("LACPDUsTx", "lacpdus.tx"),
                               ("markerPDUsTx", "marker_pdus.tx"), ("markerResponsePDUsTx", "marker_response_pdus.tx")):
        assert int(_one(t, f"sflow.lag_port.{ts_name}")) == lag[ours_name], ours_name


def _assert_header(h: dict, t: dict) -> None:
    assert int(_one(t, "sflow_245.header_protocol")) == h["headerProtocol"]
    assert int(_one(t, "sflow_245.header.frame_length")) == h["sampledPacketSize"]
    assert int(_one(t, "sflow_245.header.payload_stripped")) == h["strippedBytes"]
    assert int(_one(t, "sflow_245.header.sampled_header_length")) == h["headerLen"]
    assert _one(t, "sflow_245.header").replace(":", "") == h["headerBytes"]
    if h["headerProtocol"] != 1:
        return            # tshark leaves raw IP headers undissected: test_raw_ip_headers_agree_with_tshark
    assert _one(t, "eth.src") == h["srcMAC"] and _one(t, "eth.dst") == h["dstMAC"]
    if "vlan" in h:
        assert int(_one(t, "vlan.id")) == h["vlan"]
    ip = "ipv6" if ":" in h["srcIP"] else "ip"
    assert _one(t, f"{ip}.src") == h["srcIP"] and _one(t, f"{ip}.dst") == h["dstIP"]
    if ip == "ip":
        assert int(_one(t, "ip.proto")) == h["IPProtocol"] and int(_one(t, "ip.ttl")) == h["IPTTL"]
        assert int(_one(t, "ip.dsfield"), 16) == h["IPTOS"]
    else:
        assert int(_one(t, "ipv6.nxt")) == h["IPProtocol"] and int(_one(t, "ipv6.hlim")) == h["IPTTL"]
        assert int(_one(t, "ipv6.tclass"), 16) == h["IPTOS"]
    l4 = "tcp" if h["IPProtocol"] == 6 else "udp"
    assert int(_one(t, f"{l4}.srcport")) == h["srcPort"] and int(_one(t, f"{l4}.dstport")) == h["dstPort"]
    if l4 == "tcp":
        assert int(_one(t, "tcp.flags"), 16) == h["TCPFlags"]


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    assert shutil.which("tshark"), "tshark is needed (./run installs Debian's tshark)"
    path = tmp_path_factory.mktemp("sflow") / "cases.pcap"
    with open(path, "wb") as f:
        write_udp_pcap(f, every_case())
    return path


def test_decode_command_agrees_with_tshark(capture):
    out = fabtel("sflow", "decode", str(capture))
    assert out.returncode == 0, out.stderr
    ours = [json.loads(line) for line in out.stdout.splitlines()]
    theirs = tshark_samples(capture)
    assert len(ours) == len(theirs) == 12
    for o, t in zip(ours, theirs):
        _assert_same(o, t)


def test_tshark_sees_no_malformed_packet(capture):
    out = subprocess.run(["tshark", "-r", str(capture), "-d", "udp.port==6343,sflow", "-T", "fields",
                          "-e", "_ws.malformed", "-e", "_ws.expert.severity"], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip().replace("\n", "")


def test_decode_command_reports_bad_datagrams_and_goes_on(tmp_path):
    path = tmp_path / "mixed.pcap"
    good = every_case()[0]
    with open(path, "wb") as f:
        write_udp_pcap(f, [good[:200], good])
    out = fabtel("sflow", "decode", str(path))
    assert out.returncode == 0
    err = json.loads(out.stderr.strip())
    assert err["reason"] == "sample length past the end" and "error" in err
    assert len(out.stdout.splitlines()) == 3


def test_decode_command_unreadable_file_exits_2(tmp_path):
    assert fabtel("sflow", "decode", str(tmp_path / "nope.pcap")).returncode == 2
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    out = fabtel("sflow", "decode", str(junk))
    assert out.returncode == 2 and "not a pcap or pcapng file" in out.stderr


# ------------------------------------------------------------------ LAG specifics

def test_lag_port_state_bytes_in_spec_order():
    dg = decode_datagram(encode_datagram("198.18.0.1", 0, 1, 1, [counters(1, 1, 1, lag_states=(0x3D, 0x0D, 0x45, 0x8D))]))
    lag = dg.samples[0].lag_port_stats
    assert (lag.actorAdminPortState, lag.actorOperPortState, lag.partnerAdminPortState, lag.partnerOperPortState) \
        == (0x3D, 0x0D, 0x45, 0x8D)
    assert lag.portStateRaw == 0x3D0D458D
    assert lacp.names(HEALTHY) == ["activity", "aggregation", "synchronization", "collecting", "distributing"]
    assert lacp.names(SYNC_ONLY) == ["activity", "aggregation", "synchronization"]
    assert lacp.names(0x45) == ["activity", "aggregation", "defaulted"]
    assert "expired" in lacp.names(0x8D) and "timeout" not in lacp.names(0x8D)


def test_decode_names_the_lacp_bits_in_the_order_the_agent_used(capture):
    """252 from a MIB-order switch: activity, short timeout, aggregation, sync, collecting, distributing."""
    out = fabtel("sflow", "decode", str(capture))
    lags = [json.loads(x)["records"]["lag_port_stats"] for x in out.stdout.splitlines() if "lag_port_stats" in x]
    by_agent: dict = {}
    for lag in lags:
        by_agent.setdefault(lag["lacp_bit_order"], lag["lacp"])
    assert by_agent["mib-bits (detected)"]["actorOperPortState"] == [
        "activity", "timeout", "aggregation", "synchronization", "collecting", "distributing"]
    assert by_agent["ieee8021ax (assumed)"]["actorOperPortState"] == lacp.names(HEALTHY)


def test_raw_ip_headers_agree_with_tshark(tmp_path):
    """Header protocols 11 and 12 (no link layer): our parse of the sampled
    bytes equals tshark's dissection of the same bytes as raw-IP frames."""
    raw = [s.sampled_header for dg in every_case() for s in decode_datagram(dg).samples
           if s.sampled_header is not None and s.sampled_header.headerProtocol in (11, 12)]
    assert len(raw) == 2
    pcap = tmp_path / "raw.pcap"
    with open(pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))      # link type 101: raw IP
        for i, h in enumerate(raw):
            f.write(struct.pack("<IIII", 1, i, len(h.headerBytes), len(h.headerBytes)) + h.headerBytes)
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src",
                          "-e", "ipv6.dst", "-e", "udp.srcport", "-e", "udp.dstport"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    for h, line in zip(raw, out):
        src4, dst4, src6, dst6, sport, dport = line.split("\t")
        assert (h.srcIP, h.dstIP) == ((src4, dst4) if h.headerProtocol == 11 else (src6, dst6))
        assert (h.srcPort, h.dstPort) == (int(sport), int(dport)) and h.IPProtocol == 17


def test_unpadded_52_byte_lag_record_decodes_the_same():
    sample = counters(1, 1001, 99, lag_states=(HEALTHY, HEALTHY, HEALTHY, SYNC_ONLY))
    padded = decode_datagram(encode_datagram("198.18.0.1", 0, 1, 1, [sample]))
    packed = decode_datagram(encode_datagram("198.18.0.1", 0, 1, 1, [sample], lag_padded=False))
    assert padded.samples[0].lag_port_stats == packed.samples[0].lag_port_stats == sample.lag_port_stats


def test_unknown_formats_are_skipped_by_length_and_reported():
    dg = encode_datagram("198.18.0.1", 0, 1, 1, [counters(1, 1, 1, with_lag=False)])
    # Append an enterprise 4413 counter record to the sample and a sample of format 0:9.
    rec = struct.pack(">II", 4413 << 12 | 1, 8) + b"\x00" * 8
    sample_len = struct.unpack_from(">I", dg, 32)[0]
    body = bytearray(dg)
    struct.pack_into(">I", body, 32, sample_len + len(rec))
    struct.pack_into(">I", body, 36 + 8, struct.unpack_from(">I", body, 36 + 8)[0] + 1)   # record count
    body += rec + struct.pack(">II", 9, 4) + b"\x00" * 4
    struct.pack_into(">I", body, 24, 2)                                                  # sample count
    decoded = decode_datagram(bytes(body))
    assert decoded.skipped == ["counters 4413:1", "sample 0:9"]
    assert decoded.samples[0].if_counters.ifIndex == 1


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("case", BAD_CASES, ids=lambda p: p.stem)
def test_bad_datagram_is_rejected_with_its_reason(case):
    data, reason = bad_datagram(case)
    with pytest.raises(SFlowDecodeError) as err:
        decode_datagram(data)
    assert err.value.reason == reason


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_escape(data):
    try:
        decode_datagram(data)
    except SFlowDecodeError:
        pass


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 2), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 2000))
def test_fuzz_mutated_datagrams_never_escape(which, flips, cut):
    data = bytearray(every_case()[which])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    try:
        dg = decode_datagram(bytes(data[:max(cut, 28)]))
        assert all(s.sample_type in ("counters", "flow") for s in dg.samples)
    except SFlowDecodeError as exc:
        assert exc.reason


def test_bytes_after_the_stated_samples_are_counted_not_fatal(tmp_path):
    """sflowtool decodes the stated samples and ignores what follows: so do we,
    and we say how many bytes were left over."""
    good = every_case()[0]
    dg = decode_datagram(good + b"\x00" * 12)
    assert len(dg.samples) == 3 and dg.leftover == 12
    path = tmp_path / "leftover.pcap"
    with open(path, "wb") as f:
        write_udp_pcap(f, [good + b"\x00" * 12])
    out = fabtel("sflow", "decode", str(path))
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 3
    assert "12 bytes after the stated samples" in out.stderr


def test_decode_is_quiet_on_a_closed_pipe_and_says_when_there_is_no_sflow(capture, tmp_path):
    import sys
    exe = Path(sys.executable).parent / "fabtel"
    shell = subprocess.run(f"{exe} sflow decode {capture} | head -1", shell=True, capture_output=True, text=True)
    assert shell.returncode == 0 and len(shell.stdout.splitlines()) == 1 and "Traceback" not in shell.stderr
    out = fabtel("sflow", "decode", str(capture), "--port", "9999")
    assert out.returncode == 1 and "no sFlow datagram on UDP port 9999" in out.stderr and not out.stdout


def test_decode_streams_from_a_pipe(capture):
    """The first samples are printed before the capture has ended (tcpdump -w - | fabtel sflow decode -)."""
    import sys
    import time
    exe = Path(sys.executable).parent / "fabtel"
    data = capture.read_bytes()
    proc = subprocess.Popen([str(exe), "sflow", "decode", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first_packet_end = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]
    proc.stdin.write(data[:first_packet_end])
    proc.stdin.flush()
    t0 = time.monotonic()
    line = proc.stdout.readline()                     # the capture is still open
    assert line and json.loads(line)["datagram_sequence"] == 100 and time.monotonic() - t0 < 20
    proc.stdin.write(data[first_packet_end:])
    proc.stdin.close()
    rest = proc.stdout.read().splitlines()
    assert proc.wait(20) == 0 and len(rest) == 11


def test_vxlan_inner_flow_and_vni_agree_with_tshark(tmp_path):
    """A spine's sample of VXLAN traffic: the VNI and the inner packet's
    addresses and ports, as tshark dissects the same sampled bytes."""
    inner = build_header("00:c1:c1:00:00:01", "00:c2:c2:00:00:01", "10.0.1.5", "10.0.2.9", 6, 443, 51514,
                         vlan=None, payload_len=1400, snap=1500)
    sampled = build_vxlan_header("198.18.255.11", "198.18.255.13", 10010, inner, snap=128)
    sample = SflowSample("198.18.0.1", None, 0, 0, 0, "flow", 1, 0, 1, 1000, 1000, 0, 1, 2,
                         sampled_header=SflowSampledHeader(1, 1564, 4, len(sampled), sampled))
    [got] = decode_datagram(encode_datagram("198.18.0.1", 0, 1, 1, [sample])).samples
    h = got.sampled_header
    assert (h.srcIP, h.dstIP, h.dstPort, h.vni) == ("198.18.255.11", "198.18.255.13", 4789, 10010)
    assert (h.innerSrcIP, h.innerDstIP, h.innerIPProtocol, h.innerSrcPort, h.innerDstPort) == \
        ("10.0.1.5", "10.0.2.9", 6, 443, 51514)
    pcap = tmp_path / "vxlan.pcap"
    with open(pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))         # link type 1: Ethernet
        f.write(struct.pack("<IIII", 1, 0, len(sampled), len(sampled)) + sampled)
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-E", "aggregator=;", "-e", "vxlan.vni",
                          "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.srcport", "-e", "tcp.dstport"],
                         capture_output=True, text=True, check=True).stdout.strip()
    vni, srcs, dsts, sport, dport = out.split("\t")
    assert int(vni) == h.vni
    assert srcs.split(";") == [h.srcIP, h.innerSrcIP] and dsts.split(";") == [h.dstIP, h.innerDstIP]
    assert (int(sport), int(dport)) == (h.innerSrcPort, h.innerDstPort)
