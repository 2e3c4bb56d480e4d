"""fabtel's provisioned Grafana alert rules (deploy/k8s/base/alerting), read
and evaluated the way Grafana's alerting evaluates them: the InfluxQL query
over the rule's time range, one series per tag set; the server-side
expressions fabtel's rules use (reduce: last, min, max, mean, sum, count;
threshold: gt, lt, within_range, outside_range); an alert per series whose
condition holds, labelled with the rule's labels, the series' tags, the
alert name (the rule's title) and its folder, as Grafana labels them; the
annotations rendered from the template constructs the rules use.

`fabtel dashboards check` checks the rules' references; this evaluates
them, so that what a firing rule sends can be routed by a real notification
policy (tests/integration/test_alerting.py, with Alertmanager).
May import: fabtel.config, connectors.influx, PyYAML.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from fabtel.config import InfluxConfig
from fabtel.connectors.influx.query import influxql

ALERTING_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "alerting"
EXPRESSIONS = "__expr__"
REDUCERS = {"last": lambda v: v[-1], "min": min, "max": max, "sum": sum, "count": len,
            "mean": lambda v: sum(v) / len(v)}
THRESHOLDS = {"gt": lambda x, p: x > p[0], "lt": lambda x, p: x < p[0],
              "within_range": lambda x, p: p[0] < x < p[1], "outside_range": lambda x, p: x < p[0] or x > p[1]}


class RuleError(Exception):
    """A rule uses an expression this evaluator does not know: one line naming it."""


@dataclass
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    values: dict[str, float]


def load_rules(directory: Path = ALERTING_DIR) -> list[tuple[str, dict, dict]]:
    """(file, group, rule) for every rule of every provisioning file."""
    out = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []):
            out += [(path.name, group, rule) for rule in group.get("rules", [])]
    return out


def evaluate(cfg: InfluxConfig, group: dict, rule: dict, end_ms: int) -> list[Alert]:
    """The alerts `rule` fires at `end_ms` (one per series whose condition holds)."""
    data = {d["refId"]: d for d in rule.get("data", [])}
    results: dict[str, dict[tuple, float | list[float]]] = {}
    for ref, d in data.items():
        model = d.get("model", {})
        if d.get("datasourceUid") != EXPRESSIONS:
            span = d.get("relativeTimeRange", {})
            start = end_ms - int(span.get("from", 600)) * 1000
            stop = end_ms - int(span.get("to", 0)) * 1000
            query = model["query"].replace("$timeFilter", f"time >= {start}ms AND time <= {stop}ms")
            results[ref] = {tuple(sorted((s.get("tags") or {}).items())): [row[1] for row in s.get("values", [])
                                                                            if row[1] is not None]
                            for s in influxql(cfg, query)}
    for ref, d in data.items():                   # expressions in the order the rule gives them
        model = d.get("model", {})
        if d.get("datasourceUid") == EXPRESSIONS:
            results[ref] = _expression(rule, ref, model, results)
    alerts = []
    for series, held in results.get(rule["condition"], {}).items():
        if not held:
            continue
        labels = {**{k: str(v) for k, v in (rule.get("labels") or {}).items()}, **dict(series),
                  "alertname": rule["title"], "grafana_folder": group.get("folder", "")}
        values = {ref: float(r[series]) for ref, r in results.items() if isinstance(r.get(series), (int, float))}
        annotations = {k: render(v, labels, values) for k, v in (rule.get("annotations") or {}).items()}
        alerts.append(Alert(labels, annotations, values))
    return alerts


def _expression(rule: dict, ref: str, model: dict, results: dict) -> dict[tuple, float]:
    kind, source = model.get("type"), str(model.get("expression", "")).lstrip("$")
    if kind not in ("reduce", "threshold"):
        raise RuleError(f"rule {rule.get('title')!r}: expression type {kind!r} is not evaluated here")
    if source not in results:
        raise RuleError(f"rule {rule.get('title')!r}: {ref} reads {source!r} before it is computed")
    if kind == "reduce":
        reducer = REDUCERS.get(model.get("reducer"))
        if reducer is None:
            raise RuleError(f"rule {rule.get('title')!r}: reducer {model.get('reducer')!r} is not evaluated here")
        numbers = {s: [x for x in v if not (isinstance(x, float) and math.isnan(x))] for s, v in results[source].items()}
        return {s: float(reducer(v)) for s, v in numbers.items() if v}      # dropNN: a series of no numbers drops
    [condition] = model.get("conditions") or [{}]
    evaluator = condition.get("evaluator", {})
    test = THRESHOLDS.get(evaluator.get("type"))
    if test is None:
        raise RuleError(f"rule {rule.get('title')!r}: threshold {evaluator.get('type')!r} is not evaluated here")
    return {s: float(test(v, evaluator.get("params", []))) for s, v in results[source].items()}


_ACTION = re.compile(r"{{\s*(.*?)\s*}}")


def render(template: str, labels: dict[str, str], values: dict[str, float]) -> str:
    """The constructs fabtel's annotations use: $labels.X, $values.R.Value,
    humanize and humanizePercentage of a value, and `if eq VALUE N`/else/end."""
    def value(expr: str):
        m = re.fullmatch(r"\$values\.(\w+)\.Value", expr)
        if m:
            return values.get(m.group(1), float("nan"))
        m = re.fullmatch(r"\$labels\.(\w+)", expr)
        if m:
            return labels.get(m.group(1), "")
        return float(expr)

    def text(expr: str) -> str:
        fn, _, arg = expr.partition(" ")
        if fn == "humanizePercentage":
            return f"{value(arg) * 100:.4g}%"
        if fn == "humanize":
            return f"{value(arg):.4g}"
        v = value(expr)
        return f"{v:g}" if isinstance(v, float) else str(v)

    out, keep, i = [], [True], 0          # keep: whether each open `if` branch is being written
    for m in _ACTION.finditer(template):
        if all(keep):
            out.append(template[i:m.start()])
        action, i = m.group(1), m.end()
        if action.startswith("if eq "):
            a, b = action[len("if eq "):].split()
            keep.append(value(a) == value(b))
        elif action == "else":
            keep[-1] = not keep[-1]
        elif action == "end":
            keep.pop()
        elif all(keep):
            out.append(text(action))
    out.append(template[i:])
    return "".join(out)
