"""Remediation executors scale out and fail over through Kafka's group
protocol: two executors share the commands during the demo's main scenario;
the one holding leaf1's partition is SIGKILLed right after the decision (or,
the harder case, just before the uplinks fail, so that the command waits for
the group to move the partition); either way the access link is disabled
exactly once (the lab counts the gNMI Sets)."""
from __future__ import annotations

import re
import time

import pytest

from conftest import scrape_metrics, with_free_gnmi_ports, write_config


def _assigned(port: int) -> set[int]:
    text = scrape_metrics(port)
    return {int(p) for p in re.findall(r'fabtel_remediation_assigned\{partition="(\d+)"\} 1\b', text)}


def _partition_of(device: str, partitions: int) -> int:
    """Where the Faust worker's producer (aiokafka's default partitioner, murmur2 as Java's) puts a device's commands."""
    from aiokafka.partitioner import DefaultPartitioner
    return DefaultPartitioner()(device.encode(), list(range(partitions)), list(range(partitions)))


@pytest.mark.parametrize("when", ["after_the_decision", "before_the_failure"])
def test_the_executor_holding_leaf1_dies_and_the_link_is_disabled_once(config, tmp_path, when):
    from fabtel.kafka import read_topic, tail
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    from fabtel.demo.report import build_report, check_expectations
    from fabtel.demo.run import run_config, run_once
    cfg = with_free_gnmi_ports(config)
    path = write_config(cfg, tmp_path / "fabric.yaml")
    scenario = load_scenario(SCENARIO_DIR / "leaf1-uplinks-down.yaml", cfg)
    tag = "x" + str(time.time_ns())[-6:]
    run_cfg = run_config(cfg, scenario, True, tag)
    state: dict = {"comps": None, "ports": None, "killed": None, "partition": None}

    def started(comps, ports):
        state["comps"], state["ports"] = comps, ports

    def hook(elapsed: float) -> None:
        if state["killed"] is not None or elapsed < 19.0:
            return
        if when == "before_the_failure":
            partition = _partition_of("leaf1", run_cfg.kafka.partitions)
        else:
            # Right after the decision: its command is on the commands topic.
            commands = [r for r in read_topic(run_cfg.kafka, run_cfg.kafka.topic("commands"), timeout_s=0.3)
                        if r.record is not None and r.record.device == "leaf1"]
            if not commands:
                return
            partition = commands[0].partition
        [owner] = [name for name, port in state["ports"].items() if partition in _assigned(port)]
        state["comps"].kill(owner)
        state["killed"] = (owner, partition, time.time_ns(), elapsed)

    result = run_once(cfg, path, scenario, True, tmp_path, tag, hook=hook, executors=2, on_started=started)
    assert state["killed"], "no command for leaf1 was seen"
    owner, partition, killed_ns, at_s = state["killed"]
    report = build_report(scenario, result, None, {})
    assert not check_expectations(scenario, report), check_expectations(scenario, report)
    # Applied exactly once: one Set at the device, one disable, one applied result.
    assert result.set_requests.get("leaf1") == 1, result.set_requests
    assert [(a["device"], a["interface"]) for a in result.admin_changes if a["admin_state"] == "disable"] == \
        [("leaf1", "ethernet-1/1")]
    results = [r for r, _ in tail(run_cfg.kafka, run_cfg.kafka.topic("command_results"), None, 3, until_end=True)
               if r is not None and r.device == "leaf1" and r.action == "disable"]
    assert [r.outcome for r in results] == ["applied"], [(r.outcome, r.detail) for r in results]
    [decision] = [d for d in result.decisions if d.device == "leaf1" and d.action == "disable"]
    applied_ns = min(a["ts_ns"] for a in result.admin_changes if a["admin_state"] == "disable")
    if when == "before_the_failure":        # the command waited for the group to hand the partition over
        assert applied_ns > killed_ns and [r.partition for r in read_topic(
            run_cfg.kafka, run_cfg.kafka.topic("commands"), timeout_s=1) if r.record.device == "leaf1"] == [partition]
    print(f"\nexecutor failover ({when}): {owner} (partition {partition}) SIGKILLed {(killed_ns - decision.decided_ts_ns) / 1e6:.0f}"
          f" ms after the decision; leaf1's access link disabled once, {(applied_ns - decision.decided_ts_ns) / 1e6:.0f}"
          f" ms after the decision ({'before' if applied_ns < killed_ns else 'after'} the kill)")
