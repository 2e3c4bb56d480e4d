"""The commands that run fabtel's components (collectors, the worker, the
sink, the executor), the demo, the benchmarks, the lab and the checks; the
command table (fabtel.shell.command_table) names each, and each imports its
component only when it runs.

May import: the standard library, fabtel.
"""
from __future__ import annotations

import sys

from fabtel.shell.invocation import UsageError, load_with_endpoints


from fabtel.signals import interrupt_on_sigterm


def sflow_decode(args) -> int:
    from fabtel.connectors.sflow.decode_cmd import decode_capture
    return decode_capture(args.file, args.port)


def collect_bmp(args) -> int:
    from fabtel.connectors.bmp.collector import run_collector
    cfg = _config(args)
    return run_collector(cfg, args.listen or cfg.bmp.listen, args.metrics_listen)


def collect_sflow(args) -> int:
    from fabtel.connectors.sflow.collector import run_collector
    cfg = _config(args)
    return run_collector(cfg, args.listen or cfg.sflow.listen, args.metrics_listen, args.workers or cfg.sflow.workers)


def collect_gnmi(args) -> int:
    import re

    from fabtel.connectors.gnmi.collector import run_collector
    if args.shard and not (re.fullmatch(r"\d+/\d+", args.shard) and int(args.shard.split("/")[0]) < int(args.shard.split("/")[1])):
        raise UsageError(f"--shard takes I/N with 0 <= I < N, got {args.shard!r}")
    if args.shard and args.consumer_group:
        raise UsageError("--shard and --group exclude each other: the group assigns the devices")
    return run_collector(_config(args), args.shard, args.metrics_listen, args.consumer_group, not args.no_publish)


def _config(args):
    return load_with_endpoints(args)


def process(args) -> int:
    from fabtel.pipeline.run import run_worker
    return run_worker(_config(args), args.metrics_listen, args.log_level.lower(), args.app_id, args.data_dir)


def sink_influx(args) -> int:
    from fabtel.connectors.influx.sink import run_sink
    return run_sink(_config(args), args.metrics_listen, args.consumer_group)


def remediate(args) -> int:
    from fabtel.connectors.remediation.executor import run_executor
    return run_executor(_config(args), args.mode, args.metrics_listen, args.consumer_group)


def demo(args) -> int:
    from fabtel.demo.run import run_demo
    interrupt_on_sigterm()
    return run_demo(args.config, args.scenario, args.no_oper_group, not args.no_baseline, args.report, args.plot,
                    args.keep)


def bench(args) -> int:
    import importlib

    from fabtel.bench.common import remove_run_topics, report
    from fabtel.shell.command_table import BENCHES
    from fabtel.shell.invocation import endpoints_to_environment
    interrupt_on_sigterm()
    endpoints_to_environment(args)
    module = importlib.import_module(f"fabtel.bench.{BENCHES[args.action][1]}")
    options = {k: getattr(args, k) for k in ("runs", "vs", "collectors", "flows", "rate", "flood", "workers", "sflowtool")
               if getattr(args, k, None) is not None}
    options.pop("runs", None)
    first = {"e2e": "runs", "bmp": "messages"}.get(args.action, "seconds")      # each bench's own measure of its size
    try:
        report(module.run(args.config, getattr(args, first), **options), args.json)
    finally:
        remove_run_topics()                 # the next run measures a broker without this one's topics
    return 0


def lab_frr(args) -> int:
    from fabtel.lab.frr.fattree import FatTreeError
    from fabtel.lab.frr.netlab import LabUnavailable
    from fabtel.lab.frr.run import run_frr_lab
    from fabtel.pipeline.convergence import TopologyError
    interrupt_on_sigterm()
    try:
        return run_frr_lab(args.config, args.fat_tree, args.fail, args.report, args.events_out, args.evpn)
    except (FatTreeError, TopologyError, LabUnavailable) as exc:
        raise UsageError(str(exc)) from None
    except RuntimeError as exc:
        print(f"fabtel lab frr: {exc}", file=sys.stderr)
        return 1


