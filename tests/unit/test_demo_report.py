"""The demo's report from a run's ground truth, without running it: the
blackhole as each client's share of traffic and a duration, detect, decide
and apply split, each run's time range for Grafana, and the plot drawn."""
from __future__ import annotations

import pytest

from fabtel.lab.scenario import Scenario
from fabtel.records import OperGroupDecision
from fabtel.demo.plot import plot
from fabtel.demo.report import LINKS, RunResult, build_report

S = 10**9
START = 1_700_000_000 * S
DOWN = START + 20 * S + 6_000_000                      # the uplinks go down 6 ms into second 20


def truth(oper_group: bool) -> list[dict]:
    out = []
    for t in range(40):
        lost = 0 if t < 20 else (2500 if t == 20 else 0) if oper_group else 25_000
        links = {link: 12_500 for link in LINKS}
        flows = {f"client1-client2-{i}": {"offered": 6250, "delivered": 6250 - lost / 8, "blackholed": lost / 8}
                 for i in range(8)}
        out.append({"t": t, "offered_bytes": 50_000, "delivered_bytes": 50_000 - lost, "blackholed_bytes": lost,
                    "flows": flows, "links": links})
    return out


def run(oper_group: bool, start=START) -> RunResult:
    down = DOWN + start - START
    events = [{"at_ms": 20_006, "ts_ns": down, "device": "leaf1", "interfaces": ["ethernet-1/49", "ethernet-1/50"],
               "admin_state": "disable", "link": None, "lacp_partner_state": None}]
    if not oper_group:     # 25,000 B/s blackholed from the loss to the end (40 s): 200 kb/s
        return RunResult(False, truth(False), events, [], [], [], 100, start, {},
                         spans=[[down, start + 40 * S, "client1", 200_000]], end_ns=start + 40 * S)
    decision = OperGroupDecision("d1", "og-leaf1", "leaf1", "disable", ["ethernet-1/1"], False, "0 of 2 up", [],
                                 down + 9_000_000, down + 12_000_000)
    applied = [{"ts_ns": down + 24_500_000, "device": "leaf1", "interface": "ethernet-1/1", "admin_state": "disable",
                "origin": "gnmi"}]
    # 2,500 B lost in the 24.5 ms until the change: 816,326.5 b/s
    return RunResult(True, truth(True), events, applied, [decision], [], 100, start, {},
                     spans=[[down, down + 24_500_000, "client1", 2500 * 8 / 0.0245]], end_ns=start + 40 * S)


def report():
    return build_report(Scenario("leaf1-uplinks-down", 40, ()), run(True), run(False, START + 60 * S), {})


def test_the_blackhole_is_a_share_of_the_clients_traffic_and_a_duration():
    r = report()
    with_og, without = r["blackhole"], r["baseline_blackhole"]
    assert with_og == {"clients": {"client1": {"sent_bytes": 1_000_000, "lost_bytes": 2500, "lost_share": 0.0025,
                                               "blackholed_bps": 816327}},
                       "duration_ms": 24.5, "until_end": False, "started_ms": 20006.0}
    x = with_og["clients"]["client1"]
    assert abs(x["lost_bytes"] * 8 / x["blackholed_bps"] * 1000 - with_og["duration_ms"]) < 0.01    # bytes / rate = time
    assert without["clients"]["client1"]["lost_share"] == pytest.approx(0.5, abs=1e-3) and without["until_end"]
    assert 19_990 <= without["duration_ms"] <= 20_000          # from the loss to the scenario's end


def test_detect_decide_apply_add_up_to_the_uplink_loss_to_the_change():
    assert report()["timeline_ms"] == {"detect_ms": 9.0, "decide_ms": 3.0, "apply_ms": 12.5, "total_ms": 24.5}


def test_each_run_names_its_wall_clock_range_for_grafana():
    with_og, without = report()["time_ranges"]
    assert with_og == {"run": "with oper-group", "from": "2023-11-14T22:13:20+00:00", "to": "2023-11-14T22:14:00+00:00",
                       "grafana": "from=1700000000000&to=1700000040000"}
    assert without["grafana"] == "from=1700000060000&to=1700000100000"


def test_the_plot_is_drawn(tmp_path):
    png = tmp_path / "demo.png"
    plot(str(png), Scenario("leaf1-uplinks-down", 40, ()), [run(True), run(False)], report())
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 30_000


def test_flow_findings_and_the_blackhole_estimated_against_the_truth():
    from fabtel.records import FlowReport
    from fabtel.demo.report import blackhole_estimates, flow_findings
    base = run(False)
    for sec in base.ground_truth:
        sec["discarded"] = {"leaf1:ethernet-1/1": sec["blackholed_bytes"]}
    true_bps = 25_000 * 8

    def report(end_s: float, bps: float, n: int) -> FlowReport:
        err = 196 / n ** 0.5
        return FlowReport("blackholing", "leaf1", ["leaf1"], START + int(end_s * S), [], [], bps, err, [],
                          f"leaf1 blackholes {bps}")
    base.flow_reports = [report(22.5, 90_000, 30), report(27.5, true_bps * 1.05, 400), report(32.5, true_bps * 1.5, 400),
                         report(37.5, true_bps * 0.99, 400), report(40.5, 10_000, 5)]
    est = blackhole_estimates(base)
    # the window the event cuts (ends 22.5 s) and the one past the end are not compared
    assert [(e["window_end_ms"], e["within_bound"]) for e in est] == [(27_500, True), (32_500, False), (37_500, True)]
    assert est[0]["true_bps"] == true_bps and est[0]["error_pct"] == 9.8
    [f] = flow_findings(base)
    assert (f["kind"], f["group"], f["windows"], f["first_at_ms"], f["last_at_ms"]) == ("blackholing", "leaf1", 5, 22_500, 40_500)
    assert f["verdict"] == f"leaf1 blackholes {true_bps * 1.5}"          # the middle of the span


def test_an_sflow_number_no_map_named_fails_the_expectations():
    from fabtel.demo.report import check_expectations, summary_lines
    scenario = Scenario("leaf1-uplinks-down", 40, ())
    named = report()
    assert named["sflow_unnamed_interfaces"] == [] and check_expectations(scenario, named) == []
    r = run(True)
    r.unnamed = ["leaf1:ifIndex1001"]
    unnamed = build_report(scenario, r, None, {})
    assert unnamed["sflow_unnamed_interfaces"] == ["leaf1:ifIndex1001"]
    assert check_expectations(scenario, unnamed) == ["sFlow numbers no device's ifIndex map named: leaf1:ifIndex1001"]
    unnamed.update(expectations_met=False, problems=check_expectations(scenario, unnamed))
    assert any("1 numbers unnamed" in line for line in summary_lines(unnamed, None, None))


def test_a_run_without_the_oper_group_is_held_to_its_own_expectation():
    from fabtel.demo.report import check_without_oper_group
    from fabtel.lab.scenario import Expect
    scenario = Scenario("leaf1-uplinks-down", 40, (), expect=Expect(disabled=("leaf1:ethernet-1/1",), recovered=True))
    lasting = build_report(scenario, run(False), None, {})
    assert lasting["blackhole"]["until_end"] and check_without_oper_group(scenario, lasting) == []
    healed = build_report(scenario, run(True), None, {})          # something fixed it: not a run without remediation
    assert check_without_oper_group(scenario, healed) == [
        "without the oper-group, 1 change(s) were made over gNMI",
        "without the oper-group the blackhole should last to the scenario's end, and it did not"]
