"""`fabtel demo`: the whole system on one machine, on a lab scenario.

It starts the local stack if needed, creates topics private to this run,
starts the lab (gNMI targets, sFlow agents, traffic) in this process and the
pipeline's components as their own processes: sFlow and gNMI collectors,
the Faust worker, the InfluxDB sink and the remediation executor (enforce).
It runs the scenario to its end, stops everything it started, and reports
what happened, measured against the lab's ground truth. By default the
scenario runs twice, with and without the oper-group remediation, so the
difference is measured on the same traffic.

A run leaves nothing behind unless asked (--keep): its logs and the Faust
worker's data live under the state directory and are removed, and so are its
topics and consumer groups; the logs stay when a run fails.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
import urllib.request
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fabtel.config import Config, load_config
from fabtel.sampling import rate_text, rate_unit
from fabtel.shell.ports import free_port
from fabtel.shell.supervisor import Components

LINKS = ("client1:eth1", "client1:eth2", "leaf1:ethernet-1/49", "leaf1:ethernet-1/50",
         "leaf2:ethernet-1/49", "leaf2:ethernet-1/50")


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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

    @property
    def blackholed(self) -> int:
        return sum(s["blackholed_bytes"] for s in self.ground_truth)


def _metric(port: int, name: str) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def run_once(base: Config, config_path: Path, scenario, oper_group: bool, workdir: Path, tag: str,
             hook=None, executors: int = 1, on_started=None) -> RunResult:
    """One run of the scenario; `hook(seconds into the scenario)` is called
    about twice a second while it runs (failure tests act there), with
    `executors` remediation executors sharing the commands; `on_started(comps,
    {executor name: its metrics port})` once the components run."""
    from fabtel.kafka import create_topics, tail
    from fabtel.lab.runner import LabRunner
    cfg = _run_config(base, scenario, oper_group, tag)
    path = workdir / f"fabric-{tag}.yaml"
    path.write_text(yaml.safe_dump(_as_yaml(config_path, cfg), sort_keys=False))
    create_topics(cfg.kafka)
    comps = Components(workdir)
    sflow_port, sink_metrics = free_port(), free_port()
    runner = None
    try:
        say(f"{'with' if oper_group else 'without'} oper-group: starting the Faust worker, sink"
            + (", remediation executor" if oper_group else "") + " and collectors")
        comps.start(f"process-{tag}", "process", "--config", str(path), "--app-id", f"fabtel-demo-{tag}",
                    "--data-dir", str(workdir / f"faust-{tag}"))
        # Consumer groups of their own: a run never waits for the previous run's members to time out.
        comps.start(f"sink-{tag}", "sink", "influx", "--config", str(path), "--metrics-listen", f"127.0.0.1:{sink_metrics}",
                    "--group", f"fabtel-demo-{tag}-sink")
        executor_ports = {}
        if oper_group:
            for i in range(executors):
                name = f"remediate-{tag}" + (f"-{i + 1}" if i else "")
                executor_ports[name] = free_port()
                comps.start(name, "remediate", "--config", str(path), "--mode", "enforce",
                            "--group", f"fabtel-demo-{tag}-remediation",
                            "--metrics-listen", f"127.0.0.1:{executor_ports[name]}")
            for name in executor_ports:
                comps.wait_for_log(name, "remediation: assigned")
        comps.wait_for_log(f"process-{tag}", "worker ready (app")
        runner = LabRunner(cfg, scenario, f"127.0.0.1:{sflow_port}")
        runner.start()
        comps.start(f"sflow-{tag}", "collect", "sflow", "--config", str(path), "--listen", f"127.0.0.1:{sflow_port}")
        comps.start(f"gnmi-{tag}", "collect", "gnmi", "--config", str(path))
        if on_started is not None:
            on_started(comps, executor_ports)
        stop = threading.Event()
        say(f"running scenario {scenario.name} for {scenario.duration_s:.0f} s")
        thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
        thread.start()
        next_line = time.monotonic() + 5
        while thread.is_alive():
            thread.join(0.5)
            comps.check_alive()
            if hook is not None:
                hook(runner.elapsed_s())
            if time.monotonic() >= next_line:
                say(runner.summary_line())
                next_line += 5
        time.sleep(2)             # let the last records reach InfluxDB
        points = int(_metric(sink_metrics, "fabtel_influx_points_written_total"))
    finally:
        comps.stop()
        if runner is not None:
            runner.stop()
    decisions = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("decisions"), None, 2, until_end=True) if r]
    results = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("command_results"), None, 2, until_end=True) if r]
    flows = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("flow_reports"), None, 2, until_end=True) if r and r.verdict]
    lags = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("lag_balance"), None, 2, until_end=True)
            if r and r.alert and r.explanation and "imbalance" in r.alert]
    admin = [e for e in runner.fabric.events_log if e["origin"] == "gnmi"]
    return RunResult(oper_group, runner.fabric.ground_truth(), runner.applied, admin, decisions, results, points,
                     runner.fabric.start_ns, dict(runner.fabric.set_requests), flows, lags, cfg.sflow.flow_window_ms)


def _run_config(base: Config, scenario, oper_group: bool, tag: str) -> Config:
    kafka = dataclasses.replace(base.kafka, topics={k: f"demo-{tag}.{v}" for k, v in base.kafka.topics.items()})
    groups = tuple(dataclasses.replace(g, **scenario.oper_group_overrides) for g in base.oper_groups) if oper_group else ()
    return dataclasses.replace(base, kafka=kafka, oper_groups=groups,
                               remediation=dataclasses.replace(base.remediation, mode="enforce"))


def _as_yaml(config_path: Path, cfg: Config) -> dict:
    data = yaml.safe_load(config_path.read_text())
    data.setdefault("kafka", {})["topics"] = dict(cfg.kafka.topics)
    data["kafka"]["bootstrap_servers"] = cfg.kafka.bootstrap_servers
    data.setdefault("influxdb", {}).update(url=cfg.influxdb.url)
    data["oper_groups"] = [dataclasses.asdict(g) | {"watch": list(g.watch), "down_links": list(g.down_links)}
                           for g in cfg.oper_groups]
    data.setdefault("remediation", {})["mode"] = "enforce"
    return data


# ------------------------------------------------------------------ report

def _ms(ts_ns: int, start_ns: int) -> int:
    return round((ts_ns - start_ns) / 1e6)


def build_report(scenario, run: RunResult, baseline: RunResult | None, versions: dict) -> dict:
    start = run.start_ns
    down_events = _down_events(run)
    uplinks_down_at = down_events[0]["at_ms"] if down_events else None
    applied = [a for a in run.admin_changes if a["admin_state"] == "disable"]
    detect = []
    for a in applied:
        before = [e for e in down_events if e["device"] == a["device"] and e["ts_ns"] <= a["ts_ns"]]
        if before:
            detect.append({"device": a["device"], "interface": a["interface"],
                           "detect_to_apply_ms": round((a["ts_ns"] - before[-1]["ts_ns"]) / 1e6, 1),
                           "applied_at_ms": _ms(a["ts_ns"], start)})
    truth = run.ground_truth
    first_down_ns = _first_down_ns(run)
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
        "blackhole": blackhole(run, first_down_ns, applied),
        "baseline_blackhole": blackhole(baseline, _first_down_ns(baseline), []) if baseline else None,
        "timeline_ms": timeline(first_down_ns, run.decisions, applied),
        "flow_findings": flow_findings(run),
        "baseline_flow_findings": flow_findings(baseline) if baseline else None,
        "blackhole_estimates": blackhole_estimates(baseline or run),
        "time_ranges": [time_range(r) for r in (run, baseline) if r is not None],
        "versions": versions,
    }


def _down_events(run: RunResult) -> list[dict]:
    return [e for e in run.events if e["admin_state"] == "disable" or e["link"] == "down"]


def _first_down_ns(run: RunResult) -> int | None:
    downs = _down_events(run)
    return downs[0]["ts_ns"] if downs else None


def blackhole(run: RunResult, down_ns: int | None, applied: list[dict]) -> dict:
    """What the blackhole cost each sending client, from the lab's ground
    truth: the share of its traffic lost since the uplink loss, and how long
    it lasted (until the remediation's change, else until traffic stopped
    being lost, or the scenario's end)."""
    if down_ns is None:
        return {"clients": {}, "duration_ms": 0, "until_end": False}
    first_second = (down_ns - run.start_ns) // 1_000_000_000
    sent: dict[str, float] = {}
    lost: dict[str, float] = {}
    lossy_seconds = []
    for sec in run.ground_truth:
        if sec["t"] < first_second:
            continue
        if sec["blackholed_bytes"]:
            lossy_seconds.append(sec["t"])
        for flow_id, f in sec["flows"].items():
            client = flow_id.rsplit("-", 2)[0]
            sent[client] = sent.get(client, 0) + f["offered"]
            lost[client] = lost.get(client, 0) + f["blackholed"]
    fixes = [a["ts_ns"] for a in applied if a["ts_ns"] >= down_ns]
    last = run.ground_truth[-1]["t"] if run.ground_truth else 0
    until_end = not fixes and bool(lossy_seconds) and lossy_seconds[-1] >= last
    if fixes:
        duration = (fixes[0] - down_ns) / 1e6
    elif lossy_seconds:
        duration = ((lossy_seconds[-1] + 1) * 1e9 + run.start_ns - down_ns) / 1e6
    else:
        duration = 0.0
    return {"clients": {c: {"sent_bytes": round(sent[c]), "lost_bytes": round(lost[c]),
                            "lost_share": round(lost[c] / sent[c], 4) if sent[c] else 0.0}
                        for c in sorted(sent) if lost[c]},
            "duration_ms": round(duration, 1), "until_end": until_end}


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


def timeline(down_ns: int | None, decisions: list, applied: list[dict]) -> dict | None:
    """Detect -> decide -> apply, in ms: from the uplink loss at the device to
    the telemetry that triggered the decision, to the decision, to the change
    applied at the device."""
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
    return out


def time_range(run: RunResult) -> dict:
    """The run's wall-clock range, to find it in Grafana (from/to in ms)."""
    import datetime
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
    if exp.recovered and not report["recovered"]:
        problems.append("delivered traffic did not return to the offered rate")
    if exp.disabled and report["baseline_blackholed_bytes"] is not None and \
            report["blackholed_bytes"] > 0.25 * report["baseline_blackholed_bytes"]:
        problems.append(f"blackholed {report['blackholed_bytes']} B, not far below the baseline "
                        f"{report['baseline_blackholed_bytes']} B")
    return problems


# Each link its own colour and dash; the access link the remediation shuts
# (client1:eth1) drawn last, on top, and its twin client1:eth2 as a wide
# band beneath, so that equal rates still show both.
STYLES = {"client1:eth1": ("tab:blue", "-", 2.4), "client1:eth2": ("#f5b971", "-", 7.0),    # a band: visible under eth1
          "leaf1:ethernet-1/49": ("tab:green", "--", 1.2), "leaf1:ethernet-1/50": ("tab:olive", ":", 1.6),
          "leaf2:ethernet-1/49": ("tab:purple", "--", 1.2), "leaf2:ethernet-1/50": ("tab:brown", ":", 1.6)}
DRAW_ORDER = [link for link in LINKS if link != "client1:eth1"] + ["client1:eth1"]


def _event_label(e: dict) -> str:
    what = (f"{e['admin_state']}d" if e.get("admin_state") else f"link {e['link']}" if e.get("link")
            else f"LACP partner {e.get('lacp_partner_state')}")
    return f"{e['device']} {', '.join(e.get('interfaces') or [])} {what}".replace("  ", " ")


def plot(path: str, scenario, runs: list[RunResult], report: dict) -> None:
    from fabtel.extras import require
    matplotlib = require("matplotlib", "demo", "the demo's plot (--plot)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(runs), 1, figsize=(12, 4.2 * len(runs)), sharex=True, sharey=True, squeeze=False)
    peak = max([s["links"].get(link, 0) * 8 for r in runs for s in r.ground_truth for link in LINKS]
               + [s["blackholed_bytes"] * 8 for r in runs for s in r.ground_truth] + [1000])
    unit, scale = rate_unit(peak)
    top = peak / scale
    for ax, run in zip(axes[:, 0], runs):
        secs = [s["t"] for s in run.ground_truth]
        lost = [s["blackholed_bytes"] * 8 / scale for s in run.ground_truth]
        ax.fill_between(secs, lost, step="post", color="red", alpha=0.18, label="blackholed", zorder=1)
        for link in DRAW_ORDER:
            colour, dash, width = STYLES[link]
            ax.plot(secs, [s["links"].get(link, 0) * 8 / scale for s in run.ground_truth], label=link, color=colour,
                    linestyle=dash, linewidth=width, drawstyle="steps-post", zorder=5 if link == "client1:eth1" else 3)
        ax.set_ylim(0, top * 1.5)                 # headroom for the labels and the zoomed inset
        for i, e in enumerate(run.events):
            ax.axvline(e["at_ms"] / 1000, color="red", linestyle=":", linewidth=1.2)
            ax.annotate(_event_label(e), (e["at_ms"] / 1000, top * (1.42 - 0.1 * i)), color="red", fontsize=8,
                        ha="right", xytext=(-4, 0), textcoords="offset points")
        for i, a in enumerate(run.admin_changes):
            t = (a["ts_ns"] - run.start_ns) / 1e9
            ax.axvline(t, color="green", linestyle="-", linewidth=1.0)
            ax.annotate(f"fabtel {a['admin_state']}d {a['device']} {a['interface']}", (t, top * (1.42 - 0.1 * i)),
                        color="green", fontsize=8, xytext=(4, 0), textcoords="offset points")
        b = blackhole(run, _first_down_ns(run), [a for a in run.admin_changes if a["admin_state"] == "disable"])
        share = ", ".join(f"{c} lost {_share(x['lost_share'])} of its traffic" for c, x in b["clients"].items())
        ax.set_title(f"{scenario.name}, {'with' if run.oper_group else 'without'} the oper-group: "
                     + (f"{share} {_span(b)}" if share else "no traffic lost"), fontsize=10)
        ax.set_ylabel(f"{unit} (lab ground truth, per second)")
        ax.grid(alpha=0.3)
        if run.oper_group and report.get("timeline_ms"):
            _zoom(ax, run, report["timeline_ms"])
    handles, labels = axes[0, 0].get_legend_handles_labels()
    order = [labels.index(x) for x in LINKS + ("blackholed",) if x in labels]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="lower center", ncol=7, fontsize=8,
               frameon=False)
    axes[-1, 0].set_xlabel("seconds from the scenario's start")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _zoom(ax, run: RunResult, tl: dict) -> None:
    """An inset around the event, in ms from the uplink loss: the loss, the
    telemetry that told fabtel, its decision and the change at the device,
    each on its own row so that 10 ms apart still reads apart."""
    marks = [("uplinks lost", 0.0), ("telemetry seen", tl["detect_ms"]),
             ("decided", tl["detect_ms"] + tl["decide_ms"])]
    if "total_ms" in tl:
        marks.append(("access link down", tl["total_ms"]))
    end = max(m[1] for m in marks)
    inset = ax.inset_axes((0.03, 0.50, 0.36, 0.32))        # upper left: before the event, above the links
    for row, (name, ms) in enumerate(marks):
        y = len(marks) - row
        inset.plot([ms, ms], [0, y], color="green" if name == "access link down" else "red", linewidth=1.2)
        inset.plot([ms], [y], "o", color="black", markersize=3)
        inset.annotate(f"{name} +{ms:.0f} ms" if ms else name, (ms, y), fontsize=7, xytext=(3, -3),
                       textcoords="offset points")
    inset.set_xlim(-0.1 * max(end, 10), max(end, 10) * 1.8)
    inset.set_ylim(0, len(marks) + 0.8)
    inset.set_yticks([])
    inset.set_xlabel("ms from the uplink loss", fontsize=7)
    inset.tick_params(labelsize=7)
    inset.set_title("the event, zoomed", fontsize=8)


# ------------------------------------------------------------------ command

def remove_run(kafka, tag: str) -> tuple[int, int]:
    """Delete what the runs tagged `tag` made on the broker: their topics
    (demo-TAG..., and the worker's fabtel-demo-TAG... internal ones) and their
    consumer groups. Returns (topics, groups) deleted."""
    from confluent_kafka import KafkaException

    from fabtel.kafka import admin_client
    admin = admin_client(kafka)
    prefixes = (f"demo-{tag}", f"fabtel-demo-{tag}")
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
    try:
        groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid
                  if g.group_id.startswith(prefixes)]
    except KafkaException:                    # a broker without the group API (Tansu): the topics at least
        groups = []
    done = [0, 0]
    for i, futures in enumerate((admin.delete_topics(topics, operation_timeout=15) if topics else {},
                                 admin.delete_consumer_groups(groups, request_timeout=15) if groups else {})):
        for future in futures.values():
            try:
                future.result()
                done[i] += 1
            except KafkaException:            # already gone, or a member still leaving: nothing to keep
                pass
    return done[0], done[1]


