"""The alert rules as Grafana evaluates them (fabtel.shell.alert_rules), on
its expressions and templates, without a server."""
from __future__ import annotations

import pytest

from fabtel.shell.alert_rules import RuleError, _expression, load_rules, render


def rule(title: str) -> dict:
    return next(r for _, _, r in load_rules() if r["title"] == title)


def test_the_uplinks_summary_renders_as_grafana_would():
    summary = rule("Leaf uplinks degraded or isolated")["annotations"]["summary"]
    assert render(summary, {"device": "leaf1"}, {"B": 2.0}) == "leaf1 has lost uplinks (isolated)"
    assert render(summary, {"device": "leaf1"}, {"B": 1.0}) == "leaf1 has lost uplinks (degraded)"
    share = rule("LAG imbalance")["annotations"]["summary"]
    assert render(share, {"lag_id": "lag1", "busiest_member": "leaf1:ethernet-1/1"}, {"B": 0.81}) == \
        "LAG lag1 is unbalanced: leaf1:ethernet-1/1 carries 81%"


def test_reduce_then_threshold_fire_per_series():
    r = rule("Leaf uplinks degraded or isolated")
    data = {d["refId"]: d["model"] for d in r["data"]}
    leaf1, leaf2, leaf3 = (("device", "leaf1"),), (("device", "leaf2"),), (("device", "leaf3"),)
    results = {"A": {leaf1: [0.0, 2.0], leaf2: [1.0, 0.0], leaf3: [float("nan")]}}
    results["B"] = _expression(r, "B", data["B"], results)
    assert results["B"] == {leaf1: 2.0, leaf2: 0.0}                    # dropNN: leaf3 had no number
    assert _expression(r, "C", data["C"], results) == {leaf1: 1.0, leaf2: 0.0}


def test_an_expression_it_does_not_know_is_one_clear_error():
    r = rule("LAG imbalance")
    with pytest.raises(RuleError, match="expression type 'math' is not evaluated here"):
        _expression(r, "D", {"type": "math", "expression": "$B * 2"}, {"B": {}})
