"""`fabtel bench e2e`: uplink-down to access-link-disabled latency, N times in
one running pipeline. The seed scenario's uplink loss (leaf1-uplinks-down)
is repeated: every cycle the lab disables the leaf's uplinks, the pipeline
disables its access link, the uplinks come back and, after BGP and the
hold-up time, the pipeline enables the access link again. detect_to_apply_ms
is from the uplink-down event at the lab device to the access link disabled
at the device by the remediation's gNMI Set; a p99 needs 100 of them.

For the cycles to fit in minutes, the bench shortens the oper-group's
hold-up and verification windows and raises safety.max_decisions_per_minute
above the cycles' two decisions each (the rate limit would otherwise
suppress the remediations it times); it says so in its figures.
python_loop_ms: the machine's one-thread speed just before and after the
cycles (bench.common.python_loop_ms): on a shared host it drifts by more
than the runs differ, and every hop of the path is Python on its 2 cores.
host_cpu: how busy all the machine's cores were over the run (every
process, the broker's too, the start-up's seconds included): 12-19 % in
the runs measured, so the path waits on its hops' round trips, not on a
queue for the cores. kafka_floor_ms: the same broker's floor for the path's
two Kafka hops, with bare clients and the run's own burst, measured after
the cycles (bench.kafka_floor)."""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import yaml

from fabtel.bench import kafka_floor
from fabtel.bench.common import (BenchError, host_cpu_ticks, host_cpu_use, machine, percentiles, progress,
                                 python_loop_ms)

LEAD_S = 8.0             # telemetry and flows settle before the first cycle
HOLD_UP_MS = 500
VERIFY_MS = 2000
UP_AFTER_S = 2.5         # the uplinks return once the disable's verification is over
SETTLE_S = 1.5           # after BGP (the lab's 3 s) and the hold-up, before the next loss


def cycle_s() -> float:
    from fabtel.lab.model import BGP_ESTABLISH_S
    return UP_AFTER_S + BGP_ESTABLISH_S + HOLD_UP_MS / 1000 + SETTLE_S


def cycles_scenario(seed, runs: int):
    """The seed scenario's uplink loss `runs` times, each followed by the uplinks' return."""
    from fabtel.lab.scenario import Expect
    [down] = [e for e in seed.events if e.admin_state == "disable"]
    period = cycle_s()
    events = []
    for i in range(runs):
        at = LEAD_S + i * period
        events += [dataclasses.replace(down, at_s=at),
                   dataclasses.replace(down, at_s=at + UP_AFTER_S, admin_state="enable")]
    return dataclasses.replace(
        seed, name=f"{seed.name} x{runs}", duration_s=LEAD_S + runs * period, events=tuple(events), expect=Expect(),
        oper_group_overrides={**seed.oper_group_overrides, "hold_up_ms": HOLD_UP_MS, "verify_ms": VERIFY_MS})


def rate_limit() -> int:
    """safety.max_decisions_per_minute above the cycles' two decisions each."""
    return math.ceil(2 * 60 / cycle_s()) + 2


def bench_config_file(config_path: str, workdir: Path) -> Path:
    """The configuration with the bench's rate limit."""
    data = yaml.safe_load(Path(config_path).read_text())
    data.setdefault("safety", {})["max_decisions_per_minute"] = rate_limit()
    path = workdir / "bench-e2e.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def component_config(path: Path):
    """The bench's configuration as the components it starts load it: with
    the endpoint flags (FABTEL_KAFKA_BOOTSTRAP...), so that the stack it
    checks is theirs."""
    from fabtel.config import load_config, with_endpoints
    return with_endpoints(load_config(path))


HOPS = ("device_report", "collector", "worker", "executor", "device_commit")


def hop_times(downs: list[dict], states: list, decisions: list, commands: list, applied: list[dict]) -> dict:
    """Each remediation's detect-to-apply time split where its records carry
    their own clocks (one machine, one clock): `device_report`, the uplink-down
    at the lab device to the device's notification of it (the triggering
    record's device_ts_ns); `collector`, to the gNMI collector receiving it;
    `worker`, to the command issued (the collector's produce, the broker and the
    Faust worker's fetch, judgement and decision); `executor`, to the Set
    arriving at the device (the command's produce, the broker, the executor's
    fetch and gNMI calls); `device_commit`, the device's own commit time.
    {hop: [ms, one per remediation that can be traced through every record]}."""
    state_at = {(s.device, s.device_ts_ns): s for s in states}
    decision_of = {d.decision_id: d for d in decisions if not d.suppressed}
    commands = sorted((c for c in commands if c.action == "disable"), key=lambda c: c.issued_ts_ns)
    used: set[str] = set()
    out: dict[str, list[float]] = {h: [] for h in HOPS}
    for a in sorted(applied, key=lambda a: a["requested_ns"]):
        # the Set's command: the device's last one issued before it, each used once
        command = next((c for c in reversed(commands)
                        if c.device == a["device"] and c.issued_ts_ns <= a["requested_ns"]), None)
        if command is None or command.command_id in used:
            continue
        used.add(command.command_id)
        decision = decision_of.get(command.decision_id)
        state = decision and state_at.get((decision.device, decision.trigger_ts_ns))
        down = state and max((e["ts_ns"] for e in downs if e["device"] == a["device"]
                              and e["ts_ns"] <= state.device_ts_ns), default=None)
        if down is None:
            continue
        marks = (down, state.device_ts_ns, state.receive_ts_ns, command.issued_ts_ns, a["requested_ns"], a["ts_ns"])
        for hop, begin, end in zip(HOPS, marks, marks[1:]):
            out[hop].append((end - begin) / 1e6)
    return out


