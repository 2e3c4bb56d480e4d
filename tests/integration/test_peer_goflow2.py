"""goflow2 (a peer fabtel did not write) decodes the same sFlow datagrams as
`fabtel sflow decode`: the lab's own (counter and flow samples) and the
hand-built cases (every record type, both sample forms, drop codes, raw IP
headers). Every field both decode must agree.

goflow2 v2.2.6 in its raw mode leaves the LAG record (0:7) and the processor
record (0:1001 counters) as raw bytes, and reads only the first AS-path
segment of an extended gateway record (what follows it then goes astray);
those are checked against tshark in test_sflow_codec.py instead."""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import time

import pytest

from conftest import fabtel, free_port
from fabtel.bench import peers
from fabtel.connectors.common.pcap import write_udp_pcap
from fabtel.lab.runner import LabRunner
from fabtel.lab.scenario import Scenario, Traffic
from sflow_cases import every_case

pytestmark = pytest.mark.peers   # built in the background by ./run tests; see conftest

IF_FIELDS = {"ifIndex": "if-index", "ifType": "if-type", "ifSpeed": "if-speed", "ifDirection": "if-direction",
             "ifStatus": "if-status", "ifInOctets": "if-in-octets", "ifInUcastPkts": "if-in-ucast-pkts",
             "ifInMulticastPkts": "if-in-multicast-pkts", "ifInBroadcastPkts": "if-in-broadcast-pkts",
             "ifInDiscards": "if-in-discards", "ifInErrors": "if-in-errors", "ifInUnknownProtos": "if-in-unknown-protos",
             "ifOutOctets": "if-out-octets", "ifOutUcastPkts": "if-out-ucast-pkts",
             "ifOutMulticastPkts": "if-out-multicast-pkts", "ifOutBroadcastPkts": "if-out-broadcast-pkts",
             "ifOutDiscards": "if-out-discards", "ifOutErrors": "if-out-errors", "ifPromiscuousMode": "if-promiscuous-mode"}
ETH_FIELDS = {"dot3StatsAlignmentErrors": "dot3-stats-aligment-errors", "dot3StatsFCSErrors": "dot3-stats-fcse-errors",
              "dot3StatsSingleCollisionFrames": "dot3-stats-single-collision-frames",
              "dot3StatsMultipleCollisionFrames": "dot3-stats-multiple-collision-frames",
              "dot3StatsSQETestErrors": "dot3-stats-seq-test-errors",
              "dot3StatsDeferredTransmissions": "dot3-stats-deferred-transmissions",
              "dot3StatsLateCollisions": "dot3-stats-late-collisions",
              "dot3StatsExcessiveCollisions": "dot3-stats-excessive-collisions",
              "dot3StatsInternalMacTransmitErrors": "dot3-stats-internal-mac-transmit-errors",
              "dot3StatsCarrierSenseErrors": "dot3-stats-carrier-sense-errors",
              "dot3StatsFrameTooLongs": "dot3-stats-frame-too-longs",
              "dot3StatsInternalMacReceiveErrors": "dot3-stats-internal-mac-receive-errors",
              "dot3StatsSymbolErrors": "dot3-stats-symbol-errors"}
FORMATS = {"ifIndex": 0, "dropCode": 1, "multiple": 2, "format==3": 3}


