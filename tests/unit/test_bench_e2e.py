"""`bench e2e`'s cycles: the seed scenario's uplink loss repeated in one run,
each loss followed by the uplinks' return, with the bench's settings stated."""
from pathlib import Path

from fabtel.bench import e2e
from fabtel.config import load_config
from fabtel.lab.model import BGP_ESTABLISH_S
from fabtel.lab.scenario import SCENARIO_DIR, load_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fabric.yaml"


def test_each_cycle_loses_the_uplinks_then_gives_them_back_in_time_for_the_next():
    cfg = load_config(EXAMPLE)
    seed = load_scenario(SCENARIO_DIR / "leaf1-uplinks-down.yaml", cfg)
    s = e2e.cycles_scenario(seed, 3)
    assert [(e.admin_state, e.device, e.interfaces) for e in s.events] == \
        [(state, "leaf1", ("ethernet-1/49", "ethernet-1/50")) for state in ("disable", "enable") * 3]
    downs = [e.at_s for e in s.events if e.admin_state == "disable"]
    ups = [e.at_s for e in s.events if e.admin_state == "enable"]
    period = downs[1] - downs[0]
    assert downs[2] - downs[1] == period
    # the access link is back (BGP, then the hold-up) before the next loss
    assert all(up + BGP_ESTABLISH_S + s.oper_group_overrides["hold_up_ms"] / 1000 < nxt for up, nxt in zip(ups, downs[1:]))
    # the disable's verification is over before the uplinks return
    assert all(up - down >= s.oper_group_overrides["verify_ms"] / 1000 for down, up in zip(downs, ups))
    assert s.duration_s >= ups[-1] + BGP_ESTABLISH_S + s.oper_group_overrides["hold_up_ms"] / 1000
    assert s.traffic == seed.traffic and s.expect.disabled == ()


def test_the_rate_limit_is_raised_above_the_cycles_decisions(tmp_path):
    path = e2e.bench_config_file(str(EXAMPLE), tmp_path)
    limit = load_config(path).safety.max_decisions_per_minute
    assert limit == e2e.rate_limit() >= 2 * 60 / e2e.cycle_s()
    assert limit > load_config(EXAMPLE).safety.max_decisions_per_minute


def test_the_bench_checks_the_broker_its_components_use(tmp_path, monkeypatch):
    """`bench e2e --bootstrap-servers` reaches the bench as the environment;
    it once checked the file's broker and started a stack there instead."""
    monkeypatch.setenv("FABTEL_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
    monkeypatch.setenv("FABTEL_INFLUX_URL", "http://127.0.0.1:28086")
    cfg = e2e.component_config(e2e.bench_config_file(str(EXAMPLE), tmp_path))
    assert (cfg.kafka.bootstrap_servers, cfg.influxdb.url) == ("127.0.0.1:29092", "http://127.0.0.1:28086")
    assert load_config(EXAMPLE).kafka.bootstrap_servers != "127.0.0.1:29092"


def test_each_remediation_is_split_into_hops_at_its_records_clocks():
    from fabtel.records import InterfaceState, OperGroupDecision, RemediationCommand
    ms = 1_000_000
    downs = [{"device": "leaf1", "ts_ns": 1000 * ms}, {"device": "leaf1", "ts_ns": 2000 * ms}]
    states = [InterfaceState("leaf1", "ethernet-1/50", "gnmi", t + 2 * ms, t + 3 * ms, "disable", "down")
              for t in (1000 * ms, 2000 * ms)]
    states.append(InterfaceState("spine1", "ethernet-1/1", "gnmi", 1002 * ms, 1009 * ms, "enable", "down"))

    def decision(i, t, action="disable", suppressed=False):
        return OperGroupDecision(f"d{i}", "g", "leaf1", action, [], suppressed, "", [], t + 2 * ms, t + 10 * ms)
    decisions = [decision(0, 1000 * ms), decision(9, 1500 * ms, "enable"), decision(1, 2000 * ms)]
    commands = [RemediationCommand(f"c{i}", f"d{i}", "leaf1", "ethernet-1/1", "disable", "srlinux", "/p", '"disable"',
                                   t + 2 * ms, t + 11 * ms) for i, t in ((0, 1000 * ms), (1, 2000 * ms))]
    applied = [{"device": "leaf1", "ts_ns": t + 16 * ms, "requested_ns": t + 15 * ms} for t in (1000 * ms, 2000 * ms)]
    applied.append({"device": "leaf1", "ts_ns": 2500 * ms, "requested_ns": 2500 * ms})     # no decision behind it
    hops = e2e.hop_times(downs, states, decisions, commands, applied)
    assert hops == {"device_report": [2.0, 2.0], "collector": [1.0, 1.0], "worker": [8.0, 8.0],
                    "executor": [4.0, 4.0], "device_commit": [1.0, 1.0]}
    # each remediation's hops add up to its detect-to-apply time
    assert sum(h[0] for h in hops.values()) == 16.0
    assert e2e.hop_percentiles(hops)["worker"] == {"p50": 8.0, "max": 8.0}
    hops["executor"][1] = 30.0
    assert e2e.slowest(hops, 1) == [{"nth": 2, "device_report": 2.0, "collector": 1.0, "worker": 8.0, "executor": 30.0,
                                     "device_commit": 1.0}]


def test_percentiles_by_nearest_rank_with_the_maximum_beside_them():
    from fabtel.bench.common import percentiles
    out = percentiles([float(v) for v in range(100, 0, -1)], "x")
    assert out == {"x_p50": 50.0, "x_p99": 99.0, "x_max": 100.0}     # the p99 of 100 is not their largest
    assert percentiles([float(v) for v in range(1, 201)], "x")["x_p99"] == 198.0
    few = percentiles([3.0, 1.0, 2.0], "x")
    assert few["x_p50"] == 2.0 and few["x_max"] == 3.0 and "x_p99" not in few and "fewer than 100" in few["x_note"]


def test_an_interrupted_run_removes_its_topics_and_groups(monkeypatch):
    """Ctrl-C during the cycles: the run's topics and consumer groups are
    deleted as a finished run's are (left behind, they slow every later run)."""
    import pytest

    import fabtel.demo.run as demo_run
    import fabtel.localstack.stack as stack
    removed = []

    def interrupted(base, path, scenario, og, workdir, tag):
        removed.append(("ran", tag))
        raise KeyboardInterrupt

    monkeypatch.setattr(stack, "ensure_stack", lambda *a, **k: None)
    monkeypatch.setattr(demo_run, "run_once", interrupted)
    monkeypatch.setattr(demo_run, "remove_run", lambda kafka, tag: removed.append(("removed", tag)) or (0, 0))
    monkeypatch.setattr(e2e, "python_loop_ms", lambda: 1.0)
    with pytest.raises(KeyboardInterrupt):
        e2e.run(str(EXAMPLE), 2)
    assert [what for what, _ in removed] == ["ran", "removed"] and removed[0][1] == removed[1][1]
