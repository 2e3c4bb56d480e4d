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
    assert set(shipped) == {"overview.json", "lag-balance.json", "interfaces.json", "pipeline-health.json"}
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
