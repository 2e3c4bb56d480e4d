"""The inventory as the gNMI collectors share it out: each device with gNMI
is a record on the compacted targets topic, keyed by device; a tombstone
removes one. The collectors of one consumer group collect the devices of the
partitions the group assigns them, so a collector that dies hands its
devices to the others within a session timeout (cooperative-sticky: the
rest keep streaming).

Placement is ours, not the key's hash: a device keeps the partition it has,
and a new one goes to the partition with the fewest devices, so devices
spread evenly over partitions and therefore over collectors, and never move
unless they are removed and added again.

Pure: the records and the placement. The topic's I/O is in
connectors/gnmi/membership.py. May import: fabtel.config, fabtel.records.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config import Config, Device, GnmiTarget, SecretRef
from fabtel.records import CollectorTarget


def target_of(device: Device, ts_ns: int) -> CollectorTarget:
    """A device's record for the targets topic: where and how to reach it,
    credentials only by name (the environment variable or file to read)."""
    g = device.gnmi
    user = g.username if isinstance(g.username, SecretRef) else None
    pw = g.password
    return CollectorTarget(
        device.name, device.platform, g.address, g.target, g.insecure, g.skip_verify, g.tls_ca, g.tls_cert, g.tls_key,
        g.username if isinstance(g.username, str) else None, user.env if user else None, user.file if user else None,
        pw.env if pw else None, pw.file if pw else None, device.sflow_agent, ts_ns)


def device_of(t: CollectorTarget) -> Device:
    """The Device a collector subscribes to, from its record."""
    username = t.username or (SecretRef(t.username_env, t.username_file) if (t.username_env or t.username_file)
                              else None)
    password = SecretRef(t.password_env, t.password_file) if (t.password_env or t.password_file) else None
    return Device(t.device, "leaf", t.platform, GnmiTarget(t.address, username, password, t.insecure, t.tls_ca,
                                                           t.tls_cert, t.tls_key, t.skip_verify, t.target),
                  t.sflow_agent)


def same_target(a: CollectorTarget, b: CollectorTarget) -> bool:
    """Equal but for the publication time: nothing to publish again."""
    return a.__dict__ | {"ts_ns": 0} == b.__dict__ | {"ts_ns": 0}


@dataclass(frozen=True)
class Change:
    """One record to produce: a device's target on a partition, or a tombstone (None)."""
    device: str
    partition: int
    target: CollectorTarget | None


def plan(cfg: Config, on_topic: dict[str, tuple[int, CollectorTarget]], partitions: int, ts_ns: int) -> list[Change]:
    """What makes the topic equal the configuration's inventory: new and
    changed devices published (a device keeps its partition; a new one goes
    where the fewest are), removed ones tombstoned on their partition."""
    wanted = {d.name: target_of(d, ts_ns) for d in cfg.fabric.devices if d.gnmi is not None}
    load = [0] * partitions
    for name, (p, _) in on_topic.items():
        if name in wanted and p < partitions:
            load[p] += 1
    changes = [Change(name, p, None) for name, (p, _) in sorted(on_topic.items()) if name not in wanted]
    for name, target in sorted(wanted.items()):
        if name in on_topic and on_topic[name][0] < partitions:
            p, old = on_topic[name]
            if not same_target(old, target):
                changes.append(Change(name, p, target))
            continue
        p = min(range(partitions), key=lambda i: (load[i], i))
        load[p] += 1
        changes.append(Change(name, p, target))
    return changes


def spread(placement: dict[str, int], owners: dict[int, str]) -> dict[str, int]:
    """Devices per collector, given each device's partition and each partition's owner."""
    out: dict[str, int] = {}
    for p in placement.values():
        out[owners[p]] = out.get(owners[p], 0) + 1
    return out
