"""Checks that the Grafana dashboards work: every panel query, annotation and
template variable is run against InfluxDB with Grafana's macros substituted as
Grafana would ($timeFilter, $__interval, $interval, template variables set to
"All"), and any query that errors or returns no series is a problem.

`fabtel dashboards check --config FILE` runs it against a live InfluxDB (the
tests run it after a demo). May import: fabtel.config, connectors.influx.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from fabtel.connectors.influx.query import InfluxQueryError, influxql
from fabtel.config import InfluxConfig

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "dashboards"


@dataclass(frozen=True)
class Query:
    dashboard: str
    where: str          # "panel 'Uplink state per leaf' A", "annotation 'Oper-group decisions'"
    text: str


@dataclass(frozen=True)
class Variable:
    name: str
    query: str


def load(directory: Path = DASHBOARD_DIR) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def queries_of(name: str, dashboard: dict) -> tuple[list[Variable], list[Query]]:
    """The template variables, and every other query the dashboard runs."""
    variables = [Variable(v["name"], v["query"]) for v in dashboard.get("templating", {}).get("list", [])
                 if v.get("type") == "query"]
    out = []
    for a in dashboard.get("annotations", {}).get("list", []):
        if a.get("query"):
            out.append(Query(name, f"annotation {a['name']!r}", a["query"]))
    for p in dashboard.get("panels", []):
        for t in p.get("targets", []):
            out.append(Query(name, f"panel {p['title']!r} {t['refId']}", t["query"]))
    return variables, out


def interval_for(range_s: float, max_points: int = 500) -> str:
    """Grafana's $__interval: the range over the panel's points, at least 1 s."""
    return f"{max(1, int(range_s // max_points))}s"


def substitute(text: str, time_filter: str, interval: str, values: dict[str, list[str]]) -> str:
    """The query as Grafana sends it; template variables as "All" (a regex of every value)."""
    text = text.replace("$timeFilter", time_filter).replace("$__interval", interval).replace("$interval", interval)
    for name in sorted(values, key=len, reverse=True):
        regex = "(" + "|".join(re.escape(v).replace("/", r"\/") for v in values[name]) + ")"
        text = text.replace(f"${{{name}}}", regex).replace(f"${name}", regex)
    return text


def check(cfg: InfluxConfig, start_ms: int, end_ms: int, directory: Path = DASHBOARD_DIR) -> tuple[int, list[str]]:
    """(queries run, problems) for every dashboard over [start_ms, end_ms]."""
    time_filter = f"time >= {start_ms}ms AND time <= {end_ms}ms"
    interval = interval_for((end_ms - start_ms) / 1000)
    problems, ran = [], 0
    for name, dashboard in load(directory).items():
        variables, queries = queries_of(name, dashboard)
        values: dict[str, list[str]] = {}
        for v in variables:           # in order: a variable's query may use the ones before it
            try:
                series = influxql(cfg, substitute(v.query, time_filter, interval, values))
            except InfluxQueryError as exc:
                series = []
                problems.append(f"{name}: variable {v.name}: {exc}")
            values[v.name] = sorted({str(row[-1]) for s in series for row in s.get("values", [])}) or ["-none-"]
        ran += len(variables) + len(queries)
        for q in queries:
            try:
                if not influxql(cfg, substitute(q.text, time_filter, interval, values)):
                    problems.append(f"{name}: {q.where}: no series")
            except InfluxQueryError as exc:
                problems.append(f"{name}: {q.where}: {exc}")
        problems += [f"{name}: variable {n}: no values" for n, vs in values.items() if vs == ["-none-"]]
    return ran, problems
