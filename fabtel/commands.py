"""Subcommands of the components (connectors, pipeline, lab, bench),
registered into `fabtel.cli`. Each imports its component lazily."""
from __future__ import annotations

from fabtel.cli import EXTRA_PARSERS, command  # noqa: F401


def _sflow_parsers(sub, with_config, with_stack):
    sf = sub.add_parser("sflow", help="sFlow tools").add_subparsers(dest="action", metavar="ACTION")
    dec = sf.add_parser("decode", help="print the samples of a pcap/pcapng capture as JSON lines")
    dec.add_argument("file", nargs="?", default="-", help="capture file, or - for standard input")
    dec.add_argument("--port", type=int, default=6343, help="UDP port carrying sFlow (0: any; default 6343)")


@command("sflow decode")
def sflow_decode(args) -> int:
    from connectors.sflow.decode_cmd import decode_capture
    return decode_capture(args.file, args.port)


def _collect_parsers(sub, with_config, with_stack):
    col = sub.add_parser("collect", help="run a collector into Kafka").add_subparsers(dest="action", metavar="SOURCE")
    sf = with_config(col.add_parser("sflow", help="receive sFlow v5 datagrams over UDP"))
    sf.add_argument("--listen", default=None, help="HOST:PORT to receive on (default: sflow.listen of the config)")
    sf.add_argument("--metrics-listen", default=None, help="serve /metrics and /healthz on HOST:PORT (default off)")


@command("collect sflow")
def collect_sflow(args) -> int:
    from connectors.sflow.collector import run_collector
    cfg = _config(args)
    return run_collector(cfg, args.listen or cfg.sflow.listen, args.metrics_listen)


def _config(args):
    from fabtel.config import load_config
    return load_config(args.config)


EXTRA_PARSERS.extend([_sflow_parsers, _collect_parsers])


def _bench_parsers(sub, with_config, with_stack):
    b = sub.add_parser("bench", help="run a benchmark against the local stack").add_subparsers(dest="action", metavar="NAME")
    for name, text in BENCHES.items():
        sp = with_config(b.add_parser(name, help=text))
        sp.add_argument("--json", action="store_true", help="print the figures as one JSON object")
        sp.add_argument("--seconds", type=float, default=5.0, help="how long each phase runs (default 5)")


BENCHES = {
    "sflow": "sFlow decode, and decode + Avro + produce, in counter samples per second",
}


@command("bench sflow")
def bench_sflow(args) -> int:
    from bench.common import report
    from bench.sflow import run
    report(run(args.config, args.seconds), args.json)
    return 0


EXTRA_PARSERS.append(_bench_parsers)
