"""Sibyl's metrics (pipeline/convergence.py) and `fabtel convergence analyze`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import fabtel
from fabtel.pipeline.convergence import (Element, RoutingMessage, Topology, TopologyError, load_messages, load_topology,
                                  measure, parse_element)

CASES = Path(__file__).parent.parent / "cases" / "convergence"
CHAIN = load_topology(CASES / "chain-topology.yaml")


def test_the_chain_example_gives_the_issue_figures():
    m = measure(CHAIN, parse_element("leaf_1_0_1", CHAIN), load_messages(CASES / "chain-leaf-failure.jsonl"))
    assert (m.messages, m.bytes, m.locality, m.blast_radius, m.state_rounds) == (6, 162, [0, 2, 2, 2], 18, 4)
    assert m.detectors == ["spine_1_1_1"] and m.state_changes == 7      # the detector's state 0 and one per message


def test_analyze_command_prints_the_same(tmp_path):
    out = fabtel("convergence", "analyze", "--topology", str(CASES / "chain-topology.yaml"),
                 "--events", str(CASES / "chain-leaf-failure.jsonl"), "--event", "leaf_1_0_1", "--json")
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)
    assert (m["messages"], m["locality"], m["blast_radius"], m["state_rounds"]) == (6, [0, 2, 2, 2], 18, 4)


def test_a_link_failure_is_detected_at_both_ends_and_its_links_are_at_distance_zero():
    link = parse_element("spine_1_1_1--tof_1_2_1", CHAIN)
    assert link.kind == "link"
    msgs = [RoutingMessage(1, "tof_1_2_1", "spine_2_1_1", "update", 30),
            RoutingMessage(1, "spine_1_1_1", "leaf_1_0_1", "update", 30),
            RoutingMessage(2, "spine_2_1_1", "leaf_2_0_1", "update", 30)]
    m = measure(CHAIN, link, msgs)
    assert m.detectors == ["spine_1_1_1", "tof_1_2_1"]
    assert m.locality == [2, 1] and m.blast_radius == 2 * 1 + 1 * 2
    assert m.state_rounds == 2 and m.state_changes == 2 + 3


def test_a_sender_that_heard_nothing_starts_its_own_state():
    m = measure(CHAIN, Element(("leaf_1_0_1",)), [RoutingMessage(1, "leaf_2_0_1", "spine_2_1_1", "update", 10)])
    assert m.state_rounds == 1 and m.state_changes == 1 + 1 + 1


@pytest.mark.parametrize("text, problem", [
    ("nobody", "unknown node 'nobody'"),
    ("leaf_1_0_1--tof_1_2_1", "are not linked"),
    ("a--b--c", "not a node or a link"),
])
def test_bad_event_names_are_explained(text, problem):
    with pytest.raises(TopologyError, match=problem):
        parse_element(text, CHAIN)


def test_bad_files_exit_2_with_the_reason(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"t": 1, "from": "a"}\n')
    out = fabtel("convergence", "analyze", "--topology", str(CASES / "chain-topology.yaml"), "--events", str(bad),
                 "--event", "leaf_1_0_1")
    assert out.returncode == 2 and "m.jsonl:1: not a routing message" in out.stderr and "Traceback" not in out.stderr
    topo = tmp_path / "t.yaml"
    topo.write_text("links: [[a]]\n")
    out = fabtel("convergence", "analyze", "--topology", str(topo), "--events", str(bad), "--event", "a")
    assert out.returncode == 2 and "links[0] is not a pair of node names" in out.stderr


def test_topology_accepts_link_mappings_with_interfaces(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"nodes": [{"name": "c"}], "links": [{"a": "a:eth1", "b": "b:eth1"}, ["b", "c"]]}))
    t = load_topology(path)
    assert t.links == (("a", "b"), ("b", "c")) and t.nodes == ("c", "a", "b")
    assert t.hops_from(("a",)) == {"a": 0, "b": 1, "c": 2} and Topology((("x", "y"),)).neighbours("y") == ["x"]
