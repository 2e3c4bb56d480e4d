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
from dataclasses import dataclass
from typing import Iterable

from fabtel.config import Config, Fabric


@dataclass(frozen=True, order=True)
class DecisionDomain:
    """The devices decided together. Its `name` ("leaf1+leaf2", the devices
    sorted) is how it travels: the Kafka key of the worker's ticks and the key
    of its state table."""
    devices: tuple[str, ...]

    SEPARATOR = "+"

    @classmethod
    def of(cls, devices: Iterable[str]) -> DecisionDomain:
        return cls(tuple(sorted(set(devices))))

    @classmethod
    def parse(cls, name: str) -> DecisionDomain:
        return cls.of(name.split(cls.SEPARATOR))

    @property
    def name(self) -> str:
        return self.SEPARATOR.join(self.devices)

    def __str__(self) -> str:
        return self.name

    def __contains__(self, device: str) -> bool:
        return device in self.devices


def domains(cfg: Config) -> dict[str, DecisionDomain]:
    """device -> its domain: connected components of devices sharing an ESI."""
    return fabric_domains(cfg.fabric)


_DOMAINS_OF: dict[int, tuple[Fabric, dict[str, DecisionDomain]]] = {}


def fabric_domains(fabric: Fabric) -> dict[str, DecisionDomain]:
    """device -> its domain, computed once per (frozen) fabric: every decision
    domain the worker builds asks, so without it a worker's domains took time
    quadratic in the fabric's size after each rebalance. Not to be mutated."""
    known = _DOMAINS_OF.get(id(fabric))
    if known is not None and known[0] is fabric:
        return known[1]
    if len(_DOMAINS_OF) >= 16:              # configurations a process has loaded (tests load many)
        _DOMAINS_OF.clear()
    mapping = _fabric_domains(fabric)
    _DOMAINS_OF[id(fabric)] = (fabric, mapping)
    return mapping


def _fabric_domains(fabric: Fabric) -> dict[str, DecisionDomain]:
    parent = {d.name: d.name for d in fabric.devices}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    by_esi: dict[str, list[str]] = {}
    for d in fabric.devices:
        for lag in d.lags:
            if lag.esi:
                by_esi.setdefault(lag.esi, []).append(d.name)
    for members in by_esi.values():
        for other in members[1:]:
            parent[find(other)] = find(members[0])
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(find(name), []).append(name)
    return {name: DecisionDomain.of(groups[find(name)]) for name in parent}


class DomainPartitioner:
    def __init__(self, cfg: Config):
        self.mapping = domains(cfg)

    def domain(self, device: str) -> DecisionDomain:
        """A device outside the inventory (an unknown sFlow agent) is its own domain."""
        return self.mapping.get(device) or DecisionDomain((device,))

    def partition(self, device: str, partitions: int) -> int:
        return partition_of(self.domain(device), partitions)


def partition_of(domain: DecisionDomain, partitions: int) -> int:
    """The partition number of every topic that holds the domain's records."""
    return zlib.crc32(domain.name.encode()) % partitions
