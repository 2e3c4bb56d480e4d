"""The `fabtel` command line: parses arguments and hands off to the component
that does the work. Heavy imports (Faust, gRPC) happen inside the commands
that need them so that `fabtel --help` and `config check` stay fast.

Exit status: 0 success, 1 the job ran but its expectations failed, 2 bad
input (configuration, arguments, unreadable files) or an unavailable service.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from fabtel.config import ConfigError, load_config
from fabtel.shell.command_table import COMMANDS, EXTRA_PARSERS, UsageError, command, load_with_endpoints
from fabtel.signals import log_thread_deaths

def _default_config() -> str:
    """FABTEL_CONFIG, else examples/fabric.yaml of the current directory (a
    checkout), else the example installed with fabtel (any directory)."""
    if os.environ.get("FABTEL_CONFIG"):
        return os.environ["FABTEL_CONFIG"]
    if os.path.exists("examples/fabric.yaml"):
        return "examples/fabric.yaml"
    from importlib.resources import files
    return str(files("fabtel.examples") / "fabric.yaml")


DEFAULT_CONFIG = _default_config()


def _config(args):
    return load_with_endpoints(args)


# ------------------------------------------------------------------ config

@command("config check")
def config_check(args) -> int:
    cfg = load_config(args.file)
    groups = len(cfg.oper_groups)
    print(f"{args.file}: ok ({len(cfg.fabric.devices)} devices, {len(cfg.fabric.clients)} clients, "
          f"{len(cfg.fabric.links)} links, {groups} oper-groups)")
    return 0


# ------------------------------------------------------------------ stack

def _stack(args):
    from fabtel.shell.stack import Stack
    return Stack(args.state_dir, kafka_port=args.kafka_port, influx_port=args.influx_port,
                 broker=getattr(args, "broker", None), nodes=getattr(args, "nodes", None),
                 registry=True if getattr(args, "registry", False) else None,
                 registry_port=getattr(args, "registry_port", None))


@command("stack up")
def stack_up(args) -> int:
    stack = _stack(args)
    for line in stack.up(progress=lambda text: print(text, file=sys.stderr, flush=True)):
        print(line)
    print("# point the other fabtel commands at this stack:")
    for line in stack.exports():
        print(line)
    return 0


@command("stack down")
def stack_down(args) -> int:
    for line in _stack(args).down(purge=args.purge):
        print(line)
    return 0


@command("stack status")
def stack_status(args) -> int:
    ok, lines = _stack(args).status()
    for line in lines:
        print(line)
    return 0 if ok else 1


# ------------------------------------------------------------------ topics

@command("topics create")
def topics_create(args) -> int:
    from fabtel.kafka import create_topics, wait_for_broker
    cfg = _config(args).kafka
    wait_for_broker(cfg, "topics")
    for line in create_topics(cfg):
        print(line)
    return 0


@command("topics sync-targets")
def topics_sync_targets(args) -> int:
    from fabtel.connectors.gnmi.membership import sync
    from fabtel.kafka import wait_for_broker
    cfg = _config(args)
    wait_for_broker(cfg.kafka, "topics")
    lines = sync(cfg)
    for line in lines:
        print(line)
    print(f"{cfg.kafka.topic('targets')}: {len(lines)} change(s)", file=sys.stderr)
    return 0


@command("topics tail")
def topics_tail(args) -> int:
    from fabtel.kafka import read_topic, wait_for_broker
    from fabtel.records import to_json
    cfg = _config(args).kafka
    wait_for_broker(cfg, "topics")
    topic = cfg.topics.get(args.topic, args.topic)
    _check_topic_exists(cfg, topic)
    if args.offset is not None and args.partition is None:
        raise UsageError("--offset needs --partition (an offset names a message of one partition)")
    start = args.offset if args.offset is not None else "beginning" if args.from_beginning else "end"
    for read in read_topic(cfg, topic, start, args.partition, args.max, args.timeout, follow=args.follow):
        if read.error:
            print(json.dumps({"error": read.error}), file=sys.stderr)
            continue
        payload = {"type": None, "tombstone": True} if read.tombstone else \
            {"type": type(read.record).__name__, **to_json(read.record)}
        if args.envelope:
            payload = {"topic": read.topic, "partition": read.partition, "offset": read.offset,
                       "ts": read.timestamp_ms, "key": read.key.decode("utf-8", "replace") if read.key is not None else None,
                       "payload": payload}
        print(json.dumps(payload))
        sys.stdout.flush()
    return 0


def _check_topic_exists(cfg, topic: str) -> None:
    """An unknown topic is a usage error with the nearest names, never an empty wait."""
    import difflib

    from fabtel.kafka import admin_client
    existing = set(admin_client(cfg).list_topics(timeout=10).topics)
    if topic in existing:
        return
    names = sorted(existing | set(cfg.topics))
    near = difflib.get_close_matches(topic, names, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(near)}?)" if near else " (configuration keys: " + ", ".join(sorted(cfg.topics)) + ")"
    raise UsageError(f"no topic {topic!r} on {cfg.bootstrap_servers}{hint}")


# ------------------------------------------------------------------ parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fabtel",
        description="Streaming telemetry for data-center fabrics: gNMI and sFlow into Kafka, "
                    "LAG balance, uplink health and oper-group remediation, InfluxDB for Grafana.")
    p.add_argument("--log-level", default=os.environ.get("FABTEL_LOG_LEVEL", "INFO"),
                   help="DEBUG, INFO, WARNING or ERROR (default INFO, env FABTEL_LOG_LEVEL); also after the subcommand")
    p.add_argument("--version", action="version", version=f"fabtel {_version()}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")

    def with_config(sp):
        sp.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"fabric configuration file (default {DEFAULT_CONFIG}, env FABTEL_CONFIG)")
        sp.add_argument("--bootstrap-servers", default=None, metavar="HOST:PORT[,...]",
                        help="Kafka brokers (default: env FABTEL_KAFKA_BOOTSTRAP, then kafka.bootstrap_servers)")
        sp.add_argument("--influx-url", default=None, metavar="URL",
                        help="InfluxDB URL (default: env FABTEL_INFLUX_URL, then influxdb.url)")
        sp.add_argument("--registry-url", default=None, metavar="URL",
                        help="schema registry URL (default: env FABTEL_REGISTRY_URL, then kafka.schema_registry_url)")
        return sp

    def with_stack(sp):
        sp.add_argument("--state-dir", default=None, help="where pid files, logs and data live (default .state, env FABTEL_STATE_DIR)")
        sp.add_argument("--kafka-port", type=int, default=None,
                        help="broker port on 127.0.0.1 (default: what `stack up` recorded, else 9092)")
        sp.add_argument("--influx-port", type=int, default=None,
                        help="InfluxDB port on 127.0.0.1 (default: what `stack up` recorded, else 8086)")
        return sp

    cfg = sub.add_parser("config", help="validate a fabric configuration").add_subparsers(dest="action", metavar="ACTION")
    chk = cfg.add_parser("check", help="validate FILE: exit 0 when valid, 2 with every problem listed")
    chk.add_argument("file")

    st = sub.add_parser("stack", help="start, stop or inspect the local Kafka broker and InfluxDB").add_subparsers(dest="action", metavar="ACTION")
    up = with_stack(st.add_parser("up", help="start the broker and InfluxDB (idempotent) and wait until they answer"))
    up.add_argument("--broker", choices=("kafka", "tansu"), default=None,
                    help="kafka: Apache Kafka (KRaft; data kept under the state dir; the default); "
                         "tansu: Tansu, memory only, starts in milliseconds, loses everything on restart")
    up.add_argument("--nodes", type=int, choices=(1, 3), default=None,
                    help="Apache Kafka nodes (3: replication 3, min.insync.replicas 2; default 1)")
    up.add_argument("--registry", action="store_true",
                    help="also run a schema registry (Apicurio Registry, Confluent API, in memory; fetched once "
                         "with Maven); set kafka.schema_registry_url, or the FABTEL_REGISTRY_URL it prints")
    up.add_argument("--registry-port", type=int, default=None, help="its port on 127.0.0.1 (default 8081)")
    down = with_stack(st.add_parser("down", help="stop what `stack up` started"))
    down.add_argument("--purge", action="store_true", help="also delete the broker's and InfluxDB's data")
    with_stack(st.add_parser("status", help="say what runs where; exit 1 when something is down"))

    tp = sub.add_parser("topics", help="create or read the Kafka topics").add_subparsers(dest="action", metavar="ACTION")
    with_config(tp.add_parser("create", help="create every configured topic (idempotent)"))
    with_config(tp.add_parser(
        "sync-targets", help="publish the configuration's inventory to the targets topic the gNMI collectors share",
        description="Make the compacted targets topic hold the configuration's devices: new and changed ones "
                    "published, removed ones tombstoned. Running `collect gnmi --group` collectors pick the "
                    "changes up at once, without a restart."))
    tl = with_config(tp.add_parser(
        "tail", help="print a topic's decoded records as JSON lines",
        description="Print a topic's records, decoded, one JSON object per line: by default the ones that "
                    "arrive from now on, for --timeout seconds of quiet (-f: until interrupted)."))
    tl.add_argument("topic", help="topic name, or its configuration key (interface_state, commands, ...)")
    tl.add_argument("--from-beginning", action="store_true", help="start at the oldest record of each partition")
    tl.add_argument("--partition", type=int, default=None, help="read only this partition")
    tl.add_argument("--offset", type=int, default=None, help="start at this offset (with --partition)")
    tl.add_argument("-J", dest="envelope", action="store_true",
                    help="wrap each record kcat-style: topic, partition, offset, ts (ms), key, payload")
    tl.add_argument("-f", "--follow", action="store_true", help="keep reading until interrupted")
    tl.add_argument("--max", type=int, default=None, help="stop after N records")
    tl.add_argument("--timeout", type=float, default=5.0, help="stop after S seconds without a record (default 5)")

    for register in EXTRA_PARSERS:
        register(sub, with_config, with_stack)
    _log_level_everywhere(p)
    return p


def _log_level_everywhere(parser: argparse.ArgumentParser) -> None:
    """`fabtel process --log-level DEBUG` as well as `fabtel --log-level DEBUG process`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sp in action.choices.values():
                sp.add_argument("--log-level", default=argparse.SUPPRESS, help="as before the subcommand")
                _log_level_everywhere(sp)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("fabtel")
    except PackageNotFoundError:
        return "unknown"


