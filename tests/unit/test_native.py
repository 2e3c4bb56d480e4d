"""The compiled hot path against its reference, the Python code it mirrors:
for every datagram, the same samples' Avro values or the same rejection
(reason, offset, format, detail), the same flow windows, on hypothesis
input (random and mutated bytes, generated datagrams of every record type,
IPv4 and IPv6 agents and headers, VLAN and VXLAN), on the corpus of bad
datagrams and on the captures the tests use. FABTEL_NATIVE=off skips them:
there is nothing compiled to compare then."""
from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabtel import native
from fabtel.connectors.sflow.codec import SFlowDecodeError, build_header, decode_datagram, encode_datagram
from fabtel.connectors.sflow.flows import FlowAggregator, HandedOver, window_record
from fabtel.records import (SflowEthernetCounters, SflowIfCounters, SflowLagPortStats, SflowProcessor, SflowSample,
                            SflowSampledHeader)
from fabtel.serde import RecordCodec

from sflow_cases import BAD_CASES, bad_datagram, counters, discard_flow, every_case, flow, gateway_flow, raw_ip_flow

pytestmark = pytest.mark.skipif(os.environ.get("FABTEL_NATIVE", "on").lower() in ("off", "0", "no"),
                                reason="FABTEL_NATIVE=off: the Python path alone")
CODEC = RecordCodec()
HEADER = CODEC.header_for("SflowSample")
DEVICES = {"198.18.0.11": "leaf1", "2001:db8::11": "leaf2"}


def test_the_extension_is_built_where_a_toolchain_is():
    """./run setup builds it; a machine without cargo runs the Python path, and says so."""
    assert native.available(), "fabtel._native is missing: `./run setup tests` builds it (cargo from rustup)"


def python_path(data: bytes, ts: int = 7) -> tuple:
    try:
        dg = decode_datagram(data, ts)
    except SFlowDecodeError as e:
        return ("error", e.reason, e.offset, e.data_format, e.detail)
    device = DEVICES.get(dg.agent)
    values = []
    for s in dg.samples:
        s.device = device
        values.append(CODEC.encode(s))
    return ("ok", dg.agent, device, dg.sub_agent_id, dg.sequence, dg.uptime_ms, dg.skipped, dg.leftover, values)


def native_path(data: bytes, ts: int = 7) -> tuple:
    n = native.module()
    decoder = n.SflowDecoder(HEADER, DEVICES, 5000, 256, aggregate=False, raw_flows=True)
    try:
        r = decoder.handle(data, ts)
    except n.DecodeError as e:
        return ("error", *e.args)
    return ("ok", r[0], r[1], r[2], r[3], r[4], list(r[5]), r[6], list(r[7]))


def json_lines(data: bytes, lines) -> tuple:
    """`fabtel sflow decode`'s output for one datagram, by either path."""
    try:
        return ("ok", *lines(data))
    except SFlowDecodeError as e:
        return ("error", str(e), e.reason)


def same(data: bytes) -> tuple:
    """Both paths: the same Avro values and rejections, and the same JSON
    lines (`fabtel sflow decode`) byte for byte."""
    from fabtel import lacp
    from fabtel.connectors.sflow.decode_cmd import NativeLines, _python_lines
    py, nat = python_path(data), native_path(data)
    assert nat == py
    orders = lacp.Orders()
    assert json_lines(data, NativeLines(lacp.Orders())) == json_lines(data, lambda d: _python_lines(d, orders))
    return py


def test_lacp_bit_orders_learnt_across_a_capture_print_the_same():
    """An agent is assumed IEEE until a record contradicts it, then MIB from
    that record on: the compiled path's kept LACP fields follow the same."""
    from fabtel import lacp
    from fabtel.connectors.sflow.decode_cmd import NativeLines, _python_lines
    states = [0x3D3D3D3D, 0xBCBCBCBC, 0x3D3D3D3D, 0x05050505, 0xBCBCBCBC]
    datagrams = []
    for i, state in enumerate(states):
        for agent in ("198.18.0.11", "198.18.0.12"):
            s = SflowSample("", None, 0, 0, 0, "counters", i, 0, 7)
            s.lag_port_stats = SflowLagPortStats("0c:00:00:00:01:01", "00:c1:c1:00:00:01", 100001, state,
                                                 state >> 24, (state >> 16) & 255, (state >> 8) & 255, state & 255,
                                                 *range(8))
            datagrams.append(encode_datagram(agent, 0, i + 1, 1000, [s]))
    orders_py, lines = lacp.Orders(), NativeLines(lacp.Orders())
    py = [_python_lines(d, orders_py) for d in datagrams]
    assert [lines(d) for d in datagrams] == py
    printed = b"".join(text for text, _ in py)
    assert b"(detected)" in printed and b"(learnt)" in printed and b"(assumed)" in printed


