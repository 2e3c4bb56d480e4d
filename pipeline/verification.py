"""Verification after a remediation, pure: once the telemetry shows a
disable in effect at the device, the worker watches what it did to the
traffic, for a bounded window (the group's verify_ms; by default two
counter intervals and one flow window):

- verified: the segment's other members carry the client's traffic (at
  least 80 % of what the segment received before), the disabled links are
  quiet, and the other leaves' uplinks stay below thresholds.utilisation;
- worse: the segment now receives less than half of what it did (the client
  could not fail over), or the other leaves start to discard;
- not_verified: the window passed without either.

A verdict needs rates measured after the change: rates whose counter
samples were both taken after the effect. The figures go into the
RemediationOutcome whatever the verdict.
May import: the standard library, fabtel.config, fabtel.records, fabtel.pipeline.fabric_view,
fabtel.pipeline.what_if.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config import Config, OperGroup
from fabtel.records import OperGroupDecision, RemediationOutcome
from fabtel.pipeline.fabric_view import DeviceView
from fabtel.pipeline.what_if import segment_peers

VERIFIED, NOT_VERIFIED, WORSE = "verified", "not_verified", "worse"
MOVED, COLLAPSED, QUIET = 0.8, 0.5, 0.01


@dataclass
class Watch:
    decision_id: str
    group: str
    device: str
    links: list[str]
    members: list[tuple[str, str]]          # the segment's other members
    uplinks: list[tuple[str, str]]          # their leaves' uplinks
    before_bps: float | None                # the client's traffic into the segment at the decision
    blackholed_before_bps: float | None
    decided_ns: int
    window_ns: int
    interval_ns: int
    effect_ns: int = 0                      # when the telemetry showed the change in effect (0: not yet)

    @property
    def deadline_ns(self) -> int:
        return self.effect_ns + self.window_ns if self.effect_ns else self.decided_ns + 2 * self.window_ns

    def to_list(self) -> list:
        return [self.decision_id, self.group, self.device, self.links, [list(m) for m in self.members],
                [list(u) for u in self.uplinks], self.before_bps, self.blackholed_before_bps, self.decided_ns,
                self.window_ns, self.interval_ns, self.effect_ns]

    @classmethod
    def from_list(cls, v: list) -> "Watch":
        return cls(v[0], v[1], v[2], v[3], [tuple(m) for m in v[4]], [tuple(u) for u in v[5]], *v[6:])


def window_ns(cfg: Config, g: OperGroup) -> int:
    if g.verify_ms:
        return g.verify_ms * 1_000_000
    return (2 * cfg.gnmi.sample_interval_ms + cfg.sflow.flow_window_ms) * 1_000_000


def start(cfg: Config, g: OperGroup, d: OperGroupDecision, views: dict[str, DeviceView],
          blackholed_bps: float | None) -> Watch:
    """The watch of a disable decision, with the figures before it."""
    members, uplinks = segment_peers(cfg, g)
    ports = [(g.device, link) for link in g.down_links] + members
    rates = [_in(views, dev, intf) for dev, intf in ports]
    before = sum(r for r in rates if r is not None) if any(r is not None for r in rates) else None
    return Watch(d.decision_id, g.name, g.device, list(g.down_links), members, uplinks, before, blackholed_bps,
                 d.decided_ts_ns, window_ns(cfg, g), cfg.gnmi.sample_interval_ms * 1_000_000)


def _in(views: dict[str, DeviceView], dev: str, intf: str) -> float | None:
    v = views.get(dev)
    iv = v.interfaces.get(intf) if v else None
    return iv.in_bps if iv is not None and iv.rate_ts_ns else None


def in_effect(w: Watch, views: dict[str, DeviceView]) -> int:
    """The device time at which the telemetry shows every down-link disabled, or 0."""
    v = views.get(w.device)
    if v is None:
        return 0
    states = [v.interfaces.get(link) for link in w.links]
    if all(s is not None and (s.admin == "disable" or s.oper == "down") for s in states):
        return max(s.ts_ns for s in states)
    return 0


def check(w: Watch, views: dict[str, DeviceView], utilisation: float, blackholed_after: float | None,
          peer_blackholed: float | None, now_ns: int) -> RemediationOutcome | None:
    """The outcome once the figures after the change say it, at the deadline at the latest; None meanwhile."""
    if not w.effect_ns:
        if now_ns < w.deadline_ns:
            return None
        return _outcome(w, NOT_VERIFIED, "the change never showed in the telemetry within the window", now_ns,
                        None, blackholed_after, None)
    ports = w.members + [(w.device, link) for link in w.links] + [
        (d, u) for d, u in w.uplinks if views.get(d) and views[d].interface(u).oper == "up"]
    known = [p for p in ports if _known(views, *p)]
    fresh = bool(known) and all(_rate_from(views, dev, intf) >= w.effect_ns for dev, intf in known)
    after = sum(r for dev, intf in w.members if (r := _in(views, dev, intf)) is not None)
    left = sum(r for link in w.links if (r := _in(views, w.device, link)) is not None)
    util = _uplink_utilisation(w, views)
    before = w.before_bps
    figures = (after, blackholed_after, util)
    if fresh and before:
        if after < COLLAPSED * before:
            return _outcome(w, WORSE, f"the segment's other members receive {after / 1e6:.0f} Mb/s of the client's "
                            f"traffic, {before / 1e6:.0f} Mb/s before the change: the client did not fail over",
                            now_ns, *figures)
        if peer_blackholed:
            return _outcome(w, WORSE, f"the segment's other leaves now discard ~{peer_blackholed / 1e6:.0f} Mb/s",
                            now_ns, *figures)
        if after >= MOVED * before and left <= QUIET * before and (util is None or util < utilisation):
            return _outcome(w, VERIFIED, f"the client's traffic moved: {after / 1e6:.0f} of {before / 1e6:.0f} Mb/s "
                            f"now on {', '.join(f'{d}:{i}' for d, i in w.members)}, the disabled links quiet"
                            + (f", their leaves' uplinks at {util:.0%}" if util is not None else ""), now_ns, *figures)
    if now_ns < w.deadline_ns:
        return None
    why = "no counter sample after the change" if not fresh else (
        f"{after / 1e6:.0f} of {before / 1e6:.0f} Mb/s moved" if before else "no rate before the change")
    if util is not None and util >= utilisation:
        why += f"; their leaves' uplinks at {util:.0%}, above {utilisation:.0%}"
    return _outcome(w, NOT_VERIFIED, f"not shown within {w.window_ns / 1e6:.0f} ms: {why}", now_ns, *figures)


def _known(views, dev, intf) -> bool:
    v = views.get(dev)
    return v is not None and intf in v.interfaces and v.interfaces[intf].rate_ts_ns > 0


def _rate_from(views, dev, intf) -> int:
    return views[dev].interfaces[intf].rate_from_ns


def _uplink_utilisation(w: Watch, views: dict[str, DeviceView]) -> float | None:
    """The busiest other leaf's usable uplinks, out rate over speed."""
    by_leaf: dict[str, list[float]] = {}
    for dev, intf in w.uplinks:
        v = views.get(dev)
        iv = v.interfaces.get(intf) if v else None
        if iv is None or iv.oper != "up" or not iv.speed_bps or not iv.rate_ts_ns:
            continue
        acc = by_leaf.setdefault(dev, [0.0, 0.0])
        acc[0] += iv.out_bps
        acc[1] += iv.speed_bps
    loads = [out / speed for out, speed in by_leaf.values() if speed]
    return max(loads) if loads else None


def _outcome(w: Watch, verdict: str, reason: str, now_ns: int, after, blackholed_after, util) -> RemediationOutcome:
    effect = w.effect_ns or w.decided_ns
    return RemediationOutcome(w.decision_id, w.group, w.device, list(w.links), verdict, reason, effect, now_ns,
                              round((now_ns - effect) / 1e6, 3), w.before_bps, after, w.blackholed_before_bps,
                              blackholed_after, util)