def _subparser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The parser of the deepest known subcommand among `words` (for its help)."""
    for word in words:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            break
        parser = sub.choices[word]
    return parser


def grpc_verbosity(log_level: str, environ) -> str:
    """gRPC's C core writes to stderr on its own ("chttp2_transport.cc ... Got
    goaway"), in another format: silent unless we debug, where it speaks at
    INFO. Our own lines say what those would (a stream down, and why)."""
    return environ.get("GRPC_VERBOSITY") or ("INFO" if log_level.upper() == "DEBUG" else "NONE")


def main(argv: list[str] | None = None) -> int:
    from fabtel.shell import commands  # noqa: F401  registers the component commands
    parser = build_parser()
    args = parser.parse_args(argv)
    # Before any gRPC channel exists (the C core reads it once); the children
    # the demo starts inherit it.
    os.environ["GRPC_VERBOSITY"] = grpc_verbosity(str(args.log_level), os.environ)
    logging.getLogger("grpc").setLevel(logging.DEBUG if str(args.log_level).upper() == "DEBUG" else logging.WARNING)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log_thread_deaths()
    for chatty in ("httpx", "httpx2", "httpcore"):       # the schema registry client logs every request at INFO
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    name = " ".join(x for x in (args.group, getattr(args, "action", None)) if x)
    fn = COMMANDS.get(name)
    if fn is None:                          # `fabtel` or `fabtel stack` alone: the help, and a usage error
        _subparser(parser, [w for w in (args.group, getattr(args, "action", None)) if w]).print_help(sys.stderr)
        return 2
    try:
        return fn(args)
    except ConfigError as exc:
        print(f"{exc.source}: invalid configuration", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as cat does; Python's
        # own flush at exit must not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        known = _known_errors()
        if isinstance(exc, known):
            print(f"fabtel {name}: {exc}", file=sys.stderr)
            return 2
        raise


def _known_errors() -> tuple[type, ...]:
    from fabtel.kafka import KafkaAuthError, KafkaUnavailable
    from fabtel.shell.kafka_broker import BrokerError
    from fabtel.shell.stack import StackError
    from fabtel.connectors.influx.writer import InfluxUnreachable
    from fabtel.shell.supervisor import ComponentFailed
    from fabtel.extras import MissingExtra
    return (UsageError, KafkaUnavailable, KafkaAuthError, StackError, BrokerError, ComponentFailed, InfluxUnreachable,
            MissingExtra)


if __name__ == "__main__":
    # Run through the importable module so that fabtel.shell.commands registers
    # into the same registry this function reads.
    from fabtel.shell.cli import main as _main
    sys.exit(_main())
