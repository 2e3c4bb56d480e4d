"""The `thresholds` section: when a LAG is unbalanced, a link too full, a leaf stale, a flow an elephant.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.reader import YamlReader


@dataclass(frozen=True)
class Thresholds:
    lag_imbalance: float = 1.5
    lag_imbalance_windows: int = 3
    utilisation: float = 0.8
    window_ms: int = 5000
    stale_after_ms: int = 10000
    elephant_share: float = 0.05          # a flow above this share of a member's speed ...
    elephant_windows: int = 2             # ... for this many windows is an elephant
    blackholing_min_samples: int = 3      # discard samples in a window before "blackholing" is reported


def read(r: YamlReader, node) -> Thresholds:
    return r.section(node, "thresholds", Thresholds, {
        "lag_imbalance": r.ratio, "lag_imbalance_windows": r.positive, "utilisation": r.fraction,
        "window_ms": r.positive, "stale_after_ms": r.positive, "elephant_share": r.fraction,
        "elephant_windows": r.positive, "blackholing_min_samples": r.positive})
