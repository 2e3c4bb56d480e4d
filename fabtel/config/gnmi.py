"""The `gnmi` section: the collectors' sample interval, queue and reconnect backoff.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.reader import YamlReader, child


@dataclass(frozen=True)
class GnmiSettings:
    sample_interval_ms: int = 1000
    queue_limit: int = 10000
    reconnect_min_ms: int = 200
    reconnect_max_ms: int = 10000


def read(r: YamlReader, node) -> GnmiSettings:
    gnmi = r.section(node, "gnmi", GnmiSettings, {
        "sample_interval_ms": r.positive, "queue_limit": r.positive,
        "reconnect_min_ms": r.positive, "reconnect_max_ms": r.positive})
    if gnmi.reconnect_max_ms < gnmi.reconnect_min_ms:
        r.problem("gnmi.reconnect_max_ms", child(node, "reconnect_max_ms") or node,
                  f"below reconnect_min_ms ({gnmi.reconnect_max_ms} < {gnmi.reconnect_min_ms})")
    return gnmi
