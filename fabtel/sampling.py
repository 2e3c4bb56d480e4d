"""sFlow's sampling theory, shared by the collector's flow estimates and the
processor's judgements: the error bound of a sampled estimate, and the
directions a flow window can have. May import: the standard library only."""
from __future__ import annotations

import math

IN, OUT, DISCARD = "in", "out", "discard"
RATE_UNITS = (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3), ("b/s", 1.0))


def error_pct(samples: int) -> float:
    """Relative error of an estimate from n samples at 95 % confidence: 196 x sqrt(1/n) %."""
    return 196.0 * math.sqrt(1.0 / samples) if samples > 0 else 100.0


def rate_text(bps: float) -> str:
    """A rate as an operator reads it: 3.1 Gb/s, 250.0 Mb/s."""
    unit, scale = rate_unit(bps)
    return f"{bps / scale:.1f} {unit}" if scale > 1 else f"{bps:.0f} b/s"


def rate_unit(bps: float) -> tuple[str, float]:
    """The largest unit the rate reaches: ("Gb/s", 1e9), ... ("b/s", 1)."""
    return next(((u, f) for u, f in RATE_UNITS if bps >= f), RATE_UNITS[-1])
