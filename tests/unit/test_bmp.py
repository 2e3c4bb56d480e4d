"""The BMP codec on a real FRR 8.4.4 stream and on malformed input (the
cases of tests/cases/bmp/malformed.yaml), fuzzed."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabtel.connectors.bmp.codec import BmpError, decode, decode_bgp, encode_update
from fabtel.connectors.bmp.collector import Session
from bmp_cases import CAPTURE, CASES, MALFORMED, NS, frames, mirror



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




def test_encoded_update_round_trips():
    msg = decode(mirror(encode_update(["198.19.3.0/24"], ["198.19.4.0/22"], [65001, 65100], "198.18.0.1")))
    assert (msg.type, msg.peer.address, msg.peer.asn, msg.peer.ts_ns) == ("route_mirroring", "198.18.0.1", 65001, NS)
    assert (msg.bgp.announced, msg.bgp.withdrawn, msg.bgp.as_path, msg.bgp.next_hop) == (
        ["198.19.3.0/24"], ["198.19.4.0/22"], [65001, 65100], "198.18.0.1")




@pytest.mark.parametrize("reason", MALFORMED)
def test_malformed_messages_name_the_problem(reason):
    with pytest.raises(BmpError) as exc:
        decode(MALFORMED[reason])
    assert exc.value.reason == reason


@pytest.mark.parametrize("case", CASES["partial"], ids=lambda c: c["case"])
def test_a_malformed_attribute_is_recorded_and_the_message_kept(case):
    """RFC 7606: the problem on the message; its routes kept, withdrawn where it says treat-as-withdraw."""
    msg = decode(bytes.fromhex(case["hex"]))
    assert msg.bgp.problems == case["problems"]
    assert msg.bgp.announced + msg.bgp.withdrawn == case["kept"]
    assert msg.bgp.treat_as_withdraw == case.get("withdrawn", False)
    if case.get("withdrawn"):
        assert msg.bgp.announced == [] and msg.bgp.withdrawn == case["kept"]


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
