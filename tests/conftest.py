"""Shared fixtures. Integration tests run against the real local stack
(Tansu broker + InfluxDB 1.6.7), started once per session on test ports so a
developer's own stack on the default ports is left alone."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from fabtel.localstack.ports import free_port  # re-exported for the tests

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "fabric.yaml"
MIXED = ROOT / "examples" / "mixed-fabric.yaml"
TEST_KAFKA_PORT = int(os.environ.get("FABTEL_TEST_KAFKA_PORT", "19092"))
TEST_INFLUX_PORT = int(os.environ.get("FABTEL_TEST_INFLUX_PORT", "18086"))
TEST_REGISTRY_PORT = int(os.environ.get("FABTEL_TEST_REGISTRY_PORT", "18081"))
STATE_DIR = ROOT / ".state" / "test-stack"

# The example configuration names these variables for the devices' gNMI
# credentials; the lab's targets enforce them and the collectors send them.
os.environ.setdefault("FABTEL_GNMI_USER", "admin")
os.environ.setdefault("FABTEL_GNMI_PASSWORD", "fabtel-lab-password")


def fabtel(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real `fabtel` console script. One that overruns `timeout` is
    asked where every thread is (SIGUSR1: faulthandler's dump), then stopped
    with SIGTERM so that it cleans up what it made (a lab's namespaces), and
    killed only if that does not end it; the failure carries its last output."""
    exe = Path(sys.executable).parent / "fabtel"
    proc = subprocess.Popen([str(exe), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=kw.pop("cwd", ROOT), **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1)
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"`fabtel {' '.join(args)}` still running after {timeout:.0f} s; its threads then:\n{err[-12000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def stack_args() -> list[str]:
    return ["--state-dir", str(STATE_DIR), "--kafka-port", str(TEST_KAFKA_PORT), "--influx-port", str(TEST_INFLUX_PORT)]


def stack_up_args() -> list[str]:
    return [*stack_args(), "--registry", "--registry-port", str(TEST_REGISTRY_PORT)]


@pytest.fixture(scope="session")
def stack():
    """The real local stack, up for the whole session (left running for speed;
    `fabtel stack down --state-dir .state/test-stack ...` stops it)."""
    from fabtel.localstack.stack import Stack
    out = fabtel("stack", "up", *stack_up_args(), timeout=900)
    assert out.returncode == 0, out.stderr
    return Stack(STATE_DIR, kafka_port=TEST_KAFKA_PORT, influx_port=TEST_INFLUX_PORT)


@pytest.fixture()
def config(stack):
    """The example configuration pointed at the test stack, with topic names
    unique to this test (the memory broker keeps everything until restart)."""
    return on_the_test_stack(EXAMPLE, stack)


def on_the_test_stack(path, stack):
    """A configuration file's configuration pointed at the test stack, its topics unique to this test."""
    from fabtel.config import load_config
    from fabtel.kafka import create_topics
    cfg = load_config(path)
    run = uuid.uuid4().hex[:8]
    kafka = dataclasses.replace(cfg.kafka, bootstrap_servers=stack.bootstrap, partitions=2, targets_partitions=6,
                                topics={k: f"t{run}.{v}" for k, v in cfg.kafka.topics.items()})
    influx = dataclasses.replace(cfg.influxdb, url=stack.influx_url, database=f"fabtel_t{run}")
    cfg = dataclasses.replace(cfg, kafka=kafka, influxdb=influx)
    create_topics(cfg.kafka)
    return cfg


def wait_until(predicate, timeout: float = 30) -> bool:
    """Poll `predicate` every 0.1 s until it holds or `timeout` passes."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False




def with_free_gnmi_ports(cfg):
    """The configuration with every device's gNMI target on a free loopback port."""
    devices = tuple(dataclasses.replace(d, gnmi=dataclasses.replace(d.gnmi, address=f"127.0.0.1:{free_port()}"))
                    if d.gnmi else d for d in cfg.fabric.devices)
    return dataclasses.replace(cfg, fabric=dataclasses.replace(cfg.fabric, devices=devices))


@pytest.fixture()
def lab_config():
    """The example configuration with the lab's targets on free ports (no broker needed)."""
    from fabtel.config import load_config
    return with_free_gnmi_ports(load_config(EXAMPLE))


def write_config(cfg, path, base=EXAMPLE, **overrides) -> Path:
    """A YAML file for `cfg` (the example file, or `base`, with the test's
    broker, topics, InfluxDB and gNMI addresses), for components run as subprocesses."""
    import yaml
    data = yaml.safe_load(Path(base).read_text())
    data["kafka"].update(bootstrap_servers=cfg.kafka.bootstrap_servers, partitions=cfg.kafka.partitions, targets_partitions=cfg.kafka.targets_partitions,
                         topics=dict(cfg.kafka.topics))
    data["influxdb"].update(url=cfg.influxdb.url, database=cfg.influxdb.database)
    for dev in data["fabric"]["devices"]:
        dev["gnmi"]["address"] = cfg.fabric.device(dev["name"]).gnmi.address
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    path = Path(path)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_fabtel(*args: str, log=None) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "fabtel"
    return subprocess.Popen([str(exe), *args], cwd=ROOT, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if log else subprocess.DEVNULL)


@contextlib.contextmanager
def running_lab(cfg, scenario=None, **kw):
    """The lab serving `cfg`'s devices, running `scenario` (default: steady
    traffic from client1 to client2 for 10 minutes) in a thread."""
    from fabtel.lab.runner import LabRunner
    from fabtel.lab.scenario import Scenario, Traffic
    runner = LabRunner(cfg, scenario or Scenario("t", 600, (Traffic("client1", "client2", 8, 50_000),)), **kw)
    runner.start()
    stop = threading.Event()
    threading.Thread(target=runner.run, args=(stop,), daemon=True).start()
    try:
        yield runner
    finally:
        stop.set()
        runner.stop()


def scrape_metrics(port: int) -> str:
    """A component's /metrics text ('' while it does not answer)."""
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            return resp.read().decode()
    except OSError:
        return ""


def quick_seed_scenario(directory) -> Path:
    """The seed scenario (leaf1 loses its uplinks, the oper-group disables its
    access link) in 18 s instead of 40: for the tests that need a demo's
    records and its remediation, not its flow findings (those take windows)."""
    import yaml
    from fabtel.lab.scenario import SCENARIO_DIR
    data = yaml.safe_load((SCENARIO_DIR / "leaf1-uplinks-down.yaml").read_text())
    data.update(name="leaf1-uplinks-down-quick", duration_s=18)
    for event in data["events"]:
        event["at_s"] = 8
    path = Path(directory) / "leaf1-uplinks-down-quick.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def lab_index_maps(fabric) -> list:
    """The ifIndex map each lab device reports over gNMI (InterfaceIndexes),
    for the tests that run the lab's sFlow without its gNMI targets."""
    from fabtel.records import IfIndexEntry, InterfaceIndexes
    return [InterfaceIndexes(name, "gnmi", [IfIndexEntry(i, n) for i, n in sorted(node.ifindex.items())], 0, 0)
            for name, node in fabric.nodes.items() if node.ifindex]


def pytest_collection_modifyitems(config, items):
    """Tests that need a peer run last: `./run tests` builds the peers in the
    background meanwhile, and such a test waits for its peer's build
    (bench.peers.ensure holds a lock while it builds)."""
    items.sort(key=lambda item: item.get_closest_marker("peers") is not None)
