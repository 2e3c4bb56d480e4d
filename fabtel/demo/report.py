"""The demo's report: what a run did, measured against the lab's ground
truth. Pure: a RunResult (the ground truth, the lab's events and the records
the pipeline wrote) in, a report dict out, and its summary as text lines.

May import: fabtel.sampling, the standard library.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from fabtel.sampling import rate_text

LINKS = ("client1:eth1", "client1:eth2", "leaf1:ethernet-1/49", "leaf1:ethernet-1/50",
         "leaf2:ethernet-1/49", "leaf2:ethernet-1/50")


@dataclass
class RunResult:
    oper_group: bool
    ground_truth: list[dict]
    events: list[dict]
    admin_changes: list[dict]
    decisions: list = field(default_factory=list)
    results: list = field(default_factory=list)
    points_written: int = 0
    start_ns: int = 0
    set_requests: dict = field(default_factory=dict)      # device -> gNMI Set updates the lab accepted
    flow_reports: list = field(default_factory=list)      # FlowReport records with a verdict
    lag_alerts: list = field(default_factory=list)        # LagBalance records whose alert is explained by flows
    flow_window_ms: int = 5000                            # the collector's flow windows (sflow.flow_window_ms)
    unnamed: list = field(default_factory=list)           # "device:ifIndexN" sFlow numbers no map named
    cabling: list = field(default_factory=list)           # CablingCheck records (the cabling check's verdicts)
    spans: list = field(default_factory=list)             # [start_ns, end_ns, client, b/s]: the lab's exact blackholes
    outcomes: list = field(default_factory=list)          # RemediationOutcome records: what each change did
    end_ns: int = 0                                       # where the lab's clock stopped

    @property
    def blackholed(self) -> int:
        return sum(s["blackholed_bytes"] for s in self.ground_truth)


def _ms(ts_ns: int, start_ns: int) -> int:
    return round((ts_ns - start_ns) / 1e6)


def build_report(scenario, run: RunResult, baseline: RunResult | None, versions: dict) -> dict:
    start = run.start_ns
    downs = down_events(run)
    uplinks_down_at = downs[0]["at_ms"] if downs else None
    applied = [a for a in run.admin_changes if a["admin_state"] == "disable"]
    detect = []
    for a in applied:
        before = [e for e in downs if e["device"] == a["device"] and e["ts_ns"] <= a["ts_ns"]]
        if before:
            detect.append({"device": a["device"], "interface": a["interface"],
                           "detect_to_apply_ms": round((a["ts_ns"] - before[-1]["ts_ns"]) / 1e6, 1),
                           "applied_at_ms": _ms(a["ts_ns"], start),
                           # the Set's arrival at the device, and its commit there (the lab's set_latency_ms)
                           "commit_ms": round((a["ts_ns"] - a.get("requested_ns", a["ts_ns"])) / 1e6, 3)})
    truth = run.ground_truth
    down_ns = first_down_ns(run)
    last_action = max([_ms(a["ts_ns"], start) for a in run.admin_changes] + [uplinks_down_at or 0])
    tail_secs = [s for s in truth if s["t"] * 1000 > last_action + 2000][:-1]
    recovered = bool(tail_secs) and all(s["delivered_bytes"] >= 0.99 * s["offered_bytes"] for s in tail_secs)
    return {
        "scenario": scenario.name,
        "uplinks_down_at_ms": uplinks_down_at,
        "detect_to_apply_ms": detect,
        "blackholed_bytes": run.blackholed,
        "baseline_blackholed_bytes": baseline.blackholed if baseline else None,
        "offered_bytes": sum(s["offered_bytes"] for s in truth),
        "recovered": recovered,
        "decisions": [{"device": d.device, "oper_group": d.oper_group, "action": d.action,
                       "at_ms": _ms(d.decided_ts_ns, start), "suppressed": d.suppressed, "reason": d.reason,
                       "decision_id": d.decision_id} for d in sorted(run.decisions, key=lambda d: d.decided_ts_ns)],
        "command_results": [{"device": r.device, "interface": r.interface, "action": r.action, "outcome": r.outcome,
                             "at_ms": _ms(r.result_ts_ns, start)} for r in run.results],
        "admin_changes_over_gnmi": [{"device": a["device"], "interface": a["interface"], "admin_state": a["admin_state"],
                                     "at_ms": _ms(a["ts_ns"], start)} for a in run.admin_changes],
        "influx_points_written": run.points_written + (baseline.points_written if baseline else 0),
        "blackhole": blackhole(run, down_ns, applied),
        "baseline_blackhole": blackhole(baseline, first_down_ns(baseline), []) if baseline else None,
        "timeline_ms": timeline(down_ns, run.decisions, applied, run.outcomes),
        "outcomes": [{"device": o.device, "oper_group": o.oper_group, "outcome": o.outcome, "took_ms": o.took_ms,
                      "rolled_back": o.rolled_back, "reason": o.reason, "at_ms": _ms(o.decided_ts_ns, start)}
                     for o in sorted(run.outcomes, key=lambda o: o.decided_ts_ns)],
        "flow_findings": flow_findings(run),
        "baseline_flow_findings": flow_findings(baseline) if baseline else None,
        "blackhole_estimates": blackhole_estimates(baseline or run),
        "time_ranges": [time_range(r) for r in (run, baseline) if r is not None],
        "sflow_unnamed_interfaces": sorted(set(run.unnamed) | set(baseline.unnamed if baseline else ())),
        "cabling": miswired_ports(run),
        "versions": versions,
    }


def miswired_ports(run: RunResult) -> list[dict]:
    """The ports whose last cabling verdict is not as intended (gone is a link down, not a fault)."""
    last = {}
    for c in sorted(run.cabling, key=lambda c: c.ts_ns):
        last[f"{c.device}:{c.interface}"] = c
    return [{"port": port, "verdict": c.verdict, "intended": c.intended, "seen": c.seen, "detail": c.detail}
            for port, c in sorted(last.items()) if c.verdict in ("miswired", "unexpected")]


def down_events(run: RunResult) -> list[dict]:
    """The lab's events that take a link down: admin disables and cable pulls."""
    return [e for e in run.events if e["admin_state"] == "disable" or e["link"] == "down"]


