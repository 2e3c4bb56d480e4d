"""An independent reader of fabtel's topics: a Java program (tests/java:
Apache Kafka's client and Apache Avro, nothing of fabtel but its .avsc files)
reads every topic of a demo run, decoding single-object encoded values with
Avro's own BinaryMessageDecoder, or, when the demo ran with the schema
registry, Confluent-framed values with the schema the registry serves. Its records must equal, field by field and
offset by offset, what `fabtel topics tail` prints for the same messages:
unsigned 64-bit counters (carried in two's complement), nullable unions,
nested records, bytes."""
from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest

import java_tools
from conftest import TEST_REGISTRY_PORT, fabtel
ROOT = Path(__file__).resolve().parents[2]
REGISTRY = f"http://127.0.0.1:{TEST_REGISTRY_PORT}/apis/ccompat/v7"


def unsigned_fields() -> set[str]:
    """Field names of the records (nested ones too) that carry unsigned 64-bit values."""
    import fabtel.records as r
    return {name for cls in vars(r).values() if isinstance(cls, type) for name in getattr(cls, "UNSIGNED", ())}


def same(java, py, field: str, unsigned: set[str], where: str) -> None:
    if isinstance(java, dict) and isinstance(py, dict):
        assert set(java) == set(py), f"{where}: fields differ: {set(java) ^ set(py)}"
        for k in java:
            same(java[k], py[k], k, unsigned, f"{where}.{k}")
    elif isinstance(java, list) and isinstance(py, list):
        assert len(java) == len(py), f"{where}: {len(java)} != {len(py)} items"
        for n, (a, b) in enumerate(zip(java, py)):
            same(a, b, field, unsigned, f"{where}[{n}]")
    elif isinstance(java, float) or isinstance(py, float):
        assert math.isclose(float(java), float(py), rel_tol=1e-6, abs_tol=1e-30), f"{where}: {java} != {py}"
    elif isinstance(java, int) and isinstance(py, int) and java < 0 <= py and field in unsigned:
        assert java + 2**64 == py, f"{where}: {java} (two's complement) != {py}"
    else:
        assert java == py, f"{where}: Java {java!r} != fabtel {py!r}"


@pytest.fixture(params=[None, REGISTRY], ids=["single-object", "registry"])
def demo_topics(config, tmp_path, request):
    """The demo's main scenario on the test broker; its configuration and topics."""
    from conftest import quick_seed_scenario, with_free_gnmi_ports, write_config
    from fabtel.config import load_config
    from fabtel.lab.scenario import load_scenario
    from fabtel.demo.run import run_config, run_once
    tmp = tmp_path
    extra = {"kafka": {"schema_registry_url": request.param}} if request.param else {}
    path = write_config(with_free_gnmi_ports(config), tmp / "fabric.yaml", **extra)
    cfg = load_config(path)
    scenario = load_scenario(quick_seed_scenario(tmp), cfg)
    tag = "j" + str(time.time_ns())[-6:]
    run_once(cfg, path, scenario, True, tmp, tag)
    # the worker logs each decision it makes, in one line
    assert re.search(r"decision \w+: leaf1 og-leaf1 disable: 0 of 2 watched uplinks up",
                     (tmp / f"process-{tag}.log").read_text()), "the worker did not log its decision"
    run_cfg = run_config(cfg, scenario, True, tag)
    run_path = tmp / f"fabric-{tag}.yaml"
    return run_cfg, run_path


def test_the_java_reader_agrees_with_topics_tail_on_every_demo_topic(demo_topics, tmp_path):
    cfg, path = demo_topics
    if not cfg.kafka.schema_registry_url:          # the snippets read the default single-object encoding
        check_readme_snippets(cfg, path, tmp_path)
    topics = sorted(set(cfg.kafka.topics.values()))
    out = java_tools.run("Reader", cfg.kafka.bootstrap_servers, str(ROOT / "schemas"),
                         cfg.kafka.schema_registry_url or "-", *topics, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    java = {(r["topic"], r["partition"], r["offset"]): r for r in map(json.loads, out.stdout.splitlines())}
    unsigned = unsigned_fields()
    compared: dict[str, int] = {}
    tail = fabtel("topics", "tail", *topics, "--from-beginning", "--exit-at-end", "-J", "--config", str(path),
                  timeout=600)
    assert tail.returncode == 0, tail.stderr[-2000:]
    every = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [m["topic"] for m in every] == sorted((m["topic"] for m in every), key=topics.index)   # one after the other
    for topic in topics:
        mine = [m for m in every if m["topic"] == topic]
        assert len(mine) == sum(1 for k in java if k[0] == topic), f"{topic}: counts differ"
        for m in mine:
            j = java[(m["topic"], m["partition"], m["offset"])]
            payload = dict(m["payload"])
            assert j["type"] == payload.pop("type")
            same(j["value"], payload, "", unsigned, f"{topic}[{m['partition']}]@{m['offset']}")
            compared[j["type"]] = compared.get(j["type"], 0) + 1
    # the demo writes every kind of record but the BMP/convergence ones
    assert {"InterfaceCounters", "InterfaceState", "LagMemberState", "SflowSample", "LagBalance", "UplinkHealth",
            "OperGroupDecision", "RemediationCommand", "RemediationResult", "ComponentStats"} <= set(compared), compared


def check_readme_snippets(cfg, path, tmp_path) -> None:
    """README "Reading fabtel's topics": its Java and Python snippets are the
    files in examples/consumers, and both read the demo's decisions as
    `fabtel topics tail` does, once each."""
    import subprocess
    import sys
    readme = (ROOT / "README.md").read_text()
    snippets = ROOT / "examples" / "consumers"
    for name in ("ReadDecisions.java", "read_decisions.py"):
        assert (snippets / name).read_text().strip() in readme, f"README does not show examples/consumers/{name}"
    topic, schema = cfg.kafka.topic("decisions"), str(ROOT / "schemas" / "oper_group_decision.avsc")
    tail = fabtel("topics", "tail", topic, "--from-beginning", "--timeout", "4", "--config", str(path))
    decisions = [json.loads(x) for x in tail.stdout.splitlines()]
    assert decisions, "the demo decided nothing"
    expected = sorted({f"{d['decision_id']} {d['device']} {d['action']} {','.join(d['down_links'])} "
                       f"suppressed={str(d['suppressed']).lower()}" for d in decisions})
    classes = tmp_path / "classes"
    javac = subprocess.run(["javac", "-d", str(classes), "-cp", java_tools.classpath(), str(snippets / "ReadDecisions.java")],
                           capture_output=True, text=True, timeout=300)
    assert javac.returncode == 0, javac.stderr
    java = subprocess.run(["java", "-cp", f"{classes}:{java_tools.classpath()}", "ReadDecisions",
                           cfg.kafka.bootstrap_servers, topic, schema], capture_output=True, text=True, timeout=120)
    assert java.returncode == 0, java.stderr[-2000:]
    py = subprocess.run([sys.executable, str(snippets / "read_decisions.py"), cfg.kafka.bootstrap_servers, topic, schema],
                        capture_output=True, text=True, timeout=120)
    assert py.returncode == 0, py.stderr[-2000:]
    assert sorted(java.stdout.splitlines()) == expected
    assert sorted(py.stdout.splitlines()) == expected
