"""The compiled SubscribeResponse reader (fabtel._native.gnmi_response and
DeviceNormalizer's counter cache) against the reference, the protobuf
runtime and DeviceNormalizer.feed: the same kind, update count, records,
unknown and unreadable paths for every response, on hypothesis input
(generated notifications of every TypedValue kind on every platform's
paths, JSON scalars and texts, merged fields, unknown fields, extensions)
and on random and mutated bytes, which both must refuse alike (the runtime
is upb). FABTEL_NATIVE=off skips them: there is nothing compiled to compare."""
from __future__ import annotations

import json
import os

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pygnmi.spec.v080 import gnmi_ext_pb2, gnmi_pb2

from fabtel import gnmi_paths as gp
from fabtel import native
from fabtel.connectors.gnmi.normalize import OTHER, SYNC, UPDATE, DeviceNormalizer, ResponseError, runtime_value, value_of

pytestmark = pytest.mark.skipif(os.environ.get("FABTEL_NATIVE", "on").lower() in ("off", "0", "no"),
                                reason="FABTEL_NATIVE=off: the Python path alone")
PLATFORMS = ("srlinux", "openconfig", "eos", "junos", "sonic")
INTERFACES = ("ethernet-1/1", "ethernet-1/49", "lag1", "Ethernet0", "et-0/0/1", "Port-Channel1")
# paths of every platform: what they read, what they ignore and what they do not know
PATHS = (
    "/interface[name={i}]/statistics/in-octets", "/interface[name={i}]/statistics/out-octets",
    "/interface[name={i}]/statistics/in-error-packets", "/interface[name={i}]/oper-state",
    "/interface[name={i}]/admin-state", "/interface[name={i}]/ifindex", "/interface[name={i}]/ethernet/port-speed",
    "/interface[name={i}]/lag/member[name=ethernet-1/2]/oper-state",
    "/interfaces/interface[name={i}]/state/counters/in-octets",
    "/interfaces/interface[name={i}]/state/counters/out-unicast-pkts",
    "/interfaces/interface[name={i}]/state/oper-status", "/interfaces/interface[name={i}]/state/ifindex",
    "/interfaces/interface[name={i}]/state/admin-status", "/interfaces/interface[name={i}]/config/enabled",
    "/lacp/interfaces/interface[name={i}]/members/member[interface=Ethernet4]/state/synchronization",
    "/network-instances/network-instance[name=default]/protocols/protocol[identifier=BGP][name=BGP]/bgp/"
    "neighbors/neighbor[neighbor-address=10.0.0.1]/state/session-state",
    "/network-instance[name=default]/protocols/bgp/neighbor[peer-address=10.0.0.1]/session-state",
    "/system/name/host-name", "/nowhere[k={i}]/at-all", "/interface[name={i}]/statistics")

json_scalars = st.one_of(st.integers(-2**70, 2**70), st.text(max_size=12), st.booleans(), st.none(),
                         st.floats(allow_nan=False), st.just("12345678901234567890"))
json_texts = st.one_of(
    json_scalars.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.sampled_from(["", " ", "\n\t", "\r"]), json_scalars, st.sampled_from(["", " ", "\n"])).map(
        lambda t: (t[0] + json.dumps(t[1]) + t[2]).encode()),
    st.sampled_from([b'"a\\"b"', b'"tab\tin"', b"01", b"-0", b"-", b"1e3", b"[1, 2]", b'{"a": 1}', b'"\xff"',
                     b"\xef\xbb\xbf\"bom\"", b"1 2", b"", b"tru", b'"un', b"9" * 18, b"9" * 19, b'"\\u00e9"']),
    st.binary(max_size=12))