def first_down_ns(run: RunResult) -> int | None:
    downs = down_events(run)
    return downs[0]["ts_ns"] if downs else None


def blackhole(run: RunResult, down_ns: int | None, applied: list[dict]) -> dict:
    """What the blackhole cost each sending client, from the lab's exact
    clock: the bytes it lost since the uplink loss (the ground truth's
    seconds), the rate it lost them at (the lab's stretches of constant
    blackholing), their share of what it sent, and how long the loss lasted
    (to the remediation's change at the device, else to the last byte lost,
    or the end). Three figures from three sources: bytes / rate = duration
    holds only if each is right."""
    if down_ns is None:
        return {"clients": {}, "duration_ms": 0, "until_end": False}
    first_second = (down_ns - run.start_ns) // 1_000_000_000
    sent: dict[str, float] = {}
    lost: dict[str, float] = {}
    for sec in run.ground_truth:
        if sec["t"] < first_second:
            continue
        for flow_id, f in sec["flows"].items():
            client = flow_id.rsplit("-", 2)[0]
            sent[client] = sent.get(client, 0) + f["offered"]
            lost[client] = lost.get(client, 0) + f["blackholed"]
    span_bytes: dict[str, float] = {}
    span_time: dict[str, float] = {}
    last_end = None
    for t0, t1, client, bps in run.spans:
        if t1 <= down_ns:
            continue
        t0 = max(t0, down_ns)
        span_bytes[client] = span_bytes.get(client, 0.0) + bps / 8 * (t1 - t0) / 1e9
        span_time[client] = span_time.get(client, 0.0) + (t1 - t0) / 1e9
        last_end = t1 if last_end is None else max(last_end, t1)
    fixes = [a["ts_ns"] for a in applied if a["ts_ns"] >= down_ns]
    until_end = not fixes and last_end is not None and last_end >= run.end_ns - 1_000_000
    if fixes:
        duration = (fixes[0] - down_ns) / 1e6
    elif last_end is not None:
        duration = (last_end - down_ns) / 1e6
    else:
        duration = 0.0
    clients = {c: {"sent_bytes": round(sent[c]), "lost_bytes": round(lost[c]),
                   "lost_share": round(lost[c] / sent[c], 4) if sent[c] else 0.0,
                   "blackholed_bps": round(span_bytes[c] * 8 / span_time[c]) if span_time.get(c) else 0}
               for c in sorted(sent) if lost[c]}
    return {"clients": clients, "duration_ms": round(duration, 3), "until_end": until_end,
            "started_ms": round((down_ns - run.start_ns) / 1e6, 3)}


