"""`fabtel demo`: the whole system on one machine, on a lab scenario.

It starts the local stack if needed, creates topics private to this run,
starts the lab (gNMI targets, sFlow agents, traffic) in this process and the
pipeline's components as their own processes: sFlow and gNMI collectors,
the Faust worker, the InfluxDB sink and the remediation executor (enforce).
It runs the scenario to its end, stops everything it started, and reports
what happened, measured against the lab's ground truth. By default the
scenario runs twice, with and without the oper-group remediation, so the
difference is measured on the same traffic.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fabtel.config import Config, load_config
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
             hook=None) -> RunResult:
    """One run of the scenario; `hook(seconds into the scenario)` is called
    about twice a second while it runs (failure tests act there)."""
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
        comps.start(f"process-{tag}", "process", "--config", str(path), "--app-id", f"fabtel-demo-{tag}")
        # Consumer groups of their own: a run never waits for the previous run's members to time out.
        comps.start(f"sink-{tag}", "sink", "influx", "--config", str(path), "--metrics-listen", f"127.0.0.1:{sink_metrics}",
                    "--group", f"fabtel-demo-{tag}-sink")
        if oper_group:
            comps.start(f"remediate-{tag}", "remediate", "--config", str(path), "--mode", "enforce",
                        "--group", f"fabtel-demo-{tag}-remediation")
            comps.wait_for_log(f"remediate-{tag}", "remediation: assigned")
        comps.wait_for_log(f"process-{tag}", "Worker]: Ready")
        runner = LabRunner(cfg, scenario, f"127.0.0.1:{sflow_port}")
        runner.start()
        comps.start(f"sflow-{tag}", "collect", "sflow", "--config", str(path), "--listen", f"127.0.0.1:{sflow_port}")
        comps.start(f"gnmi-{tag}", "collect", "gnmi", "--config", str(path))
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
    admin = [e for e in runner.fabric.events_log if e["origin"] == "gnmi"]
    return RunResult(oper_group, runner.fabric.ground_truth(), runner.applied, admin, decisions, results, points,
                     runner.fabric.start_ns, dict(runner.fabric.set_requests))


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
    down_events = [e for e in run.events if e["admin_state"] == "disable" or e["link"] == "down"]
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
        "versions": versions,
    }


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


def plot(path: str, scenario, runs: list[RunResult], report: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(runs), 1, figsize=(11, 3.6 * len(runs)), sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        secs = [s["t"] for s in run.ground_truth]
        for link in LINKS:
            ax.plot(secs, [s["links"].get(link, 0) * 8 / 1000 for s in run.ground_truth], label=link,
                    linewidth=1.6 if link.startswith("client1") else 1.0, drawstyle="steps-post")
        ax.plot(secs, [s["blackholed_bytes"] * 8 / 1000 for s in run.ground_truth], "k--", label="blackholed",
                linewidth=1.2, drawstyle="steps-post")
        for e in run.events:
            ax.axvline(e["at_ms"] / 1000, color="red", linestyle=":", linewidth=1.2)
            ax.annotate(f"{e['device']} {e['admin_state'] or 'link ' + str(e['link'])}", (e["at_ms"] / 1000, ax.get_ylim()[1] * 0.92),
                        color="red", fontsize=8)
        for a in run.admin_changes:
            t = (a["ts_ns"] - run.start_ns) / 1e9
            ax.axvline(t, color="green", linestyle="-", linewidth=1.2)
            ax.annotate(f"remediation: {a['device']} {a['interface']} {a['admin_state']}", (t, ax.get_ylim()[1] * 0.8),
                        color="green", fontsize=8)
        ax.set_ylabel("kb/s")
        ax.set_title(f"{scenario.name} — {'with' if run.oper_group else 'without'} oper-group "
                     f"(blackholed {run.blackholed} B)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=4)
    axes[-1, 0].set_xlabel("seconds from the scenario's start")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ command

def run_demo(config_path: str, scenario_path: str | None, no_oper_group: bool, baseline: bool,
             report_path: str | None, plot_path: str | None) -> int:
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    from fabtel.shell.stack import ensure_stack
    os.environ.setdefault("FABTEL_GNMI_USER", "admin")
    os.environ.setdefault("FABTEL_GNMI_PASSWORD", "fabtel-lab")
    base = load_config(config_path)
    scenario = load_scenario(scenario_path or SCENARIO_DIR / "leaf1-uplinks-down.yaml", base)
    versions = ensure_stack(base.kafka, base.influxdb.url, say)
    workdir = Path(tempfile.mkdtemp(prefix="fabtel-demo-"))
    tag = uuid.uuid4().hex[:6]
    say(f"logs of this run: {workdir}")
    runs = []
    if not no_oper_group:
        runs.append(run_once(base, Path(config_path), scenario, True, workdir, f"{tag}og"))
    if no_oper_group or baseline:
        runs.append(run_once(base, Path(config_path), scenario, False, workdir, f"{tag}bl"))
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


def _summary(report: dict, report_path, plot_path) -> None:
    print(f"\nscenario {report['scenario']}")
    if report["uplinks_down_at_ms"] is not None:
        print(f"  uplinks down at            {report['uplinks_down_at_ms'] / 1000:.1f} s")
    for d in report["decisions"]:
        print(f"  decision at {d['at_ms'] / 1000:6.2f} s        {d['device']} {d['action']}"
              f"{' (suppressed: ' + d['reason'] + ')' if d['suppressed'] else ''}")
    for x in report["detect_to_apply_ms"]:
        print(f"  detect -> apply            {x['detect_to_apply_ms']:.0f} ms ({x['device']} {x['interface']} disabled)")
    if report["baseline_blackholed_bytes"] is not None:
        print(f"  blackholed                 {report['blackholed_bytes']} B with the oper-group, "
              f"{report['baseline_blackholed_bytes']} B without")
    else:
        print(f"  blackholed                 {report['blackholed_bytes']} B")
    print(f"  recovered                  {'yes' if report['recovered'] else 'no'}")
    print(f"  InfluxDB points written    {report['influx_points_written']}")
    print(f"  expectations               {'met' if report['expectations_met'] else 'NOT met: ' + '; '.join(report['problems'])}")
    if report_path:
        print(f"  report                     {report_path}")
    if plot_path:
        print(f"  plot                       {plot_path}")