scalars = st.one_of(st.text(max_size=8).map(lambda s: {"string_val": s}),
                    st.integers(-2**63, 2**63 - 1).map(lambda i: {"int_val": i}),
                    st.integers(0, 2**64 - 1).map(lambda i: {"uint_val": i}),
                    st.booleans().map(lambda b: {"bool_val": b}),
                    st.binary(max_size=8).map(lambda b: {"bytes_val": b}),
                    st.floats(width=32, allow_nan=False).map(lambda f: {"float_val": f}),
                    st.floats(allow_nan=False).map(lambda f: {"double_val": f}),
                    st.text(max_size=8).map(lambda s: {"ascii_val": s}),
                    st.binary(max_size=8).map(lambda b: {"proto_bytes": b}))
readable = st.one_of(                   # what devices send: counters as RFC 7951 strings, enums, numbers
    st.integers(0, 2**64 - 1).map(lambda i: {"json_ietf_val": f'"{i}"'.encode()}),
    st.integers(0, 2**64 - 1).map(lambda i: {"uint_val": i}),
    st.sampled_from(["up", "down", "UP", "DOWN", "enable", "ESTABLISHED", "openconfig-if-ethernet:SPEED_100GB"]).map(
        lambda v: {"json_ietf_val": json.dumps(v).encode()}),
    st.integers(1, 2**31).map(lambda i: {"json_val": str(i).encode()}))
typed_values = st.one_of(
    readable, readable, scalars, json_texts.map(lambda t: {"json_ietf_val": t}), json_texts.map(lambda t: {"json_val": t}),
    st.tuples(st.integers(-10**12, 10**12), st.integers(0, 19)).map(
        lambda t: {"decimal_val": gnmi_pb2.Decimal64(digits=t[0], precision=t[1])}),
    st.lists(scalars, max_size=3).map(
        lambda xs: {"leaflist_val": gnmi_pb2.ScalarArray(element=[gnmi_pb2.TypedValue(**x) for x in xs])}),
    st.just({}))
paths = st.tuples(st.sampled_from(PATHS), st.sampled_from(INTERFACES)).map(lambda t: gp.parse(t[0].format(i=t[1])))


@st.composite
def notifications(draw) -> gnmi_pb2.Notification:
    prefix = draw(st.sampled_from([(), gp.parse("/interface[name=ethernet-1/1]"), gp.parse("/interfaces")]))
    updates = []
    for _ in range(draw(st.integers(0, 8))):
        path = draw(paths)
        rel = path[len(prefix):] if path[:len(prefix)] == prefix else path
        updates.append(gnmi_pb2.Update(path=gp.to_proto(rel, gnmi_pb2), val=gnmi_pb2.TypedValue(**draw(typed_values))))
    deletes = [gp.to_proto(p, gnmi_pb2) for p in draw(st.lists(paths, max_size=2))]
    return gnmi_pb2.Notification(timestamp=draw(st.integers(0, 2**62)), prefix=gp.to_proto(prefix, gnmi_pb2),
                                 update=updates, delete=deletes)


@st.composite
def responses(draw) -> bytes:
    kind = draw(st.sampled_from(["update", "update", "update", "sync", "nosync", "error", "nothing"]))
    if kind == "update":
        resp = gnmi_pb2.SubscribeResponse(update=draw(notifications()))
    elif kind in ("sync", "nosync"):
        resp = gnmi_pb2.SubscribeResponse(sync_response=kind == "sync")
    elif kind == "error":
        resp = gnmi_pb2.SubscribeResponse(error=gnmi_pb2.Error(code=5, message="gone"))
    else:
        resp = gnmi_pb2.SubscribeResponse()
    if draw(st.booleans()):                 # Junos's header, and others
        resp.extension.add().registered_ext.CopyFrom(gnmi_ext_pb2.RegisteredExtension(id=1, msg=b"\x0a\x02hi"))
    data = resp.SerializeToString()
    extra = draw(st.sampled_from([b"", b"\xf8\x01\x05", b"\x30\x01", b"\x1b\x08\x01\x1c"]))  # unknown fields, a group
    return data + extra


