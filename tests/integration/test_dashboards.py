"""The dashboard checker itself: Grafana's macro substitution, and that it
reports a query InfluxDB refuses and a query that finds nothing (the run over
the demo's data is in test_demo)."""
from __future__ import annotations

import json
import time

from fabtel.connectors.influx.writer import Writer
from fabtel.shell import dashboards


def test_macros_are_substituted_as_grafana_does():
    q = 'SELECT last("x") FROM "m" WHERE $timeFilter AND "device" =~ /^$device$/ GROUP BY time($__interval), "device"'
    out = dashboards.substitute(q, "time >= 1ms AND time <= 2ms", "5s", {"device": ["leaf1", "a/b.c"]})
    assert out == ('SELECT last("x") FROM "m" WHERE time >= 1ms AND time <= 2ms AND "device" =~ /^(leaf1|a\\/b\\.c)$/ '
                   'GROUP BY time(5s), "device"')
    assert dashboards.interval_for(3600) == "7s" and dashboards.interval_for(60) == "1s"


def test_every_shipped_dashboard_uses_the_provisioned_datasource_and_raw_influxql():
    shipped = dashboards.load()
    assert set(shipped) == {"overview.json", "lag-balance.json", "interfaces.json", "pipeline-health.json",
                           "flows.json", "remediation.json"}
    for name, d in shipped.items():
        _, queries = dashboards.queries_of(name, d)
        assert len(queries) >= 4, name
        for p in d["panels"]:
            assert p["datasource"]["uid"] == "fabtel-influxdb" and all(t["rawQuery"] for t in p["targets"])


def test_a_broken_or_empty_query_is_reported(config, tmp_path):
    now_ns = time.time_ns()
    Writer(config.influxdb).ensure_database()
    Writer(config.influxdb).write([f"uplink_health,device=leaf1 uplinks_up=2i {now_ns}"])
    panels = [{"title": t, "targets": [{"refId": "A", "query": q}]} for t, q in [
        ("works", 'SELECT last("uplinks_up") FROM "uplink_health" WHERE $timeFilter AND "device" =~ /^$device$/ GROUP BY time($__interval)'),
        ("bad syntax", 'SELEKT "uplinks_up" FROM "uplink_health" WHERE $timeFilter'),
        ("no data", 'SELECT last("value") FROM "no_such_measurement" WHERE $timeFilter')]]
    board = {"templating": {"list": [{"type": "query", "name": "device",
                                      "query": 'SHOW TAG VALUES FROM "uplink_health" WITH KEY = "device"'}]},
             "panels": panels}
    (tmp_path / "t.json").write_text(json.dumps(board))
    now_ms = now_ns // 1_000_000
    ran, problems = dashboards.check(config.influxdb, now_ms - 60_000, now_ms + 1000, tmp_path)
    assert ran == 4
    assert len(problems) == 2
    assert problems[0].startswith("t.json: panel 'bad syntax' A: error parsing query")
    assert problems[1] == "t.json: panel 'no data' A: no series"


def _rule(title, query, annotation="{{ $labels.device }}", condition="C", no_data="OK"):
    return {"uid": title, "title": title, "condition": condition, "noDataState": no_data,
            "annotations": {"summary": annotation},
            "data": [{"refId": "A", "datasourceUid": "fabtel-influxdb", "model": {"refId": "A", "query": query}},
                     {"refId": "B", "datasourceUid": "__expr__", "model": {"type": "reduce", "expression": "A"}},
                     {"refId": "C", "datasourceUid": "__expr__", "model": {"type": "threshold", "expression": "B"}}]}


def test_alert_rules_are_checked_for_references_labels_and_names(config, tmp_path):
    import yaml
    now_ns = time.time_ns()
    Writer(config.influxdb).ensure_database()
    Writer(config.influxdb).write([f"uplink_health,device=leaf1 state_code=0i {now_ns}"])
    good = 'SELECT last("state_code") FROM "uplink_health" WHERE $timeFilter GROUP BY "device"'
    rules = [
        _rule("fine", good),
        _rule("fine, finds nothing", 'SELECT last("state_code") FROM "uplink_health" WHERE $timeFilter AND "device" = \'x\' GROUP BY "device"'),
        _rule("no such condition", good, condition="D"),
        _rule("label not grouped", good, annotation="{{ $labels.interface }} on {{ $values.B.Value }}"),
        _rule("misspelt field", 'SELECT last("state_cod") FROM "uplink_health" WHERE $timeFilter GROUP BY "device"'),
        _rule("no measurement", 'SELECT last("x") FROM "no_such_thing" WHERE $timeFilter GROUP BY "device"'),
        _rule("bad syntax", 'SELEKT last("state_code") FROM "uplink_health"', annotation="x"),
        _rule("empty but alerting on no data", 'SELECT last("state_code") FROM "uplink_health" WHERE $timeFilter AND "device" = \'x\'',
              annotation="x", no_data="Alerting"),
    ]
    (tmp_path / "r.yaml").write_text(yaml.safe_dump({"apiVersion": 1, "groups": [{"name": "t", "rules": rules}]}))
    now_ms = now_ns // 1_000_000
    ran, problems = dashboards.check_rules(config.influxdb, f"time >= {now_ms - 60_000}ms AND time <= {now_ms + 1000}ms",
                                           tmp_path)
    assert ran == 8
    text = "\n".join(problems)
    assert "fine" not in text.replace("finds", "")
    assert "rule 'no such condition': condition 'D' is none of its queries" in text
    assert "rule 'label not grouped': annotation summary uses $labels.interface" in text
    assert "rule 'misspelt field' A: 'uplink_health' has no field or tag 'state_cod'" in text
    assert "rule 'no measurement' A: no measurement 'no_such_thing' in InfluxDB" in text
    assert "rule 'bad syntax' A: error parsing query" in text
    assert "rule 'empty but alerting on no data' A: no series, and the rule does not say noDataState: OK" in text
    assert len(problems) == 6, text


def test_every_shipped_alert_rule_is_well_formed():
    rules = [(f, r) for f, _, r in dashboards.load_rules()]
    assert {r["title"] for _, r in rules} >= {"LAG imbalance", "LAG member unhealthy", "Leaf uplinks degraded or isolated",
                                              "Blackholing seen in discard samples", "Hash polarization",
                                              "Oper-group decision", "Oper-group decision suppressed"}
    assert [p for f, r in rules for p in dashboards.rule_problems(f, r)] == []
    imbalance = next(r for _, r in rules if r["title"] == "LAG imbalance")
    assert "$labels.cause" in imbalance["annotations"]["description"]       # the explanation reaches the alert
