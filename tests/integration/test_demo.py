"""`fabtel demo` end to end on every lab scenario: real lab, real broker and
InfluxDB, the pipeline's components as processes."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from conftest import fabtel, with_free_gnmi_ports, write_config
from fabtel.lab.scenario import seed_scenarios

OTHER = [p for p in seed_scenarios() if p.stem != "leaf1-uplinks-down"]


@pytest.fixture()
def demo_config(config, tmp_path):
    return write_config(with_free_gnmi_ports(config), tmp_path / "fabric.yaml")


def _run_topics(config, tag: str) -> list[str]:
    from fabtel.config import load_config
    from fabtel.kafka import admin_client
    topics = admin_client(load_config(config).kafka).list_topics(timeout=10).topics
    return sorted(t for t in topics if t.startswith((f"demo-{tag}", f"fabtel-demo-{tag}")))


def _workdir(out) -> Path:
    return Path(re.search(r"logs of this run: (\S+)", out.stderr).group(1))


def test_main_scenario_with_baseline_report_and_plot(demo_config, tmp_path):
    report, png = tmp_path / "r.json", tmp_path / "r.png"
    state, cwd = tmp_path / "state", tmp_path / "cwd"
    cwd.mkdir()
    out = fabtel("demo", "--config", str(demo_config), "--report", str(report), "--plot", str(png), timeout=400,
                 cwd=cwd, env={**os.environ, "FABTEL_STATE_DIR": str(state)})
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    # No clutter: nothing in the current directory, the run's logs and worker data gone from the state
    # directory, its topics and consumer groups deleted from the broker.
    workdir = _workdir(out)
    assert workdir.parent == state.resolve() / "demo" and not workdir.exists() and not list(cwd.iterdir())
    assert _run_topics(demo_config, workdir.name) == []
    assert re.search(r"removed this run's (1[5-9]|[2-9]\d) topics, [1-9]\d* consumer groups", out.stderr), out.stderr
    r = json.loads(report.read_text())
    assert r["scenario"] == "leaf1-uplinks-down" and r["recovered"] is True
    assert 19_900 <= r["uplinks_down_at_ms"] <= 20_300
    assert r["baseline_blackholed_bytes"] > 400_000 and r["blackholed_bytes"] < 0.1 * r["baseline_blackholed_bytes"]
    [apply] = r["detect_to_apply_ms"]
    assert apply["device"] == "leaf1" and apply["interface"] == "ethernet-1/1" and 0 < apply["detect_to_apply_ms"] < 2000
    [d] = r["decisions"]
    assert (d["device"], d["oper_group"], d["action"], d["suppressed"]) == ("leaf1", "og-leaf1", "disable", False)
    # The blackhole as client1's share and a duration; detect, decide and apply adding up; Grafana's ranges.
    assert r["blackhole"]["clients"]["client1"]["lost_share"] < 0.05
    assert abs(r["blackhole"]["duration_ms"] - apply["detect_to_apply_ms"]) <= 1
    # The lab's clock is exact: the bytes lost (ground truth) over the rate they were lost at (the lab's
    # blackhole) is the time from the uplink loss to the change at the device, within 2 ms.
    lost = r["blackhole"]["clients"]["client1"]
    assert abs(lost["lost_bytes"] * 8 / lost["blackholed_bps"] * 1000 - apply["detect_to_apply_ms"]) <= 2, lost
    # ... and the worker watched the change: the traffic moved to leaf2 (verified), marked on the plot's inset
    [outcome] = r["outcomes"]
    assert (outcome["device"], outcome["outcome"], outcome["rolled_back"]) == ("leaf1", "verified", False), outcome
    assert r["timeline_ms"]["outcome"] == "verified" and r["timeline_ms"]["outcome_ms"] > r["timeline_ms"]["total_ms"]
    assert "outcome                    leaf1 verified" in out.stdout
    assert r["baseline_blackhole"]["clients"]["client1"]["lost_share"] > 0.2 and r["baseline_blackhole"]["until_end"]
    assert abs(r["timeline_ms"]["total_ms"] - apply["detect_to_apply_ms"]) <= 1
    assert [x["run"] for x in r["time_ranges"]] == ["with oper-group", "without oper-group"]
    assert "client1 traffic lost" in out.stdout and "Grafana, with oper-group" in out.stdout
    assert r["influx_points_written"] > 500 and r["versions"]["influxdb"].startswith("1.6")
    assert png.stat().st_size > 20_000 and png.read_bytes()[:4] == b"\x89PNG"
    assert "expectations               met" in out.stdout
    # Flow samples through the pipeline: without the oper-group, leaf1's discard samples estimate what the lab
    # blackholed (95 % bounds: most windows inside, none far out); the LAG imbalance names the elephant.
    est = r["blackhole_estimates"]
    assert len(est) >= 2 and sum(e["within_bound"] for e in est) >= len(est) / 2, est
    assert all(abs(e["estimated_bps"] - e["true_bps"]) <= 2 * e["true_bps"] * e["error_pct"] / 100 for e in est), est
    kinds = {(f["kind"], f["group"]) for f in r["baseline_flow_findings"]}
    assert ("blackholing", "leaf1") in kinds, r["baseline_flow_findings"]
    assert any(f["kind"] == "lag_imbalance" and "elephant" in f["verdict"] for f in r["flow_findings"]), r["flow_findings"]
    # Every Grafana dashboard query works on the demo's data (errors or no series fail).
    check = fabtel("dashboards", "check", "--config", str(demo_config), "--since", "20", timeout=120)
    ran = re.search(r"(\d+) dashboard queries run, (\d+) alert rule queries run, 0 problem\(s\)", check.stdout)
    assert check.returncode == 0 and ran and int(ran.group(1)) >= 40 and int(ran.group(2)) >= 7, \
        check.stdout + check.stderr[-2000:]


@pytest.mark.parametrize("scenario", OTHER, ids=lambda p: p.stem)
def test_every_scenario_behaves_as_stated(demo_config, tmp_path, scenario):
    report = tmp_path / "r.json"
    out = fabtel("demo", "--config", str(demo_config), "--scenario", scenario.stem, "--no-baseline",
                 "--report", str(report), "--keep", timeout=300, env={**os.environ, "FABTEL_STATE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    r = json.loads(report.read_text())
    assert r["expectations_met"] is True
    findings = {f["kind"]: f for f in r["flow_findings"]}
    if scenario.stem == "lag-elephant":           # the alert names the elephant and its member
        verdict = findings["lag_imbalance"]["verdict"]
        assert "ethernet-1/1 carries" in verdict and "1 elephant, 198.18.0.7:443 \u2192 198.18.201.1:51514 tcp" in verdict
    if scenario.stem == "hash-polarization":
        assert findings["hash_polarization"]["verdict"].startswith("hash polarization: the flows leaf3 sends up")
    # --keep: the logs, the worker's data and the topics stay.
    workdir = _workdir(out)
    assert (workdir / f"process-{workdir.name}og.log").exists() and (workdir / f"faust-{workdir.name}og").is_dir()
    assert any(t.startswith(f"demo-{workdir.name}og.") and t.endswith(".decisions")
               for t in _run_topics(demo_config, workdir.name))


def test_failed_expectations_are_named():
    from fabtel.demo.report import check_expectations
    from fabtel.lab.scenario import Expect, Scenario
    scenario = Scenario("x", 40, (), expect=Expect(disabled=("leaf1:ethernet-1/1",), suppressed=("leaf2",), recovered=True))
    report = {"decisions": [{"device": "leaf2", "action": "disable", "suppressed": False}],
              "admin_changes_over_gnmi": [{"device": "leaf2", "interface": "ethernet-1/1", "admin_state": "disable"}],
              "recovered": False, "blackholed_bytes": 400_000, "baseline_blackholed_bytes": 500_000}
    problems = check_expectations(scenario, report)
    assert problems == [
        "expected leaf1:ethernet-1/1 to be disabled by the remediation",
        "expected leaf2's disable to be suppressed",
        "leaf2's access link was disabled although it must be suppressed",
        "delivered traffic did not return to the offered rate",
        "blackholed 400000 B, not far below the baseline 500000 B"]


def test_the_seed_scenario_on_a_mixed_fabric(stack, tmp_path):
    """An EOS spine, a Junos spine, a SONiC leaf and two SR Linux leaves, each
    served as its platform serves it: leaf1 (SONiC) loses its uplinks, its
    oper-group disables its access port over SONiC's OpenConfig, and no
    sFlow number or LLDP neighbour goes unnamed."""
    from conftest import MIXED, on_the_test_stack
    cfg = with_free_gnmi_ports(on_the_test_stack(MIXED, stack))
    path = write_config(cfg, tmp_path / "mixed.yaml", base=MIXED)
    report = tmp_path / "r.json"
    out = fabtel("demo", "--config", str(path), "--scenario", "mixed/leaf1-uplinks-down", "--no-baseline",
                 "--report", str(report), timeout=300, env={**os.environ, "FABTEL_STATE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    r = json.loads(report.read_text())
    assert r["expectations_met"] is True, r["problems"]
    [d] = r["decisions"]
    assert (d["device"], d["action"]) == ("leaf1", "disable")
    assert [(a["device"], a["interface"]) for a in r["admin_changes_over_gnmi"]] == [("leaf1", "Ethernet8")]
    assert r["sflow_unnamed_interfaces"] == [] and r["cabling"] == []


def test_a_device_slower_to_commit_grows_the_loss_by_that_time_at_that_rate(demo_config, tmp_path):
    """The seed scenario with devices that take 50 ms to commit a Set: the
    change lands 50 ms after the Set, and the loss (ground truth) is the
    blackholed rate times the time to the change, within 2 ms."""
    import yaml
    from fabtel.lab.scenario import SCENARIO_DIR
    seed = yaml.safe_load((SCENARIO_DIR / "leaf1-uplinks-down.yaml").read_text())
    seed.update(name="slow-commit", set_latency_ms=50, duration_s=30)
    path = tmp_path / "slow-commit.yaml"
    path.write_text(yaml.safe_dump(seed))
    report = tmp_path / "r.json"
    out = fabtel("demo", "--config", str(demo_config), "--scenario", str(path), "--no-baseline", "--report",
                 str(report), timeout=300, env={**os.environ, "FABTEL_STATE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    r = json.loads(report.read_text())
    [apply] = r["detect_to_apply_ms"]
    assert abs(apply["commit_ms"] - 50) <= 1, apply
    lost = r["blackhole"]["clients"]["client1"]
    at_rate_ms = lost["lost_bytes"] * 8 / lost["blackholed_bps"] * 1000
    assert abs(at_rate_ms - apply["detect_to_apply_ms"]) <= 2
    # without the 50 ms the loss would have been the rate times the time to the Set: 50 ms of it more
    grown = lost["lost_bytes"] - lost["blackholed_bps"] / 8 * (apply["detect_to_apply_ms"] - apply["commit_ms"]) / 1000
    assert abs(grown - lost["blackholed_bps"] / 8 * 0.050) <= lost["blackholed_bps"] / 8 * 0.002, (grown, lost)
