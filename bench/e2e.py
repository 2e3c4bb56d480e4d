"""`fabtel bench e2e`: the main demo scenario N times (with the oper-group
only); detect_to_apply_ms is from the uplink-down event at the lab device to
the access link being disabled at the device by the remediation's gNMI Set."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from fabtel.bench.common import machine, percentiles, progress


def run(config_path: str, runs: int) -> dict:
    from fabtel.config import load_config
    from fabtel.demo.report import build_report
    from fabtel.demo.run import remove_run, run_once
    from fabtel.localstack.stack import ensure_stack
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    os.environ.setdefault("FABTEL_GNMI_USER", "admin")
    os.environ.setdefault("FABTEL_GNMI_PASSWORD", "fabtel-lab")
    base = load_config(config_path)
    scenario = load_scenario(SCENARIO_DIR / "leaf1-uplinks-down.yaml", base)
    ensure_stack(base.kafka, base.influxdb.url, progress)
    values = []
    for i in range(runs):
        progress(f"run {i + 1} of {runs}")
        workdir, tag = Path(tempfile.mkdtemp(prefix="fabtel-e2e-")), uuid.uuid4().hex[:6]
        result = run_once(base, Path(config_path), scenario, True, workdir, tag)
        remove_run(base.kafka, tag)                # a run's topics and groups, as the demo does
        shutil.rmtree(workdir, ignore_errors=True)
        report = build_report(scenario, result, None, {})
        values += [x["detect_to_apply_ms"] for x in report["detect_to_apply_ms"]]
        progress(f"run {i + 1}: detect_to_apply_ms {[x['detect_to_apply_ms'] for x in report['detect_to_apply_ms']]}")
    return {**percentiles(values, "detect_to_apply_ms"), "runs": runs,
            "remediations_measured": len(values), "machine": machine()}