def run_demo(config_path: str, scenario_path: str | None, no_oper_group: bool, baseline: bool,
             report_path: str | None, plot_path: str | None, keep: bool = False) -> int:
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    from fabtel.shell.stack import ensure_stack
    os.environ.setdefault("FABTEL_GNMI_USER", "admin")
    os.environ.setdefault("FABTEL_GNMI_PASSWORD", "fabtel-lab")
    base = load_config(config_path)
    scenario = load_scenario(scenario_path or SCENARIO_DIR / "leaf1-uplinks-down.yaml", base)
    versions = ensure_stack(base.kafka, base.influxdb.url, say)
    from fabtel.shell.stack import DEFAULT_STATE_DIR
    tag = uuid.uuid4().hex[:6]
    workdir = Path(os.environ.get("FABTEL_STATE_DIR") or DEFAULT_STATE_DIR).resolve() / "demo" / tag
    workdir.mkdir(parents=True)
    say(f"logs of this run: {workdir}" + ("" if keep else " (removed at the end unless a run fails; --keep keeps them)"))
    runs = []
    try:
        if not no_oper_group:
            runs.append(run_once(base, Path(config_path), scenario, True, workdir, f"{tag}og"))
        if no_oper_group or baseline:
            runs.append(run_once(base, Path(config_path), scenario, False, workdir, f"{tag}bl"))
    except BaseException:
        if not keep:
            try:
                remove_run(base.kafka, tag)
            except Exception:                 # the broker is what failed: its topics stay
                pass
        say(f"the logs stay in {workdir}")
        raise
    if not keep:
        try:
            topics, groups = remove_run(base.kafka, tag)
            say(f"removed this run's {topics} topics, {groups} consumer groups and its logs (--keep keeps them)")
        except Exception as exc:              # the broker refused: the logs go anyway, the report stands
            say(f"could not remove this run's topics ({exc}); they are named demo-{tag}*")
        shutil.rmtree(workdir, ignore_errors=True)
    main = runs[0]
    base_run = next((r for r in runs if not r.oper_group), None)
    report = build_report(scenario, main, base_run if main.oper_group else None, versions)
    problems = check_expectations(scenario, report) if main.oper_group else []
    report["expectations_met"] = not problems
    report["problems"] = problems
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2) + "\n")
    if plot_path:
        plot(plot_path, scenario, runs, report)
    _summary(report, report_path, plot_path)
    return 0 if not problems else 1