def flow_findings(run: RunResult) -> list[dict]:
    """What the flow samples said, once per kind and group: the LAG imbalance
    explanations and the flow reports' verdicts, with when they first and
    last stood, and their words in the middle of that span (the first and
    last windows are often cut by the event or the end)."""
    seen: dict[tuple[str, str], dict] = {}
    said: dict[tuple[str, str], list[str]] = {}
    items = [("lag_imbalance", b.lag_id, b.window_end_ns, b.alert) for b in run.lag_alerts]
    items += [(r.kind, r.group, r.window_end_ns, r.verdict) for r in run.flow_reports]
    for kind, group, ts, text in sorted(items, key=lambda x: x[2]):
        f = seen.setdefault((kind, group), {"kind": kind, "group": group, "first_at_ms": _ms(ts, run.start_ns),
                                            "windows": 0})
        f.update(last_at_ms=_ms(ts, run.start_ns))
        f["windows"] += 1
        said.setdefault((kind, group), []).append(text)
    for key, f in seen.items():
        f["verdict"] = said[key][len(said[key]) // 2]
    return list(seen.values())


def blackhole_estimates(run: RunResult) -> list[dict]:
    """Each blackholing report's estimate beside the lab's truth over the same
    window (whole seconds inside it), and whether it lies within its bound."""
    out = []
    by_second = {s["t"]: sum(s.get("discarded", {}).values()) for s in run.ground_truth}
    lossy = [t for t, b in by_second.items() if b]
    if not lossy:
        return out
    for r in run.flow_reports:
        if r.kind != "blackholing" or r.blackholed_bps is None:
            continue
        end, length = (r.window_end_ns - run.start_ns) / 1e9, run.flow_window_ms / 1000
        seconds = [t for t in by_second if end - length <= t and t + 1 <= end]
        if len(seconds) < max(1, length - 1) or min(seconds) <= lossy[0] or max(seconds) >= max(by_second):
            continue                      # a window the change or the end cut through: no steady truth
        true = sum(by_second[t] for t in seconds) / len(seconds) * 8
        out.append({"window_end_ms": _ms(r.window_end_ns, run.start_ns), "estimated_bps": round(r.blackholed_bps),
                    "error_pct": round(r.blackholed_error_pct, 1), "true_bps": round(true),
                    "within_bound": abs(r.blackholed_bps - true) <= true * r.blackholed_error_pct / 100})
    return out


def timeline(down_ns: int | None, decisions: list, applied: list[dict], outcomes: list = ()) -> dict | None:
    """Detect -> decide -> apply -> verify, in ms: from the uplink loss at the
    device to the telemetry that triggered the decision, to the decision, to
    the change applied at the device, to the outcome the worker told."""
    acts = sorted((d for d in decisions if not d.suppressed and d.action == "disable"), key=lambda d: d.decided_ts_ns)
    if down_ns is None or not acts:
        return None
    d = acts[0]
    out = {"detect_ms": round((d.trigger_ts_ns - down_ns) / 1e6, 1),
           "decide_ms": round((d.decided_ts_ns - d.trigger_ts_ns) / 1e6, 1)}
    later = [a["ts_ns"] for a in applied if a["ts_ns"] >= d.decided_ts_ns]
    if later:
        out["apply_ms"] = round((later[0] - d.decided_ts_ns) / 1e6, 1)
        out["total_ms"] = round((later[0] - down_ns) / 1e6, 1)
    told = [o for o in outcomes if o.decision_id == d.decision_id]
    if told:
        out["outcome"] = told[0].outcome
        out["outcome_ms"] = round((told[0].decided_ts_ns - down_ns) / 1e6, 1)
        out["verify_ms"] = told[0].took_ms
    return out


def time_range(run: RunResult) -> dict:
    """The run's wall-clock range, to find it in Grafana (from/to in ms)."""
    seconds = len(run.ground_truth) or 1
    start_ms, end_ms = run.start_ns // 1_000_000, run.start_ns // 1_000_000 + seconds * 1000

    def iso(ms):
        return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="seconds")
    return {"run": "with oper-group" if run.oper_group else "without oper-group", "from": iso(start_ms),
            "to": iso(end_ms), "grafana": f"from={start_ms}&to={end_ms}"}


