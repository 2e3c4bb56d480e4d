"""Records -> InfluxDB line protocol. Pure.

One measurement per record type; device, interface, LAG, group and similar
identities as tags; values as fields; the device timestamp (ns) as the point's
time. The same record always gives the same series and timestamp, so a
replay rewrites identical points: nothing doubled.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

from fabtel import records as r

STATE_CODE = {"healthy": 0, "degraded": 1, "isolated": 2, "unknown": 3}


def _tag(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _field(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}i"
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else None
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def line(measurement: str, tags: dict[str, Any], fields: dict[str, Any], ts_ns: int) -> str | None:
    tag_text = "".join(f",{_tag(k)}={_tag(v)}" for k, v in sorted(tags.items()) if v not in (None, ""))
    field_text = ",".join(f"{_tag(k)}={f}" for k, v in fields.items() if (f := _field(v)) is not None)
    if not field_text:
        return None
    return f"{_tag(measurement)}{tag_text} {field_text} {ts_ns}"


_COUNTER_FIELDS = r.InterfaceCounters.UNSIGNED + ("speed_bps",)
_counter_values = operator.attrgetter(*_COUNTER_FIELDS)
_COUNTERS_FORMAT = ("interface_counters,device=%s,interface=%s,source=%s "      # %-formatting: the fastest here
                    + ",".join(f"{k}=%si" for k in _COUNTER_FIELDS) + " %s")
_tags_seen: dict[str, str] = {}


def _cached_tag(v: str) -> str:
    """Device, interface and source names repeat on every record: escape each once."""
    text = _tags_seen.get(v)
    if text is None:
        if len(_tags_seen) > 100_000:
            _tags_seen.clear()
        text = _tags_seen[v] = _tag(v)
    return text


def counters_line(x: r.InterfaceCounters) -> str | None:
    """The most frequent record, formatted directly (the sink's hot path);
    the generic `line` gives the same text (a test holds them equal)."""
    values = _counter_values(x)
    if None in values or max(values) >= 2**63:       # absent counters, or past int64: field by field
        fields = ",".join(f"{k}={v if v < 2**63 else v - 2**64}i" for k, v in zip(_COUNTER_FIELDS, values)
                          if v is not None)
        if not fields:
            return None
        return (f"interface_counters,device={_cached_tag(x.device)},interface={_cached_tag(x.interface)},"
                f"source={_cached_tag(x.source)} {fields} {x.device_ts_ns}")
    return _COUNTERS_FORMAT % (_cached_tag(x.device), _cached_tag(x.interface), _cached_tag(x.source), *values,
                               x.device_ts_ns)


def _counters(x: r.InterfaceCounters) -> list:
    fields = {k: getattr(x, k) for k in _COUNTER_FIELDS}
    fields = {k: (v if v is None or v < 2**63 else v - 2**64) for k, v in fields.items()}
    return [("interface_counters", {"device": x.device, "interface": x.interface, "source": x.source}, fields, x.device_ts_ns)]


def _state(x: r.InterfaceState) -> list:
    return [("interface_state", {"device": x.device, "interface": x.interface, "source": x.source},
             {"admin_state": x.admin_state, "oper_state": x.oper_state,
              "admin_up": None if x.admin_state is None else int(x.admin_state == "enable"),
              "oper_up": None if x.oper_state is None else int(x.oper_state == "up"),
              "deleted": x.deleted or None}, x.device_ts_ns)]


def _lag_member(x: r.LagMemberState) -> list:
    return [("lag_member", {"device": x.device, "lag": x.lag, "member": x.member, "source": x.source},
             {"oper_state": x.oper_state, "actor_system_id": x.actor_system_id, "partner_system_id": x.partner_system_id,
              "actor_oper_port_state": x.actor_oper_port_state, "partner_oper_port_state": x.partner_oper_port_state,
              "actor_admin_port_state": x.actor_admin_port_state, "partner_admin_port_state": x.partner_admin_port_state,
              "lacpdus_rx": x.lacpdus_rx, "lacpdus_tx": x.lacpdus_tx, "deleted": x.deleted or None}, x.device_ts_ns)]


def _bgp(x: r.BgpSession) -> list:
    return [("bgp_session", {"device": x.device, "network_instance": x.network_instance, "peer": x.peer_address},
             {"session_state": x.session_state, "established": int(x.session_state == "established"),
              "deleted": x.deleted or None}, x.device_ts_ns)]


def _lag_balance(x: r.LagBalance) -> list:
    out = [("lag_balance", {"lag_id": x.lag_id},
            {"imbalance": x.imbalance, "spread": x.spread, "partner_consistent": x.partner_consistent,
             "members": len(x.members), "alert": x.alert or "", "alerting": int(bool(x.alert)),
             "imbalance_alerting": int(bool(x.alert) and "imbalance" in x.alert),
             "busiest_member": x.busiest_member, "busiest_share": x.busiest_share, "explanation": x.explanation},
            x.window_end_ns)]
    if x.alert and "imbalance" in x.alert and x.busiest_member:
        # What the LAG imbalance alert rule reads: its cause as a tag (the elephants' names, no rates: few series).
        cause = ("elephants " + " ".join(x.elephant_flows) if x.elephant_flows else
                 "no elephant" if x.explanation and "no flow samples" not in x.explanation else "no flow samples")
        out.append(("lag_imbalance", {"lag_id": x.lag_id, "busiest_member": x.busiest_member, "cause": cause},
                    {"imbalance": x.imbalance, "busiest_share": x.busiest_share, "explanation": x.explanation},
                    x.window_end_ns))
    for m in x.members:
        out.append(("lag_member_load", {"lag_id": x.lag_id, "device": m.device, "interface": m.interface},
                    {"rate_bps": m.rate_bps, "utilisation": m.utilisation, "speed_bps": m.speed_bps,
                     "lacp_healthy": None if m.lacp_healthy is None else int(m.lacp_healthy),
                     "health_reason": m.health_reason}, x.window_end_ns))
    return out


def _uplinks(x: r.UplinkHealth) -> list:
    return [("uplink_health", {"device": x.device},
             {"uplinks_up": x.uplinks_up, "uplinks_total": x.uplinks_total, "bgp_established": x.bgp_established,
              "capacity_bps": x.capacity_bps, "load_bps": x.load_bps, "carries_load": x.carries_load,
              "state": x.state, "state_code": STATE_CODE.get(x.state, 3), "reason": x.reason}, x.evaluated_ts_ns)]


def _decision(x: r.OperGroupDecision) -> list:
    return [("oper_group_decision", {"device": x.device, "oper_group": x.oper_group, "action": x.action,
                                     "suppressed": str(x.suppressed).lower()},
             {"decision_id": x.decision_id, "reason": x.reason, "down_links": ",".join(x.down_links),
              "trigger_ts_ns": x.trigger_ts_ns,
              "what_if": next((e.value for e in x.evidence if e.interface == "what-if" and e.kind == "verdict"), None)},
             x.decided_ts_ns)]


def _command(x: r.RemediationCommand) -> list:
    return [("remediation_command", {"device": x.device, "interface": x.interface, "action": x.action},
             {"command_id": x.command_id, "decision_id": x.decision_id, "path": x.path, "value": x.value,
              "trigger_ts_ns": x.trigger_ts_ns, "propose_only": x.propose_only}, x.issued_ts_ns)]


def _result(x: r.RemediationResult) -> list:
    return [("remediation_result", {"device": x.device, "interface": x.interface, "action": x.action, "outcome": x.outcome},
             {"command_id": x.command_id, "detail": x.detail, "attempts": x.attempts,
              "trigger_to_result_ms": (x.result_ts_ns - x.trigger_ts_ns) / 1e6}, x.result_ts_ns)]


def _dead_letter(x: r.DeadLetter) -> list:
    return [("dead_letter", {"component": x.component, "source_topic": x.source_topic},
             {"reason": x.reason, "bytes": len(x.payload), "partition": x.partition, "offset": x.offset}, x.ts_ns)]


def _stats(x: r.ComponentStats) -> list:
    """One point per metric series: pipeline_stats,component=..,instance=..,metric=..,<labels> value=."""
    return [("pipeline_stats", {**{lb.name: lb.value for lb in s.labels}, "component": x.component,
                                "instance": x.instance, "metric": s.name}, {"value": s.value}, x.ts_ns)
            for s in x.samples]


def _convergence(x: r.ConvergenceResult) -> list:
    return [("convergence", {"element": x.element, "kind": x.kind},
             {"event_id": x.event_id, "messages": x.messages, "bytes": x.bytes, "blast_radius": x.blast_radius,
              "state_rounds": x.state_rounds, "state_changes": x.state_changes,
              "locality": ",".join(map(str, x.locality)), "detectors": ",".join(x.detectors),
              "convergence_ms": (x.converged_ts_ns - x.detected_ts_ns) / 1e6}, x.detected_ts_ns)]


def _flow_window(x: r.FlowWindow) -> list:
    tags = {"device": x.device, "interface": x.interface, "direction": x.direction, "reason": x.discard_reason}
    out = [("flow_window", tags,
            {"bps": x.bps, "pps": x.packets * 1e9 / (x.window_end_ns - x.window_start_ns), "samples": x.samples,
             "error_pct": x.error_pct, "sampling_rate": x.sampling_rate, "sample_pool_packets": x.sample_pool_packets,
             "drops": x.drops, "effective_sampling_rate": x.effective_sampling_rate,
             "undersampled": int(x.undersampled), "table_error_bytes": x.table_error_bytes}, x.window_end_ns)]
    # The top flows only: a flow is a tag here, bounded by sflow.top_flows per interface and window.
    out += [("flow_top", {**tags, "flow": f.tag()},
             {"bps": f.bps, "share": f.share, "samples": f.samples, "error_pct": f.error_pct}, x.window_end_ns)
            for f in x.top_flows]
    return out


def _flow_report(x: r.FlowReport) -> list:
    out = [("flow_report", {"kind": x.kind, "group": x.group},
            {"verdict": x.verdict or "", "alerting": int(bool(x.verdict)), "blackholed_bps": x.blackholed_bps,
             "blackholed_error_pct": x.blackholed_error_pct, "elephants": len(x.elephants),
             "stages": " | ".join(x.stages)}, x.window_end_ns)]
    out += [("flow_member", {"kind": x.kind, "group": x.group, "device": m.device, "interface": m.interface},
             {"estimated_bps": m.estimated_bps, "error_pct": m.error_pct, "samples": m.samples,
              "counter_bps": m.counter_bps}, x.window_end_ns) for m in x.members]
    out += [("flow_elephant", {"group": x.group, "device": e.device, "interface": e.interface, "flow": e.flow.tag()},
             {"bps": e.flow.bps, "error_pct": e.flow.error_pct, "capacity_share": e.capacity_share, "windows": e.windows},
             x.window_end_ns) for e in x.elephants]
    return out


def _lldp(x: r.LldpNeighbor) -> list:
    return [("lldp_neighbors", {"device": x.device, "interface": x.interface},
             {"present": int(not x.deleted), "system_name": x.system_name, "port_id": x.port_id,
              "port_id_type": x.port_id_type, "port_description": x.port_description, "chassis_id": x.chassis_id},
             x.device_ts_ns)]


def _cabling(x: r.CablingCheck) -> list:
    return [("cabling", {"device": x.device, "interface": x.interface},
             {"verdict": x.verdict, "miswired": int(x.verdict in ("miswired", "unexpected")),
              "intended": x.intended or "", "seen": x.seen or "", "detail": x.detail}, x.ts_ns)]


OUTCOME_CODE = {"verified": 0, "not_verified": 1, "worse": 2}


def _outcome(x: r.RemediationOutcome) -> list:
    return [("remediation_outcome", {"device": x.device, "oper_group": x.oper_group, "outcome": x.outcome},
             {"outcome_code": OUTCOME_CODE.get(x.outcome, 3), "took_ms": x.took_ms, "reason": x.reason,
              "decision_id": x.decision_id, "before_bps": x.before_bps, "after_bps": x.after_bps,
              "blackholed_before_bps": x.blackholed_before_bps, "blackholed_after_bps": x.blackholed_after_bps,
              "peer_uplink_utilisation": x.peer_uplink_utilisation, "rolled_back": x.rolled_back}, x.decided_ts_ns)]


CONVERTERS: dict[type, Callable[[Any], list]] = {
    r.InterfaceCounters: _counters, r.InterfaceState: _state, r.LagMemberState: _lag_member, r.BgpSession: _bgp,
    r.LagBalance: _lag_balance, r.UplinkHealth: _uplinks, r.OperGroupDecision: _decision,
    r.RemediationCommand: _command, r.RemediationResult: _result, r.DeadLetter: _dead_letter,
    r.ComponentStats: _stats, r.ConvergenceResult: _convergence, r.FlowWindow: _flow_window,
    r.FlowReport: _flow_report, r.LldpNeighbor: _lldp, r.CablingCheck: _cabling, r.RemediationOutcome: _outcome,
}


def to_lines(record: Any) -> list[str]:
    """The line-protocol lines of one record (none for types not written)."""
    if type(record) is r.InterfaceCounters:
        text = counters_line(record)
        return [text] if text else []
    conv = CONVERTERS.get(type(record))
    if conv is None:
        return []
    return [text for m, tags, fields, ts in conv(record) if (text := line(m, tags, fields, ts)) is not None]
