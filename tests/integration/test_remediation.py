"""The remediation executor against the lab's gNMI targets and the real broker."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from conftest import wait_until as wait, with_free_gnmi_ports
from fabtel.connectors.remediation.executor import Executor
from fabtel.platforms import platform
from fabtel.kafka import RecordProducer, tail
from fabtel.records import RemediationCommand
from fabtel.lab.runner import LabRunner
from fabtel.lab.scenario import Scenario, Traffic


def command(cid, device, intf, action, age_ms=0, platform_name="srlinux"):
    path, value = platform(platform_name).admin_command(intf, up=action == "enable")
    now = time.time_ns()
    return RemediationCommand(cid, f"d-{cid}", device, intf, action, platform_name, path, value,
                              now - age_ms * 1_000_000, now)


@pytest.fixture()
def setup(config):
    cfg = with_free_gnmi_ports(config)
    cfg = dataclasses.replace(cfg, remediation=dataclasses.replace(cfg.remediation, retries=2))
    runner = LabRunner(cfg, Scenario("t", 600, (Traffic("client1", "client2", 8, 50_000),)))
    runner.start()
    lab_stop = threading.Event()
    threading.Thread(target=runner.run, args=(lab_stop,), daemon=True).start()
    running = []

    def start(mode):
        ex = Executor(cfg, mode, group=f"t-rem-{time.time_ns()}")
        stop = threading.Event()
        t = threading.Thread(target=ex.run, args=(stop,), daemon=True)
        t.start()
        running.append((stop, t))
        ex.stop_thread = lambda: (stop.set(), t.join(20))
        return ex
    yield cfg, runner, start
    for stop, t in running:
        stop.set()
        t.join(20)
    lab_stop.set()
    runner.stop()


def results(cfg):
    return [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("command_results"), None, 2, until_end=True)]




def test_enforce_applies_once_even_when_delivered_twice(setup):
    cfg, runner, start = setup
    ex = start("enforce")
    p = RecordProducer(cfg.kafka)
    cmd = command("c1", "leaf1", "ethernet-1/1", "disable")
    p.send(cmd)
    p.send(cmd)                     # delivered twice
    p.flush()
    assert wait(lambda: not runner.fabric.nodes["leaf1"].ports["ethernet-1/1"].admin_up)
    assert wait(lambda: ex.metrics.get("duplicates_total") == 1)
    time.sleep(1)
    [res] = [r for r in results(cfg) if r.command_id == "c1"]
    assert res.outcome == "applied" and "confirmed by reading it back" in res.detail
    # The flows moved to leaf2: client1's link to leaf1 no longer carries traffic.
    time.sleep(1.5)
    last = runner.fabric.ground_truth()[-1]
    assert "client1:eth1" not in last["links"] and last["blackholed_bytes"] == 0
    # The same disable under a new id finds it already done.
    p.send(command("c2", "leaf1", "ethernet-1/1", "disable"))
    p.flush()
    assert wait(lambda: any(r.command_id == "c2" and r.outcome == "already_in_state" for r in results(cfg)))


def test_a_restarted_executor_does_not_apply_a_handled_command_again(setup):
    cfg, runner, start = setup
    start("enforce")
    p = RecordProducer(cfg.kafka)
    p.send(command("r1", "leaf2", "ethernet-1/1", "disable"))
    p.flush()
    assert wait(lambda: any(r.command_id == "r1" for r in results(cfg)))
    runner.fabric.set_admin("leaf2", "ethernet-1/1", True, time.time_ns())     # an operator undid it
    ex2 = start("enforce")                                                       # a new executor, same history
    p.send(command("r1", "leaf2", "ethernet-1/1", "disable"))        # the command replayed
    p.flush()
    assert wait(lambda: ex2.metrics.get("duplicates_total") >= 1)
    assert runner.fabric.nodes["leaf2"].ports["ethernet-1/1"].admin_up
    assert len([r for r in results(cfg) if r.command_id == "r1"]) == 1


def test_propose_mode_stale_commands_and_an_unreachable_device(setup):
    cfg, runner, start = setup
    ex = start("propose")
    p = RecordProducer(cfg.kafka)
    p.send(command("p1", "leaf1", "ethernet-1/1", "disable"))
    p.send(command("s1", "leaf1", "ethernet-1/1", "disable", age_ms=60_000))
    p.flush()
    assert wait(lambda: {r.command_id: r.outcome for r in results(cfg)} == {"p1": "proposed", "s1": "skipped_stale"})
    assert runner.fabric.nodes["leaf1"].ports["ethernet-1/1"].admin_up         # propose changes nothing

    ex.stop_thread()
    runner.targets["leaf3"].stop()                                              # leaf3 is unreachable
    start("enforce")
    p.send(command("u1", "leaf3", "ethernet-1/1", "disable"))
    p.send(command("u2", "leaf2", "ethernet-1/1", "disable"))
    p.flush()
    t0 = time.monotonic()
    assert wait(lambda: any(r.command_id == "u2" and r.outcome == "applied" for r in results(cfg)), 15)
    assert time.monotonic() - t0 < 5                                            # not held up by leaf3
    assert wait(lambda: any(r.command_id == "u1" for r in results(cfg)), 60)
    [u1] = [r for r in results(cfg) if r.command_id == "u1"]
    assert u1.outcome == "failed" and u1.attempts == 3 and "cannot reach" in u1.detail
