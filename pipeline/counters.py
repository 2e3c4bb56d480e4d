"""Rates from cumulative counters, with counter wrap and agent restarts.

A counter that goes down either wrapped (32-bit or 64-bit, when the wrapped
delta is plausible for the link speed) or was reset (the agent restarted: its
uptime went backwards, or no wrap is plausible). A reset gives no rate for
that interval and a new baseline; it never yields a negative or huge rate.
"""
from __future__ import annotations

from dataclasses import dataclass

WRAPS = (1 << 32, 1 << 64)


@dataclass(slots=True)
class Sample:
    ts_ns: int
    in_octets: int | None
    out_octets: int | None
    uptime_ms: int | None = None


def delta(old: int, new: int, elapsed_s: float, speed_bps: int | None) -> int | None:
    """Octets between two readings of one counter, or None after a reset."""
    if new >= old:
        return new - old
    limit = (speed_bps or 400 * 10**9) / 8 * max(elapsed_s, 1e-3) * 1.5
    for wrap in WRAPS:
        if old < wrap:
            d = wrap - old + new
            return d if d <= limit else None
    return None


@dataclass(slots=True)
class Rate:
    in_bps: float
    out_bps: float
    elapsed_s: float


class RateTracker:
    """Per (device, interface, source): the last reading, and the rate since."""

    def __init__(self):
        self.last: dict[tuple[str, str, str], Sample] = {}
        self.resets = 0

    def update(self, key: tuple[str, str, str], sample: Sample, speed_bps: int | None) -> Rate | None:
        prev = self.last.get(key)
        if prev is not None and sample.ts_ns <= prev.ts_ns:
            return None                      # a replayed or reordered reading: keep the newer baseline
        self.last[key] = sample
        if prev is None:
            return None
        if sample.uptime_ms is not None and prev.uptime_ms is not None and sample.uptime_ms < prev.uptime_ms:
            self.resets += 1                 # the agent restarted: its counters start again from zero
            return None
        elapsed = (sample.ts_ns - prev.ts_ns) / 1e9
        in_bps = bits_per_s(prev.in_octets, sample.in_octets, elapsed, speed_bps)
        out_bps = bits_per_s(prev.out_octets, sample.out_octets, elapsed, speed_bps)
        if in_bps is None or out_bps is None:
            self.resets += 1
            return None
        return Rate(in_bps, out_bps, elapsed)


def bits_per_s(old: int | None, new: int | None, elapsed_s: float, speed_bps: int | None) -> float | None:
    """One direction's rate (0 when a reading lacks the counter), None after a reset."""
    if old is None or new is None:
        return 0.0
    if new >= old:                           # the usual case, without delta's call
        return (new - old) * 8 / elapsed_s
    d = delta(old, new, elapsed_s, speed_bps)
    return None if d is None else d * 8 / elapsed_s