def read_both(platform: str, sequence: list[bytes], monkeypatch) -> tuple:
    out = []
    for setting in ("off", "on"):
        monkeypatch.setenv("FABTEL_NATIVE", setting)
        norm = DeviceNormalizer("leaf1", platform)
        got = []
        for data in sequence:
            try:
                got.append(norm.read(data, 999))
            except ResponseError:
                got.append("refused")
        out.append((got, sorted(norm.unknown_paths), sorted(norm.unreadable), norm.unreadable_values,
                    norm.interfaces))
    return tuple(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PLATFORMS), st.lists(responses(), min_size=1, max_size=6))
def test_the_same_records_from_both_readers(monkeypatch, platform, sequence):
    python, compiled = read_both(platform, sequence + sequence, monkeypatch)    # twice: the cache's hits too
    assert compiled == python


@settings(max_examples=500, deadline=None)
@given(typed_values)
def test_every_value_reads_as_the_runtime_reads_it(value):
    tv = gnmi_pb2.TypedValue(**value)
    resp = gnmi_pb2.SubscribeResponse(update=gnmi_pb2.Notification(update=[gnmi_pb2.Update(path=gnmi_pb2.Path(), val=tv)]))
    kind, _, _, updates, _ = native.module().gnmi_response(resp.SerializeToString(), runtime_value)
    got, want = updates[0][1], value_of(tv)
    assert kind == "update" and type(got) is type(want) and (got == want or repr(got) == repr(want))


def runtime_refuses(data: bytes) -> bool:
    try:
        gnmi_pb2.SubscribeResponse.FromString(data)
        return False
    except DecodeError:
        return True


def compiled_refuses(data: bytes) -> bool:
    try:
        native.module().gnmi_response(data, runtime_value)
        return False
    except native.module().DecodeError:
        return True


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.binary(max_size=64),
                 st.tuples(responses(), st.integers(0, 400), st.integers(0, 255), st.integers(0, 3)).map(
                     lambda t: _mutate(*t))))
def test_both_refuse_the_same_bytes(data):
    assert compiled_refuses(data) == runtime_refuses(data), data


def _mutate(data: bytes, at: int, byte: int, how: int) -> bytes:
    if not data:
        return data
    at %= len(data)
    if how == 0:
        return data[:at]                                      # truncated
    if how == 1:
        return data[:at] + bytes([byte]) + data[at + 1:]       # a byte changed
    if how == 2:
        return data[:at] + bytes([byte]) + data[at:]           # a byte inserted
    return data[:at] + data[at + 1:]                           # a byte gone


@pytest.mark.parametrize("data, why", [
    (b"\x0a\x05\x22\x03\x0a\x01", "a field past the end of its message"),
    (b"\x0a\x04\x22\x02\x0a\xff", "a path past its update"),
    (gnmi_pb2.SubscribeResponse(update=gnmi_pb2.Notification(update=[gnmi_pb2.Update(
        path=gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="x")]))])).SerializeToString().replace(b"x", b"\xff"),
     "a path element's name not UTF-8"),
    (b"\x08", "field 1 as a varint, truncated"),
    (b"\x00\x01", "field number 0"),
    (b"\x0c", "the end of a group never started"),
    (b"\x0b\x10\x01", "a group without its end"),
    (b"\x0f", "wire type 7"),
])
def test_malformed_responses_are_refused_by_both_with_a_reason(data, why, monkeypatch):
    assert runtime_refuses(data) and compiled_refuses(data), why
    monkeypatch.setenv("FABTEL_NATIVE", "on")
    with pytest.raises(ResponseError) as exc:
        DeviceNormalizer("leaf1").read(data, 1)
    assert "byte" in str(exc.value)


@pytest.mark.parametrize("data", [b"\x1b\x00\x00\x1c", b"\x1b\x02\x00\x1c", b"\x1b\x0b\x0c\x1c", b"\x1b\x00\x1c",
                                  b"\x1b\x07\x1c", b"\x1b\x0c\x1c", b"\x0a\x03\x1b\x00\x1c"])
