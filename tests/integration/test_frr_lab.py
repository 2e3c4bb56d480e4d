"""The FRR fat-tree lab through the whole pipeline (real FRR in network
namespaces, BMP collector, broker, Faust convergence processor). Skipped,
with the reason, where namespaces, root or FRR are missing; CI has them."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import fabtel, write_config
from fabtel.lab.frr.fattree import build
from fabtel.lab.frr.netlab import unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture()
def frr_config(config, tmp_path):
    return write_config(config, tmp_path / "fabric.yaml")


def run_lab(cfg_path, tmp_path, spec: str, fail: str, *extra: str) -> dict:
    report, events = tmp_path / "r.json", tmp_path / "m.jsonl"
    out = fabtel("lab", "frr", "--config", str(cfg_path), "--fat-tree", spec, "--fail", fail, "--report", str(report),
                 "--events-out", str(events), *extra, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "ft" not in left, f"namespaces left behind: {left}"
    r = json.loads(report.read_text())
    assert r["offline_matches_pipeline"] is True
    # The logged messages give the same metrics offline through `fabtel convergence analyze`.
    topo = tmp_path / "topology.json"
    topo.write_text(json.dumps(build(*map(int, spec.split(","))).topology()))
    offline = fabtel("convergence", "analyze", "--topology", str(topo), "--events", str(events), "--event", fail, "--json")
    assert offline.returncode == 0, offline.stderr
    o = json.loads(offline.stdout)
    assert (o["messages"], o["locality"]) == (r["pipeline"]["messages"], r["pipeline"]["locality"])
    return r


def readme_table() -> dict[str, tuple]:
    """docs/convergence.md's table: fat-tree -> (messages, bytes, locality, blast radius, rounds, states)."""
    text = (ROOT / "docs" / "convergence.md").read_text()
    rows = re.findall(r"^\| (\d,\d,\d) \| \d+ \| \d+ \| (\d+) \((\d+) B\) \| (\[[\d, ]+\]) \| (\d+) \| (\d+) \| (\d+) \|",
                      text, re.M)
    return {spec: (int(m), int(b), json.loads(loc), int(br), int(r), int(c)) for spec, m, b, loc, br, r, c in rows}


def readme_family_table() -> dict[tuple[str, str], tuple]:
    """docs/convergence.md's EVPN table: (fat-tree, family) -> (messages, bytes, locality, blast radius, rounds, states)."""
    text = (ROOT / "docs" / "convergence.md").read_text()
    rows = re.findall(r"^\| (\d,\d,\d) \| ([a-z0-9-]+) \([^)]*\) \| (\d+) \((\d+) B\) \| (\[[\d, ]+\]) \| (\d+) \| (\d+) \| (\d+) \|",
                      text, re.M)
    return {(spec, fam): (int(m), int(b), json.loads(loc), int(br), int(r), int(c))
            for spec, fam, m, b, loc, br, r, c in rows}


def test_the_readme_chain_row_is_the_issue_example():
    assert readme_table()["1,1,1"][:5] == (6, 162, [0, 2, 2, 2], 18, 4)


# 1,1,1 and 2,2,2 are measured by the EVPN test below (its underlay rows must equal these).
@pytest.mark.parametrize("spec", ["3,3,3", "2,2,1", "4,4,4"])
def test_the_readme_table_comes_from_a_leaf_failure_on_real_frr(frr_config, tmp_path, spec):
    r = run_lab(frr_config, tmp_path, spec, "leaf_1_0_1")
    p = r["pipeline"]
    pod_spines = [f"spine_1_1_{n}" for n in range(1, int(spec.split(",")[0]) + 1)]
    assert p["detectors"] == pod_spines and p["locality"][0] == 0
    assert r["versions"]["frr"].startswith("bgpd version 8")
    measured = (p["messages"], p["bytes"], p["locality"], p["blast_radius"], p["state_rounds"], p["state_changes"])
    assert readme_table()[spec] == measured, f"docs/convergence.md row for {spec} disagrees with FRR: {measured}"


def test_a_link_failure_on_the_2_2_2_fat_tree(frr_config, tmp_path):
    r = run_lab(frr_config, tmp_path, "2,2,2", "leaf_1_0_1--spine_1_1_1")
    p = r["pipeline"]
    assert p["detectors"] == ["leaf_1_0_1", "spine_1_1_1"]
    # spine_1_1_1 withdraws leaf_1_0_1's prefix from its other peers: both ToFs and leaf_1_0_2.
    assert p["messages"] >= 3 and p["locality"][0] >= 3 and p["state_rounds"] >= 1


def test_bad_arguments_are_refused_before_anything_is_built(frr_config):
    out = fabtel("lab", "frr", "--config", str(frr_config), "--fat-tree", "2,2,3", "--fail", "leaf_1_0_1")
    assert out.returncode == 2 and "R must divide K_LEAF and 2*K_TOP" in out.stderr
    out = fabtel("lab", "frr", "--config", str(frr_config), "--fat-tree", "2,2,2", "--fail", "leaf_9_0_9")
    assert out.returncode == 2 and "unknown node 'leaf_9_0_9'" in out.stderr


@pytest.mark.parametrize("spec", ["1,1,1", "2,2,2"])
def test_the_readme_evpn_rows_come_from_real_frr_with_an_overlay(frr_config, tmp_path, spec):
    r = run_lab(frr_config, tmp_path, spec, "leaf_1_0_1", "--evpn")
    p = r["pipeline"]
    assert p["families"] == ["evpn", "ipv4-unicast"] and set(r["families"]) == {"evpn", "ipv4-unicast"}
    table = readme_family_table()
    measured = {"all": p, **r["families"]}
    for fam, m in measured.items():
        row = (m["messages"], m["bytes"], m["locality"], m["blast_radius"], m["state_rounds"], m["state_changes"])
        assert table[(spec, fam)] == row, f"docs/convergence.md row {spec} {fam} disagrees with FRR: {row}"
    # the underlay family is what the underlay-only table says for this fat-tree
    assert table[(spec, "ipv4-unicast")] == readme_table()[spec]
    pod_spines = [f"spine_1_1_{n}" for n in range(1, int(spec.split(",")[0]) + 1)]
    assert p["detectors"] == pod_spines and r["versions"]["frr"].startswith("bgpd version 8")
