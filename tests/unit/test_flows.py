"""Flow estimates, heavy hitters, elephants, blackholing and hash polarization.

The scenarios run the lab's model on a virtual clock with its sFlow agents
(random 1-in-N sampling on ingress, discards with their drop code); their
datagrams go through the codec, the collector's aggregator and the
processor's domains as in the pipeline, without Kafka. Every estimate is
checked against the lab's ground truth with the error bound it states.
"""
from __future__ import annotations

import random

import pytest

from fabtel.config import load_config
from fabtel.connectors.sflow.codec import build_header, decode_datagram, encode_datagram
from fabtel.connectors.sflow.flows import FlowAggregator, SpaceSaving
from fabtel.sampling import error_pct
from fabtel.connectors.sflow.normalize import Inventory, normalize
from fabtel.lab.runner import LabRunner
from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
from fabtel.partitioning import DomainPartitioner
from fabtel.pipeline.domain import Domain
from fabtel.records import FlowReport, LagBalance, SflowSample, SflowSampledHeader

from conftest import EXAMPLE, lab_index_maps

WINDOW_S = 5


def run_chain(name: str, **changes):
    """Run a shipped scenario through lab -> datagrams -> codec -> aggregator -> domains."""
    cfg = load_config(EXAMPLE)
    scenario = load_scenario(SCENARIO_DIR / f"{name}.yaml", cfg)
    if changes:
        import dataclasses
        scenario = dataclasses.replace(scenario, **changes)
    runner = LabRunner(cfg, scenario, None, with_gnmi=False)
    inv = Inventory(cfg.fabric)
    for rec in lab_index_maps(runner.fabric):        # as the gNMI collectors would have published them
        inv.learn(rec)
    agg = FlowAggregator(WINDOW_S * 1000, 256, 10, inv.interface)
    part = DomainPartitioner(cfg)
    domains: dict = {}
    out: list = []
    windows: list = []
    last_tick = [0]

    def domain(device):
        members = part.domain(device)
        if members not in domains:
            domains[members] = Domain(cfg, members)
        return domains[members]

    def sink(data: bytes, ts: int) -> None:
        dg = decode_datagram(data, ts)
        device = inv.device(dg.agent)
        for s in dg.samples:
            if s.sample_type == "flow":
                agg.add_sample(device, s, ts)
            else:
                s.device = device
                for rec in normalize(s, inv):
                    domain(device).apply(rec, ts)
        for w in agg.due(ts):
            windows.append(w)
            domain(w.device).apply(w, ts)
        if ts - last_tick[0] >= 250_000_000:
            last_tick[0] = ts
            for d in list(domains.values()):
                out.extend(d.tick(ts)[0])

    runner.simulate(sflow=sink)
    return runner, out, windows


def truth_bps(runner, key: str, end_ns: int, what: str = "arrived") -> float:
    """The lab's true rate on a port over the window that ends at end_ns."""
    truth = {s["t"]: s for s in runner.fabric.ground_truth()}
    end = end_ns // 1_000_000_000
    return sum(truth.get(t, {}).get(what, {}).get(key, 0) for t in range(end - WINDOW_S, end)) * 8 / WINDOW_S


def test_error_bound_is_sflows():
    assert error_pct(100) == pytest.approx(19.6)
    assert error_pct(10_000) == pytest.approx(1.96)


def test_space_saving_keeps_every_heavy_flow_and_bounds_its_overcount():
    rng = random.Random(7)
    table = SpaceSaving(50)
    stream = [("heavy", i % 5) for i in range(3000)] + [("mouse", rng.randrange(100_000)) for _ in range(7000)]
    rng.shuffle(stream)
    truth: dict = {}
    for key in stream:
        table.add(key, 1000.0)
        truth[key] = truth.get(key, 0) + 1
    min_samples, _ = table.min_count()
    assert 0 < min_samples <= len(stream) / 50 and len(table.entries) == 50
    for i in range(5):                      # 600 samples each, far above total/capacity = 200
        n, _, inherited, _ = table.entries[("heavy", i)]
        assert truth[("heavy", i)] <= n <= truth[("heavy", i)] + inherited and inherited <= min_samples
    assert {k for k, _ in table.top(5)} == {("heavy", i) for i in range(5)}


