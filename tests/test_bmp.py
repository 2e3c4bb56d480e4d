"""The BMP connector: the codec on a real FRR 8.4.4 stream and on malformed
input, and the collector against the real broker (malformed messages are
dead-lettered and the session goes on; broken framing ends only that session)."""
from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import free_port, wait_until
from fabtel.connectors.bmp.codec import (BmpError, decode, decode_bgp, encode, encode_peer_header, encode_update,
                                  frame_length, tlv)
from fabtel.connectors.bmp.collector import BmpCollector, Session
from fabtel.kafka import tail

CAPTURE = Path(__file__).parent / "cases" / "bmp" / "frr-8.4.4-spine_1_1_1.bmp"
NS = 1_795_324_000_123_456_000


def frames(raw: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(raw):
        n = frame_length(raw[i:i + 6])
        out.append(raw[i:i + n])
        i += n
    return out


def test_a_real_frr_stream_decodes_whole():
    session, records = Session("198.18.128.2"), []
    for raw in frames(CAPTURE.read_bytes()):
        msg = decode(raw)
        if msg.type == "peer_up":
            session.learn_own_id(raw)
        records.append(session.record(msg, 0))
    assert records[0].type == "initiation" and records[0].info == "sysDescr=FRRouting 8.4.4,sysName=spine_1_1_1"
    assert {r.router for r in records} == {"spine_1_1_1"}
    types = {r.type for r in records}
    assert {"peer_up", "peer_down", "route_mirroring", "route_monitoring"} <= types
    ups = [r for r in records if r.type == "peer_up"]
    assert {(r.peer_address, r.peer_bgp_id, r.router_bgp_id) for r in ups} == {
        ("198.18.0.0", "198.19.0.1", "198.19.0.2"), ("198.18.0.3", "198.19.0.5", "198.19.0.2")}
    announced = [r for r in records if r.type == "route_mirroring" and r.announced]
    assert ("198.19.1.0/24", (4200000001,)) in {(r.announced[0], tuple(r.as_path)) for r in announced}
    withdrawn = [r for r in records if r.type == "route_mirroring" and r.withdrawn]
    assert [(r.peer_bgp_id, r.withdrawn, r.size) for r in withdrawn] == [("198.19.0.5", ["198.19.1.0/24"], 27)]


def mirror(bgp: bytes, peer: str = "198.18.0.1") -> bytes:
    return encode("route_mirroring", encode_peer_header(peer, 65001, "198.19.0.1", NS) + tlv(0, bgp))


def test_encoded_update_round_trips():
    msg = decode(mirror(encode_update(["198.19.3.0/24"], ["198.19.4.0/22"], [65001, 65100], "198.18.0.1")))
    assert (msg.type, msg.peer.address, msg.peer.asn, msg.peer.ts_ns) == ("route_mirroring", "198.18.0.1", 65001, NS)
    assert (msg.bgp.announced, msg.bgp.withdrawn, msg.bgp.as_path, msg.bgp.next_hop) == (
        ["198.19.3.0/24"], ["198.19.4.0/22"], [65001, 65100], "198.18.0.1")


UPDATE = encode_update(["198.19.3.0/24"], [], [65001], "198.18.0.1")
CASES = yaml.safe_load((Path(__file__).parent / "cases" / "bmp" / "malformed.yaml").read_text())
MALFORMED = {c["reason"]: bytes.fromhex(c["hex"]) for c in CASES["rejected"]}


@pytest.mark.parametrize("reason", MALFORMED)
def test_malformed_messages_name_the_problem(reason):
    with pytest.raises(BmpError) as exc:
        decode(MALFORMED[reason])
    assert exc.value.reason == reason


@pytest.mark.parametrize("case", CASES["partial"], ids=lambda c: c["case"])
def test_a_malformed_nlri_marks_its_attribute_and_keeps_the_message(case):
    msg = decode(bytes.fromhex(case["hex"]))
    assert msg.bgp.problems == case["problems"]
    assert msg.bgp.announced + msg.bgp.withdrawn == case["kept"]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 6))
def test_garbage_never_raises_anything_but_bmp_error(body, kind):
    for data in (struct.pack("!BIB", 3, 6 + len(body), kind) + body, body):
        try:
            decode(data)
        except BmpError:
            pass
    try:
        decode_bgp(b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body)
    except BmpError:
        pass


def test_the_collector_dead_letters_malformed_messages_and_keeps_the_session(config):
    collector = BmpCollector(config)
    stop, ready = threading.Event(), threading.Event()
    port = free_port()
    thread = threading.Thread(target=collector.run, args=(f"127.0.0.1:{port}", stop, ready), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(encode("initiation", tlv(1, b"FRRouting test") + tlv(2, b"leaf_9_0_9")))
            s.sendall(MALFORMED["bad BGP marker"])
            s.sendall(mirror(UPDATE))
            assert wait_until(lambda: collector.metrics.get("messages_total", "route_mirroring") == 1, 10)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x07\x00\x00\x00\x10\x04" + b"\x00" * 10)      # version 7: the framing is lost
            assert wait_until(lambda: collector.metrics.get("framing_errors_total") == 1, 10)
            assert s.recv(10) == b""                                      # that session is closed
    finally:
        stop.set()
        thread.join(15)
    assert collector.metrics.get("malformed_total", "bad BGP marker") == 1
    records = [r for r, _ in tail(config.kafka, config.kafka.topic("bmp_messages"), None, 3, until_end=True)]
    assert [(r.router, r.type) for r in records] == [("leaf_9_0_9", "initiation"), ("leaf_9_0_9", "route_mirroring")]
    assert records[1].announced == ["198.19.3.0/24"] and records[1].ts_ns == NS
    letters = [r for r, _ in tail(config.kafka, config.kafka.topic("dead_letters"), None, 3, until_end=True)]
    reasons = sorted(d.reason for d in letters)
    assert reasons[0].startswith("broken BMP framing: unsupported BMP version")
    assert reasons[1].startswith("malformed BMP message: bad BGP marker") and all(d.component == "bmp-collector" for d in letters)
