"""Subcommands of the components (connectors, pipeline, lab, bench),
registered in `fabtel.shell.command_table`, which the command line reads.
Each imports its component lazily."""
from __future__ import annotations

import sys

from fabtel.shell.command_table import EXTRA_PARSERS, UsageError, command, load_with_endpoints  # noqa: F401
from fabtel.signals import interrupt_on_sigterm


def _sflow_parsers(sub, with_config, with_stack):
    sf = sub.add_parser("sflow", help="sFlow tools").add_subparsers(dest="action", metavar="ACTION")
    dec = sf.add_parser("decode", help="print the samples of a pcap/pcapng capture as JSON lines")
    dec.add_argument("file", nargs="?", default="-", help="capture file, or - for standard input")
    dec.add_argument("--port", type=int, default=6343, help="UDP port carrying sFlow (0: any; default 6343)")


@command("sflow decode")
def sflow_decode(args) -> int:
    from fabtel.connectors.sflow.decode_cmd import decode_capture
    return decode_capture(args.file, args.port)


def _collect_parsers(sub, with_config, with_stack):
    col = sub.add_parser("collect", help="run a collector into Kafka").add_subparsers(dest="action", metavar="SOURCE")
    sf = with_config(col.add_parser("sflow", help="receive sFlow v5 datagrams over UDP"))
    sf.add_argument("--listen", default=None, help="HOST:PORT to receive on (default: sflow.listen of the config)")
    sf.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")
    gn = with_config(col.add_parser("gnmi", help="subscribe to every device's gNMI telemetry"))
    gn.add_argument("--group", dest="consumer_group", default=None, metavar="NAME", nargs="?",
                    const="fabtel-gnmi-collectors",
                    help="share the devices with the other collectors of consumer group NAME (default "
                         "fabtel-gnmi-collectors) through the targets topic: a collector that dies hands its devices "
                         "to the others; without it, this collector takes every device (or its --shard)")
    gn.add_argument("--no-publish", action="store_true",
                    help="with --group: do not publish the configuration's inventory to the targets topic")
    gn.add_argument("--shard", default=None, metavar="I/N",
                    help="static sharding: only devices I, I+N, I+2N, ... of the inventory (one replica of N)")
    gn.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")
    bm = with_config(col.add_parser("bmp", help="accept BMP sessions from routers (FRR bgpd -M bmp)"))
    bm.add_argument("--listen", default=None, help="HOST:PORT to accept on (default: bmp.listen of the config)")
    bm.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")


@command("collect bmp")
def collect_bmp(args) -> int:
    from fabtel.connectors.bmp.collector import run_collector
    cfg = _config(args)
    return run_collector(cfg, args.listen or cfg.bmp.listen, args.metrics_listen)


@command("collect sflow")
def collect_sflow(args) -> int:
    from fabtel.connectors.sflow.collector import run_collector
    cfg = _config(args)
    return run_collector(cfg, args.listen or cfg.sflow.listen, args.metrics_listen)


@command("collect gnmi")
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


