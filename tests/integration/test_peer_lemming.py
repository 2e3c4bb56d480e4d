"""An independent gNMI target: lemming, OpenConfig's reference device (v0.5.0),
in a network namespace of its own with two dataplane ports. fabtel's
OpenConfig platform subscribes to it (its collector, into the real broker)
and sets config/enabled on it (its executor), and what fabtel records and
reads back must be what lemming serves, as gnmic reads it.

lemming requires the gNMI prefix target ("fakedut": `gnmi.target`) and the
origin "openconfig" on its paths, answers Get and Capabilities with
UNIMPLEMENTED (fabtel then reads with a ONCE subscription and speaks
JSON_IETF), and does not turn config/enabled into state/admin-status."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import wait_until
from fabtel.bench import peers
from fabtel.config import Device, GnmiTarget

NS = f"fblem{os.getpid() % 10000}"
ADDRESS = "198.18.254.2:9339"           # lab addresses stay inside 198.18.0.0/15 and this namespace pair

pytestmark = [pytest.mark.peers, pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                                     reason="needs root and iproute2 for a network namespace")]


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture(scope="module")
def lemming(tmp_path_factory):
    binary = str(peers.ensure("lemming"))
    work = tmp_path_factory.mktemp("lemming")
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    sh("ip", "netns", "add", NS)
    proc = None
    try:
        sh("ip", "link", "add", "lmgw", "type", "veth", "peer", "name", "lmdut", "netns", NS)
        sh("ip", "addr", "add", "198.18.254.1/30", "dev", "lmgw")
        sh("ip", "link", "set", "lmgw", "up")
        for cmd in (["ip", "addr", "add", "198.18.254.2/30", "dev", "lmdut"], ["ip", "link", "set", "lmdut", "up"],
                    ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", NS, *cmd)
        for port in ("eth1", "eth2"):            # the dataplane's ports: lemming serves Linux interfaces by name
            sh("ip", "netns", "exec", NS, "ip", "link", "add", port, "type", "veth", "peer", "name", port + "p")
            sh("ip", "netns", "exec", NS, "ip", "link", "set", port, "up")
            sh("ip", "netns", "exec", NS, "ip", "link", "set", port + "p", "up")
        log = open(work / "lemming.log", "w")
        proc = subprocess.Popen(["ip", "netns", "exec", NS, binary, "--gnmi", ADDRESS, "--gribi", "127.0.0.1:9340",
                                 "--bgp_port", "1179", "--enable_dataplane", "--zapi_addr", f"unix:{work}/zserv.api",
                                 "--logtostderr"], stdout=log, stderr=subprocess.STDOUT)
        yield proc
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        subprocess.run(["ip", "link", "del", "lmgw"], capture_output=True)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def _device() -> Device:
    return Device("refdut", "leaf", "openconfig", GnmiTarget(ADDRESS, insecure=True, target="fakedut"), uplinks=("eth1",),
                  access=("eth2",))


def gnmic_once(path: str) -> dict[str, object]:
    """What lemming serves under `path`, read by gnmic: path -> value."""
    out = subprocess.run([str(peers.ensure("gnmic")), "-a", ADDRESS, "--insecure", "--target", "fakedut",
                          "-e", "json_ietf", "subscribe", "--mode", "once", "--path", "openconfig:" + path,
                          "--format", "flat"], capture_output=True, text=True, timeout=30)
    values = {}
    for line in out.stdout.splitlines():
        if ": " in line:
            key, _, value = line.partition(": ")
            values[key.split(":", 1)[1]] = value
    return values


@pytest.fixture(scope="module")
def configured(lemming):
    """lemming's ports eth1 and eth2 configured over gNMI by fabtel's own client."""
    from fabtel.connectors.gnmi.client import GnmiClient
    client = GnmiClient(_device())
    deadline = time.monotonic() + 30
    while True:
        try:
            for port in ("eth1", "eth2"):
                base = f"/interfaces/interface[name={port}]/config"
                client.set_update(f"{base}/name", json.dumps(port))
                client.set_update(f"{base}/type", '"iana-if-type:ethernetCsmacd"')
                client.set_update(f"{base}/enabled", "true")
            break
        except Exception:  # noqa: BLE001  lemming still starting
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    client.close()
    assert wait_until(lambda: gnmic_once("/interfaces/interface[name=eth2]/state/oper-status"), 20)
    return _device()


def test_the_collector_records_what_lemming_serves(configured, config):
    from fabtel.connectors.gnmi.collector import GnmiCollector
    from fabtel.kafka import tail
    cfg = dataclasses.replace(config, fabric=dataclasses.replace(config.fabric, devices=(configured,)),
                              gnmi=dataclasses.replace(config.gnmi, sample_interval_ms=500))
    collector = GnmiCollector(cfg)
    stop = threading.Event()
    collector.start(stop)
    try:
        assert wait_until(lambda: collector.metrics.get("connected", "refdut") == 1, 30)
        assert wait_until(lambda: collector.metrics.get("records_total", "refdut") >= 6, 15)
        time.sleep(2.5)                                   # a few 500 ms samples of the counters
    finally:
        stop.set()
        collector.close()
    assert collector.metrics.get("rejected_paths_total", "refdut", "/interfaces/interface[name=*]/state/oper-status") == 0
    served = gnmic_once("/interfaces")
    states = {r.interface: r for r, _ in tail(cfg.kafka, cfg.kafka.topic("interface_state"), None, 3, until_end=True)}
    assert set(states) >= {"eth1", "eth2"}
    for port in ("eth1", "eth2"):
        oper = served[f"/interfaces/interface[name={port}]/state/oper-status"]
        admin = served[f"/interfaces/interface[name={port}]/state/admin-status"]
        assert states[port].oper_state == ("up" if oper == "UP" else "down")
        assert states[port].admin_state == ("enable" if admin == "UP" else "disable")
    counters = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("interface_counters"), None, 3, until_end=True)]
    eth1 = [c for c in counters if c.interface == "eth1"]
    assert eth1 and eth1[-1].in_octets is not None
    assert eth1[-1].in_octets <= int(gnmic_once("/interfaces/interface[name=eth1]/state/counters/in-octets")
                                     ["/interfaces/interface[name=eth1]/state/counters/in-octets"])


def test_the_executor_sets_config_enabled_and_reads_it_back(configured, config):
    from fabtel.connectors.remediation.executor import DeviceWorker
    from fabtel.platforms import platform
    from fabtel.records import RemediationCommand
    path, value = platform("openconfig").admin_command("eth2", up=False)
    now = time.time_ns()
    cmd = RemediationCommand("lem-1", "d-lem-1", "refdut", "eth2", "disable", "openconfig", path, value, now, now)
    worker = DeviceWorker(configured, retries=1, done=None)
    outcome, detail, attempts = worker.apply(cmd)
    worker.reset()
    assert (outcome, attempts) == ("applied", 1), detail
    assert gnmic_once("/interfaces/interface[name=eth2]/config/enabled") == \
        {"/interfaces/interface[name=eth2]/config/enabled": "false"}
    again = DeviceWorker(configured, retries=1, done=None)
    assert again.apply(cmd)[0] == "already_in_state"                  # read before setting, through ONCE
    again.reset()
