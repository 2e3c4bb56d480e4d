"""`fabtel demo`: the whole system on one machine, on a lab scenario.

It starts the local stack if needed, creates topics private to this run,
starts the lab (gNMI targets, sFlow agents, traffic) in this process and the
pipeline's components as their own processes: sFlow and gNMI collectors,
the Faust worker, the InfluxDB sink and the remediation executor (enforce).
It runs the scenario to its end, stops everything it started, and reports
what happened, measured against the lab's ground truth (fabtel.demo.report).
By default the scenario runs twice, with and without the oper-group
remediation, so the difference is measured on the same traffic.

A run leaves nothing behind unless asked (--keep): its logs and the Faust
worker's data live under the state directory and are removed, and so are its
topics and consumer groups; the logs stay when a run fails.

May import: fabtel.demo, fabtel.heap, fabtel.lab, fabtel.localstack, fabtel.config, fabtel.kafka, PyYAML, confluent_kafka.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import yaml

from fabtel.config import Config, load_config
from fabtel.demo.report import RunResult, build_report, check_expectations, check_without_oper_group, summary_lines
from fabtel.localstack.ports import free_port
from fabtel.localstack.supervisor import Components

def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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
    from fabtel import heap
    from fabtel.kafka import create_topics
    from fabtel.lab.runner import LabRunner
    cfg = run_config(base, scenario, oper_group, tag)
    path = workdir / f"fabric-{tag}.yaml"
    path.write_text(yaml.safe_dump(_as_yaml(config_path, cfg), sort_keys=False))
    create_topics(cfg.kafka)
    comps = Components(workdir)
    sflow_port, sink_metrics = free_port(), free_port()
    runner = None
    try:
        executor_ports = _start_pipeline(comps, path, workdir, tag, oper_group, executors, sink_metrics)
        runner = LabRunner(cfg, scenario, f"127.0.0.1:{sflow_port}")
        runner.start()
        comps.start(f"sflow-{tag}", "collect", "sflow", "--config", str(path), "--listen", f"127.0.0.1:{sflow_port}")
        comps.start(f"gnmi-{tag}", "collect", "gnmi", "--config", str(path))
        if on_started is not None:
            on_started(comps, executor_ports)
        heap.settle()             # the lab's devices run in this process: no full collection's stall on them
        _run_scenario(runner, scenario, comps, hook)
        time.sleep(2)             # let the last records reach InfluxDB
        points = int(_metric(sink_metrics, "fabtel_influx_points_written_total"))
    finally:
        comps.stop()
        if runner is not None:
            runner.stop()
    return _collected(cfg, oper_group, runner, points)


def _start_pipeline(comps: Components, path: Path, workdir: Path, tag: str, oper_group: bool, executors: int,
                    sink_metrics: int) -> dict[str, int]:
    """The worker, the sink and (with the oper-group) the executors, ready;
    {executor name: its metrics port}."""
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
    return executor_ports


def _run_scenario(runner, scenario, comps: Components, hook) -> None:
    """The lab's scenario to its end, the components watched, a line every 5 s."""
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


def _collected(cfg: Config, oper_group: bool, runner, points: int) -> RunResult:
    """What the run left: the lab's truth and events, and the records the pipeline wrote."""
    def read(key: str, keep=lambda r: True) -> list:
        return run_records(cfg, key, keep)
    decisions, results = read("decisions"), read("command_results")
    flows = read("flow_reports", lambda r: r.verdict)
    lags = read("lag_balance", lambda r: r.alert and r.explanation and "imbalance" in r.alert)
    admin = [e for e in runner.fabric.events_log if e["origin"] == "gnmi"]
    # the devices' ifIndex maps named every number (the lab numbers as each platform does)
    unnamed = sorted({f"{w.device}:{name}" for w in read("flows")
                      for name in (w.interface, *(o.interface for o in w.outputs)) if name.startswith("ifIndex")})
    return RunResult(oper_group, runner.fabric.ground_truth(), runner.applied, admin, decisions, results, points,
                     runner.fabric.start_ns, dict(runner.fabric.set_requests), flows, lags, cfg.sflow.flow_window_ms,
                     unnamed, read("cabling"), [list(x) for x in runner.fabric.blackhole_spans],
                     read("remediation_outcomes"), runner.fabric.clock_ns or 0)