def goflow2_decode(datagrams: list[bytes], tmp_path, wait_s: float = 10) -> dict[tuple[str, int], dict]:
    """goflow2's raw decode of each datagram, by (agent, datagram sequence)."""
    out, port, http = tmp_path / "goflow2.json", free_port(), free_port()
    proc = subprocess.Popen([str(peers.ensure("goflow2")), "-listen", f"sflow://127.0.0.1:{port}", "-produce", "raw",
                             "-format", "json", "-transport", "file", "-transport.file", str(out),
                             "-addr", f"127.0.0.1:{http}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for d in datagrams:
            sock.sendto(d, ("127.0.0.1", port))
            time.sleep(0.002)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < len(datagrams)):
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    decoded = [json.loads(line)["message"] for line in out.read_text().splitlines()] if out.exists() else []
    return {(d["agent-ip"], d["sequence-number"]): d for d in decoded}


def fabtel_decode(datagrams: list[bytes], tmp_path) -> list[dict]:
    path = tmp_path / "same.pcap"
    with open(path, "wb") as f:
        write_udp_pcap(f, datagrams)
    out = fabtel("sflow", "decode", str(path))
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def assert_agree(ours: list[dict], by_datagram: dict[tuple[str, int], dict]) -> int:
    """Compare field by field; return how many fields were compared."""
    compared = 0
    keys = list(dict.fromkeys((o["agent"], o["datagram_sequence"]) for o in ours))
    assert set(keys) == set(by_datagram), "goflow2 and fabtel decoded different datagrams"
    theirs = [by_datagram[k] for k in keys]
    samples = [(d, s) for d in theirs for s in d["samples"]]
    assert len(samples) == len(ours)
    for o, (d, t) in zip(ours, samples):
        for ours_key, their_value in (("agent", d["agent-ip"]), ("sub_agent_id", d["sub-agent-id"]),
                                      ("datagram_sequence", d["sequence-number"]), ("uptime_ms", d["uptime"]),
                                      ("sample_sequence", t["header"]["sample-sequence-number"]),
                                      ("source_id_type", t["header"]["source-id-type"]),
                                      ("source_id_index", t["header"]["source-id-value"])):
            assert o[ours_key] == their_value, (ours_key, o, t["header"])
            compared += 1
        records = {r["header"]["data-format"]: r["data"] for r in t["records"]}
        r = o["records"]
        if o["sample_type"] == "counters":
            for ours_key, their_key in IF_FIELDS.items():
                assert r["if_counters"][ours_key] == records[1][their_key], ours_key
            for ours_key, their_key in ETH_FIELDS.items():
                assert r["ethernet_counters"][ours_key] == records[2][their_key], ours_key
            compared += len(IF_FIELDS) + len(ETH_FIELDS)
            if "lag_port_stats" in r:                      # left raw by goflow2: its bytes carry our state word
                raw = base64.b64decode(records[7]["data"])
                assert int.from_bytes(raw[20:24], "big") == r["lag_port_stats"]["portStateRaw"]
                compared += 1
            continue
        for ours_key, their_key in (("sampling_rate", "sampling-rate"), ("sample_pool", "sample-pool"),
                                    ("drops", "drops")):
            assert o[ours_key] == t[their_key], ours_key
        if "input" in t:                                   # compact form: format in the top two bits
            assert FORMATS[o["input_format"]] << 30 | o["input"] == t["input"]
            assert FORMATS[o["output_format"]] << 30 | o["output"] == t["output"]
        else:
            assert (FORMATS[o["input_format"]], o["input"]) == (t["input-if-format"], t["input-if-value"])
            assert (FORMATS[o["output_format"]], o["output"]) == (t["output-if-format"], t["output-if-value"])
        h, th = r["sampled_header"], records[1]
        assert (h["headerProtocol"], h["sampledPacketSize"], h["strippedBytes"], h["headerLen"]) == \
            (th["protocol"], th["frame-length"], th["stripped"], th["original-length"])
        assert base64.b64decode(th["header-data"]).hex() == h["headerBytes"]
        compared += 12
        if "extended_switch" in r:
            x, tx = r["extended_switch"], records[1001]
            assert (x["in_vlan"], x["in_priority"], x["out_vlan"], x["out_priority"]) == \
                (tx["src-vlan"], tx["src-priority"], tx["dst-vlan"], tx["dst-priority"])
            compared += 4
        if "extended_router" in r:
            x, tx = r["extended_router"], records[1002]
            assert (x["nextHop"], x["srcSubnetMask"], x["dstSubnetMask"]) == \
                (tx["next-hop"], tx["src-mask-len"], tx["dst-mask-len"])
            compared += 3
        if "extended_gateway" in r:
            x, tx = r["extended_gateway"], records[1003]
            assert (x["bgp_nexthop"], x["my_as"], x["src_as"], x["src_peer_as"], len(x["dst_as_path"])) == \
                (tx["next-hop"], tx["as"], tx["src-as"], tx["src-peer-as"], tx["as-destinations"])
            first = x["dst_as_path"][0]
            assert (first["type"], first["asns"]) == (tx["as-path-type"], tx["as-path"])
            compared += 7
    return compared


def test_goflow2_agrees_on_every_hand_built_case(tmp_path):
    datagrams = every_case()
    assert assert_agree(fabtel_decode(datagrams, tmp_path), goflow2_decode(datagrams, tmp_path)) > 300


def test_goflow2_agrees_on_the_labs_sflow(tmp_path, lab_config):
    """The lab's agents: counter samples of every port (with the LAG record on
    members) and flow samples of the traffic."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.3)
    runner = LabRunner(lab_config, Scenario("t", 60, (Traffic("client1", "client2", 8, 50_000),)),
                       sflow_to=f"127.0.0.1:{sock.getsockname()[1]}", sampling_rate=8)
    runner.start()
    import threading
    stop = threading.Event()
    threading.Thread(target=runner.run, args=(stop,), daemon=True).start()
    datagrams, deadline = [], time.monotonic() + 3
    try:
        while time.monotonic() < deadline:
            try:
                datagrams.append(sock.recv(65535))
            except socket.timeout:
                pass
    finally:
        stop.set()
        runner.stop()
    ours = fabtel_decode(datagrams, tmp_path)
    kinds = {o["sample_type"] for o in ours}
    assert kinds == {"counters", "flow"} and len(datagrams) >= 10
    assert assert_agree(ours, goflow2_decode(datagrams, tmp_path)) > 1000


@pytest.mark.parametrize("cut", [60, 200])
def test_a_truncated_datagram_is_refused_with_its_reason(tmp_path, cut):
    """A datagram cut short: fabtel refuses it and names the reason; goflow2
    neither decodes a sample of it (it emits the header with null samples)."""
    good = every_case()[0]
    path = tmp_path / "cut.pcap"
    with open(path, "wb") as f:
        write_udp_pcap(f, [good[:cut]])
    out = fabtel("sflow", "decode", str(path))
    assert out.returncode == 1 and json.loads(out.stderr.splitlines()[0])["reason"]
    theirs = goflow2_decode([good[:cut]], tmp_path, wait_s=3)
    assert all(not any(d.get("samples") or []) for d in theirs.values())
