"""The one table of `fabtel`'s commands, in the order `fabtel --help` lists
them: each command's words, help, options and the function that runs it
(named, "module:function", and imported only when the command runs, so that
`fabtel --help` and `config check` stay fast). The command line (cli) builds
its parser from this table and nothing else; nothing registers itself on
import.

May import: the standard library.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

Arguments = Callable[[argparse.ArgumentParser], None]


def nothing(_: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Command:
    words: str                        # "collect sflow", or "process" alone
    help: str
    run: str                          # "module:function", called with the parsed arguments, returns the exit status
    arguments: Arguments = nothing
    description: str | None = None
    config: bool = True               # takes --config and the endpoint flags
    stack: bool = False               # takes --state-dir and the stack's port flags


# commands with subcommands: their help, and the metavar of the subcommand
GROUPS = {
    "config": ("validate a fabric configuration", "ACTION"),
    "stack": ("start, stop or inspect the local Kafka broker and InfluxDB", "ACTION"),
    "topics": ("create or read the Kafka topics", "ACTION"),
    "sflow": ("sFlow tools", "ACTION"),
    "collect": ("run a collector into Kafka", "SOURCE"),
    "sink": ("write records to a store", "KIND"),
    "bench": ("run a benchmark against the local stack", "NAME"),
    "lab": ("run the simulated fabric", "ACTION"),
    "deploy": ("generate Kubernetes resources from the configuration", "WHAT"),
    "dashboards": ("check the Grafana dashboards and alert rules", "ACTION"),
    "alerts": ("receive alert notifications", "ACTION"),
    "convergence": ("Sibyl's convergence metrics of routing-protocol events", "ACTION"),
    "oper-group": ("look after the oper-groups", "ACTION"),
}
METRICS_HELP = "serve /metrics and /healthz on HOST:PORT (default off)"


def _metrics(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics-listen", default=None, help=METRICS_HELP)


def _config_check(p):
    p.add_argument("file")


def _stack_up(p):
    p.add_argument("--broker", choices=("kafka", "tansu"), default=None,
                   help="kafka: Apache Kafka (KRaft; data kept under the state dir; the default); "
                        "tansu: Tansu, memory only, starts in milliseconds, loses everything on restart")
    p.add_argument("--nodes", type=int, choices=(1, 3), default=None,
                   help="Apache Kafka nodes (3: replication 3, min.insync.replicas 2; default 1)")
    p.add_argument("--registry", action="store_true",
                   help="also run a schema registry (Apicurio Registry, Confluent API, in memory; fetched once "
                        "with Maven); set kafka.schema_registry_url, or the FABTEL_REGISTRY_URL it prints")
    p.add_argument("--registry-port", type=int, default=None, help="its port on 127.0.0.1 (default 8081)")


def _stack_down(p):
    p.add_argument("--purge", action="store_true", help="also delete the broker's and InfluxDB's data")


def _topics_tail(p):
    p.add_argument("topic", nargs="+", help="topic name, or its configuration key (interface_state, commands, ...); "
                                            "several are read one after the other")
    p.add_argument("--from-beginning", action="store_true", help="start at the oldest record of each partition")
    p.add_argument("--partition", type=int, default=None, help="read only this partition")
    p.add_argument("--offset", type=int, default=None, help="start at this offset (with --partition)")
    p.add_argument("-J", dest="envelope", action="store_true",
                   help="wrap each record kcat-style: topic, partition, offset, ts (ms), key, payload")
    p.add_argument("-f", "--follow", action="store_true", help="keep reading until interrupted")
    p.add_argument("-e", "--exit-at-end", action="store_true",
                   help="stop once every partition's end, as it was at the start, is read (kcat -e)")
    p.add_argument("--max", type=int, default=None, help="stop after N records")
    p.add_argument("--timeout", type=float, default=5.0, help="stop after S seconds without a record (default 5)")


def _sflow_decode(p):
    p.add_argument("file", nargs="?", default="-", help="capture file, or - for standard input")
    p.add_argument("--port", type=int, default=6343, help="UDP port carrying sFlow (0: any; default 6343)")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def _collect_sflow(p):
    p.add_argument("--listen", default=None, help="HOST:PORT to receive on (default: sflow.listen of the config)")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="N receiver processes on the one port (SO_REUSEPORT; each agent stays with one), "
                        "/metrics their sum (default: sflow.workers of the config, 1)")
    _metrics(p)


def _collect_gnmi(p):
    p.add_argument("--group", dest="consumer_group", default=None, metavar="NAME", nargs="?",
                   const="fabtel-gnmi-collectors",
                   help="share the devices with the other collectors of consumer group NAME (default "
                        "fabtel-gnmi-collectors) through the targets topic: a collector that dies hands its devices "
                        "to the others; without it, this collector takes every device (or its --shard)")
    p.add_argument("--no-publish", action="store_true",
                   help="with --group: do not publish the configuration's inventory to the targets topic")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="static sharding: only devices I, I+N, I+2N, ... of the inventory (one replica of N)")
    _metrics(p)


def _collect_bmp(p):
    p.add_argument("--listen", default=None, help="HOST:PORT to accept on (default: bmp.listen of the config)")
    _metrics(p)


def _process(p):
    _metrics(p)
    p.add_argument("--app-id", default="fabtel-processor", help="Faust app id = consumer group (default fabtel-processor)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help="the worker's local data directory (default APP_ID-data in the current directory)")


def _sink_influx(p):
    _metrics(p)
    p.add_argument("--group", dest="consumer_group", default="fabtel-influx-sink", help="consumer group (default fabtel-influx-sink)")


def _remediate(p):
    p.add_argument("--mode", choices=("propose", "enforce"), default=None,
                   help="propose: only record what would be done (default: remediation.mode of the config)")
    _metrics(p)
    p.add_argument("--group", dest="consumer_group", default="fabtel-remediation", help="consumer group (default fabtel-remediation)")


def _demo(p):
    p.add_argument("--scenario", default=None, help="scenario file (default lab/scenarios/leaf1-uplinks-down.yaml)")
    p.add_argument("--no-oper-group", action="store_true", help="run only without the oper-group remediation")
    p.add_argument("--no-baseline", action="store_true", help="skip the comparison run without the oper-group")
    p.add_argument("--report", default=None, metavar="FILE.json", help="write the report as JSON")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw per-link throughput for both runs")
    p.add_argument("--keep", action="store_true",
                   help="keep the runs' topics, consumer groups, logs and worker data (default: removed at the end)")


# name -> (help, the module in fabtel.bench whose run() measures it)
BENCHES = {
    "sflow": ("sFlow decode, and decode + Avro + produce, in samples per second per core", "sflow"),
    "gnmi": ("gNMI updates per second per core, and state change to Kafka latency", "gnmi"),
    "process": ("Faust worker events per second, and uplink-down to command latency", "process"),
    "faust-ceiling": ("events per second a do-nothing Faust agent reads: the ceiling for `bench process`", "faust_ceiling"),
    "influx": ("points per second from Kafka into the local InfluxDB", "influx"),
    "e2e": ("the seed scenario's uplink loss N times in one pipeline: uplink-down to access-link-disabled latency, "
            "hop by hop with the three slowest, beside the Kafka floor of its two hops (bare clients, same broker)",
            "e2e"),
    "flows": ("flow samples per second per core from datagram to flow windows in Kafka, memory with 1M flows", "flows"),
    "decode": ("`sflow decode` on a 100,000-sample capture, wall time; --sflowtool PATH: sflowtool -r beside it", "decode"),
    "bmp": ("BMP messages per second per core from one router's session to Kafka", "bmp"),
}
PEERS_FOR = {"sflow": ["goflow2"], "gnmi": ["gnmic"], "bmp": ["gobmp"]}


def _bench(name: str) -> Arguments:
    def arguments(p):
        p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
        if name == "bmp":
            p.add_argument("--messages", type=_positive_int, default=100_000, metavar="N",
                           help="route-monitoring messages in the router's session (default 100,000)")
        else:
            p.add_argument("--seconds", type=float, default=5.0, help="how long each phase runs (default 5)")
        if name == "e2e":
            p.add_argument("--runs", type=int, default=100,
                           help="uplink losses to time, one every ~7.5 s (default 100: a p99 needs 100)")
        if name == "gnmi":
            p.add_argument("--collectors", type=int, default=None, metavar="N",
                           help="N collector processes sharing 256 lab devices through the targets group: the "
                                "spread and updates per CPU second (instead of the single-collector run)")
        if name == "sflow":
            p.add_argument("--rate", type=_positive_int, default=8000, metavar="N",
                           help="with --vs: datagrams a second offered to each collector (default 8000)")
            p.add_argument("--flood", action="store_true",
                           help="with --vs: offer the datagrams as fast as one sender can (no pacing)")
            p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                           help="with --vs: fabtel's collector with N workers (collect sflow --workers)")
        if name == "decode":
            p.add_argument("--sflowtool", default=None, metavar="PATH",
                           help="sflowtool built from github.com/sflow/sflowtool: `sflowtool -r` on the same capture, "
                                "and the ratio")
        if name == "flows":
            p.add_argument("--flows", type=int, default=None, metavar="N",
                           help="distinct 5-tuples in the load (default 1,000,000): memory must not grow with it")
        if name in PEERS_FOR:
            p.add_argument("--vs", choices=PEERS_FOR[name], default=None,
                           help=f"measure {PEERS_FOR[name][0]} on the same load in the same run, and the ratio")
    return arguments


def _lab_frr(p):
    p.add_argument("--fat-tree", required=True, metavar="K_LEAF,K_TOP,R", help="Sibyl's parameters, e.g. 2,2,2 (10 nodes)")
    p.add_argument("--fail", required=True, metavar="NODE|A--B", help="the node or link to fail, e.g. leaf_1_0_1")
    p.add_argument("--report", default=None, metavar="FILE.json", help="write the metrics and the run's facts as JSON")
    p.add_argument("--events-out", default=None, metavar="FILE.jsonl",
                   help="write the event's routing messages for `fabtel convergence analyze`")
    p.add_argument("--evpn", action="store_true",
                   help="add an EVPN-VXLAN overlay (L2VPN EVPN on every session, VNI 100 on every leaf); "
                        "the report then has the metrics per address family, underlay and overlay")


def _lab_run(p):
    p.add_argument("--scenario", default=None,
                   help="scenario file or the name of an installed one, e.g. leaf1-uplinks-down "
                        "(default: no events, no traffic; runs until stopped)")
    p.add_argument("--sflow-to", default=None,
                   help="HOST:PORT of the sFlow collector (default: sflow.listen of the configuration)")
    p.add_argument("--no-sflow", action="store_true", help="send no sFlow")
    p.add_argument("--ground-truth", default=None, help="write offered/delivered/blackholed bytes per second to FILE.jsonl")
    p.add_argument("--generate", default=None, metavar="leaf-spine:spines=S,leaves=L,ports=P",
                   help="serve a generated fabric instead of --config")
    p.add_argument("--gnmi-base-port", type=int, default=28000, help="first gNMI port of a generated fabric (default 28000)")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds (default: the scenario's)")
    p.add_argument("--counter-interval", type=float, default=1.0, help="sFlow counter interval in seconds (default 1)")
    p.add_argument("--sampling-rate", type=int, default=None,
                   help="sFlow 1-in-N packet sampling (default: the scenario's sampling_rate, else 256)")
    p.add_argument("--simulate", action="store_true",
                   help="run the scenario on a virtual clock as fast as possible (no gNMI, no sFlow): ground truth only")


def _dashboards_check(p):
    p.add_argument("--since", type=float, default=60, metavar="MINUTES",
                   help="the dashboards' time range: the last MINUTES minutes (default 60)")
    p.add_argument("--dir", default=None, help="dashboard directory (default deploy/k8s/base/dashboards)")
    p.add_argument("--rules", default=None, help="alert rule directory (default deploy/k8s/base/alerting)")


def _alerts_receive(p):
    p.add_argument("--listen", default="127.0.0.1:9095", metavar="HOST:PORT",
                   help="where to receive (default 127.0.0.1:9095; 0.0.0.0:9095 in a pod)")


def _convergence_analyze(p):
    p.add_argument("--topology", required=True, help="JSON/YAML file with the links ([[A, B], ...])")
    p.add_argument("--events", required=True, metavar="FILE.jsonl",
                   help="routing messages, one JSON object per line: t (ms), from, to, kind, bytes")
    p.add_argument("--event", required=True, metavar="NODE|A--B", help="the failed (or recovered) node or link")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")


def _discover(p):
    p.add_argument("--config", required=True, metavar="SEED.yaml",
                   help="the devices to ask (discover.targets), their gNMI settings, the naming rule for roles; "
                        "its other sections are copied to the output")
    p.add_argument("-o", "--out", default=None, metavar="FILE", help="write the configuration here (default: stdout)")
    p.add_argument("--role", action="append", metavar="ROLE=REGEX",
                   help="a naming rule: devices whose host name matches REGEX have ROLE (leaf, spine, border); "
                        "repeat for each role; wins over the seed's roles")
    p.add_argument("--intent", default=None, metavar="CONFIG",
                   help="also compare the cabling found with this configuration's fabric.links: each port cabled "
                        "otherwise is said with both ends, and the exit status is 1")


def _oper_group_clear(p):
    p.add_argument("name", help="the oper-group (oper_groups[].name)")
    p.add_argument("--app-id", default="fabtel-processor", help="the workers' app id (default fabtel-processor)")
    p.add_argument("--by", default=None, help="who clears it, for the log (default: $USER)")


ADMIN, COMPONENTS = "fabtel.shell.admin", "fabtel.shell.commands"
COMMANDS: tuple[Command, ...] = (
    Command("config check", "validate FILE: exit 0 when valid, 2 with every problem listed", f"{ADMIN}:config_check",
            _config_check, config=False),
    Command("discover", "write a fabric configuration from what the devices report over gNMI: interfaces, speeds, "
            "LLDP links, LAGs and ESIs, BGP neighbours; says what it could not infer", "fabtel.shell.discover:run",
            _discover, config=False),
    Command("stack up", "start the broker and InfluxDB (idempotent) and wait until they answer", f"{ADMIN}:stack_up",
            _stack_up, config=False, stack=True),
    Command("stack down", "stop what `stack up` started", f"{ADMIN}:stack_down", _stack_down, config=False, stack=True),
    Command("stack status", "say what runs where; exit 1 when something is down", f"{ADMIN}:stack_status",
            config=False, stack=True),
    Command("topics create", "create every configured topic (idempotent)", f"{ADMIN}:topics_create"),
    Command("topics sync-targets", "publish the configuration's inventory to the targets topic the gNMI collectors share",
            f"{ADMIN}:topics_sync_targets",
            description="Make the compacted targets topic hold the configuration's devices: new and changed ones "
                        "published, removed ones tombstoned. Running `collect gnmi --group` collectors pick the "
                        "changes up at once, without a restart."),
    Command("topics tail", "print a topic's decoded records as JSON lines", f"{ADMIN}:topics_tail", _topics_tail,
            description="Print a topic's records, decoded, one JSON object per line: by default the ones that "
                        "arrive from now on, for --timeout seconds of quiet (-f: until interrupted)."),
    Command("sflow decode", "print the samples of a pcap/pcapng capture as JSON lines", f"{COMPONENTS}:sflow_decode",
            _sflow_decode, config=False),
    Command("collect sflow", "receive sFlow v5 datagrams over UDP", f"{COMPONENTS}:collect_sflow", _collect_sflow),
    Command("collect gnmi", "subscribe to every device's gNMI telemetry", f"{COMPONENTS}:collect_gnmi", _collect_gnmi),
    Command("collect bmp", "accept BMP sessions from routers (FRR bgpd -M bmp)", f"{COMPONENTS}:collect_bmp",
            _collect_bmp),
    Command("process", "run a Faust worker: LAG balance, uplink health, oper-group decisions", f"{COMPONENTS}:process",
            _process),
    Command("sink influx", "write telemetry and decisions to InfluxDB, losing nothing", f"{COMPONENTS}:sink_influx",
            _sink_influx),
    Command("remediate", "apply remediation commands to the devices over gNMI", f"{COMPONENTS}:remediate", _remediate,
            description="Consume the commands topic. In propose mode, record what would be done (proposed); in "
                        "enforce mode, apply each command over gNMI: read "
                        "(unless its last read found another value), Set, read back, and record the outcome on the "
                        "results topic (applied, already_in_state, failed, skipped_stale). Each device has its own "
                        "worker, which reads ahead the paths its oper-groups' down-links may need at start, after an "
                        "assignment and every remediation.idle_read_ms while idle, and says in one line (and in "
                        "fabtel_remediation_device_reachable) when a device stops answering. Executors share the "
                        "commands through one consumer group; offsets are committed behind the recorded results."),
    Command("demo", "the whole pipeline on a lab scenario, measured and drawn", f"{COMPONENTS}:demo", _demo),
    *(Command(f"bench {name}", text, f"{COMPONENTS}:bench", _bench(name)) for name, (text, _) in BENCHES.items()),
    Command("lab frr", "FRR fat-tree in network namespaces: fail a node or link, measure convergence through the "
            "pipeline", f"{COMPONENTS}:lab_frr", _lab_frr),
    Command("lab run", "serve gNMI and send sFlow from every device, run a scenario", f"{COMPONENTS}:lab_run", _lab_run),
    Command("deploy kafka-topics", "print a Strimzi KafkaTopic for every topic of the configuration",
            f"{COMPONENTS}:deploy_kafka_topics"),
    Command("dashboards check", "run every dashboard and alert rule query against InfluxDB; exit 1 if one errors, a "
            "dashboard query returns no series, or a rule names a query, label, measurement or field that is not there",
            f"{COMPONENTS}:dashboards_check", _dashboards_check),
    Command("alerts receive", "log each alert Grafana or Alertmanager posts to this webhook, one line each",
            f"{COMPONENTS}:alerts_receive", _alerts_receive, config=False,
            description="A small webhook receiver: point a Grafana contact point (or an Alertmanager webhook) at "
                        "http://HOST:PORT/alerts and every alert is logged in one line."),
    Command("oper-group clear", "let an oper-group held after a rollback act again (the workers hold it for "
            "rollback_hold_ms otherwise)", f"{ADMIN}:oper_group_clear", _oper_group_clear),
    Command("convergence analyze", "the metrics of one event from a JSON-lines log of routing messages",
            f"{COMPONENTS}:convergence_analyze", _convergence_analyze, config=False),
)