def test_every_case_of_the_corpus():
    for data in every_case():
        assert same(data)[0] == "ok"


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda p: p.stem)
def test_every_bad_datagram_of_the_corpus(case):
    data, reason = bad_datagram(case)
    assert same(data)[:2] == ("error", reason)


def test_the_captures_the_tests_use(tmp_path):
    """The datagrams of the lab's capture (what `sflow decode` and tshark read in test_sflow_codec)."""
    from fabtel.config import load_config
    from fabtel.lab.runner import LabRunner
    from fabtel.lab.scenario import load_scenario
    from conftest import EXAMPLE
    cfg = load_config(EXAMPLE)
    runner = LabRunner(cfg, load_scenario("lag-elephant", cfg), None, with_gnmi=False)
    seen = []
    runner.simulate(12, sflow=lambda d, ts: seen.append(d))
    assert len(seen) > 100
    for d in seen:
        same(d)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(data):
    same(data)


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 3), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 2000))
def test_mutated_datagrams(which, flips, cut):
    data = bytearray(every_case()[which])
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    same(bytes(data[:max(cut, 28)]))


u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
mac = st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":"))


@st.composite
def headers(draw):
    v6 = draw(st.booleans())
    ip = st.ip_addresses(v=6 if v6 else 4).map(str)
    hdr = build_header(draw(mac), draw(mac), draw(ip), draw(ip), draw(st.sampled_from([6, 17, 1])),
                       draw(st.integers(0, 65535)), draw(st.sampled_from([443, 53, 4789, 80])),
                       vlan=draw(st.none() | st.integers(0, 4095)), ttl=draw(st.integers(0, 255)),
                       tos=draw(st.integers(0, 255)), tcp_flags=draw(st.integers(0, 255)),
                       payload_len=draw(st.integers(0, 1400)), snap=draw(st.sampled_from([14, 40, 64, 128])))
    cut = draw(st.integers(0, len(hdr)))
    hdr = hdr[:cut] if draw(st.booleans()) else hdr
    return SflowSampledHeader(draw(st.sampled_from([1, 1, 11, 12])), draw(u32), draw(u32), len(hdr), hdr)


@st.composite
def samples(draw):
    kind = draw(st.sampled_from(["counters", "flow", "fixed"]))
    seq = draw(u32)
    if kind == "fixed":
        return draw(st.sampled_from([counters(seq % 1000, 1001, 5), flow(seq % 1000, True, False, vlan=7),
                                     discard_flow(seq % 1000), gateway_flow(seq % 1000), raw_ip_flow(seq % 1000, True)]))
    if kind == "counters":
        s = SflowSample("", None, 0, 0, 0, "counters", seq, draw(st.integers(0, 255)), draw(st.integers(0, 2**24 - 1)))
        if draw(st.booleans()):
            s.if_counters = SflowIfCounters(draw(u32), draw(u32), draw(u64), draw(u32), draw(u32), draw(u64),
                                            *[draw(u32) for _ in range(6)], draw(u64), *[draw(u32) for _ in range(6)])
        if draw(st.booleans()):
            s.ethernet_counters = SflowEthernetCounters(*[draw(u32) for _ in range(13)])
        if draw(st.booleans()):
            state = draw(u32)
            s.lag_port_stats = SflowLagPortStats(draw(mac), draw(mac), draw(u32), state, state >> 24,
                                                 (state >> 16) & 255, (state >> 8) & 255, state & 255,
                                                 *[draw(u32) for _ in range(8)])
        if draw(st.booleans()):
            s.processor = SflowProcessor(draw(st.integers(-2**31, 2**31 - 1)), draw(st.integers(0, 100)),
                                         draw(st.integers(0, 100)), draw(u64), draw(u64))
        return s
    s = SflowSample("", None, 0, 0, 0, "flow", seq, 0, draw(st.integers(0, 2**24 - 1)), draw(u32), draw(u32),
                    draw(u32), draw(st.integers(0, 2**30 - 1)), draw(st.integers(0, 2**30 - 1)),
                    input_format=0, output_format=draw(st.integers(0, 2)))
    if draw(st.booleans()):
        s.sampled_header = draw(headers())
    return s


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.ip_addresses().map(str), u32, u32, u32, st.lists(samples(), max_size=6), st.booleans(), st.booleans())
def test_generated_datagrams(agent, sub, seq, uptime, items, expanded, padded):
    data = encode_datagram(agent, sub, seq, uptime, items, expanded=expanded, lag_padded=padded)
    assert same(data)[0] == "ok"


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=16, max_size=16))
def test_ipv6_agents_are_written_as_glibc_writes_them(addr):
    """::a.b.c.d, ::ffff:a.b.c.d, the longest run of zeros: inet_ntop's rules, byte for byte."""
    data = struct.pack(">II", 5, 2) + addr + struct.pack(">IIII", 0, 1, 2, 0)
    assert same(data)[1] == __import__("socket").inet_ntop(__import__("socket").AF_INET6, addr)


