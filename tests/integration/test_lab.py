"""The simulated fabric over its real protocols: pygnmi (a client fabtel did
not write) and fabtel's own client subscribe to and set a lab target over
gRPC, the target refuses what a device refuses, tshark decodes the lab's
sFlow, the traffic model reproduces the oper-group lab's blackhole, and a
64-leaf fabric is served."""
from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest
from pygnmi.client import gNMIclient, gNMIException

from conftest import fabtel, with_free_gnmi_ports
from fabtel.lab.runner import LabRunner
from fabtel.lab.scenario import Event, Scenario, Traffic, load_scenario, parse_scenario, seed_scenarios
from fabtel.config import ConfigError

EIGHT = Traffic("client1", "client2", 8, 50_000)


def _client(cfg, device):
    host, port = cfg.fabric.device(device).gnmi.address.split(":")
    return gNMIclient(target=(host, int(port)), insecure=True, username=os.environ["FABTEL_GNMI_USER"],
                      password=os.environ["FABTEL_GNMI_PASSWORD"])


@pytest.fixture()
def running_lab(lab_config):
    runners = []

    def start(scenario, **kw):
        runner = LabRunner(lab_config, scenario, **kw)
        runner.start()
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
        thread.start()
        runners.append((runner, stop, thread))
        return runner
    yield start
    for runner, stop, thread in runners:
        stop.set()
        thread.join(5)
        runner.stop()


def test_seed_scenarios_are_valid(lab_config):
    names = {load_scenario(p, lab_config).name for p in seed_scenarios()}
    assert {"healthy-fabric", "single-stream", "eight-streams", "leaf1-uplinks-down"} <= names


@pytest.mark.parametrize("text,problem", [
    ("name: x\nduration_s: 10\ntraffic: {from: client1, to: client9, rate_bps: 1}\n", "'client9' is not a client"),
    ("name: x\nduration_s: 10\ntraffic: {from: client1, to: client2, rate_bps: 1}\n"
     "events: [{at_s: 5, device: leaf1, interfaces: [ethernet-1/77], admin_state: disable}]\n", "no physical interface 'ethernet-1/77'"),
    ("name: x\nduration_s: 10\ntraffic: {from: client1, to: client2, rate_bps: 1}\n"
     "events: [{at_s: 50, device: leaf1, interfaces: [ethernet-1/49], admin_state: sideways}]\n", "must be one of enable, disable"),
    ("name: x\nduration_s: 10\ntraffic: {from: client1, to: client2, rate_bps: 1}\n"
     "events: [{at_s: 50, device: leaf1, interfaces: [ethernet-1/49], admin_state: disable}]\n", "after the end of the scenario"),
    ("name: x\nduration: 10\n", "unknown key (did you mean 'duration_s'?)"),
    ("", "the file is empty"),
])
def test_invalid_scenarios_name_the_problem(lab_config, text, problem):
    with pytest.raises(ConfigError) as err:
        parse_scenario(text, "s.yaml", lab_config)
    assert any(problem in p for p in err.value.problems), err.value.problems


def test_leaf1_uplinks_down_blackholes_half_from_20s(tmp_path):
    gt = tmp_path / "gt.jsonl"
    out = fabtel("lab", "run", "--scenario", "lab/scenarios/leaf1-uplinks-down.yaml", "--simulate",
                 "--ground-truth", str(gt))
    assert out.returncode == 0, out.stderr
    import json
    rows = [json.loads(line) for line in gt.read_text().splitlines()]
    seconds, changes = [r for r in rows if "t" in r], [r["change"] for r in rows if "change" in r]
    assert len(seconds) == 40 and rows[:40] == seconds
    # then each state change at its own time: the event's two uplinks at 20 s exactly
    assert [(c["device"], c["interface"], c["value"], c["at_ms"]) for c in changes] == \
        [("leaf1", "ethernet-1/49", "disable", 20000.0), ("leaf1", "ethernet-1/50", "disable", 20000.0)]
    before, after = seconds[:20], seconds[20:]
    offered = (8 * 100_000_000 + 1_000_000_000) // 8       # 8 streams of 100 Mb/s and a 1 Gb/s elephant, bytes a second
    assert all(s["blackholed_bytes"] == 0 and s["delivered_bytes"] == s["offered_bytes"] == offered for s in before)
    # What client1 hashed to leaf1 (the elephant and about half the streams) is lost; leaf2 picks up nothing new.
    assert all(s["blackholed_bytes"] == before[-1]["links"]["client1:eth1"] for s in after)
    assert 0.3 * offered <= after[0]["blackholed_bytes"] <= 0.9 * offered
    # ... dropped where they arrive on leaf1 (what its discard samples see)
    assert all(s["discarded"] == {"leaf1:ethernet-1/1": s["blackholed_bytes"]} for s in after)
    assert len({s["blackholed_bytes"] for s in after}) == 1
    assert all("leaf1:ethernet-1/49" not in s["links"] and "leaf1:ethernet-1/50" not in s["links"] for s in after)
    assert after[0]["links"]["client1:eth2"] == before[-1]["links"]["client1:eth2"]