def _flow_sample(pool: int, seq: int, sport: int, *, rate: int = 100, output: int = 2, discard: bool = False):
    hdr = build_header("00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.1.5", "10.0.2.9", 6, sport, 443,
                       payload_len=1400, snap=128)
    sample = SflowSample("198.18.0.11", None, 0, 0, 0, "flow", seq, 0, 1, rate, pool, 0, 1, output,
                         sampled_header=SflowSampledHeader(1, 1518, 4, len(hdr), hdr), input_format=0,
                         output_format=1 if discard else 0)
    return decode_datagram(encode_datagram("198.18.0.11", 0, seq, 0, [sample])).samples[0]    # as received


def test_lost_datagrams_are_seen_in_the_sample_pool_and_corrected():
    agg = FlowAggregator(1000, 16, 5, lambda d, i: f"ethernet-1/{i}")
    for seq in range(1, 401):               # one sample per 100 packets; every other datagram lost
        if seq % 2:
            agg.add_sample("leaf1", _flow_sample(seq * 100, seq, 1000), 10_000_000 + seq)
    (w_in, w_out) = sorted(agg.flush(1 << 62), key=lambda w: w.direction)
    assert (w_in.direction, w_in.samples, w_in.sample_pool_packets) == ("in", 200, 39_800)
    assert w_in.undersampled and w_in.effective_sampling_rate == pytest.approx(199)
    assert w_in.packets == pytest.approx(39_800)          # corrected by the pool: the true count
    assert not w_out.undersampled and w_out.packets == pytest.approx(20_000)   # per output: uncorrected


def test_a_restarted_agent_or_a_wrapped_pool_counts_no_negative_packets():
    agg = FlowAggregator(1000, 16, 5, lambda d, i: f"ethernet-1/{i}")
    for ts, pool in ((1, 2**32 - 100), (2, 100), (3, 50)):      # wraps (+200), then goes back (restart)
        agg.add_sample("leaf1", _flow_sample(pool, ts, 1), ts)
    w_in = next(w for w in agg.flush(1 << 62) if w.direction == "in")
    assert w_in.sample_pool_packets == 200


def test_discards_are_their_own_window_with_the_reason():
    agg = FlowAggregator(1000, 16, 5, lambda d, i: f"ethernet-1/{i}")
    for seq in range(10):
        agg.add_sample("leaf1", _flow_sample(seq * 100, seq, 7, output=0, discard=True), seq)
    windows = {w.direction: w for w in agg.flush(1 << 62)}
    assert set(windows) == {"in", "discard"}
    d = windows["discard"]
    assert (d.interface, d.discard_code, d.discard_reason, d.samples) == ("ethernet-1/1", 0, "net unreachable", 10)
    assert windows["in"].outputs[0].interface == "(discard: net unreachable)"


