"""LAG balance and health. Pure.

A LAG group is one LAG on one device, or a multi-chassis LAG: the members on
several devices that belong to one ethernet segment (ESI in the
configuration) or, without an ESI, that see the same partner system ID.
Per window: each member's rate (the busier direction) and utilisation of its
speed, the imbalance (max over mean utilisation) and spread (max minus min),
per member LACP health from the port states, and partner system ID
consistency. An alert is raised when the imbalance stays above the threshold
for N windows or a member turns unhealthy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fabtel.config import Fabric, Thresholds
from fabtel.lacp import COLLECTING, DEFAULTED, DISTRIBUTING, EXPIRED, SYNCHRONIZATION as SYNC
from fabtel.records import LagBalance, LagMemberLoad, LagMemberState

NO_PARTNER = {None, "", "00:00:00:00:00:00"}


def lacp_health(actor: int | None, partner: int | None) -> tuple[bool | None, str | None]:
    """(healthy, reason). Healthy needs synchronization, collecting and
    distributing on both actor and partner; defaulted or expired is unhealthy.
    A side whose state is not reported (gNMI gives the actor's only) is not judged."""
    if actor is None and partner is None:
        return None, None
    reasons = []
    for side, state in (("actor", actor), ("partner", partner)):
        if state is None:
            continue
        missing = [name for bit, name in ((SYNC, "synchronization"), (COLLECTING, "collecting"),
                                          (DISTRIBUTING, "distributing")) if not state & bit]
        if missing:
            reasons.append(f"{side} not {'/'.join(missing)}")
        if state & DEFAULTED:
            reasons.append(f"{side} defaulted")
        if state & EXPIRED:
            reasons.append(f"{side} expired")
    return (not reasons), ("; ".join(reasons) or None)


@dataclass
class MemberView:
    device: str
    interface: str
    in_bits: float = 0.0            # bits seen in the current window
    out_bits: float = 0.0
    seconds: float = 0.0
    speed_bps: int | None = None
    actor_state: int | None = None
    partner_state: int | None = None
    partner_id: str | None = None
    oper_up: bool | None = None
    present: bool = True            # False once the device deleted it from the LAG
    port_state_order: str | None = None


@dataclass
class LagGroup:
    lag_id: str
    members: dict[tuple[str, str], MemberView] = field(default_factory=dict)
    windows_above: int = 0
    unhealthy: set = field(default_factory=set)


def configured_groups(fabric: Fabric) -> dict[tuple[str, str], str]:
    """(device, member interface) -> lag_id, from the configuration."""
    out = {}
    for dev in fabric.devices:
        for lag in dev.lags:
            lag_id = f"esi:{lag.esi}" if lag.esi else f"{dev.name}/{lag.name}"
            for m in lag.members:
                out[(dev.name, m)] = lag_id
    return out


class LagBalanceTracker:
    def __init__(self, fabric: Fabric, thresholds: Thresholds, devices: set[str] | None = None):
        self.thresholds = thresholds
        self.group_of = {k: v for k, v in configured_groups(fabric).items() if devices is None or k[0] in devices}
        self.groups: dict[str, LagGroup] = {}
        for (dev, member), lag_id in self.group_of.items():
            self.groups.setdefault(lag_id, LagGroup(lag_id)).members[(dev, member)] = MemberView(dev, member)

    def member(self, device: str, interface: str) -> MemberView | None:
        lag_id = self.group_of.get((device, interface))
        return self.groups[lag_id].members[(device, interface)] if lag_id else None

    def add_traffic(self, device: str, interface: str, in_bps: float, out_bps: float, seconds: float,
                    speed_bps: int | None) -> None:
        m = self.member(device, interface)
        if m is None:
            return
        m.in_bits += in_bps * seconds
        m.out_bits += out_bps * seconds
        m.seconds += seconds
        if speed_bps:
            m.speed_bps = speed_bps

    def lacp(self, rec: LagMemberState) -> None:
        m = self.member(rec.device, rec.member)
        if rec.deleted:
            # Taken out of its LAG on the device: it no longer counts in the
            # group's balance or health until it is back.
            if m is not None:
                m.present, m.actor_state, m.partner_state, m.oper_up = False, None, None, False
            return
        if m is None:
            # A LAG the configuration does not name: group it by its partner system ID.
            if rec.partner_system_id in NO_PARTNER:
                return
            lag_id = f"partner:{rec.partner_system_id}"
            self.group_of[(rec.device, rec.member)] = lag_id
            m = self.groups.setdefault(lag_id, LagGroup(lag_id)).members.setdefault(
                (rec.device, rec.member), MemberView(rec.device, rec.member))
        if rec.actor_oper_port_state is not None:
            m.actor_state = rec.actor_oper_port_state
        if rec.partner_oper_port_state is not None:
            m.partner_state = rec.partner_oper_port_state
        if rec.partner_system_id is not None:
            m.partner_id = rec.partner_system_id
        if rec.oper_state is not None:
            m.oper_up = rec.oper_state == "up"
        if rec.port_state_order is not None:
            m.port_state_order = rec.port_state_order
        m.present = True

    def close_window(self, window_end_ns: int) -> list[LagBalance]:
        """One result per LAG group for the window that ends now; resets it."""
        out = []
        t = self.thresholds
        for g in self.groups.values():
            loads = []
            for m in g.members.values():
                if not m.present:
                    m.in_bits = m.out_bits = m.seconds = 0.0
                    continue
                rate = max(m.in_bits, m.out_bits) / m.seconds if m.seconds else 0.0
                util = rate / m.speed_bps if m.speed_bps else None
                healthy, reason = lacp_health(m.actor_state, m.partner_state)
                loads.append(LagMemberLoad(m.device, m.interface, rate, m.speed_bps, util, healthy, reason, m.partner_id,
                                           m.port_state_order))
                m.in_bits = m.out_bits = m.seconds = 0.0
            utils = [x.utilisation for x in loads if x.utilisation is not None]
            mean = sum(utils) / len(utils) if utils else 0.0
            imbalance = max(utils) / mean if mean > 0 else None
            spread = max(utils) - min(utils) if utils else None
            partners = {x.partner_system_id for x in loads} - NO_PARTNER
            alert = []
            g.windows_above = g.windows_above + 1 if imbalance is not None and imbalance > t.lag_imbalance else 0
            if g.windows_above >= t.lag_imbalance_windows:
                alert.append(f"imbalance {imbalance:.2f} above {t.lag_imbalance} for {g.windows_above} windows")
            unhealthy = {f"{x.device}:{x.interface}" for x in loads if x.lacp_healthy is False}
            for name in sorted(unhealthy):
                reason = next(x.health_reason for x in loads if f"{x.device}:{x.interface}" == name)
                alert.append(f"member {name} unhealthy: {reason}")
            g.unhealthy = unhealthy
            if len(partners) > 1:
                alert.append(f"members see different partners: {', '.join(sorted(partners))}")
            if any(x.utilisation is not None and x.utilisation > t.utilisation for x in loads):
                alert.append(f"a member is above {t.utilisation:.0%} utilisation")
            out.append(LagBalance(g.lag_id, sorted({x.device for x in loads}), window_end_ns, t.window_ms, loads,
                                  imbalance, spread, len(partners) <= 1, "; ".join(alert) or None))
        return out
