"""Tansu, the light option (`fabtel stack up --broker tansu`), keeps working:
the stack names it, records round-trip, and the demo's main scenario runs on
it with its workarounds (kafka.implementation: tansu)."""
from __future__ import annotations

import json

import pytest
import yaml

from conftest import EXAMPLE, fabtel, free_port, quick_seed_scenario


@pytest.fixture(scope="module")
def tansu(tmp_path_factory):
    d = tmp_path_factory.mktemp("tansu")
    port, influx = free_port(), free_port()
    out = fabtel("stack", "up", "--broker", "tansu", "--state-dir", str(d / "state"), "--kafka-port", str(port),
                 "--influx-port", str(influx))
    assert out.returncode == 0, out.stderr
    assert "export FABTEL_KAFKA_IMPLEMENTATION=tansu" in out.stdout
    yield d, port, influx
    fabtel("stack", "down", "--state-dir", str(d / "state"))


def test_status_names_tansu(tansu):
    d, port, _ = tansu
    out = fabtel("stack", "status", "--state-dir", str(d / "state"))
    assert out.returncode == 0 and f"tansu: Tansu 0.6.0, running on 127.0.0.1:{port}" in out.stdout, out.stdout


def test_the_demo_runs_on_tansu(tansu):
    d, port, influx = tansu
    data = yaml.safe_load(EXAMPLE.read_text())
    data["kafka"].update(bootstrap_servers=f"127.0.0.1:{port}", implementation="tansu")
    data["influxdb"]["url"] = f"http://127.0.0.1:{influx}"
    path = d / "fabric.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    report = d / "r.json"
    out = fabtel("demo", "--config", str(path), "--no-baseline", "--report", str(report),
                 "--scenario", str(quick_seed_scenario(d)), timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(report.read_text())
    assert r["expectations_met"] and r["detect_to_apply_ms"]