def test_memory_stays_bounded_whatever_the_number_of_flows():
    agg = FlowAggregator(60_000, 64, 10, lambda d, i: f"ethernet-1/{i}")
    for i in range(50_000):
        agg.add("leaf1", 1, 1000, i, 0, 0, 2, 1500, (f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}", "10.9.9.9", 17, i, 53, None, None), i)
    tables = [w.table for ws in agg.windows.values() for w in ws.values()]
    assert len(tables) == 2 and all(len(t.entries) == 64 and len(t.heap) == 64 for t in tables)


# ------------------------------------------------------------------ scenarios

def test_lag_elephant_names_the_flow_and_member_and_estimates_within_the_bound():
    runner, out, _ = run_chain("lag-elephant")
    elephant = next(f for f in runner.fabric.flows if "elephant" in f.flow_id)
    src, dst, _, sport, dport = elephant.five_tuple
    truth = runner.fabric.ground_truth()
    member = next(p for p in truth[-1]["paths"][elephant.flow_id] if p.endswith("ethernet-1/1"))   # its leaf's LAG port
    device, interface = member.split(":")
    alerts = [b for b in out if isinstance(b, LagBalance) and b.alert and "imbalance" in b.alert]
    assert alerts, "the elephant unbalances client1's LAG"
    for b in alerts:
        assert f"{member} carries" in b.alert and f"{src}:{sport} \u2192 {dst}:{dport}" in b.alert, b.alert
        assert b.busiest_member == member and b.busiest_share > 0.6
    lag_reports = [r for r in out if isinstance(r, FlowReport) and r.kind == "lag" and r.members[0].samples]
    assert len(lag_reports) >= 5
    checked = 0
    for r in lag_reports:
        for m in r.members:
            true = truth_bps(runner, f"{m.device}:{m.interface}", r.window_end_ns)
            assert abs(m.estimated_bps - true) <= true * m.error_pct / 100, (m, true)
            checked += 1
        assert [(e.device, e.interface, e.flow.src_port) for e in r.elephants] in ([], [(device, interface, sport)])
    assert checked >= 10 and any(r.elephants for r in lag_reports)


def test_leaf1_uplinks_down_discards_estimate_the_blackholed_rate_within_the_bound():
    runner, out, windows = run_chain("leaf1-uplinks-down")       # the lab alone: no oper-group acts
    reports = [r for r in out if isinstance(r, FlowReport) and r.kind == "blackholing"]
    assert reports and all(r.window_end_ns > 20e9 for r in reports)      # nothing before the uplinks go down
    full = [r for r in reports if r.window_end_ns >= 25e9 and r.window_end_ns <= 40e9]
    assert len(full) >= 3
    for r in full:
        true = truth_bps(runner, "leaf1:ethernet-1/1", r.window_end_ns, "discarded")
        assert true > 0 and abs(r.blackholed_bps - true) <= true * r.blackholed_error_pct / 100, (r, true)
        assert r.verdict.startswith("leaf1 blackholes ~") and "ethernet-1/1 (net unreachable)" in r.verdict
    assert {w.discard_reason for w in windows if w.direction == "discard"} == {"net unreachable"}


def test_hash_polarization_names_the_stages_and_no_false_alarm_without_it():
    _, out, _ = run_chain("hash-polarization")
    found = {r.group: r for r in out if isinstance(r, FlowReport) and r.kind == "hash_polarization"}
    assert set(found) == {"spine1:ethernet-1/3", "spine2:ethernet-1/3"}
    r = found["spine1:ethernet-1/3"]
    assert r.stages[0] == "leaf3 ethernet-1/49 \u2192 spine1 ethernet-1/3"
    assert "100%" in r.stages[1] and "0%" in r.stages[1] and len(r.members[0].top_flows) >= 4
    _, out, _ = run_chain("hash-polarization", polarize=())
    assert not [r for r in out if isinstance(r, FlowReport) and r.kind == "hash_polarization"]


def test_a_window_cut_short_at_shutdown_has_its_rate_over_the_time_it_ran():
    agg = FlowAggregator(10_000, 16, 5, lambda d, i: f"ethernet-1/{i}")
    for seq in range(1, 11):
        agg.add_sample("leaf1", _flow_sample(seq * 100, seq, 1), 1_000_000_000 + seq)
    w_in = next(w for w in agg.flush(2_000_000_000) if w.direction == "in")
    assert (w_in.window_start_ns, w_in.window_end_ns) == (0, 2_000_000_000)
    assert w_in.bps == pytest.approx(10 * 100 * 1518 * 8 / 2)


def test_an_imbalance_without_elephants_says_so_and_the_alert_measurement_tags_the_cause():
    from fabtel.config import Thresholds
    from fabtel.connectors.influx.lineproto import to_lines
    from fabtel.pipeline.flow_groups import FlowGroups
    from fabtel.records import FlowEstimate, FlowMember, LagMemberLoad
    cfg = load_config(EXAMPLE)
    groups = FlowGroups(cfg.fabric, Thresholds(), {"leaf1", "leaf2"}, {})
    balance = LagBalance("esi:x", ["leaf1", "leaf2"], 10**10, 5000,
                         [LagMemberLoad("leaf1", "ethernet-1/1", 3e9), LagMemberLoad("leaf2", "ethernet-1/1", 1e9)],
                         1.5, 0.2, True, "imbalance 1.50 above 1.4 for 3 windows")
    mouse = FlowEstimate("10.0.0.1", "10.0.0.2", 17, 1000, 53, None, 50, 1e8, 1.6e8, 27.7)
    report = FlowReport("lag", "esi:x", ["leaf1", "leaf2"], 10**10,
                        [FlowMember("leaf1", "ethernet-1/1", 3e9, 5.0, 1500, 3e9, 10**10, [mouse])], [], None, None, [], None)
    explained = groups.explain(balance, report)
    assert explained.alert == ("imbalance 1.50 above 1.4 for 3 windows: leaf1:ethernet-1/1 carries 75%: no elephant; its "
                               "largest flow 10.0.0.1:1000 \u2192 10.0.0.2:53 udp at ~160.0 Mb/s \u00b128 % of 1 sampled")
    assert explained.busiest_member == "leaf1:ethernet-1/1" and explained.elephant_flows == []
    [line] = [x for x in to_lines(explained) if x.startswith("lag_imbalance")]
    assert line.startswith("lag_imbalance,busiest_member=leaf1:ethernet-1/1,cause=no\\ elephant,lag_id=esi:x ")
    unexplained = groups.explain(balance, None)
    assert unexplained.alert.endswith("carries 75%: no flow samples for it")
    assert "cause=no\\ flow\\ samples" in next(x for x in to_lines(unexplained) if x.startswith("lag_imbalance"))


def test_flow_settings_are_checked_like_the_rest():
    from fabtel.config import ConfigError, parse_config
    text = EXAMPLE.read_text().replace("sflow:\n  listen: 127.0.0.1:6343",
                                       "sflow:\n  listen: 127.0.0.1:6343\n  flow_samples: some\n  flow_table_size: 0")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "x.yaml")
    problems = "\n".join(err.value.problems)
    assert "sflow.flow_samples" in problems and "must be one of both, raw, aggregate" in problems
    assert "sflow.flow_table_size" in problems