def _share(x: float) -> str:
    return f"{x:.2%}" if x < 0.01 else f"{x:.1%}"


def _span(b: dict) -> str:
    if b["until_end"]:
        return "until the scenario's end"
    ms = b["duration_ms"]
    return f"for {ms:.0f} ms" if ms < 1000 else f"for {ms / 1000:.1f} s"


def _summary(report: dict, report_path, plot_path) -> None:
    print(f"\nscenario {report['scenario']}")
    if report["uplinks_down_at_ms"] is not None:
        print(f"  uplinks down at            {report['uplinks_down_at_ms'] / 1000:.1f} s")
    for d in report["decisions"]:
        print(f"  decision at {d['at_ms'] / 1000:6.2f} s        {d['device']} {d['action']}"
              f"{' (suppressed: ' + d['reason'] + ')' if d['suppressed'] else ''}")
    for x in report["detect_to_apply_ms"]:
        print(f"  detect -> apply            {x['detect_to_apply_ms']:.0f} ms ({x['device']} {x['interface']} disabled)")
    tl = report.get("timeline_ms")
    if tl and "apply_ms" in tl:
        print(f"    detect, decide, apply    {tl['detect_ms']:.0f} + {tl['decide_ms']:.0f} + {tl['apply_ms']:.0f} ms "
              "(uplink loss to telemetry seen, to decision, to the change at the device)")
    for label, b in (("with the oper-group", report.get("blackhole")), ("without", report.get("baseline_blackhole"))):
        for client, x in (b or {}).get("clients", {}).items():
            print(f"  {(client + ' traffic lost').ljust(27)}{_share(x['lost_share'])} {_span(b)}, {label} "
                  f"({x['lost_bytes']} of {x['sent_bytes']} B since the uplink loss)")
    if report["baseline_blackholed_bytes"] is not None:
        print(f"  blackholed                 {report['blackholed_bytes']} B with the oper-group, "
              f"{report['baseline_blackholed_bytes']} B without")
    else:
        print(f"  blackholed                 {report['blackholed_bytes']} B")
    print(f"  recovered                  {'yes, traffic back at the offered rate' if report['recovered'] else 'no'}")
    for label, findings in (("", report.get("flow_findings")), (" (without)", report.get("baseline_flow_findings"))):
        for f in findings or []:
            print(f"  flows{label}: {f['kind']} {f['group']}, {f['first_at_ms'] / 1000:.0f}-{f['last_at_ms'] / 1000:.0f} s "
                  f"({f['windows']} windows): {f['verdict']}")
    est = report.get("blackhole_estimates") or []
    if est:
        e = est[-1]
        print(f"  blackholed, from samples   ~{rate_text(e['estimated_bps'])} \u00b1{e['error_pct']:.0f} %, truth "
              f"{rate_text(e['true_bps'])} ({sum(x['within_bound'] for x in est)} of {len(est)} windows within the bound)")
    print(f"  InfluxDB points written    {report['influx_points_written']}")
    for r in report.get("time_ranges", []):
        print(f"  Grafana, {r['run']:<18} {r['from']} to {r['to']} ({r['grafana']})")
    print(f"  expectations               {'met' if report['expectations_met'] else 'NOT met: ' + '; '.join(report['problems'])}")
    if report_path:
        print(f"  report                     {report_path}")
    if plot_path:
        print(f"  plot                       {plot_path}")