def check_expectations(scenario, report: dict) -> list[str]:
    exp, problems = scenario.expect, []
    unique = {(d["device"], d["action"], d["suppressed"]) for d in report["decisions"]}
    changes = {(a["device"], a["interface"], a["admin_state"]) for a in report["admin_changes_over_gnmi"]}
    if exp.no_action and report["decisions"]:
        problems.append(f"expected no decision, got {sorted(unique)}")
    for target in exp.disabled:
        dev, _, intf = target.partition(":")
        if (dev, intf, "disable") not in changes:
            problems.append(f"expected {target} to be disabled by the remediation")
    for target in exp.enabled_again:
        dev, _, intf = target.partition(":")
        if (dev, intf, "enable") not in changes:
            problems.append(f"expected {target} to be enabled again after the hold-up time")
    for dev in exp.suppressed:
        if (dev, "disable", True) not in unique:
            problems.append(f"expected {dev}'s disable to be suppressed")
        if any(c[0] == dev and c[2] == "disable" for c in changes):
            problems.append(f"{dev}'s access link was disabled although it must be suppressed")
    outcomes = report.get("outcomes", [])
    if exp.outcome and (not outcomes or outcomes[0]["outcome"] != exp.outcome):
        problems.append(f"expected the remediation's outcome {exp.outcome}, got "
                        f"{outcomes[0]['outcome'] + ': ' + outcomes[0]['reason'] if outcomes else 'none'}")
    for dev in exp.rolled_back:
        if not any(o["device"] == dev and o["rolled_back"] for o in outcomes):
            problems.append(f"expected {dev}'s change to be rolled back")
    proposed = {f"{r['device']}:{r['interface']}" for r in report.get("command_results", []) if r["outcome"] == "proposed"}
    for target in exp.proposed:
        if target not in proposed:
            problems.append(f"expected {target}'s command to be proposed only")
    reported = {c["port"] for c in report.get("cabling", [])}
    if set(exp.miswired) - reported:
        problems.append(f"expected the cabling check to report {', '.join(sorted(set(exp.miswired) - reported))}")
    if reported - set(exp.miswired):
        problems.append(f"the cabling check reported {', '.join(sorted(reported - set(exp.miswired)))}, cabled as intended")
    if report.get("sflow_unnamed_interfaces"):
        problems.append(f"sFlow numbers no device's ifIndex map named: {', '.join(report['sflow_unnamed_interfaces'])}")
    if exp.recovered and not report["recovered"]:
        problems.append("delivered traffic did not return to the offered rate")
    if exp.disabled and report["baseline_blackholed_bytes"] is not None and \
            report["blackholed_bytes"] > 0.25 * report["baseline_blackholed_bytes"]:
        problems.append(f"blackholed {report['blackholed_bytes']} B, not far below the baseline "
                        f"{report['baseline_blackholed_bytes']} B")
    return problems


def check_without_oper_group(scenario, report: dict) -> list[str]:
    """What a run without the oper-group must show: nothing changed over
    gNMI, and where the scenario expects the remediation to act, a blackhole
    that lasts to the scenario's end (no one else fixes it)."""
    exp, problems = scenario.expect, []
    if report["admin_changes_over_gnmi"]:
        problems.append(f"without the oper-group, {len(report['admin_changes_over_gnmi'])} change(s) were made over gNMI")
    b = report.get("blackhole") or {}
    if exp.disabled and not b.get("until_end"):
        problems.append("without the oper-group the blackhole should last to the scenario's end, and it did not")
    if exp.recovered and not exp.disabled and not report["recovered"]:
        problems.append("delivered traffic did not return to the offered rate")
    return problems


