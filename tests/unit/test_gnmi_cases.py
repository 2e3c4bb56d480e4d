"""The gNMI regression corpus (Telegraf's style): recorded notification
sequences in tests/cases/gnmi/, each with the records they must produce and
the paths that must count as unknown. Both platforms, updates and deletes,
sync_response, prefix-relative paths, JSON, JSON_IETF and PROTO values.
A case's `indexes` are the ifIndex maps the device's records carry, in
order (the collector asks for one at each sync_response: `synced`)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from pygnmi.spec.v080 import gnmi_pb2

from fabtel import native, records
from fabtel.connectors.gnmi.normalize import SYNC, DeviceNormalizer

CASES = sorted((Path(__file__).parent.parent / "cases" / "gnmi").glob("*.yaml"))
RECEIVED = 999


def _responses(case: dict):
    for item in case["responses"]:
        if isinstance(item, dict):
            yield gnmi_pb2.SubscribeResponse(**item)
        else:
            yield text_format.Parse(item, gnmi_pb2.SubscribeResponse())


def _expected(entry: dict):
    fields = dict(entry)
    cls = getattr(records, fields.pop("type"))
    return cls(**fields, receive_ts_ns=RECEIVED)


def test_both_platforms_have_update_delete_and_sync_cases():
    cases = [yaml.safe_load(p.read_text()) for p in CASES]
    for name in ("srlinux", "openconfig"):      # the vendors' own cases are their quirks
        mine = [c for c in cases if c["platform"] == name]
        text = "".join(str(c["responses"]) for c in mine)
        assert "delete" in text and "sync_response" in text and "prefix" in text, name


@pytest.mark.parametrize("reader", ["python", "compiled"])
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path, reader, monkeypatch):
    """Each case read from its bytes, as the collector reads a stream, by the
    reference (the protobuf runtime) and by the compiled reader."""
    if reader == "compiled" and not native.available():
        pytest.skip("the compiled extension is not there or FABTEL_NATIVE=off")
    monkeypatch.setenv("FABTEL_NATIVE", "on" if reader == "compiled" else "off")
    case = yaml.safe_load(path.read_text())
    norm = DeviceNormalizer(case["device"], case["platform"])
    got = []
    for resp in _responses(case):
        kind, _, made = norm.read(resp.SerializeToString(), RECEIVED)
        got += made
        if kind == SYNC:
            got += norm.synced(RECEIVED)
    maps = [r for r in got if isinstance(r, records.InterfaceIndexes)]
    assert [r for r in got if not isinstance(r, records.InterfaceIndexes)] == [_expected(e) for e in case["expected"]]
    assert [(m.device_ts_ns, {e.interface: e.ifindex for e in m.entries}) for m in maps] == \
        [(i["device_ts_ns"], i["entries"]) for i in case["indexes"]]
    assert [{e.interface: e.alias for e in m.entries if e.alias} for m in maps] == \
        [i.get("aliases", {}) for i in case["indexes"]]
    assert sorted(norm.unknown_paths) == sorted(case["unknown_paths"])
