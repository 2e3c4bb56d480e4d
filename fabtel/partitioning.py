"""Which partition a device's records go to.

Records are keyed by device, but partitioned by the device's decision
domain: the devices that share ethernet segments (leaf1 and leaf2 of an
ESI-LAG). Every input topic has the same partition count, so all records of
one domain land on the same partition number of every topic, and one Faust
worker sees the whole domain without a repartition hop. One device's records
still stay in order on one partition. May import: fabtel.config.
"""
from __future__ import annotations

import zlib

from fabtel.config import Config


def domains(cfg: Config) -> dict[str, str]:
    """device -> domain name: connected components of devices sharing an ESI."""
    parent = {d.name: d.name for d in cfg.fabric.devices}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    by_esi: dict[str, list[str]] = {}
    for d in cfg.fabric.devices:
        for lag in d.lags:
            if lag.esi:
                by_esi.setdefault(lag.esi, []).append(d.name)
    for members in by_esi.values():
        for other in members[1:]:
            parent[find(other)] = find(members[0])
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(find(name), []).append(name)
    return {name: "+".join(sorted(groups[find(name)])) for name in parent}


class DomainPartitioner:
    def __init__(self, cfg: Config):
        self.mapping = domains(cfg)

    def domain(self, device: str) -> str:
        """A device outside the inventory (an unknown sFlow agent) is its own domain."""
        return self.mapping.get(device) or device

    def partition(self, device: str, partitions: int) -> int:
        return zlib.crc32(self.domain(device).encode()) % partitions