# pygnmi's close() only half-closes a subscription; the lab's STREAM target
# keeps streaming until the RPC is cancelled, so closing the channel ends it
# with CANCELLED, which pygnmi's reader thread re-raises. The test checks that
# it ended that way or cleanly, and nothing else.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_pygnmi_stream_gets_samples_and_on_change(running_lab, lab_config):
    import grpc
    scenario = Scenario("t", 60, (EIGHT,), (Event(2.0, "leaf1", ("ethernet-1/49",), admin_state="disable"),))
    runner = running_lab(scenario)
    with _client(lab_config, "leaf1") as gc:
        sub = gc.subscribe_stream({"subscription": [
            {"path": "/interface[name=ethernet-1/1]/statistics", "mode": "sample", "sample_interval": 300_000_000},
            {"path": "/interface[name=*]/oper-state", "mode": "on_change"}], "encoding": "json_ietf"})
        seen_octets, oper_changes = [], []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not (oper_changes and len(seen_octets) >= 3):
            try:
                msg = sub.get_update(timeout=1)
            except TimeoutError:
                continue
            for u in msg.get("update", {}).get("update", []):
                if u["path"] == "interface[name=ethernet-1/1]/statistics/in-octets":
                    assert isinstance(u["val"], str)         # RFC 7951: a 64-bit counter is a JSON string
                    seen_octets.append(int(u["val"]))
                if u["path"] == "interface[name=ethernet-1/49]/oper-state" and u["val"] == "down":
                    oper_changes.append(msg["update"]["timestamp"])
        sub.close()
    sub._subscribe_thread.join(5)
    assert not sub._subscribe_thread.is_alive()
    assert sub.error is None or sub.error.code() == grpc.StatusCode.CANCELLED, sub.error
    assert len(seen_octets) >= 3 and seen_octets == sorted(seen_octets) and seen_octets[-1] > seen_octets[0]
    assert len(oper_changes) == 1
    event_ns = runner.applied[0]["ts_ns"]
    assert event_ns <= oper_changes[0] < event_ns + 1_000_000_000     # device timestamp in ns


def test_set_moves_client1_flows_to_leaf2(running_lab, lab_config):
    from fabtel.connectors.gnmi.client import GnmiClient
    runner = running_lab(Scenario("t", 60, (EIGHT,)))
    time.sleep(1.5)
    client = GnmiClient(lab_config.fabric.device("leaf1"))
    try:
        client.set_update("/interface[name=ethernet-1/1]/admin-state", '"disable"')
        assert client.get("/interface[name=ethernet-1/1]/admin-state") == "disable"
    finally:
        client.close()
    set_s = runner.elapsed_s()
    time.sleep(3.2)
    truth, now_s = runner.fabric.ground_truth(), runner.elapsed_s()
    after = [s for s in truth if s["t"] > set_s + 0.5 and s["t"] + 1 <= now_s][:1]     # a whole second after the Set
    assert after, truth
    sec = after[0]
    assert "client1:eth1" not in sec["links"] and sec["links"]["client1:eth2"] == pytest.approx(50_000, rel=0.05)
    assert sec["blackholed_bytes"] == 0
    assert truth[0]["links"]["client1:eth1"] > 0       # before the Set, flows used both links
    assert runner.fabric.set_requests["leaf1"] == 1


def _raw(cfg, device):
    """Raw gNMI stubs and call metadata for a lab device (to send what a client library would)."""
    import grpc
    from pygnmi.spec.v080 import gnmi_pb2_grpc
    channel = grpc.insecure_channel(cfg.fabric.device(device).gnmi.address)
    md = [("username", os.environ["FABTEL_GNMI_USER"]), ("password", os.environ["FABTEL_GNMI_PASSWORD"])]
    return channel, gnmi_pb2_grpc.gNMIStub(channel), md


