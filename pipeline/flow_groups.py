"""What the flow estimates say about a domain's groups. Pure.

Fed with the sFlow collector's FlowWindow records (connectors/sflow/flows.py)
and the counter rates the domain already has, once per window it reports:
- per LAG (or ESI-LAG) and per leaf's uplinks (ECMP): each member's rate
  estimated from flow samples beside its counter rate, its top flows, and the
  elephants (a flow above thresholds.elephant_share of the member's speed for
  thresholds.elephant_windows windows); the LAG imbalance alert carries the
  explanation (`explain`);
- blackholing: a device whose discard samples (output format 1) reach
  thresholds.blackholing_min_samples in a window, with the estimated rate,
  whether or not an uplink went down (reported, never acted on);
- hash polarization: the flows arriving on one port (from the stage before)
  all leave on one of several equal next-stage links (ports to devices that
  share an ethernet segment), as the device's own samples show.
May import: fabtel.config, fabtel.partitioning, fabtel.records, fabtel.sampling.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from fabtel.config import Fabric, Thresholds
from fabtel.partitioning import fabric_domains
from fabtel.records import Evidence, FlowElephant, FlowMember, FlowReport, FlowWindow, LagBalance
from fabtel.sampling import DISCARD, IN, OUT, error_pct, rate_text

POLARIZED_SHARE = 0.95      # of an input's samples on one output
POLARIZATION_MIN_SAMPLES = 20
POLARIZATION_MIN_FLOWS = 4
RateOf = Callable[[str, str, str], tuple[float | None, int | None]]   # (device, interface, direction) -> (bps, speed)


class FlowGroups:
    def __init__(self, fabric: Fabric, thresholds: Thresholds, devices: set[str], lag_of: dict[tuple[str, str], str]):
        self.t = thresholds
        self.lags: dict[str, list[tuple[str, str]]] = {}
        for member, lag_id in sorted(lag_of.items()):
            self.lags.setdefault(lag_id, []).append(member)
        self.uplinks = {d.name: list(d.uplinks) for d in fabric.devices if d.name in devices and d.uplinks}
        self.peer: dict[tuple[str, str], tuple[str, str]] = {}
        for link in fabric.links:
            self.peer[link.a], self.peer[link.b] = link.b, link.a
        self.segment_of = fabric_domains(fabric)          # devices that share an ethernet segment
        self.latest: dict[tuple, FlowWindow] = {}          # (device, interface, direction, code) -> newest window
        self.reported: dict[tuple, int] = {}               # ... -> the end of the newest window reported on
        self.elephant_runs: dict[tuple, tuple[int, int]] = {}   # (device, interface, flow key) -> (windows, last end)

    def observe(self, w: FlowWindow) -> None:
        key = (w.device, w.interface, w.direction, w.discard_code)
        old = self.latest.get(key)
        if old is None or w.window_end_ns >= old.window_end_ns:
            self.latest[key] = w

    def _fresh(self, now_ns: int) -> dict[tuple, FlowWindow]:
        """Windows that ended within the last two window lengths (older ones are forgotten)."""
        keep = {}
        for key, w in self.latest.items():
            if now_ns - w.window_end_ns <= 2 * (w.window_end_ns - w.window_start_ns) + self.t.window_ms * 1_000_000:
                keep[key] = w
        self.latest = keep
        self.reported = {k: v for k, v in self.reported.items() if k in keep}
        return keep

    # ------------------------------------------------------------ reports

    def reports(self, now_ns: int, rate_of: RateOf) -> list[FlowReport]:
        """Reports on the windows that arrived since the last call: each window once."""
        fresh = self._fresh(now_ns)
        new = {k: w for k, w in fresh.items() if self.reported.get(k, 0) < w.window_end_ns}
        self.reported.update({k: w.window_end_ns for k, w in new.items()})
        out = []
        for lag_id, members in sorted(self.lags.items()):
            totals = {d: sum(new[(dev, i, d, None)].bytes for dev, i in members if (dev, i, d, None) in new)
                      for d in (IN, OUT)}
            if any(totals.values()):
                direction = IN if totals[IN] >= totals[OUT] else OUT
                out.append(self._group("lag", lag_id, members, direction, fresh, rate_of))
        for device, uplinks in sorted(self.uplinks.items()):
            members = [(device, u) for u in uplinks]
            if any((device, u, OUT, None) in new for u in uplinks):
                out.append(self._group("ecmp", f"{device}/uplinks", members, OUT, fresh, rate_of))
        out += self._blackholing(new)
        out += self._polarization(new)
        return out

    def _group(self, kind: str, group: str, members: list[tuple[str, str]], direction: str,
               fresh: dict[tuple, FlowWindow], rate_of: RateOf) -> FlowReport:
        rows, elephants = [], []
        # The members' windows of the newest window: a member without one had no samples in it.
        end = max((fresh[k].window_end_ns for dev, i in members if (k := (dev, i, direction, None)) in fresh), default=0)
        for dev, intf in members:
            w = fresh.get((dev, intf, direction, None))
            counter, speed = rate_of(dev, intf, direction)
            if w is None or w.window_end_ns != end:
                rows.append(FlowMember(dev, intf, 0.0, 100.0, 0, counter, speed, []))
                continue
            rows.append(FlowMember(dev, intf, w.bps, w.error_pct, w.samples, counter, speed, w.top_flows))
            elephants += self._elephants(dev, intf, w, speed)
        verdict = None
        if elephants:
            verdict = "; ".join(f"{e.device}:{e.interface} elephant {e.flow.text()} at ~{rate_text(e.flow.bps)} "
                                f"\u00b1{e.flow.error_pct:.0f} % ({e.capacity_share:.0%} of its speed)" for e in elephants)
        return FlowReport(kind, group, sorted({d for d, _ in members}), end, rows, elephants, None, None, [], verdict)

    def _elephants(self, dev: str, intf: str, w: FlowWindow, speed: int | None) -> list[FlowElephant]:
        out = []
        for f in w.top_flows:
            key = (dev, intf, (f.src_ip, f.dst_ip, f.protocol, f.src_port, f.dst_port, f.vlan, f.vni))
            big = bool(speed) and f.bps / speed > self.t.elephant_share
            runs, last = self.elephant_runs.get(key, (0, 0))
            if w.window_end_ns != last:
                # consecutive windows only: the last one counted ended where this one starts
                runs = (runs + 1 if last == w.window_start_ns else 1) if big else 0
                self.elephant_runs[key] = (runs, w.window_end_ns)
            if big and runs >= self.t.elephant_windows:
                out.append(FlowElephant(dev, intf, f, f.bps / speed, runs))
        if len(self.elephant_runs) > 10_000:        # flows that left: forget the ones not seen for ten windows
            horizon = w.window_end_ns - 10 * (w.window_end_ns - w.window_start_ns)
            self.elephant_runs = {k: v for k, v in self.elephant_runs.items() if v[1] >= horizon}
        return out

    def _blackholing(self, new: dict[tuple, FlowWindow]) -> list[FlowReport]:
        """One report per device and window of discard samples."""
        by_window: dict[tuple[str, int], list[FlowWindow]] = {}
        for (dev, _, direction, _), w in new.items():
            if direction == DISCARD:
                by_window.setdefault((dev, w.window_end_ns), []).append(w)
        out = []
        for (dev, end), ws in sorted(by_window.items()):
            ws.sort(key=lambda x: -x.bps)
            n = sum(w.samples for w in ws)
            bps = sum(w.bps for w in ws)
            members = [FlowMember(w.device, w.interface, w.bps, w.error_pct, w.samples, None, None, w.top_flows)
                       for w in ws]
            verdict = None
            if n >= self.t.blackholing_min_samples:
                where = ", ".join(f"{w.interface} ({w.discard_reason})" for w in ws)
                verdict = f"{dev} blackholes ~{rate_text(bps)} \u00b1{error_pct(n):.0f} % arriving on {where}"
            out.append(FlowReport("blackholing", dev, [dev], end, members, [], bps, error_pct(n), [], verdict))
        return out

    def _polarization(self, new: dict[tuple, FlowWindow]) -> list[FlowReport]:
        out = []
        for (dev, intf, direction, _), w in sorted(new.items(), key=lambda kv: kv[0][:3]):
            if direction != IN or w.samples < POLARIZATION_MIN_SAMPLES or len(w.top_flows) < POLARIZATION_MIN_FLOWS:
                continue
            upstream = self.peer.get((dev, intf))
            forwarded = [o for o in w.outputs if not o.interface.startswith("(")]
            total = sum(o.samples for o in forwarded)
            if upstream is None or not total:
                continue
            top = max(forwarded, key=lambda o: o.samples)
            if top.samples / total < POLARIZED_SHARE:
                continue
            nxt = self.peer.get((dev, top.interface))
            if nxt is None:
                continue
            # Equal next-stage links: this device's ports to the devices that share a segment with the chosen one.
            alternatives = sorted(p for (d, p), (pd, _) in self.peer.items()
                                  if d == dev and p != top.interface and pd != nxt[0]
                                  and pd in self.segment_of.get(nxt[0], ()))
            if not alternatives:
                continue
            share = {o.interface: o.samples / total for o in forwarded}
            stages = [f"{upstream[0]} {upstream[1]} \u2192 {dev} {intf}",
                      f"{dev} {top.interface} \u2192 {nxt[0]} {share[top.interface]:.0%}; "
                      + ", ".join(f"{a} \u2192 {self.peer[(dev, a)][0]} {share.get(a, 0.0):.0%}" for a in alternatives)]
            verdict = (f"hash polarization: the flows {upstream[0]} sends up {upstream[1]} ({len(w.top_flows)} largest "
                       f"sampled) all leave "
                       f"{dev} on {top.interface} ({share[top.interface]:.0%} of {w.samples} samples), none on "
                       f"{', '.join(alternatives)}")
            members = [FlowMember(dev, o, sum(x.bytes for x in forwarded if x.interface == o) * 8 /
                                  ((w.window_end_ns - w.window_start_ns) / 1e9), error_pct(w.samples), w.samples,
                                  None, None, w.top_flows if o == top.interface else [])
                       for o in [top.interface] + alternatives]
            out.append(FlowReport("hash_polarization", f"{dev}:{intf}", sorted({upstream[0], dev, nxt[0]}),
                                  w.window_end_ns, members, [], None, None, stages, verdict))
        return out

    # ------------------------------------------------------------ explanations

    def explain(self, balance: LagBalance, report: FlowReport | None) -> LagBalance:
        """The LAG balance with its busiest member and, from the flows, why it is busy."""
        loads = [m for m in balance.members if m.rate_bps]
        total = sum(m.rate_bps for m in loads)
        if not loads or not total:
            return balance
        busiest = max(loads, key=lambda m: m.rate_bps)
        name, share = f"{busiest.device}:{busiest.interface}", busiest.rate_bps / total
        explanation, elephant_flows = f"{name} carries {share:.0%}", []
        row = next((r for r in report.members if (r.device, r.interface) == (busiest.device, busiest.interface)),
                   None) if report else None
        if row is None or not row.samples:
            explanation += ": no flow samples for it"
        else:
            mine = [e for e in report.elephants if (e.device, e.interface) == (busiest.device, busiest.interface)]
            if mine:
                flows = ", ".join(f"{e.flow.text()} at ~{rate_text(e.flow.bps)} \u00b1{e.flow.error_pct:.0f} %"
                                  for e in mine[:3])
                explanation += f": {len(mine)} elephant{'s' if len(mine) > 1 else ''}, {flows}"
                elephant_flows = [e.flow.tag() for e in mine[:3]]
            elif row.top_flows:
                f = row.top_flows[0]
                explanation += (f": no elephant; its largest flow {f.text()} at ~{rate_text(f.bps)} "
                                f"\u00b1{f.error_pct:.0f} % of {len(row.top_flows)} sampled")
        # The alert is "; "-separated findings: the explanation follows the imbalance one.
        alert = balance.alert and "; ".join(f"{part}: {explanation}" if part.startswith("imbalance") else part
                                            for part in balance.alert.split("; "))
        return replace(balance, busiest_member=name, busiest_share=share, explanation=explanation, alert=alert,
                       elephant_flows=elephant_flows)

    def discard_bps(self, device: str, now_ns: int, since_ns: int = 0) -> float | None:
        """The discard samples' estimate of what `device` drops, over windows
        that started at since_ns or later; None when no window covers that yet."""
        ws = [w for (dev, _, direction, _), w in self._fresh(now_ns).items()
              if dev == device and direction == DISCARD and w.window_start_ns >= since_ns]
        return sum(w.bps for w in ws) if ws else None

    def blackhole_evidence(self, device: str, now_ns: int) -> list[Evidence]:
        """The discard samples behind a decision, when there are any yet."""
        ws = [w for (dev, _, direction, _), w in self._fresh(now_ns).items() if dev == device and direction == DISCARD]
        n = sum(w.samples for w in ws)
        if not n:
            return []
        bps = sum(w.bps for w in ws)
        where = ", ".join(sorted({f"{w.interface} ({w.discard_reason})" for w in ws}))
        return [Evidence(where, "blackholed_rate", f"~{rate_text(bps)} \u00b1{error_pct(n):.0f} % in {n} discard samples",
                         max(w.window_end_ns for w in ws))]