def _discard_window(device, interface, samples, end_ns, code=0):
    from fabtel.records import FlowWindow
    from fabtel.sampling import error_pct as err
    return FlowWindow(device, interface, "discard", code, "net unreachable" if code == 0 else "ACL", end_ns - 5 * 10**9,
                      end_ns, samples, 1000, samples * 1000.0, samples * 1e6, samples * 1.6e6, err(samples), None, 0,
                      None, False, 256, 0.0, [])


def test_blackholing_is_reported_where_no_uplink_went_down_and_backs_a_decision():
    from fabtel.config import Thresholds
    from fabtel.pipeline.flow_groups import FlowGroups
    cfg = load_config(EXAMPLE)
    groups = FlowGroups(cfg.fabric, Thresholds(), {"spine1"}, {})
    groups.observe(_discard_window("spine1", "ethernet-1/3", 2, 10 * 10**9))          # below the minimum
    [quiet] = groups.reports(11 * 10**9, lambda *a: (None, None))
    assert quiet.kind == "blackholing" and quiet.verdict is None
    groups.observe(_discard_window("spine1", "ethernet-1/3", 40, 15 * 10**9, code=258))
    [report] = groups.reports(16 * 10**9, lambda *a: (None, None))
    assert report.verdict == "spine1 blackholes ~64.0 Mb/s \u00b131 % arriving on ethernet-1/3 (ACL)"
    assert groups.reports(17 * 10**9, lambda *a: (None, None)) == []          # each window is reported once
    [evidence] = groups.blackhole_evidence("spine1", 17 * 10**9)
    # both windows are recent: the evidence sums them
    assert (evidence.kind, evidence.interface) == ("blackholed_rate", "ethernet-1/3 (ACL), ethernet-1/3 (net unreachable)")
    assert evidence.value == "~67.2 Mb/s \u00b130 % in 42 discard samples"
    assert groups.blackhole_evidence("spine1", 60 * 10**9) == []            # forgotten once old


