"""The what-if before a disable, pure: the client's traffic on the links to
be shut moves to the segment's other members and out of their leaves'
uplinks; can they carry it? Each side's headroom is its speed times
thresholds.utilisation less what it carries now (counters' rates). The
figures go into the decision's evidence whatever the verdict; what happens
on an overload is the oper-group's `overload`: warn (act anyway: a
blackhole is worse than congestion), propose, or block.
May import: fabtel.config, fabtel.records, fabtel.pipeline.fabric_view.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fabtel.config import Config, OperGroup
from fabtel.records import Evidence
from fabtel.pipeline.fabric_view import DeviceView


@dataclass
class WhatIf:
    moving_bps: float | None                      # the client's traffic on the links to be shut
    member_headroom_bps: float | None             # what the segment's other members can still take in
    uplink_headroom_bps: float | None             # what their leaves' uplinks can still send
    overloads: list[str] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return None not in (self.moving_bps, self.member_headroom_bps, self.uplink_headroom_bps)

    @property
    def verdict(self) -> str:
        if not self.known:
            return "unknown (no rate or speed yet for some link)"
        return "overloads " + "; ".join(self.overloads) if self.overloads else "fits"

    def evidence(self, ts_ns: int) -> list[Evidence]:
        def text(v):
            return "unknown" if v is None else f"{v / 1e6:.1f} Mb/s"
        return [Evidence("what-if", "moving_bps", text(self.moving_bps), ts_ns),
                Evidence("what-if", "member_headroom_bps", text(self.member_headroom_bps), ts_ns),
                Evidence("what-if", "uplink_headroom_bps", text(self.uplink_headroom_bps), ts_ns),
                Evidence("what-if", "verdict", self.verdict, ts_ns)]


def segment_peers(cfg: Config, g: OperGroup) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the other members of the down-links' segments, their leaves' uplinks), as (device, interface)."""
    device = cfg.fabric.device(g.device)
    members, uplinks = [], []
    for link in g.down_links:
        esi = device.esi_of(link)
        if not esi:
            continue
        for other, lag in cfg.fabric.es_members(esi):
            if other == g.device:
                continue
            dev = cfg.fabric.device(other)
            members += [(other, m) for lg in dev.lags if lg.name == lag for m in lg.members]
            uplinks += [(other, u) for u in dev.uplinks]
    return sorted(set(members)), sorted(set(uplinks))


def what_if(cfg: Config, g: OperGroup, views: dict[str, DeviceView]) -> WhatIf:
    util = cfg.thresholds.utilisation
    here = views.get(g.device)
    rates = [here.interface(link).in_bps if here else None for link in g.down_links]
    moving = sum(rates) if here and all(here.interface(link).rate_ts_ns for link in g.down_links) else None
    members, uplinks = segment_peers(cfg, g)

    def headroom(ports: list[tuple[str, str]], direction: str) -> tuple[float | None, list[str]]:
        room, full = 0.0, []
        for dev, intf in ports:
            v = views.get(dev)
            iv = v.interface(intf) if v else None
            if iv is None or iv.oper != "up":
                continue
            if not iv.speed_bps or not iv.rate_ts_ns:
                return None, []
            carried = iv.in_bps if direction == "in" else iv.out_bps
            room += iv.speed_bps * util - carried
            full.append(f"{dev}:{intf}")
        return room, full
    member_room, _ = headroom(members, "in")
    uplink_room, _ = headroom(uplinks, "out")
    out = WhatIf(moving, member_room, uplink_room)
    if out.known:
        if moving > member_room:
            out.overloads.append(f"the segment's other members ({', '.join(f'{d}:{i}' for d, i in members)}): "
                                 f"{moving / 1e6:.0f} Mb/s to move, {max(member_room, 0) / 1e6:.0f} Mb/s of room")
        if moving > uplink_room:
            out.overloads.append(f"their leaves' uplinks ({', '.join(f'{d}:{i}' for d, i in uplinks)}): "
                                 f"{moving / 1e6:.0f} Mb/s to move, {max(uplink_room, 0) / 1e6:.0f} Mb/s of room "
                                 f"below {util:.0%} of their speed")
    return out