def share_text(x: float) -> str:
    return f"{x:.2%}" if x < 0.01 else f"{x:.1%}"


def span_text(b: dict) -> str:
    if b["until_end"]:
        return "until the scenario's end"
    ms = b["duration_ms"]
    return f"for {ms:.1f} ms" if ms < 1000 else f"for {ms / 1000:.3f} s"


def summary_lines(report: dict, report_path, plot_path) -> list[str]:
    """The report as the demo prints it."""
    out: list[str] = []
    out.append("")
    out.append(f"scenario {report['scenario']}")
    if report["uplinks_down_at_ms"] is not None:
        out.append(f"  uplinks down at            {report['uplinks_down_at_ms'] / 1000:.1f} s")
    for d in report["decisions"]:
        out.append(f"  decision at {d['at_ms'] / 1000:6.2f} s        {d['device']} {d['action']}"
              f"{' (suppressed: ' + d['reason'] + ')' if d['suppressed'] else ''}")
    for x in report["detect_to_apply_ms"]:
        out.append(f"  detect -> apply            {x['detect_to_apply_ms']:.0f} ms ({x['device']} {x['interface']} disabled)")
    tl = report.get("timeline_ms")
    if tl and "apply_ms" in tl:
        out.append(f"    detect, decide, apply    {tl['detect_ms']:.0f} + {tl['decide_ms']:.0f} + {tl['apply_ms']:.0f} ms "
              "(uplink loss to telemetry seen, to decision, to the change at the device)")
    for o in report.get("outcomes", []):
        out.append(f"  outcome                    {o['device']} {o['outcome']} {o['took_ms']:.0f} ms after the change"
                   f"{', rolled back' if o['rolled_back'] else ''}: {o['reason']}")
    for label, b in (("with the oper-group", report.get("blackhole")), ("without", report.get("baseline_blackhole"))):
        for client, x in (b or {}).get("clients", {}).items():
            out.append(f"  {(client + ' traffic lost').ljust(27)}{share_text(x['lost_share'])} {span_text(b)}, {label} "
                  f"({x['lost_bytes']} B at {rate_text(x['blackholed_bps'])}, of {x['sent_bytes']} B sent since "
                  "the uplink loss)")
    if report["baseline_blackholed_bytes"] is not None:
        out.append(f"  blackholed                 {report['blackholed_bytes']} B with the oper-group, "
              f"{report['baseline_blackholed_bytes']} B without")
    else:
        out.append(f"  blackholed                 {report['blackholed_bytes']} B")
    out.append(f"  recovered                  {'yes, traffic back at the offered rate' if report['recovered'] else 'no'}")
    for label, findings in (("", report.get("flow_findings")), (" (without)", report.get("baseline_flow_findings"))):
        for f in findings or []:
            out.append(f"  flows{label}: {f['kind']} {f['group']}, {f['first_at_ms'] / 1000:.0f}-{f['last_at_ms'] / 1000:.0f} s "
                  f"({f['windows']} windows): {f['verdict']}")
    est = report.get("blackhole_estimates") or []
    if est:
        e = est[-1]
        out.append(f"  blackholed, from samples   ~{rate_text(e['estimated_bps'])} \u00b1{e['error_pct']:.0f} %, truth "
              f"{rate_text(e['true_bps'])} ({sum(x['within_bound'] for x in est)} of {len(est)} windows within the bound)")
    for c in report.get("cabling", []):
        out.append(f"  cabling                    {c['detail']}")
    unnamed = report.get("sflow_unnamed_interfaces")
    if unnamed is not None:
        out.append(f"  sFlow interfaces           {'all named by the ifIndex maps the devices reported' if not unnamed else str(len(unnamed)) + ' numbers unnamed'}")
    out.append(f"  InfluxDB points written    {report['influx_points_written']}")
    for r in report.get("time_ranges", []):
        out.append(f"  Grafana, {r['run']:<18} {r['from']} to {r['to']} ({r['grafana']})")
    out.append(f"  expectations               {'met' if report['expectations_met'] else 'NOT met: ' + '; '.join(report['problems'])}")
    if report_path:
        out.append(f"  report                     {report_path}")
    if plot_path:
        out.append(f"  plot                       {plot_path}")
    return out