def run_records(cfg: Config, key: str, keep=lambda r: True) -> list:
    """The records a run left on its topic `key` (those `keep` accepts), read to the topic's end."""
    from fabtel.kafka import tail
    return [r for r, _ in tail(cfg.kafka, cfg.kafka.topic(key), None, 2, until_end=True) if r is not None and keep(r)]


RUN_TARGETS_PARTITIONS = 4


def run_config(base: Config, scenario, oper_group: bool, tag: str) -> Config:
    # Each run has topics of its own and one gNMI collector: an inventory topic of
    # kafka.targets_partitions (60) would only be more partitions for a
    # restarted broker to take the lead of before the groups can resume.
    kafka = dataclasses.replace(base.kafka, topics={k: f"demo-{tag}.{v}" for k, v in base.kafka.topics.items()},
                                targets_partitions=min(base.kafka.targets_partitions, RUN_TARGETS_PARTITIONS))
    groups = tuple(dataclasses.replace(g, **scenario.oper_group_overrides) for g in base.oper_groups) if oper_group else ()
    return dataclasses.replace(base, kafka=kafka, oper_groups=groups,
                               remediation=dataclasses.replace(base.remediation, mode="enforce"))


def _as_yaml(config_path: Path, cfg: Config) -> dict:
    data = yaml.safe_load(config_path.read_text())
    data.setdefault("kafka", {})["topics"] = dict(cfg.kafka.topics)
    data["kafka"].update(bootstrap_servers=cfg.kafka.bootstrap_servers, targets_partitions=cfg.kafka.targets_partitions)
    data.setdefault("influxdb", {}).update(url=cfg.influxdb.url)
    data["oper_groups"] = [{k: v for k, v in dataclasses.asdict(g).items() if v is not None}
                           | {"watch": list(g.watch), "down_links": list(g.down_links)} for g in cfg.oper_groups]
    data.setdefault("remediation", {})["mode"] = "enforce"
    return data


def remove_run(kafka, tag: str) -> tuple[int, int]:
    """Delete what the runs tagged `tag` made on the broker: their topics
    (demo-TAG..., and the worker's fabtel-demo-TAG... internal ones) and their
    consumer groups. Returns (topics, groups) deleted."""
    from fabtel.kafka import delete_by_prefix
    return delete_by_prefix(kafka, (f"demo-{tag}", f"fabtel-demo-{tag}"))


def run_demo(config_path: str, scenario_path: str | None, no_oper_group: bool, baseline: bool,
             report_path: str | None, plot_path: str | None, keep: bool = False) -> int:
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    from fabtel.localstack.stack import ensure_stack
    os.environ.setdefault("FABTEL_GNMI_USER", "admin")
    os.environ.setdefault("FABTEL_GNMI_PASSWORD", "fabtel-lab")
    base = load_config(config_path)
    scenario = load_scenario(scenario_path or SCENARIO_DIR / "leaf1-uplinks-down.yaml", base)
    versions = ensure_stack(base.kafka, base.influxdb.url, say)
    from fabtel.localstack.stack import DEFAULT_STATE_DIR
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
    problems = check_expectations(scenario, report) if main.oper_group else check_without_oper_group(scenario, report)
    report["expectations_met"] = not problems
    report["problems"] = problems
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2) + "\n")
    if plot_path:
        from fabtel.demo.plot import plot
        plot(plot_path, scenario, runs, report)
    print("\n".join(summary_lines(report, report_path, plot_path)))
    return 0 if not problems else 1

