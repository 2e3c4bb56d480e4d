"""The `fabtel` command line: parses arguments and hands off to the component
that does the work. Heavy imports (Faust, gRPC) happen inside the commands
that need them so that `fabtel --help` and `config check` stay fast.

Exit status: 0 success, 1 the job ran but its expectations failed, 2 bad
input (configuration, arguments, unreadable files) or an unavailable service.
"""
from __future__ import annotations

import argparse
import faulthandler
import importlib
import logging
import os
import signal
import sys

from fabtel.config import ConfigError
from fabtel.shell.command_table import COMMANDS, GROUPS, Command
from fabtel.shell.invocation import UsageError
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


def _with_config(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", default=DEFAULT_CONFIG,
                    help=f"fabric configuration file (default {DEFAULT_CONFIG}, env FABTEL_CONFIG)")
    sp.add_argument("--bootstrap-servers", default=None, metavar="HOST:PORT[,...]",
                    help="Kafka brokers (default: env FABTEL_KAFKA_BOOTSTRAP, then kafka.bootstrap_servers)")
    sp.add_argument("--influx-url", default=None, metavar="URL",
                    help="InfluxDB URL (default: env FABTEL_INFLUX_URL, then influxdb.url)")
    sp.add_argument("--registry-url", default=None, metavar="URL",
                    help="schema registry URL (default: env FABTEL_REGISTRY_URL, then kafka.schema_registry_url)")


def _with_stack(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--state-dir", default=None, help="where pid files, logs and data live (default .state, env FABTEL_STATE_DIR)")
    sp.add_argument("--kafka-port", type=int, default=None,
                    help="broker port on 127.0.0.1 (default: what `stack up` recorded, else 9092)")
    sp.add_argument("--influx-port", type=int, default=None,
                    help="InfluxDB port on 127.0.0.1 (default: what `stack up` recorded, else 8086)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in the table (fabtel.shell.command_table), in its order."""
    p = argparse.ArgumentParser(
        prog="fabtel",
        description="Streaming telemetry for data-center fabrics: gNMI and sFlow into Kafka, "
                    "LAG balance, uplink health and oper-group remediation, InfluxDB for Grafana.")
    p.add_argument("--log-level", default=os.environ.get("FABTEL_LOG_LEVEL", "INFO"),
                   help="DEBUG, INFO, WARNING or ERROR (default INFO, env FABTEL_LOG_LEVEL); also after the subcommand")
    p.add_argument("--version", action="version", version=f"fabtel {_version()}")
    sub = p.add_subparsers(dest="group", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for c in COMMANDS:
        group, _, action = c.words.partition(" ")
        if action:
            if group not in groups:
                text, metavar = GROUPS[group]
                groups[group] = sub.add_parser(group, help=text).add_subparsers(dest="action", metavar=metavar)
            sp = groups[group].add_parser(action, help=c.help, description=c.description)
        else:
            sp = sub.add_parser(group, help=c.help, description=c.description)
        if c.config:
            _with_config(sp)
        if c.stack:
            _with_stack(sp)
        c.arguments(sp)
        sp.set_defaults(command=c)
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
    # A crash inside a C extension (librdkafka, gRPC, our decoders) leaves the
    # Python stack of every thread in the component's log, not just "exit -11";
    # `kill -USR1 PID` writes where every thread is, and the process goes on.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
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
    command: Command | None = getattr(args, "command", None)
    if command is None:                     # `fabtel` or `fabtel stack` alone: the help, and a usage error
        _subparser(parser, [w for w in (args.group, getattr(args, "action", None)) if w]).print_help(sys.stderr)
        return 2
    name = command.words
    module, _, function = command.run.partition(":")
    fn = getattr(importlib.import_module(module), function)
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
    from fabtel.localstack.kafka_broker import BrokerError
    from fabtel.localstack.stack import StackError
    from fabtel.connectors.influx.writer import InfluxUnreachable
    from fabtel.localstack.supervisor import ComponentFailed
    from fabtel.extras import MissingExtra
    from fabtel.bench.common import BenchError
    from fabtel.bench.peers import PeerError
    return (UsageError, KafkaUnavailable, KafkaAuthError, StackError, BrokerError, ComponentFailed, InfluxUnreachable,
            MissingExtra, BenchError, PeerError)


if __name__ == "__main__":
    sys.exit(main())
