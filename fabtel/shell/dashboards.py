"""Checks that the Grafana dashboards work: every panel query, annotation and
template variable is run against InfluxDB with Grafana's macros substituted as
Grafana would ($timeFilter, $__interval, $interval, template variables set to
"All"), and any query that errors or returns no series is a problem.

The provisioned alert rules (deploy/k8s/base/alerting) are checked too: each
rule's condition and expressions name queries it has, its annotations use
only labels its query groups by, and its InfluxQL query runs. A rule may find
nothing (a healthy fabric has no blackholing) when it says noDataState OK,
but then every measurement, field and tag it names must exist in InfluxDB,
so a misspelt name is still caught.

`fabtel dashboards check --config FILE` runs it against a live InfluxDB (the
tests run it after a demo). May import: fabtel.config, connectors.influx, fabtel.shell.alert_rules, PyYAML.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path


from fabtel.connectors.influx.query import InfluxQueryError, influxql
from fabtel.config import InfluxConfig
from fabtel.shell.alert_rules import ALERTING_DIR, EXPRESSIONS, load_rules

DASHBOARD_DIR = ALERTING_DIR.parent / "dashboards"


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


def check_all(cfg: InfluxConfig, start_ms: int, end_ms: int, directory: Path = DASHBOARD_DIR,
              rules: Path = ALERTING_DIR) -> tuple[int, int, list[str]]:
    """(dashboard queries run, alert rule queries run, problems)."""
    ran, problems = check(cfg, start_ms, end_ms, directory)
    rules_ran, rule_faults = check_rules(cfg, f"time >= {start_ms}ms AND time <= {end_ms}ms", rules)
    return ran, rules_ran, problems + rule_faults


# ------------------------------------------------------------------ alert rules

def rule_problems(file: str, rule: dict) -> list[str]:
    """What is wrong in a rule without asking InfluxDB."""
    where = f"{file}: rule {rule.get('title') or rule.get('uid')!r}"
    data = {d.get("refId"): d for d in rule.get("data", [])}
    problems = []
    if rule.get("condition") not in data:
        problems.append(f"{where}: condition {rule.get('condition')!r} is none of its queries {sorted(data)}")
    grouped: set[str] = set()
    for ref, d in data.items():
        model = d.get("model", {})
        if d.get("datasourceUid") == EXPRESSIONS:
            for name in re.findall(r"\$(\w+)", str(model.get("expression", ""))) or [model.get("expression")]:
                if name not in data:
                    problems.append(f"{where}: {ref} reads {name!r}, which is none of its queries")
        elif d.get("datasourceUid") != "fabtel-influxdb":
            problems.append(f"{where}: {ref} uses data source {d.get('datasourceUid')!r}, not fabtel-influxdb")
        else:
            grouped |= set(re.findall(r'"(\w+)"', model.get("query", "").partition("GROUP BY")[2]))
    for key, text in rule.get("annotations", {}).items():
        for label in re.findall(r"\$labels\.(\w+)", text):
            if label not in grouped:
                problems.append(f"{where}: annotation {key} uses $labels.{label}, which its query does not group by")
        for ref in re.findall(r"\$values\.(\w+)", text):
            if ref not in data:
                problems.append(f"{where}: annotation {key} uses $values.{ref}, which is none of its queries")
    return problems


def check_rules(cfg: InfluxConfig, time_filter: str, directory: Path = ALERTING_DIR) -> tuple[int, list[str]]:
    """(queries run, problems) for every provisioned alert rule."""
    problems, ran = [], 0
    for file, _, rule in load_rules(directory):
        problems += rule_problems(file, rule)
        for d in rule.get("data", []):
            if d.get("datasourceUid") != "fabtel-influxdb":
                continue
            where = f"{file}: rule {rule.get('title')!r} {d.get('refId')}"
            query = d["model"]["query"]
            ran += 1
            try:
                if influxql(cfg, query.replace("$timeFilter", time_filter)):
                    continue
                if rule.get("noDataState") != "OK":
                    problems.append(f"{where}: no series, and the rule does not say noDataState: OK")
                problems += [f"{where}: {p}" for p in _unknown_names(cfg, query)]
            except InfluxQueryError as exc:
                problems.append(f"{where}: {exc}")
    return ran, problems


def _unknown_names(cfg: InfluxConfig, query: str) -> list[str]:
    """The measurement, fields and tags a query names that InfluxDB has never seen."""
    measurement = re.search(r'FROM\s+"(\w+)"', query)
    if measurement is None:
        return ["names no measurement"]
    m = measurement.group(1)
    fields = {row[0] for s in influxql(cfg, f'SHOW FIELD KEYS FROM "{m}"') for row in s.get("values", [])}
    if not fields:
        return [f"no measurement {m!r} in InfluxDB"]
    tags = {row[0] for s in influxql(cfg, f'SHOW TAG KEYS FROM "{m}"') for row in s.get("values", [])}
    names = set(re.findall(r'"(\w+)"', query)) - {m}
    return [f"{m!r} has no field or tag {n!r}" for n in sorted(names - fields - tags)]
