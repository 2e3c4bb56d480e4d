"""Rates from cumulative counters, with counter wrap and agent restarts.

A counter that goes down either wrapped (32-bit or 64-bit, when the wrapped
delta is plausible for the link speed) or was reset (the agent restarted: its
uptime went backwards, or no wrap is plausible). A reset gives no rate for
that interval and a new baseline; it never yields a negative or huge rate.
"""
from __future__ import annotations

from dataclasses import dataclass

WRAPS = (1 << 32, 1 << 64)


@dataclass
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


@dataclass
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
        rates = []
        for old, new in ((prev.in_octets, sample.in_octets), (prev.out_octets, sample.out_octets)):
            if old is None or new is None:
                rates.append(0.0)
                continue
            d = delta(old, new, elapsed, speed_bps)
            if d is None:
                self.resets += 1
                return None
            rates.append(d * 8 / elapsed)
        return Rate(rates[0], rates[1], elapsed)
