"""Shell habits of the `fabtel` command line: bare `fabtel` is a usage error
with the help, `--version`, `--log-level` after the subcommand too, a
missing configuration says how to point at one, scenarios resolve by name."""
from __future__ import annotations

from conftest import fabtel


def test_bare_fabtel_prints_help_and_exits_2():
    out = fabtel()
    assert out.returncode == 2 and "usage: fabtel" in out.stderr and "COMMAND" in out.stderr
    out = fabtel("stack")
    assert out.returncode == 2 and "usage: fabtel stack" in out.stderr


def test_version():
    out = fabtel("--version")
    assert out.returncode == 0 and out.stdout.startswith("fabtel ")


def test_log_level_before_or_after_the_subcommand(tmp_path):
    for argv in (("--log-level", "DEBUG", "config", "check", "examples/fabric.yaml"),
                 ("config", "check", "examples/fabric.yaml", "--log-level", "DEBUG")):
        out = fabtel(*argv)
        assert out.returncode == 0, out.stderr


def test_a_missing_configuration_says_how_to_point_at_one(tmp_path):
    out = fabtel("lab", "run", "--simulate", "--scenario", "leaf1-uplinks-down", "--config", str(tmp_path / "none.yaml"))
    assert out.returncode == 2
    assert "cannot read the file: No such file or directory; point at a configuration with --config FILE or FABTEL_CONFIG" in out.stderr
    assert "Traceback" not in out.stderr


def test_scenarios_resolve_by_name(tmp_path):
    truth = tmp_path / "truth.jsonl"
    out = fabtel("lab", "run", "--simulate", "--scenario", "leaf1-uplinks-down", "--ground-truth", str(truth), timeout=120)
    assert out.returncode == 0, out.stderr
    assert truth.stat().st_size > 0
    out = fabtel("lab", "run", "--simulate", "--scenario", "leaf9-uplinks-down")
    assert out.returncode == 2 and "(give a file, or one of: both-leaves-isolated" in out.stderr


def test_a_lab_on_a_busy_port_is_one_line(tmp_path):
    """A second `lab run` (or anything on a device's gNMI port) ends in one line, not a traceback."""
    import socket

    import yaml

    from conftest import EXAMPLE
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    data = yaml.safe_load(EXAMPLE.read_text())
    data["fabric"]["devices"][2]["gnmi"]["address"] = f"127.0.0.1:{port}"        # leaf1
    path = tmp_path / "fabric.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        out = fabtel("lab", "run", "--config", str(path), "--no-sflow", "--duration", "1", timeout=60)
    finally:
        busy.close()
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"fabtel lab run: cannot listen on 127.0.0.1:{port} for leaf1")


def test_a_kafka_cluster_id_never_reads_as_an_option(monkeypatch):
    """One random id in 64 starts with "-", which kafka-storage format takes for an option (seen in CI)."""
    import uuid

    from fabtel.localstack import kafka_broker
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(bytes=b"\x00" * 16)])   # "-A..." then "AAA..."
    monkeypatch.setattr(kafka_broker.uuid, "uuid4", lambda: next(draws))
    assert kafka_broker.new_cluster_id() == "A" * 22
    monkeypatch.undo()
    ids = [kafka_broker.new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_every_command_of_the_table_runs_a_function_that_exists():
    import importlib

    from fabtel.shell.command_table import COMMANDS
    assert len({c.words for c in COMMANDS}) == len(COMMANDS)
    for c in COMMANDS:
        module, _, function = c.run.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), c.words


