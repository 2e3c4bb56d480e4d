"""gnmic, the most used gNMI client (a peer fabtel did not write), against the
lab's targets on both platforms: Capabilities, Get, Set (JSON and JSON_IETF)
and Subscribe (ONCE, STREAM on change and sampled); POLL through pygnmi,
another client. What gnmic reads must be what the lab's model holds, what it
sets must change the model, and what a device refuses (plain JSON on SR
Linux) must be refused to gnmic too."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time

import pytest

from conftest import running_lab
from fabtel.bench import peers

USER, PASSWORD = os.environ["FABTEL_GNMI_USER"], os.environ["FABTEL_GNMI_PASSWORD"]


pytestmark = pytest.mark.peers   # built in the background by ./run tests; see conftest

@pytest.fixture(scope="module")
def gnmic():
    return str(peers.ensure("gnmic"))


@pytest.fixture()
def lab(lab_config):
    devices = tuple(dataclasses.replace(d, platform="openconfig") if d.name == "leaf2" else d
                    for d in lab_config.fabric.devices)
    cfg = dataclasses.replace(lab_config, fabric=dataclasses.replace(lab_config.fabric, devices=devices))
    with running_lab(cfg) as runner:
        yield cfg, runner


def run(gnmic, cfg, device, *args, encoding="json_ietf", timeout=20):
    argv = [gnmic, "-a", cfg.fabric.device(device).gnmi.address, "-u", USER, "-p", PASSWORD, "--insecure",
            "-e", encoding, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def _values(out: str) -> dict[str, object]:
    """path -> value of gnmic's JSON output (get, or subscribe's messages)."""
    values = {}
    decoder, pos, text = json.JSONDecoder(), 0, out.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
        for msg in doc if isinstance(doc, list) else [doc]:
            prefix = msg.get("prefix", "")
            for u in msg.get("updates", []):
                path = (prefix + "/" if prefix else "") + u["Path"]
                for v in u["values"].values():
                    values["/" + path.lstrip("/")] = v
    return values


def test_capabilities_say_what_each_platform_offers(gnmic, lab):
    cfg, _ = lab
    srl = run(gnmic, cfg, "leaf1", "capabilities")
    oc = run(gnmic, cfg, "leaf2", "capabilities")
    assert srl.returncode == oc.returncode == 0
    assert srl.stdout.split("supported encodings:")[1].split() == ["-", "JSON_IETF", "-", "PROTO"]
    assert oc.stdout.split("supported encodings:")[1].split() == ["-", "JSON_IETF", "-", "JSON", "-", "PROTO"]


def test_get_reads_what_the_model_holds(gnmic, lab):
    cfg, runner = lab
    out = run(gnmic, cfg, "leaf1", "get", "--path", "/interface[name=ethernet-1/49]/oper-state",
              "--path", "/interface[name=lag1]/lag/member[name=ethernet-1/1]/lacp/synchronization")
    assert out.returncode == 0, out.stderr
    got = _values(out.stdout)
    assert got["/interface[name=ethernet-1/49]/oper-state"] == "up"
    assert got["/interface[name=lag1]/lag/member[name=ethernet-1/1]/lacp/synchronization"] == "IN_SYNC"
    # counters are RFC 7951 strings in JSON_IETF, typed integers in PROTO; both equal the model's counter
    before = runner.fabric.nodes["leaf1"].ports["ethernet-1/1"].counters["in_octets"]
    for enc, kind in (("json_ietf", str), ("proto", int)):
        out = run(gnmic, cfg, "leaf1", "get", "--path", "/interface[name=ethernet-1/1]/statistics/in-octets",
                  encoding=enc)
        [value] = _values(out.stdout).values()
        after = runner.fabric.nodes["leaf1"].ports["ethernet-1/1"].counters["in_octets"]
        assert isinstance(value, kind) and before <= int(value) <= after, (enc, value)
    # OpenConfig: identityref speeds qualified by their module in JSON_IETF, bare in JSON
    for enc, want in (("json_ietf", "openconfig-if-ethernet:SPEED_10GB"), ("json", "SPEED_10GB")):
        out = run(gnmic, cfg, "leaf2", "get", "--path", "/interfaces/interface[name=ethernet-1/49]/ethernet/state/port-speed",
                  encoding=enc)
        assert list(_values(out.stdout).values()) == [want], out.stdout


def test_a_device_without_plain_json_refuses_gnmics_default(gnmic, lab):
    cfg, _ = lab
    out = run(gnmic, cfg, "leaf1", "get", "--path", "/interface[name=ethernet-1/1]/admin-state", encoding="json")
    assert out.returncode != 0 and "Unimplemented" in out.stderr and "unsupported encoding: JSON" in out.stderr


def test_set_changes_the_model_on_both_platforms(gnmic, lab):
    cfg, runner = lab
    out = run(gnmic, cfg, "leaf1", "set", "--update-path", "/interface[name=ethernet-1/1]/admin-state",
              "--update-value", "disable")
    assert out.returncode == 0, out.stderr
    assert not runner.fabric.nodes["leaf1"].ports["ethernet-1/1"].admin_up
    out = run(gnmic, cfg, "leaf2", "set", "--update-path", "/interfaces/interface[name=ethernet-1/1]/config/enabled",
              "--update-value", "false", encoding="json")
    assert out.returncode == 0, out.stderr
    assert not runner.fabric.nodes["leaf2"].ports["ethernet-1/1"].admin_up
    got = run(gnmic, cfg, "leaf2", "get", "--path", "/interfaces/interface[name=ethernet-1/1]/state/admin-status")
    assert list(_values(got.stdout).values()) == ["DOWN"]
    bad = run(gnmic, cfg, "leaf1", "set", "--update-path", "/interface[name=ethernet-1/1]/admin-state",
              "--update-value", "sideways")
    assert bad.returncode != 0 and "InvalidArgument" in bad.stderr
    assert runner.fabric.set_requests == {"leaf1": 1, "leaf2": 1}


def test_subscribe_once_stream_and_sample_agree_with_the_model(gnmic, lab):
    cfg, runner = lab
    once = run(gnmic, cfg, "leaf1", "subscribe", "--mode", "once", "--path", "/interface[name=*]/oper-state")
    assert once.returncode == 0, once.stderr
    node = runner.fabric.nodes["leaf1"]
    want = {f"/interface[name={n}]/oper-state": "up" if p.oper_up else "down" for n, p in node.ports.items()}
    got = _values(once.stdout)
    assert {k: v for k, v in got.items() if k in want} == want and len(got) == len(want) + len(node.lags)

    base = [gnmic, "-a", cfg.fabric.device("leaf1").gnmi.address, "-u", USER, "-p", PASSWORD, "--insecure",
            "-e", "json_ietf", "subscribe"]
    # one gnmic per mode: gnmic applies one --stream-mode to every path of its subscription
    on_change = subprocess.Popen(base + ["--path", "/interface[name=ethernet-1/50]/oper-state", "--stream-mode",
                                         "on-change"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampled = subprocess.Popen(base + ["--path", "/interface[name=ethernet-1/1]/statistics/in-octets", "--stream-mode",
                                       "sample", "--sample-interval", "500ms"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    runner.fabric.set_admin("leaf1", "ethernet-1/50", False, time.time_ns())
    time.sleep(2.5)
    outs = []
    for proc in (on_change, sampled):
        proc.terminate()
        outs.append(proc.communicate(10)[0])
    oper = [v for m in _messages(outs[0]) for v in m.values()]
    assert oper == ["up", "down"]                        # the initial state, then the one change
    octets = [int(v) for m in _messages(outs[1]) for v in m.values()]
    assert len(octets) >= 5 and octets == sorted(octets) and octets[-1] > octets[0]   # sampled every 500 ms


def _messages(out: str):
    decoder, pos, text = json.JSONDecoder(), 0, out.strip()
    while pos < len(text) and text[pos] in "[{":          # gnmic ends with a line about the signal
        doc, end = decoder.raw_decode(text, pos)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
        yield _values(json.dumps(doc))


def test_poll_answers_each_poll_with_the_current_model(lab):
    """POLL through pygnmi (gnmic's poll mode needs a terminal to choose what to poll)."""
    from pygnmi.client import gNMIclient
    cfg, runner = lab
    host, port = cfg.fabric.device("leaf1").gnmi.address.split(":")
    with gNMIclient(target=(host, int(port)), insecure=True, username=USER, password=PASSWORD) as gc:
        poll = gc.subscribe_poll({"subscription": [{"path": "/interface[name=ethernet-1/1]/admin-state"}],
                                  "encoding": "json_ietf"})
        first = _poll_value(poll)           # the initial dump; pygnmi sent poll 1 with this call
        time.sleep(0.5)                     # poll 1 answered before the change
        runner.fabric.set_admin("leaf1", "ethernet-1/1", False, time.time_ns())
        # pygnmi reads one answer behind the poll it sends: this call sends poll 2
        # and returns poll 1's answer; the next returns poll 2's, after the change
        answers = [_poll_value(poll), _poll_value(poll)]
        poll.close()
    assert (first, answers) == ("enable", ["enable", "disable"])


def _poll_value(poll):
    msg = poll.get_update(timeout=5)
    return msg["update"]["update"][0]["val"]
