"""A decision domain (fabtel.partitioning): the devices that share ethernet
segments (leaf1 and leaf2 of an ESI-LAG), processed together on one partition so that the
"last active member of a segment" rule, the what-if before a disable, the
verification after it and multi-chassis LAG balance see every member. Each
domain keeps the device views, counter rates, LAG windows, oper-group state
machines and the remediations it watches, and turns records into outputs. Pure."""
from __future__ import annotations

import hashlib

from fabtel.config import Config
from fabtel.partitioning import DecisionDomain
from fabtel.records import BgpSession, FlowWindow, InterfaceCounters, InterfaceState, LagMemberState
from fabtel.pipeline.counters import RateTracker, Sample
from fabtel.pipeline.fabric_view import DeviceView
from fabtel.pipeline.flow_groups import FlowGroups
from fabtel.pipeline.lag_balance import LagBalanceTracker
from fabtel.pipeline import verification
from fabtel.pipeline.oper_group import OperGroupEngine
from fabtel.pipeline.uplink_health import evaluate as uplink_health


class Domain:
    def __init__(self, cfg: Config, members: DecisionDomain):
        self.cfg, self.members = cfg, members
        self.devices = {d.name: d for d in cfg.fabric.devices if d.name in members}
        self.views = {n: DeviceView(n) for n in self.devices}
        self.rates = RateTracker()
        self.lags = LagBalanceTracker(cfg.fabric, cfg.thresholds, set(self.devices))
        self.flows = FlowGroups(cfg.fabric, cfg.thresholds, set(self.devices), self.lags.group_of)
        self.engine = OperGroupEngine(cfg, [g for g in cfg.oper_groups if g.device in self.devices])
        self.last_health: dict[str, str] = {}
        self.window_start_ns = 0
        # windows end at this domain's own phase of the clock (a hash of its
        # name): a worker's domains all seen at once would otherwise close their
        # windows in the same timer round, and a decision queued behind ~100 of
        # those (~1 ms each with their outputs) waited 80 ms (bench process)
        digest = hashlib.blake2b(members.name.encode(), digest_size=8).digest()
        self.window_phase_ns = int.from_bytes(digest, "big") % (cfg.thresholds.window_ms * 1_000_000)
        self.watches: list[verification.Watch] = []        # remediations whose outcome is still to tell

    def view(self, device: str) -> DeviceView:
        if device not in self.views:
            self.views[device] = DeviceView(device)
        return self.views[device]

    # ------------------------------------------------------------ inputs

    def apply(self, rec, now_ns: int) -> tuple[list, bool]:
        """Outputs caused by one record, and whether decision state changed
        (the caller persists the domain then)."""
        if isinstance(rec, FlowWindow):
            self.flows.observe(rec)
            return self._verify(now_ns)
        view = self.view(rec.device)
        view.last_seen_ns = max(view.last_seen_ns, rec.receive_ts_ns)
        if isinstance(rec, InterfaceCounters):
            self._counters(view, rec)
            return self._verify(now_ns)
        if isinstance(rec, LagMemberState):
            self.lags.lacp(rec)
            return [], False
        if isinstance(rec, InterfaceState):
            changed = view.apply_state(rec)
        elif isinstance(rec, BgpSession):
            changed = view.apply_bgp(rec)
        else:
            return [], False
        if not changed:
            return [], False
        out = self._decide(now_ns, health_for={rec.device})
        return out + self._verify(now_ns)[0], True

    # ------------------------------------------------------------ verification

    def _verify(self, now_ns: int) -> tuple[list, bool]:
        """The outcomes of the remediations watched, once the telemetry tells them; a worse one rolled back."""
        if not self.watches:
            return [], False
        out: list = []
        for w in list(self.watches):
            if not w.effect_ns:
                w.effect_ns = verification.in_effect(w, self.views)
            after = self.flows.discard_bps(w.device, now_ns, w.effect_ns) if w.effect_ns else None
            peers = {d for d, _ in w.members}
            peer_loss = sum(b for d in peers if (b := self.flows.discard_bps(d, now_ns, w.effect_ns or now_ns)))
            result = verification.check(w, self.views, self.cfg.thresholds.utilisation, after, peer_loss or None,
                                        now_ns)
            if result is None:
                continue
            self.watches.remove(w)
            if result.outcome == verification.WORSE and self.engine.rollback_on(w.group):
                rollback = self.engine.rollback(w.group, result.reason, now_ns)
                result.rolled_back = True
                out += [result] + rollback.decisions + rollback.commands
            else:
                out.append(result)
        return out, bool(out)

    def clear(self, group: str) -> bool:
        """A person's word that a group held after a rollback may act again."""
        return self.engine.clear(group)

    def apply_segment(self, device: str, esi: str, routers: list[str], routes: list[str], ts_ns: int,
                      now_ns: int) -> tuple[list, bool]:
        """Where the device's EVPN routes for one ethernet segment are now (pipeline/evpn_segments.py)."""
        view = self.view(device)
        if view.evpn.get(esi, (None, None, 0))[:2] == (routers, routes):
            return [], False
        view.evpn[esi] = (routers, routes, ts_ns)
        return self._decide(now_ns, health_for=set()), True

    def _counters(self, view: DeviceView, rec: InterfaceCounters) -> None:
        intf = view.interface(rec.interface)
        if rec.speed_bps:
            intf.speed_bps = rec.speed_bps
        rate = self.rates.update((rec.device, rec.interface, rec.source),
                                 Sample(rec.device_ts_ns, rec.in_octets, rec.out_octets, rec.agent_uptime_ms),
                                 intf.speed_bps)
        if rate is None:
            return
        intf.in_bps, intf.out_bps, intf.rate_ts_ns = rate.in_bps, rate.out_bps, rec.device_ts_ns
        intf.rate_from_ns = rec.device_ts_ns - int(rate.elapsed_s * 1e9)
        self.lags.add_traffic(rec.device, rec.interface, rate.in_bps, rate.out_bps, rate.elapsed_s, intf.speed_bps)

    # ------------------------------------------------------------ timers

    def tick(self, now_ns: int) -> tuple[list, bool]:
        """Hold timers, staleness and the periodic window results."""
        out = self._decide(now_ns, health_for=set()) + self._verify(now_ns)[0]
        changed = bool(out)
        if now_ns - self.window_start_ns >= self.cfg.thresholds.window_ms * 1_000_000:
            if self.window_start_ns:
                reports = self.flows.reports(now_ns, self._counter_rate)
                by_group = {r.group: r for r in reports if r.kind == "lag"}
                out += reports
                out += [self.flows.explain(b, by_group.get(b.lag_id)) for b in self.lags.close_window(now_ns)]
                out += [uplink_health(self.views[d], dev, self.cfg.thresholds, now_ns)
                        for d, dev in self.devices.items() if dev.role == "leaf" and dev.uplinks]
            self.window_start_ns = self._window_start(now_ns)
            changed = True
        return out, changed

    def _window_start(self, now_ns: int) -> int:
        """The start of the window `now_ns` is in: the last end at this domain's phase."""
        return max(1, now_ns - (now_ns - self.window_phase_ns) % (self.cfg.thresholds.window_ms * 1_000_000))

    def _counter_rate(self, device: str, interface: str, direction: str) -> tuple[float | None, int | None]:
        intf = self.view(device).interface(interface)
        return (intf.in_bps if direction == "in" else intf.out_bps), intf.speed_bps

    def next_due_ns(self, now_ns: int) -> int:
        """When this domain next has work without new telemetry: the window's
        end, a leaf going stale (its health turns unknown), a hold timer. The
        worker's timer sends a tick only then, not to every domain each round."""
        due = self.window_start_ns + self.cfg.thresholds.window_ms * 1_000_000 if self.window_start_ns else now_ns
        stale_ns = self.cfg.thresholds.stale_after_ms * 1_000_000
        for name, dev in self.devices.items():
            if dev.role != "leaf" or not dev.uplinks:
                continue
            seen = self.views[name].last_seen_ns
            boundary = seen + stale_ns + 1 if seen else now_ns
            unknown = self.last_health.get(name) == "unknown"
            if boundary > now_ns:
                if unknown and seen:
                    return now_ns              # telemetry is back after silence: re-evaluate at once
                due = min(due, boundary)
            elif not unknown:
                return now_ns
        if self.watches:                           # a remediation's outcome: looked at again soon, told by its deadline
            due = min(due, now_ns + 250_000_000, *(w.deadline_ns for w in self.watches))
        return min(due, self.engine.next_due_ns(now_ns))

    def _decide(self, now_ns: int, health_for: set[str]) -> list:
        out: list = []
        for name, dev in self.devices.items():
            if dev.role != "leaf" or not dev.uplinks:
                continue
            h = uplink_health(self.views[name], dev, self.cfg.thresholds, now_ns)
            if name in health_for or self.last_health.get(name) != h.state:
                out.append(h)
                self.last_health[name] = h.state
        outcome = self.engine.evaluate(self.views, now_ns)
        for d in outcome.decisions:
            if d.action == "disable":          # what the flow samples saw being blackholed, when they saw it yet
                d.evidence += self.flows.blackhole_evidence(d.device, now_ns)
            applied = [c for c in outcome.commands if c.decision_id == d.decision_id and not c.propose_only]
            if d.action == "disable" and applied:
                self.watches.append(verification.start(self.cfg, self.engine.groups[d.oper_group], d, self.views,
                                                       self.flows.discard_bps(d.device, now_ns)))
        return out + outcome.decisions + outcome.commands

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict:
        return {"views": {k: v.to_dict() for k, v in self.views.items()}, "engine": self.engine.to_dict(),
                "health": self.last_health, "watches": [w.to_list() for w in self.watches]}

    def load(self, d: dict) -> None:
        self.views.update({k: DeviceView.from_dict(v) for k, v in d.get("views", {}).items()})
        self.engine.load(d.get("engine", {}))
        self.last_health = dict(d.get("health", {}))
        self.watches = [verification.Watch.from_list(w) for w in d.get("watches", [])]