def lab_run(args) -> int:
    import sys
    import time

    from fabtel.config import parse_config
    from fabtel.lab.generate import GenerateError, generate
    from fabtel.lab.runner import LabRunner
    from fabtel.lab.scenario import load_scenario
    from fabtel.signals import stop_on_signals
    if args.generate:
        try:
            cfg = parse_config(generate(args.generate, args.gnmi_base_port), args.generate)
        except GenerateError as exc:
            raise UsageError(str(exc)) from None
    else:
        cfg = _config(args)
    scenario = load_scenario(args.scenario, cfg) if args.scenario else None
    if args.simulate:
        if scenario is None:
            raise UsageError("--simulate needs --scenario")
        runner = LabRunner(cfg, scenario, None, with_gnmi=False)
        runner.fabric.start_ns = time.time_ns()
        runner.simulate(args.duration)
        if args.ground_truth:
            runner.write_ground_truth(args.ground_truth)
        print(runner.summary_line(), file=sys.stderr)
        return 0
    sflow_to = args.sflow_to or (None if args.no_sflow else cfg.sflow.listen)
    runner = LabRunner(cfg, scenario, sflow_to, counter_interval_s=args.counter_interval,
                       sampling_rate=args.sampling_rate)
    stop = stop_on_signals("lab")
    try:
        runner.start()
    except OSError as exc:
        raise UsageError(str(exc)) from None
    print(f"lab: serving {len(runner.targets)} gNMI targets" + (f", scenario {scenario.name}" if scenario else ""),
          file=sys.stderr, flush=True)
    try:
        runner.run(stop, args.duration, progress=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        runner.stop()
    if args.ground_truth:
        runner.write_ground_truth(args.ground_truth)
    print(runner.summary_line(), file=sys.stderr)
    return 0


def deploy_kafka_topics(args) -> int:
    from fabtel.shell.deploy import kafka_topics_yaml
    print(kafka_topics_yaml(_config(args), args.config), end="")
    return 0


def dashboards_check(args) -> int:
    import time
    from pathlib import Path

    from fabtel.connectors.influx.writer import InfluxUnavailable
    from fabtel.shell import dashboards
    directory = Path(args.dir) if args.dir else dashboards.DASHBOARD_DIR
    rules = Path(args.rules) if args.rules else dashboards.ALERTING_DIR
    for d, what in ((directory, "dashboard"), (rules, "alert rule")):
        if not d.is_dir():
            raise UsageError(f"no {what} directory at {d}")
    end = int(time.time() * 1000)
    try:
        ran, rules_ran, problems = dashboards.check_all(_config(args).influxdb, end - int(args.since * 60_000), end,
                                                        directory, rules)
    except InfluxUnavailable as exc:
        raise UsageError(f"InfluxDB not available: {exc}") from None
    for p in problems:
        print(f"  - {p}")
    print(f"{ran} dashboard queries run, {rules_ran} alert rule queries run, {len(problems)} problem(s)")
    return 1 if problems else 0


def alerts_receive(args) -> int:
    from fabtel.shell.alerts import AlertReceiver
    from fabtel.signals import stop_on_signals
    stop = stop_on_signals("alerts")
    try:
        receiver = AlertReceiver(args.listen)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot listen on {args.listen}: {exc}") from None
    receiver.run(stop)
    return 0


def convergence_analyze(args) -> int:
    import dataclasses
    import json

    from fabtel.pipeline.convergence import TopologyError, load_messages, load_topology, measure, parse_element
    try:
        topology = load_topology(args.topology)
        metrics = measure(topology, parse_element(args.event, topology), load_messages(args.events))
    except (OSError, TopologyError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(dataclasses.asdict(metrics)))
    else:
        print(f"event {metrics.event}: {metrics.messages} messages, {metrics.bytes} B, locality {metrics.locality}, "
              f"blast radius {metrics.blast_radius}, {metrics.state_rounds} state rounds, "
              f"{metrics.state_changes} states (detected by {', '.join(metrics.detectors)})")
    return 0

