"""sFlow's sampling theory, shared by the collector's flow estimates and the
processor's judgements: the error bound of a sampled estimate, and the
directions a flow window can have. May import: the standard library only."""
from __future__ import annotations

import math

IN, OUT, DISCARD = "in", "out", "discard"


def error_pct(samples: int) -> float:
    """Relative error of an estimate from n samples at 95 % confidence: 196 x sqrt(1/n) %."""
    return 196.0 * math.sqrt(1.0 / samples) if samples > 0 else 100.0


def rate_text(bps: float) -> str:
    """A rate as an operator reads it: 3.1 Gb/s, 250.0 Mb/s."""
    for unit, scale in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.1f} {unit}"
    return f"{bps:.0f} b/s"
