"""`fabtel bench bmp`'s load: one router's BMP session that fabtel's codec and
tshark read the same way, with the counts the bench reports."""
from __future__ import annotations

import shutil

import bmp_tshark
from pcap import write_tcp_stream
from fabtel.bench import bmp as bench
from fabtel.connectors.bmp.codec import COMMON_HEADER, decode, frame_length
from fabtel.connectors.bmp.collector import Session

PORT = 11019


def split(stream: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(stream):
        length = frame_length(stream[at:at + COMMON_HEADER], 1 << 20)
        out.append(stream[at:at + length])
        at += length
    return out


def test_the_session_is_what_the_bench_says_it_is():
    stream, count, routes = bench.session(40)
    session, kinds, announced = Session("198.18.0.1"), {}, {}
    messages = split(stream)
    assert len(messages) == count == 1 + bench.PEERS + 40
    total = 0
    for raw in messages:
        msg = decode(raw, session.peers)
        session.remember(msg)
        kinds[msg.type] = kinds.get(msg.type, 0) + 1
        if msg.type == "initiation":
            assert msg.info == {"sysName": "bench-router"}
        if msg.bgp is None:
            continue
        assert msg.bgp.problems == [] and len(msg.bgp.routes) == bench.PREFIXES
        total += len(msg.bgp.routes)
        prefixes = sorted(r.prefix for r in msg.bgp.routes)
        if msg.bgp.withdrawn:                      # what the same peer announced last
            assert prefixes == announced[msg.peer.address]
        else:
            assert msg.bgp.as_path[0] == msg.peer.asn and msg.bgp.next_hop == msg.peer.address
            announced[msg.peer.address] = prefixes
    assert kinds == {"initiation": 1, "peer_up": bench.PEERS, "route_monitoring": 40}
    assert total == routes == 40 * bench.PREFIXES
    assert sum(1 for raw in messages[1 + bench.PEERS:] if decode(raw, session.peers).bgp.withdrawn) == 40 // bench.WITHDRAW_EVERY


def test_tshark_reads_the_bench_session_as_fabtel_does(tmp_path):
    assert shutil.which("tshark"), "tshark is needed (./run installs Debian's tshark)"
    stream, count, _ = bench.session(20)
    messages = split(stream)
    theirs = bmp_tshark.messages(write_tcp_stream(tmp_path / "bench.pcap", messages, PORT), PORT)
    assert len(theirs) == count
    session = Session("198.18.0.1")
    for k, (raw, tshark) in enumerate(zip(messages, theirs)):
        msg = decode(raw, session.peers)
        session.remember(msg)
        assert not tshark["malformed"] and not tshark["expert"], f"tshark finds message {k} malformed"
        assert bmp_tshark.mine(msg, tshark) == sorted(tshark["routes"], key=repr), f"message {k} ({msg.type})"