def test_the_help_lists_the_commands_in_their_order_and_nothing_registers_on_import():
    import subprocess
    import sys
    probe = ("import sys; from fabtel.shell.cli import build_parser; build_parser(); "
             "print(sorted(m for m in sys.modules if m in ('fabtel.shell.commands', 'fabtel.shell.admin', 'faust', 'grpc')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"                 # the parser needs no handler, Faust or gRPC
    top = fabtel("--help").stdout
    commands = top.split("positional arguments:", 1)[1].split("\noptions:")[0]
    listed = [line.split()[0] for line in commands.splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    assert listed == ["config", "discover", "stack", "topics", "sflow", "collect", "process", "sink", "remediate", "demo", "bench",
                      "lab", "deploy", "dashboards", "alerts", "oper-group", "convergence"]


def test_a_lone_kafka_node_is_formatted_without_eligible_leader_replicas(tmp_path):
    """One replica: after a crash its return must be a clean election (ELR
    would make it an unclean one, whose recovery holds the group coordinator);
    a three-node cluster with min.insync.replicas 2 keeps ELR."""
    from fabtel.localstack.kafka_broker import Node, format_command
    nodes = [Node(i, "127.0.0.1", 9092 + i, 9192 + i, tmp_path / f"kafka-{i}") for i in (1, 2, 3)]
    lone = format_command(nodes[0], nodes[:1], "cluster", tmp_path)
    assert "--standalone" in lone and lone[lone.index("--feature") + 1] == "eligible.leader.replicas.version=0"
    three = format_command(nodes[0], nodes, "cluster", tmp_path)
    assert "--feature" not in three and "--standalone" not in three


def test_a_kafka_node_maps_the_class_archive_once_it_is_built(tmp_path, monkeypatch):
    """The broker's JVM gets -XX:SharedArchiveFile only when the cache holds
    the archive for this Kafka version and this java binary."""
    import shutil
    from fabtel.localstack import kafka_broker as kb
    which, true = shutil.which, shutil.which("true")
    monkeypatch.setenv("FABTEL_CACHE", str(tmp_path))
    monkeypatch.setattr(kb.shutil, "which", lambda tool: true if tool == "java" else which(tool))
    node = kb.Node(1, "127.0.0.1", 9092, 9192, tmp_path / "kafka-1" / "data")
    archive = kb.class_archive()
    assert archive.parent == tmp_path / f"kafka-{kb.KAFKA_VERSION}" and archive.suffix == ".jsa"
    assert not any(a.startswith("-XX:SharedArchiveFile") for a in kb.command(node, tmp_path))
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    argv = kb.command(node, tmp_path)
    assert f"-XX:SharedArchiveFile={archive}" in argv and argv.index(f"-XX:SharedArchiveFile={archive}") < argv.index("kafka.Kafka")
    monkeypatch.setattr(kb.shutil, "which", lambda tool: None)
    assert kb.class_archive() is None


def test_bench_decode_against_a_tool_that_prints_no_sample_says_so_in_one_line():
    """A comparison whose other side printed nothing measures nothing: one line, exit 2, no traceback."""
    out = fabtel("bench", "decode", "--sflowtool", "/bin/true")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == "fabtel bench decode: sflowtool printed 0 of the capture's 100000 samples"


def test_a_benchmark_s_endpoint_flags_reach_its_configuration_and_its_components():
    """`fabtel bench NAME --bootstrap-servers ...` loads the configuration by
    its path and starts components that read the environment: the flags
    become that environment, over what was there."""
    import argparse
    from fabtel.config import load_config, with_endpoints
    from fabtel.shell.invocation import endpoints_to_environment
    environ = {"FABTEL_KAFKA_BOOTSTRAP": "127.0.0.1:9092"}
    args = argparse.Namespace(bootstrap_servers="127.0.0.1:29092", influx_url="http://127.0.0.1:28086",
                              registry_url=None)
    endpoints_to_environment(args, environ)
    assert environ == {"FABTEL_KAFKA_BOOTSTRAP": "127.0.0.1:29092", "FABTEL_INFLUX_URL": "http://127.0.0.1:28086"}
    cfg = with_endpoints(load_config("examples/fabric.yaml"), environ=environ)
    assert cfg.kafka.bootstrap_servers == "127.0.0.1:29092" and cfg.influxdb.url == "http://127.0.0.1:28086"