def test_the_lab_refuses_what_fabtel_used_to_send(running_lab, lab_config):
    """fabtel 0.1.0 set the SR Linux admin state with pygnmi, which sends the
    Python string as raw bytes (json_val = disable): not JSON, and a device
    answers INVALID_ARGUMENT. The lab now does too, and nothing changes."""
    import grpc
    from pygnmi.spec.v080 import gnmi_pb2
    from fabtel import gnmi_paths as gp
    runner = running_lab(Scenario("t", 60, ()))
    path = gp.to_proto(gp.parse("/interface[name=ethernet-1/1]/admin-state"), gnmi_pb2)
    channel, stub, md = _raw(lab_config, "leaf1")
    try:
        for val, code, words in (
                (gnmi_pb2.TypedValue(json_ietf_val=b"disable"), grpc.StatusCode.INVALID_ARGUMENT, "failed to parse JSON"),
                (gnmi_pb2.TypedValue(json_val=b"disable"), grpc.StatusCode.UNIMPLEMENTED, "unsupported encoding: JSON"),
                (gnmi_pb2.TypedValue(json_ietf_val=b'"down"'), grpc.StatusCode.INVALID_ARGUMENT, "not allowed by the model"),
                (gnmi_pb2.TypedValue(json_ietf_val=b"false"), grpc.StatusCode.INVALID_ARGUMENT, "not allowed by the model")):
            with pytest.raises(grpc.RpcError) as err:
                stub.Set(gnmi_pb2.SetRequest(update=[gnmi_pb2.Update(path=path, val=val)]), metadata=md, timeout=5)
            assert err.value.code() == code and words in err.value.details(), (val, err.value.details())
        # SR Linux offers no plain JSON: Get and Subscribe in JSON are refused like a device refuses them.
        caps = stub.Capabilities(gnmi_pb2.CapabilityRequest(), metadata=md, timeout=5)
        assert [gnmi_pb2.Encoding.Name(e) for e in caps.supported_encodings] == ["JSON_IETF", "PROTO"]
        with pytest.raises(grpc.RpcError) as err:
            stub.Get(gnmi_pb2.GetRequest(path=[path], encoding=gnmi_pb2.JSON), metadata=md, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # a Set that is only partly valid changes nothing (a transaction)
        other = gp.to_proto(gp.parse("/interface[name=ethernet-1/49]/admin-state"), gnmi_pb2)
        with pytest.raises(grpc.RpcError):
            stub.Set(gnmi_pb2.SetRequest(update=[
                gnmi_pb2.Update(path=other, val=gnmi_pb2.TypedValue(json_ietf_val=b'"disable"')),
                gnmi_pb2.Update(path=path, val=gnmi_pb2.TypedValue(json_ietf_val=b"disable"))]), metadata=md, timeout=5)
        # the quoted value is accepted
        stub.Set(gnmi_pb2.SetRequest(update=[gnmi_pb2.Update(path=path, val=gnmi_pb2.TypedValue(
            json_ietf_val=b'"disable"'))]), metadata=md, timeout=5)
    finally:
        channel.close()
    leaf1 = runner.fabric.nodes["leaf1"]
    assert not leaf1.ports["ethernet-1/1"].admin_up and leaf1.ports["ethernet-1/49"].admin_up
    assert runner.fabric.set_requests["leaf1"] == 1


def test_pygnmi_set_of_a_python_string_is_refused(running_lab, lab_config):
    """pygnmi #169 as a device sees it."""
    runner = running_lab(Scenario("t", 60, ()))
    with _client(lab_config, "leaf1") as gc:
        with pytest.raises(gNMIException) as err:
            gc.set(update=[("/interface[name=ethernet-1/1]/admin-state", "disable")], encoding="json_ietf")
        assert "INVALID_ARGUMENT" in repr(err.value.__cause__ or err.value) or "parse JSON" in str(err.value)
    assert runner.fabric.nodes["leaf1"].ports["ethernet-1/1"].admin_up


def test_unknown_paths_get_the_gnmi_error(running_lab, lab_config):
    running_lab(Scenario("t", 60, ()))
    with _client(lab_config, "leaf1") as gc:
        with pytest.raises(gNMIException) as err:
            gc.get(path=["/no-such-container/leaf"])
        assert "NOT_FOUND" in repr(err.value.__cause__ or err.value) or "not found" in str(err.value).lower()
        with pytest.raises(gNMIException):
            gc.set(update=[("/interface[name=ethernet-1/1]/admin-state", "sideways")])
        assert gc.get(path=["/interface[name=ethernet-1/1]/admin-state"])["notification"][0]["update"][0]["val"] == "enable"


def test_openconfig_device_speaks_openconfig_paths(lab_config):
    import dataclasses
    devices = tuple(dataclasses.replace(d, platform="openconfig") if d.name == "leaf2" else d for d in lab_config.fabric.devices)
    cfg = dataclasses.replace(lab_config, fabric=dataclasses.replace(lab_config.fabric, devices=devices))
    runner = LabRunner(cfg, Scenario("t", 60, ()))
    runner.start()
    try:
        with _client(cfg, "leaf2") as gc:
            gc.set(update=[("/interfaces/interface[name=ethernet-1/1]/config/enabled", False)])
            got = gc.get(path=["/interfaces/interface[name=ethernet-1/1]/state/oper-status"])
            assert got["notification"][0]["update"][0]["val"] == "DOWN"
            bgp = gc.get(path=["/network-instances/network-instance[name=default]/protocols/protocol[identifier=BGP][name=*]"
                               "/bgp/neighbors/neighbor[neighbor-address=*]/state/session-state"])
            assert {u["val"] for u in bgp["notification"][0]["update"]} == {"ESTABLISHED"}
    finally:
        runner.stop()


def test_tshark_decodes_the_lab_sflow_without_malformed_packets(running_lab, tmp_path):
    from fabtel.connectors.common.pcap import write_udp_pcap
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.3)
    running_lab(Scenario("t", 60, (EIGHT,)), sflow_to=f"127.0.0.1:{sock.getsockname()[1]}", sampling_rate=8)
    datagrams, deadline = [], time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            datagrams.append(sock.recv(65535))
        except socket.timeout:
            pass
    pcap = tmp_path / "lab.pcap"
    with open(pcap, "wb") as f:
        write_udp_pcap(f, datagrams)
    out = subprocess.run(["tshark", "-r", str(pcap), "-d", "udp.port==6343,sflow", "-T", "fields",
                          "-e", "_ws.malformed", "-e", "sflow.lag_port.attached_agg_id", "-e", "sflow_245.header_protocol"],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == len(datagrams) >= 5
    assert not any(r[0] for r in rows), "tshark flagged a malformed packet"
    assert any(r[1] for r in rows), "no LAG record decoded"
    assert any(r[2] for r in rows), "no flow sample decoded"


def test_lab_serves_a_generated_64_leaf_fabric():
    from fabtel.config import parse_config
    from fabtel.lab.generate import generate
    cfg = with_free_gnmi_ports(parse_config(generate("leaf-spine:spines=4,leaves=64,ports=2")))
    assert len(cfg.fabric.devices) == 68 and len(cfg.oper_groups) == 64
    runner = LabRunner(cfg, Scenario("t", 60, (Traffic("c1-1", "c32-2", 4, 10_000),)))
    runner.start()
    try:
        runner.simulate(3)
        assert runner.fabric.ground_truth()[-1]["delivered_bytes"] > 0
        for leaf in ("leaf1", "leaf64"):
            with _client(cfg, leaf) as gc:
                got = gc.get(path=["/interface[name=ethernet-1/52]/oper-state"])
                assert got["notification"][0]["update"][0]["val"] == "up"
    finally:
        runner.stop()


def test_wrong_credentials_are_refused(running_lab, lab_config):
    running_lab(Scenario("t", 60, ()))
    host, port = lab_config.fabric.device("leaf1").gnmi.address.split(":")
    with pytest.raises(gNMIException):
        with gNMIclient(target=(host, int(port)), insecure=True, username="admin", password="wrong") as gc:
            gc.get(path=["/interface[name=ethernet-1/1]/admin-state"])


def test_generate_rejects_bad_specs():
    out = fabtel("lab", "run", "--generate", "leaf-spine:spines=2", "--simulate")
    assert out.returncode == 2 and "expected leaf-spine:spines=S,leaves=L,ports=P" in out.stderr