def _process_parsers(sub, with_config, with_stack):
    p = with_config(sub.add_parser("process", help="run a Faust worker: LAG balance, uplink health, oper-group decisions"))
    p.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")
    p.add_argument("--app-id", default="fabtel-processor", help="Faust app id = consumer group (default fabtel-processor)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="the worker's local data directory (default APP_ID-data in the current directory)")


@command("process")
def process(args) -> int:
    from fabtel.pipeline.app import run_worker
    return run_worker(_config(args), args.metrics_listen, args.log_level.lower(), args.app_id, args.data_dir)


def _sink_parsers(sub, with_config, with_stack):
    sk = sub.add_parser("sink", help="write records to a store").add_subparsers(dest="action", metavar="KIND")
    inf = with_config(sk.add_parser("influx", help="write telemetry and decisions to InfluxDB, losing nothing"))
    inf.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")
    inf.add_argument("--group", dest="consumer_group", default="fabtel-influx-sink", help="consumer group (default fabtel-influx-sink)")
    rem = with_config(sub.add_parser("remediate", help="apply remediation commands to the devices over gNMI"))
    rem.add_argument("--mode", choices=("propose", "enforce"), default=None,
                     help="propose: only record what would be done (default: remediation.mode of the config)")
    rem.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")
    rem.add_argument("--group", dest="consumer_group", default="fabtel-remediation", help="consumer group (default fabtel-remediation)")


@command("sink influx")
def sink_influx(args) -> int:
    from fabtel.connectors.influx.sink import run_sink
    return run_sink(_config(args), args.metrics_listen, args.consumer_group)


@command("remediate")
def remediate(args) -> int:
    from fabtel.connectors.remediation.executor import run_executor
    return run_executor(_config(args), args.mode, args.metrics_listen, args.consumer_group)


def _demo_parsers(sub, with_config, with_stack):
    d = with_config(sub.add_parser("demo", help="the whole pipeline on a lab scenario, measured and drawn"))
    d.add_argument("--scenario", default=None, help="scenario file (default lab/scenarios/leaf1-uplinks-down.yaml)")
    d.add_argument("--no-oper-group", action="store_true", help="run only without the oper-group remediation")
    d.add_argument("--no-baseline", action="store_true", help="skip the comparison run without the oper-group")
    d.add_argument("--report", default=None, metavar="FILE.json", help="write the report as JSON")
    d.add_argument("--plot", default=None, metavar="FILE.png", help="draw per-link throughput for both runs")
    d.add_argument("--keep", action="store_true",
                   help="keep the runs' topics, consumer groups, logs and worker data (default: removed at the end)")


@command("demo")
def demo(args) -> int:
    from fabtel.shell.demo import run_demo
    interrupt_on_sigterm()
    return run_demo(args.config, args.scenario, args.no_oper_group, not args.no_baseline, args.report, args.plot,
                    args.keep)


EXTRA_PARSERS.extend([_sflow_parsers, _collect_parsers, _process_parsers, _sink_parsers, _demo_parsers])


def _bench_parsers(sub, with_config, with_stack):
    b = sub.add_parser("bench", help="run a benchmark against the local stack").add_subparsers(dest="action", metavar="NAME")
    for name, (text, _) in BENCHES.items():
        sp = with_config(b.add_parser(name, help=text))
        sp.add_argument("--json", action="store_true", help="print the figures as one JSON object")
        sp.add_argument("--seconds", type=float, default=5.0, help="how long each phase runs (default 5)")
        if name == "e2e":
            sp.add_argument("--runs", type=int, default=5, help="how many runs of the scenario (default 5)")
        if name == "gnmi":
            sp.add_argument("--collectors", type=int, default=None, metavar="N",
                            help="N collector processes sharing 256 lab devices through the targets group: the "
                                 "spread and updates per CPU second (instead of the single-collector run)")
        if name == "flows":
            sp.add_argument("--flows", type=int, default=None, metavar="N",
                            help="distinct 5-tuples in the load (default 1,000,000): memory must not grow with it")
        if name in PEERS_FOR:
            sp.add_argument("--vs", choices=PEERS_FOR[name], default=None,
                            help=f"measure {PEERS_FOR[name][0]} on the same load in the same run, and the ratio")
        command(f"bench {name}")(_bench)


# name -> (help, the module in fabtel.bench whose run() measures it)
BENCHES = {
    "sflow": ("sFlow decode, and decode + Avro + produce, in samples per second per core", "sflow"),
    "gnmi": ("gNMI updates per second per core, and state change to Kafka latency", "gnmi"),
    "process": ("Faust worker events per second, and uplink-down to command latency", "process"),
    "faust-ceiling": ("events per second a do-nothing Faust agent reads: the ceiling for `bench process`", "faust_ceiling"),
    "influx": ("points per second from Kafka into the local InfluxDB", "influx"),
    "e2e": ("the main demo scenario N times: uplink-down to access-link-disabled latency", "e2e"),
    "flows": ("flow samples per second per core from datagram to flow windows in Kafka, memory with 1M flows", "flows"),
}
PEERS_FOR = {"sflow": ["goflow2"], "gnmi": ["gnmic"]}


def _bench(args) -> int:
    import importlib

    from fabtel.bench.common import report
    interrupt_on_sigterm()
    module = importlib.import_module(f"fabtel.bench.{BENCHES[args.action][1]}")
    options = {k: getattr(args, k) for k in ("runs", "vs", "collectors", "flows") if getattr(args, k, None) is not None}
    first = args.runs if args.action == "e2e" else args.seconds
    options.pop("runs", None)
    report(module.run(args.config, first, **options), args.json)
    return 0


EXTRA_PARSERS.append(_bench_parsers)


def _lab_parsers(sub, with_config, with_stack):
    lab = sub.add_parser("lab", help="run the simulated fabric").add_subparsers(dest="action", metavar="ACTION")
    frr = with_config(lab.add_parser(
        "frr", help="FRR fat-tree in network namespaces: fail a node or link, measure convergence through the pipeline"))
    frr.add_argument("--fat-tree", required=True, metavar="K_LEAF,K_TOP,R", help="Sibyl's parameters, e.g. 2,2,2 (10 nodes)")
    frr.add_argument("--fail", required=True, metavar="NODE|A--B", help="the node or link to fail, e.g. leaf_1_0_1")
    frr.add_argument("--report", default=None, metavar="FILE.json", help="write the metrics and the run's facts as JSON")
    frr.add_argument("--events-out", default=None, metavar="FILE.jsonl",
                     help="write the event's routing messages for `fabtel convergence analyze`")
    frr.add_argument("--evpn", action="store_true",
                     help="add an EVPN-VXLAN overlay (L2VPN EVPN on every session, VNI 100 on every leaf); "
                          "the report then has the metrics per address family, underlay and overlay")
    run = with_config(lab.add_parser("run", help="serve gNMI and send sFlow from every device, run a scenario"))
    run.add_argument("--scenario", default=None,
                     help="scenario file or the name of an installed one, e.g. leaf1-uplinks-down "
                          "(default: no events, no traffic; runs until stopped)")
    run.add_argument("--sflow-to", default=None,
                     help="HOST:PORT of the sFlow collector (default: sflow.listen of the configuration)")
    run.add_argument("--no-sflow", action="store_true", help="send no sFlow")
    run.add_argument("--ground-truth", default=None, help="write offered/delivered/blackholed bytes per second to FILE.jsonl")
    run.add_argument("--generate", default=None, metavar="leaf-spine:spines=S,leaves=L,ports=P",
                     help="serve a generated fabric instead of --config")
    run.add_argument("--gnmi-base-port", type=int, default=28000, help="first gNMI port of a generated fabric (default 28000)")
    run.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: the scenario's)")
    run.add_argument("--counter-interval", type=float, default=1.0, help="sFlow counter interval in seconds (default 1)")
    run.add_argument("--sampling-rate", type=int, default=None,
                     help="sFlow 1-in-N packet sampling (default: the scenario's sampling_rate, else 256)")
    run.add_argument("--simulate", action="store_true",
                     help="run the scenario on a virtual clock as fast as possible (no gNMI, no sFlow): ground truth only")


@command("lab frr")
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


@command("lab run")
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


EXTRA_PARSERS.append(_lab_parsers)


def _deploy_parsers(sub, with_config, with_stack):
    dp = sub.add_parser("deploy", help="generate Kubernetes resources from the configuration").add_subparsers(
        dest="action", metavar="WHAT")
    with_config(dp.add_parser("kafka-topics", help="print a Strimzi KafkaTopic for every topic of the configuration"))
    db = sub.add_parser("dashboards", help="check the Grafana dashboards and alert rules").add_subparsers(
        dest="action", metavar="ACTION")
    chk = with_config(db.add_parser(
        "check", help="run every dashboard and alert rule query against InfluxDB; exit 1 if one errors, a dashboard "
                      "query returns no series, or a rule names a query, label, measurement or field that is not there"))
    chk.add_argument("--since", type=float, default=60, metavar="MINUTES",
                     help="the dashboards' time range: the last MINUTES minutes (default 60)")
    chk.add_argument("--dir", default=None, help="dashboard directory (default deploy/k8s/base/dashboards)")
    chk.add_argument("--rules", default=None, help="alert rule directory (default deploy/k8s/base/alerting)")


@command("deploy kafka-topics")
def deploy_kafka_topics(args) -> int:
    from fabtel.shell.deploy import kafka_topics_yaml
    print(kafka_topics_yaml(_config(args), args.config), end="")
    return 0


@command("dashboards check")
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


EXTRA_PARSERS.append(_deploy_parsers)


def _alerts_parsers(sub, with_config, with_stack):
    al = sub.add_parser("alerts", help="receive alert notifications").add_subparsers(dest="action", metavar="ACTION")
    rc = al.add_parser("receive", help="log each alert Grafana or Alertmanager posts to this webhook, one line each",
                       description="A small webhook receiver: point a Grafana contact point (or an Alertmanager "
                                   "webhook) at http://HOST:PORT/alerts and every alert is logged in one line.")
    rc.add_argument("--listen", default="127.0.0.1:9095", metavar="HOST:PORT",
                    help="where to receive (default 127.0.0.1:9095; 0.0.0.0:9095 in a pod)")


@command("alerts receive")
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


EXTRA_PARSERS.append(_alerts_parsers)


def _convergence_parsers(sub, with_config, with_stack):
    cv = sub.add_parser("convergence", help="Sibyl's convergence metrics of routing-protocol events").add_subparsers(
        dest="action", metavar="ACTION")
    an = cv.add_parser("analyze", help="the metrics of one event from a JSON-lines log of routing messages")
    an.add_argument("--topology", required=True, help="JSON/YAML file with the links ([[A, B], ...])")
    an.add_argument("--events", required=True, metavar="FILE.jsonl",
                    help="routing messages, one JSON object per line: t (ms), from, to, kind, bytes")
    an.add_argument("--event", required=True, metavar="NODE|A--B", help="the failed (or recovered) node or link")
    an.add_argument("--json", action="store_true", help="print the metrics as JSON")


@command("convergence analyze")
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


EXTRA_PARSERS.append(_convergence_parsers)
