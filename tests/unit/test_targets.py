"""The inventory the gNMI collectors share out (connectors/gnmi/targets.py):
records carry no secrets, devices keep their partition, new ones fill the
emptiest, removed ones are tombstoned, and 1,000 devices spread evenly over
three collectors."""
from __future__ import annotations

import dataclasses

from conftest import EXAMPLE
from fabtel.config import Device, GnmiTarget, SecretRef, load_config
from fabtel.connectors.gnmi.targets import device_of, plan, spread, target_of

CFG = load_config(EXAMPLE)


def with_devices(n: int, start: int = 0):
    devs = tuple(Device(f"leaf{i}", "leaf", "srlinux", GnmiTarget(f"10.0.{i // 250}.{i % 250}:57400",
                                                                    SecretRef(env="FABTEL_GNMI_USER"),
                                                                    SecretRef(file="/run/secrets/pw")))
                 for i in range(start, start + n))
    return dataclasses.replace(CFG, fabric=dataclasses.replace(CFG.fabric, devices=devs))


def apply(on_topic: dict, changes) -> dict:
    out = dict(on_topic)
    for c in changes:
        if c.target is None:
            out.pop(c.device)
        else:
            out[c.device] = (c.partition, c.target)
    return out


def test_a_target_names_credentials_and_never_holds_them(monkeypatch):
    monkeypatch.setenv("FABTEL_GNMI_PASSWORD", "hunter2")
    leaf1 = CFG.fabric.device("leaf1")
    t = target_of(leaf1, 5)
    assert (t.device, t.address, t.username_env, t.password_env) == ("leaf1", "127.0.0.1:57411", "FABTEL_GNMI_USER",
                                                                     "FABTEL_GNMI_PASSWORD")
    assert "hunter2" not in repr(t)
    back = device_of(t)
    assert back.gnmi == leaf1.gnmi and (back.name, back.platform, back.sflow_agent) == ("leaf1", "srlinux", "198.18.0.11")


def test_devices_fill_partitions_evenly_and_keep_them():
    first = apply({}, plan(with_devices(1000), {}, 60, 1))
    per_partition = [sum(1 for p, _ in first.values() if p == i) for i in range(60)]
    assert max(per_partition) - min(per_partition) <= 1
    # Publishing the same inventory again changes nothing; a changed device stays on its partition.
    assert plan(with_devices(1000), first, 60, 2) == []
    moved = with_devices(1000)
    devs = list(moved.fabric.devices)
    devs[7] = dataclasses.replace(devs[7], gnmi=dataclasses.replace(devs[7].gnmi, address="10.9.9.9:57400"))
    [change] = plan(dataclasses.replace(moved, fabric=dataclasses.replace(moved.fabric, devices=tuple(devs))), first, 60, 3)
    assert (change.device, change.partition, change.target.address) == ("leaf7", first["leaf7"][0], "10.9.9.9:57400")


def test_removed_devices_are_tombstoned_and_new_ones_fill_the_gaps():
    first = apply({}, plan(with_devices(120), {}, 60, 1))
    later = plan(with_devices(120, start=10), first, 60, 2)          # leaf0..9 removed, leaf120..129 added
    removed = {c.device: c.partition for c in later if c.target is None}
    added = {c.device: c.partition for c in later if c.target is not None}
    assert removed == {f"leaf{i}": first[f"leaf{i}"][0] for i in range(10)}
    assert sorted(added.values()) == sorted(removed.values())       # into the partitions that emptied
    after = apply(first, later)
    assert all(after[name][0] == first[name][0] for name in first if name in after)   # nobody else moved


def test_a_thousand_devices_spread_evenly_over_three_collectors():
    placement = {name: p for name, (p, _) in apply({}, plan(with_devices(1000), {}, 60, 1)).items()}
    owners = {p: f"collector-{p % 3}" for p in range(60)}             # the group gives each 20 of the 60 partitions
    counts = spread(placement, owners)
    assert sorted(counts) == ["collector-0", "collector-1", "collector-2"]
    assert max(counts.values()) - min(counts.values()) <= 2 and sum(counts.values()) == 1000