def test_groups_are_passed_over_as_upb_does(data):
    """Inside a group upb passes over keys of field number 0 (found by the
    hypothesis test above in CI); a group's end must match its start."""
    assert compiled_refuses(data) == runtime_refuses(data), data


def test_a_counter_path_is_looked_up_once_then_read_from_the_cache(monkeypatch):
    monkeypatch.setenv("FABTEL_NATIVE", "on")
    norm = DeviceNormalizer("leaf1", "srlinux")
    calls = []
    classify = norm.platform.classify
    monkeypatch.setattr(norm.platform, "classify", lambda p, v: calls.append(p) or classify(p, v))
    for octets in (b'"10"', b'"20"'):
        upd = gnmi_pb2.Update(path=gp.to_proto(gp.parse("/interface[name=ethernet-1/1]/statistics/in-octets"), gnmi_pb2),
                              val=gnmi_pb2.TypedValue(json_ietf_val=octets))
        kind, n, records = norm.read(gnmi_pb2.SubscribeResponse(update=gnmi_pb2.Notification(
            timestamp=5, update=[upd])).SerializeToString(), 9)
    assert (kind, n, len(calls)) == (UPDATE, 1, 1)
    assert records[0].in_octets == 20 and records[0].interface == "ethernet-1/1"


def test_a_counter_path_seen_before_with_an_infinite_value_is_counted_as_unreadable(monkeypatch):
    """Found by the hypothesis test in CI: the second value of a cached
    counter path, a float infinity, raised OverflowError out of `read`."""
    path = gp.to_proto(gp.parse("/interfaces/interface[name=ethernet-1/1]/state/counters/in-octets"), gnmi_pb2)
    values = (gnmi_pb2.TypedValue(json_ietf_val=b'"3"'), gnmi_pb2.TypedValue(float_val=float("inf")),
              gnmi_pb2.TypedValue(double_val=float("-inf")), gnmi_pb2.TypedValue(json_ietf_val=b'"5"'))
    for setting in ("off", "on"):
        monkeypatch.setenv("FABTEL_NATIVE", setting)
        norm = DeviceNormalizer("leaf1", "openconfig")
        got = []
        for v in values:
            data = gnmi_pb2.SubscribeResponse(update=gnmi_pb2.Notification(
                timestamp=5, update=[gnmi_pb2.Update(path=path, val=v)])).SerializeToString()
            got.append([r.in_octets for r in norm.read(data, 9)[2]])
        assert (got, norm.unreadable_values) == ([[3], [], [], [5]], 2), setting


def test_an_unreadable_counter_value_is_counted_and_the_rest_kept(monkeypatch):
    for setting in ("off", "on"):
        monkeypatch.setenv("FABTEL_NATIVE", setting)
        norm = DeviceNormalizer("leaf1", "srlinux")
        ups = [gnmi_pb2.Update(path=gp.to_proto(gp.parse(f"/interface[name=ethernet-1/1]/statistics/{leaf}"), gnmi_pb2),
                               val=gnmi_pb2.TypedValue(json_ietf_val=v))
               for leaf, v in (("in-octets", b'"lots"'), ("out-octets", b'"7"'))]
        data = gnmi_pb2.SubscribeResponse(update=gnmi_pb2.Notification(timestamp=5, update=ups)).SerializeToString()
        kind, n, records = norm.read(data, 9)
        assert (kind, n, norm.unreadable_values) == (UPDATE, 2, 1), setting
        assert [(r.out_octets, r.in_octets) for r in records] == [(7, None)], setting
        assert norm.read(gnmi_pb2.SubscribeResponse(sync_response=True).SerializeToString(), 9) == (SYNC, 0, [])
        assert norm.read(gnmi_pb2.SubscribeResponse(sync_response=False).SerializeToString(), 9) == (OTHER, 0, [])