def slowest(times: dict, n: int = 3) -> list[dict]:
    """The `n` slowest traced remediations, hop by hop (ms), each with its
    place in the run (1 = the first): where a tail came from, and when."""
    count = min((len(v) for v in times.values()), default=0)
    rows = [{"nth": i + 1, **{hop: round(times[hop][i], 1) for hop in HOPS}} for i in range(count)]
    return sorted(rows, key=lambda r: -sum(r[h] for h in HOPS))[:n]


def triggers(states: list, decisions: list) -> list:
    """The state records that triggered the remediations (disables not suppressed)."""
    state_at = {(s.device, s.device_ts_ns): s for s in states}
    found = (state_at.get((d.device, d.trigger_ts_ns)) for d in decisions if d.action == "disable" and not d.suppressed)
    return [s for s in found if s is not None]


def measured_floor(base, config_path: str, state_reads: list, trigger_states: list) -> dict:
    """The Kafka floor's figures, or why there are none: the cycles' figures,
    minutes in the making, are reported either way."""
    from confluent_kafka import KafkaException
    try:
        return kafka_floor.run(base, config_path, *kafka_floor.burst_shape(state_reads, trigger_states), progress=progress)
    except (RuntimeError, KafkaException) as exc:
        progress(f"kafka floor: not measured ({exc})")
        return {"kafka_floor_error": str(exc)}


def hop_percentiles(times: dict) -> dict:
    """{hop: {p50, p99 (or max)}} in ms."""
    return {hop: {k.split("_")[-1]: v for k, v in percentiles(values, hop).items() if not k.endswith("note")}
            for hop, values in times.items() if values}


def run(config_path: str, runs: int) -> dict:
    from fabtel.demo.report import build_report, down_events as report_downs
    from fabtel.demo.run import remove_run, run_config, run_once, run_records
    from fabtel.localstack.stack import ensure_stack
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    if runs < 1:
        raise BenchError("--runs must be at least 1")
    os.environ.setdefault("FABTEL_GNMI_USER", "admin")
    os.environ.setdefault("FABTEL_GNMI_PASSWORD", "fabtel-lab")
    workdir, tag = Path(tempfile.mkdtemp(prefix="fabtel-e2e-")), uuid.uuid4().hex[:6]
    base = None
    try:
        path = bench_config_file(config_path, workdir)
        base = component_config(path)
        scenario = cycles_scenario(load_scenario(SCENARIO_DIR / "leaf1-uplinks-down.yaml", base), runs)
        ensure_stack(base.kafka, base.influxdb.url, progress)
        progress(f"{runs} cycles of {cycle_s():.1f} s in one pipeline: {scenario.duration_s / 60:.0f} min")
        loop_before, ticks_before = python_loop_ms(), host_cpu_ticks()
        result = run_once(base, path, scenario, True, workdir, tag)
        loop_after, ticks_after = python_loop_ms(), host_cpu_ticks()
        run_cfg = run_config(base, scenario, True, tag)        # its records, read before its topics go
        traced = {key: run_records(run_cfg, key) for key in ("interface_state", "commands")}
        state_reads = kafka_floor.state_reads(run_cfg)
        remove_run(base.kafka, tag)                # the run's topics and groups, as the demo does
        floor = measured_floor(base, str(path), state_reads, triggers(traced["interface_state"], result.decisions))
    except BaseException:
        # Interrupted or failed: the run's topics and groups go too (left, they
        # slow the broker down for every later run), unless the broker is what failed.
        try:
            if base is not None:
                remove_run(base.kafka, tag)
        except Exception:
            pass
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = build_report(scenario, result, None, {})
    values = [x["detect_to_apply_ms"] for x in report["detect_to_apply_ms"]]
    suppressed = [d for d in report["decisions"] if d["suppressed"]]
    if not values:
        raise BenchError("no access link was disabled: see the decisions "
                         f"({[d['reason'] for d in report['decisions']][:3]})")
    applied = [a for a in result.admin_changes if a["admin_state"] == "disable"]
    hops = hop_times(report_downs(result), traced["interface_state"], result.decisions, traced["commands"], applied)
    return {**percentiles(values, "detect_to_apply_ms"), "hops_ms": hop_percentiles(hops),
            "slowest_ms": slowest(hops), "cycles": runs, "remediations_measured": len(values),
            "suppressed_decisions": len(suppressed),
            "settings": f"hold_up_ms {HOLD_UP_MS}, verify_ms {VERIFY_MS}, "
                        f"max_decisions_per_minute {base.safety.max_decisions_per_minute} (the bench's)",
            **floor, "python_loop_ms": [loop_before, loop_after], "host_cpu": host_cpu_use(ticks_before, ticks_after),
            "machine": machine()}