# ------------------------------------------------------------------ flow windows

def _flow_datagrams(draw_items) -> list[tuple[bytes, int]]:
    return draw_items


def windows_both(datagrams: list[tuple[bytes, int]], table_size: int, top_n: int, end: int) -> tuple[list, list]:
    def name(device, ifindex):
        return f"{device}/{ifindex}"
    agg = FlowAggregator(1000, table_size, top_n, name)
    decoder = native.module().SflowDecoder(HEADER, DEVICES, 1000, table_size, aggregate=True, raw_flows=False)
    py, nat = [], []
    for data, ts in datagrams:
        try:
            dg = decode_datagram(data, ts)
        except SFlowDecodeError:
            continue
        decoder.handle(data, ts)
        device = DEVICES.get(dg.agent, dg.agent)
        for s in dg.samples:
            if s.sample_type == "flow":
                agg.add_sample(device, s, ts)
        py += agg.due(ts)
        nat += [window_record(w.key, w, w.start, w.start + 1_000_000_000, name, table_size, top_n)
                for w in map(HandedOver, decoder.take_windows(ts, top_n))]
    py += agg.flush(end)
    nat += [window_record(w.key, w, w.start, w.start + 1_000_000_000, name, table_size, top_n)
            for w in map(HandedOver, decoder.take_windows(end, top_n))]
    nat += [window_record(w.key, w, w.start, max(end, w.start + 1), name, table_size, top_n)
            for w in map(HandedOver, decoder.take_windows(end, top_n, every=True))]
    return py, nat


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(samples(), min_size=1, max_size=5), st.integers(0, 2500)), min_size=1,
                max_size=25), st.integers(1, 6), st.integers(1, 5))
def test_the_same_flow_windows(batches, table_size, top_n):
    """A small table: evictions and ties, the same victims and the same top flows."""
    datagrams, ts = [], 10**12
    for i, (items, step_ms) in enumerate(batches):
        ts += step_ms * 1_000_000
        datagrams.append((encode_datagram("198.18.0.11" if i % 3 else "203.0.113.9", 0, i + 1, i, items), ts))
    py, nat = windows_both(datagrams, table_size, top_n, ts + 5 * 10**9)
    assert nat == py


def test_the_same_flow_windows_on_the_lab(tmp_path):
    from fabtel.config import load_config
    from fabtel.lab.runner import LabRunner
    from fabtel.lab.scenario import load_scenario
    from conftest import EXAMPLE
    cfg = load_config(EXAMPLE)
    runner = LabRunner(cfg, load_scenario("lag-elephant", cfg), None, with_gnmi=False)
    seen = []
    runner.simulate(8, sflow=lambda d, ts: seen.append((d, ts)))
    py, nat = windows_both(seen, 16, 5, seen[-1][1] + 10**9)
    assert len(py) > 20 and nat == py


def test_a_port_format_sflowtool_has_no_word_for_prints_as_a_number():
    """An expanded flow sample's format is 32 bits: 5 is "format==5" on both
    paths (the Python path raised a KeyError on it, a traceback)."""
    s = SflowSample("", None, 0, 0, 0, "flow", 1, 0, 7, 1000, 2000, 0, 7, 9, input_format=5, output_format=2)
    data = encode_datagram("198.18.0.11", 0, 1, 1000, [s], expanded=True)
    assert same(data)[0] == "ok"
    from fabtel import lacp
    from fabtel.connectors.sflow.decode_cmd import _python_lines
    text, _ = _python_lines(data, lacp.Orders())
    assert b'"input_format":"format==5"' in text and b'"output_format":"multiple"' in text