def test_an_elephant_needs_consecutive_windows_above_the_share():
    from fabtel.config import Thresholds
    from fabtel.pipeline.flow_groups import FlowGroups
    from fabtel.records import FlowEstimate, FlowWindow
    cfg = load_config(EXAMPLE)
    groups = FlowGroups(cfg.fabric, Thresholds(elephant_share=0.05, elephant_windows=2), {"leaf1", "leaf2"}, {})

    def window(end_s: int, bps: float) -> FlowWindow:
        f = FlowEstimate("10.0.1.5", "10.0.2.9", 6, 443, 51514, None, 500, bps * 5 / 8, bps, 8.8)
        return FlowWindow("leaf1", "ethernet-1/1", "in", None, None, (end_s - 5) * 10**9, end_s * 10**9, 500, 1000,
                          5e5, bps * 5 / 8, bps, 8.8, None, 0, None, False, 256, 0.0, [f])
    speed = 10**10
    seen = [len(groups._elephants("leaf1", "ethernet-1/1", window(end, bps), speed))
            for end, bps in ((5, 1e9), (15, 1e9), (20, 1e9), (25, 1e8), (30, 1e9), (35, 1e9))]
    # 5 s, then a gap (no window ending at 10 s): 15 s starts again; 25 s is below the share
    assert seen == [0, 0, 1, 0, 0, 1]


def test_vxlan_flows_are_the_inner_packets_with_their_vni():
    from fabtel.connectors.sflow.codec import build_vxlan_header
    agg = FlowAggregator(1000, 16, 5, lambda d, i: f"ethernet-1/{i}")
    for seq, vni in ((1, 10010), (2, 10010), (3, 10020)):
        inner = build_header("00:c1:c1:00:00:01", "00:c2:c2:00:00:01", "10.0.1.5", "10.0.2.9", 6, 443, 51514,
                             payload_len=1400, snap=1500)
        outer = build_vxlan_header("198.18.255.11", "198.18.255.13", vni, inner)
        sample = SflowSample("198.18.0.1", None, 0, 0, 0, "flow", seq, 0, 1, 100, seq * 100, 0, 1, 2,
                             sampled_header=SflowSampledHeader(1, 1564, 4, len(outer), outer), input_format=0,
                             output_format=0)
        agg.add_sample("spine1", decode_datagram(encode_datagram("198.18.0.1", 0, seq, 0, [sample])).samples[0], seq)
    w_in = next(w for w in agg.flush(1 << 62) if w.direction == "in")
    assert [(f.text(), f.samples) for f in w_in.top_flows] == [
        ("10.0.1.5:443 \u2192 10.0.2.9:51514 tcp vni 10010", 2), ("10.0.1.5:443 \u2192 10.0.2.9:51514 tcp vni 10020", 1)]
    assert w_in.top_flows[0].tag() == "10.0.1.5:443>10.0.2.9:51514/tcp/vni10010"


def test_a_sample_that_is_not_ip_counts_in_the_rate_and_in_no_flow():
    agg = FlowAggregator(1000, 16, 5, lambda d, i: f"ethernet-1/{i}")
    arp = bytes.fromhex("ffffffffffff" "00c1c1000001" "0806") + b"\x00" * 28
    for seq in (1, 2):
        sample = SflowSample("198.18.0.11", None, 0, 0, 0, "flow", seq, 0, 1, 100, seq * 100, 0, 1, 2,
                             sampled_header=SflowSampledHeader(1, 64, 4, len(arp), arp), input_format=0, output_format=0)
        agg.add_sample("leaf1", decode_datagram(encode_datagram("198.18.0.11", 0, seq, 0, [sample])).samples[0], seq)
    agg.add_sample("leaf1", _flow_sample(300, 3, 1000), 3)
    w_in = next(w for w in agg.flush(1 << 62) if w.direction == "in")
    assert w_in.samples == 3 and w_in.bytes == pytest.approx(2 * 100 * 64 + 100 * 1518)
    assert [f.src_port for f in w_in.top_flows] == [1000] and w_in.top_flows[0].share == pytest.approx(1518 / (1518 + 128))
