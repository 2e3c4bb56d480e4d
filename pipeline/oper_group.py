"""Oper-group decisions: when a leaf has fewer than required_up_uplinks
uplinks up, disable its down-links (so multihomed clients stop hashing
traffic into a blackhole); when enough uplinks are up again with BGP
established and the hold-up time has passed, enable them. Pure.

States: armed -> (bad) pending_down -> (hold-down passed) down
        down -> (good, BGP up) pending_up -> (hold-up passed) armed
With wait_for_evpn, "good" also needs the leaf's EVPN type-1 and type-4
routes for every segment of its down-links back at required_up_uplinks
routers (its spines), as BMP shows them (pipeline/evpn_segments.py).
A flap shorter than hold_down_ms never leaves pending_down; a return that
does not last hold_up_ms falls back to down.

Before a disable, the what-if (pipeline/what_if.py) says whether the
segment's other members and their leaves' uplinks can carry what moves to
them; its figures are in the decision's evidence, and an overload warns,
proposes (commands recorded, not applied) or blocks, as the group says.
After a change that made things worse (pipeline/verification.py), the
worker rolls it back (`rollback`): the links are enabled again and the group
holds (`held`) for rollback_hold_ms, or until a person clears it: at most
one rollback per group per hold.

Safety rules (on by default): never act on a device whose telemetry is stale
(state unknown); never take down the last active member of an ethernet
segment (the decision is recorded as suppressed, with its reason, and is
retried while the group stays bad); at most max_decisions_per_minute
decisions per domain. Decision ids are a hash of the group, the action and
the device time of the triggering telemetry, so a replay yields the same ids.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from fabtel.config import Config, OperGroup
from fabtel.platforms import platform
from fabtel.records import Evidence, OperGroupDecision, RemediationCommand
from fabtel.pipeline.fabric_view import DeviceView
from fabtel.pipeline.uplink_health import is_stale, usable_uplinks
from fabtel.pipeline.what_if import what_if

ARMED, PENDING_DOWN, DOWN, PENDING_UP, SUPPRESSED, HELD = (
    "armed", "pending_down", "down", "pending_up", "suppressed", "held")


NEVER = 1 << 62        # no timer pending (ns)


def decision_id(group: str, action: str, trigger_ts_ns: int) -> str:
    return hashlib.sha256(f"{group}|{action}|{trigger_ts_ns}".encode()).hexdigest()[:20]


@dataclass
class GroupState:
    state: str = ARMED
    since_ns: int = 0                 # device time the current condition started
    last_decision: str | None = None
    suppressed_reason: str | None = None


@dataclass
class Outcome:
    decisions: list[OperGroupDecision] = field(default_factory=list)
    commands: list[RemediationCommand] = field(default_factory=list)


class OperGroupEngine:
    """Every oper-group of one domain (devices that share ethernet segments)."""

    def __init__(self, cfg: Config, groups: list[OperGroup]):
        self.cfg = cfg
        self.groups = {g.name: g for g in groups}
        self.states: dict[str, GroupState] = {g.name: GroupState() for g in groups}
        self.recent: list[int] = []        # decided_ts_ns of recent decisions, for the rate limit

    # ------------------------------------------------------------ conditions

    def _uplinks(self, g: OperGroup, view: DeviceView) -> tuple[int, int, int]:
        """(watched uplinks oper up, of those able to forward, device ts of the newest change): the
        uplink-health judgement (usable_uplinks) over the group's watched uplinks."""
        up, usable, _ = usable_uplinks(view, g.watch, g.require_bgp)
        newest = max((view.interface(u).ts_ns for u in g.watch), default=0)
        if g.require_bgp and view.bgp:
            newest = max(newest, view.established()[1])
        return up, usable, newest

    def _segments(self, g: OperGroup) -> list[str]:
        device = self.cfg.fabric.device(g.device)
        return sorted({esi for link in g.down_links if (esi := device.esi_of(link))})

    def _overlay_back(self, g: OperGroup, view: DeviceView) -> tuple[bool, int]:
        """Whether every segment's EVPN routes are at enough routers, and the newest change's time."""
        if not g.wait_for_evpn:
            return True, 0
        seen = [view.evpn.get(esi, ([], [], 0)) for esi in self._segments(g)]
        return all(len(routers) >= g.required_up_uplinks for routers, _, _ in seen), max((ts for *_, ts in seen), default=0)

    def _evidence(self, g: OperGroup, view: DeviceView) -> list[Evidence]:
        ev = [Evidence(u, "oper_state", view.interface(u).oper or "unknown", view.interface(u).ts_ns) for u in g.watch]
        ev += [Evidence(peer, "bgp", state, ts) for peer, (state, ts) in sorted(view.bgp.items())]
        if g.wait_for_evpn:
            for esi in self._segments(g):
                routers, routes, ts = view.evpn.get(esi, ([], [], 0))
                ev.append(Evidence(f"esi {esi}", "evpn_es_routes", "; ".join(routes) or "none seen", ts))
        return ev

    def _last_active_members(self, g: OperGroup, views: dict[str, DeviceView]) -> list[str]:
        """Down-links of this group that are the last active member of their
        ethernet segment: taking them down would cut the client off."""
        device = self.cfg.fabric.device(g.device)
        last = []
        for link in g.down_links:
            lag = device.lag_of(link) or next((lg for lg in device.lags if lg.name == link), None)
            if lag is None or not lag.esi:
                continue
            others_active = False
            for other_dev, other_lag in self.cfg.fabric.es_members(lag.esi):
                if other_dev == g.device:
                    continue
                ov = views.get(other_dev)
                if ov is None:
                    continue
                members = next(lg.members for lg in self.cfg.fabric.device(other_dev).lags if lg.name == other_lag)
                other_group = next((og for og in self.groups.values() if og.device == other_dev), None)
                taken_down = other_group is not None and self.states[other_group.name].state in (DOWN, PENDING_UP)
                if not taken_down and any(ov.interface(m).oper == "up" for m in members):
                    others_active = True
            if not others_active:
                last.append(f"{g.device}:{link} (ESI {lag.esi})")
        return last

    # ------------------------------------------------------------ evaluation

    def evaluate(self, views: dict[str, DeviceView], now_ns: int) -> Outcome:
        out = Outcome()
        for name, g in self.groups.items():
            view = views.get(g.device)
            if view is None:
                continue
            st = self.states[name]
            if st.state == HELD:
                if now_ns - st.since_ns < g.rollback_hold_ms * 1_000_000:
                    continue                   # rolled back: hands off until the hold passes or a person clears it
                st.state, st.suppressed_reason = ARMED, None
            unknown = is_stale(view, self.cfg.thresholds, now_ns) or any(
                view.interface(u).oper is None for u in g.watch)
            if unknown and not self.cfg.safety.act_on_unknown:
                continue                       # never act on unknown: silence or no state yet is not "down"
            up, forwarding, changed_ts = self._uplinks(g, view)
            overlay, overlay_ts = self._overlay_back(g, view)
            bad = up < g.required_up_uplinks
            good = forwarding >= g.required_up_uplinks and overlay
            if g.wait_for_evpn and st.state in (DOWN, PENDING_UP):
                changed_ts = max(changed_ts, overlay_ts)
            if st.state in (ARMED, SUPPRESSED) and not bad:
                st.state, st.suppressed_reason = ARMED, None
            elif st.state == ARMED and bad:
                st.state, st.since_ns = PENDING_DOWN, changed_ts
            if st.state == PENDING_DOWN:
                if not bad:
                    st.state = ARMED           # a flap inside the hold-down time
                elif now_ns - st.since_ns >= g.hold_down_ms * 1_000_000:
                    self._decide(g, "disable", st, view, views, now_ns, out,
                                 f"{up} of {len(g.watch)} watched uplinks up, {g.required_up_uplinks} required")
            elif st.state == SUPPRESSED and bad:
                self._decide(g, "disable", st, view, views, now_ns, out,
                             f"{up} of {len(g.watch)} watched uplinks up, {g.required_up_uplinks} required")
            elif st.state == DOWN and good:
                st.state, st.since_ns = PENDING_UP, changed_ts
            if st.state == PENDING_UP:
                if not good:
                    st.state = DOWN
                elif now_ns - st.since_ns >= g.hold_up_ms * 1_000_000:
                    self._decide(g, "enable", st, view, views, now_ns, out,
                                 f"{forwarding} uplinks up with BGP established for {g.hold_up_ms} ms"
                                 + (f", EVPN type-1/4 routes of {', '.join(self._segments(g))} back at "
                                    f"{g.required_up_uplinks}+ spines" if g.wait_for_evpn else ""))
        return out

    def next_due_ns(self, now_ns: int) -> int:
        """The earliest hold timer to expire (a suppressed group is retried every tick)."""
        due = NEVER
        for name, g in self.groups.items():
            st = self.states[name]
            if st.state == PENDING_DOWN:
                due = min(due, st.since_ns + g.hold_down_ms * 1_000_000)
            elif st.state == PENDING_UP:
                due = min(due, st.since_ns + g.hold_up_ms * 1_000_000)
            elif st.state == SUPPRESSED:
                due = min(due, now_ns)
            elif st.state == HELD:
                due = min(due, st.since_ns + g.rollback_hold_ms * 1_000_000)
        return due

    def rollback(self, group: str, reason: str, now_ns: int) -> Outcome:
        """Enable a group's links again (its change made things worse) and hold the group."""
        g, st, out = self.groups[group], self.states[group], Outcome()
        did = decision_id(g.name, "rollback", now_ns)
        out.decisions.append(OperGroupDecision(did, g.name, g.device, "enable", list(g.down_links), False,
                                               f"rollback: {reason}; the group holds for {g.rollback_hold_ms} ms "
                                               "or until cleared", [], now_ns, now_ns))
        self._commands(g, did, "enable", now_ns, now_ns, out)
        st.state, st.since_ns, st.last_decision = HELD, now_ns, did
        st.suppressed_reason = f"rolled back: {reason}"
        return out

    def clear(self, group: str) -> bool:
        """A person says a held group may act again."""
        st = self.states.get(group)
        if st is None or st.state != HELD:
            return False
        st.state, st.suppressed_reason = ARMED, None
        return True

    def rollback_on(self, group: str) -> bool:
        g = self.groups[group]
        return g.rollback if g.rollback is not None else self.cfg.remediation.mode == "enforce"

    def _decide(self, g: OperGroup, action: str, st: GroupState, view: DeviceView, views: dict[str, DeviceView],
                now_ns: int, out: Outcome, reason: str) -> None:
        safety = self.cfg.safety
        suppressed = None
        if action == "disable" and safety.protect_last_es_member:
            last = self._last_active_members(g, views)
            if last:
                suppressed = f"would take down the last active member of the ethernet segment: {', '.join(last)}"
        self.recent = [t for t in self.recent if now_ns - t < 60_000_000_000]
        if suppressed is None and len(self.recent) >= safety.max_decisions_per_minute:
            suppressed = f"rate limit: {len(self.recent)} decisions in the last minute"
        evidence = self._evidence(g, view)
        propose_only = False
        if action == "disable":
            w = what_if(self.cfg, g, views)
            evidence += w.evidence(now_ns)
            if w.overloads and g.overload == "block" and suppressed is None:
                suppressed = f"what-if: moving the client's traffic {w.verdict} (overload: block)"
            elif w.overloads and g.overload == "propose":
                propose_only = True
                reason += f"; what-if: {w.verdict}: proposed only (overload: propose)"
            elif w.overloads:
                reason += f"; what-if: {w.verdict}: acting anyway (overload: warn)"
        if suppressed is not None:
            if st.state == SUPPRESSED and st.suppressed_reason == suppressed:
                return                          # recorded once; retried quietly while bad
            st.state, st.suppressed_reason = SUPPRESSED, suppressed
        trigger = st.since_ns
        did = decision_id(g.name, action, trigger)
        out.decisions.append(OperGroupDecision(did, g.name, g.device, action, list(g.down_links), suppressed is not None,
                                               suppressed or reason, evidence, trigger, now_ns))
        if suppressed is not None:
            return
        self.recent.append(now_ns)
        st.state = DOWN if action == "disable" else ARMED
        st.last_decision = did
        self._commands(g, did, action, trigger, now_ns, out, propose_only)

    def _commands(self, g: OperGroup, did: str, action: str, trigger: int, now_ns: int, out: Outcome,
                  propose_only: bool = False) -> None:
        name = self.cfg.fabric.device(g.device).platform
        for link in g.down_links:
            path, value = platform(name).admin_command(link, up=action == "enable")
            out.commands.append(RemediationCommand(f"{did}:{link}", did, g.device, link, action, name, path,
                                                   value, trigger, now_ns, propose_only))

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        return {"states": {k: [v.state, v.since_ns, v.last_decision, v.suppressed_reason] for k, v in self.states.items()},
                "recent": self.recent}

    def load(self, d: dict) -> None:
        for k, v in d.get("states", {}).items():
            if k in self.states:
                self.states[k] = GroupState(*v)
        self.recent = list(d.get("recent", []))
