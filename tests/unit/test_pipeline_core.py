"""The processors' pure core: counter rates, LAG health and balance, uplink
health and the oper-group state machine, without Kafka."""
from __future__ import annotations

from collections import Counter

import dataclasses

import pytest

from conftest import EXAMPLE
from fabtel.config import load_config
from fabtel.records import (BgpSession, InterfaceCounters, InterfaceState, LagBalance, LagMemberState,
                            OperGroupDecision, RemediationCommand, UplinkHealth)
from fabtel.pipeline.counters import RateTracker, Sample, delta
from fabtel.partitioning import DecisionDomain, DomainPartitioner, domains, partition_of
from fabtel.pipeline.domain import Domain
from fabtel.pipeline.lag_balance import lacp_health

S = 1_000_000_000
T0 = 1_800_000_000 * S


@pytest.fixture()
def cfg():
    return load_config(EXAMPLE)


def state(dev, intf, oper, t, admin=None):
    return InterfaceState(dev, intf, "gnmi", T0 + t, T0 + t, admin, oper)


def bgp(dev, peer, st, t):
    return BgpSession(dev, "default", peer, T0 + t, T0 + t, st)


def counters(dev, intf, t, in_oct, out_oct=0, uptime=None, speed=10**10):
    return InterfaceCounters(dev, intf, "sflow", T0 + t, T0 + t, in_oct, out_oct, speed_bps=speed, agent_uptime_ms=uptime)


def healthy_leaf(domain: Domain, dev: str, t: int = 0) -> list:
    out = []
    for i, u in enumerate(("ethernet-1/49", "ethernet-1/50")):
        out += domain.apply(state(dev, u, "up", t, "enable"), T0 + t)[0]
        out += domain.apply(bgp(dev, f"198.18.128.{i}", "established", t), T0 + t)[0]
    out += domain.apply(state(dev, "ethernet-1/1", "up", t, "enable"), T0 + t)[0]
    return out


def of(kind, outputs):
    return [o for o in outputs if isinstance(o, kind)]


# ------------------------------------------------------------ counters

def test_counter_wrap_32_and_64_bit():
    assert delta(2**32 - 100, 50, 1.0, 10**10) == 150
    assert delta(2**64 - 100, 50, 1.0, 10**10) == 150
    assert delta(5_000_000_000, 10, 1.0, 10**9) is None        # not a plausible wrap: a reset


def test_agent_restart_gives_no_rate_and_a_new_baseline():
    r = RateTracker()
    k = ("leaf1", "ethernet-1/1", "sflow")
    assert r.update(k, Sample(T0, 1000, 0, 5000), 10**10) is None
    rate = r.update(k, Sample(T0 + S, 2000, 0, 6000), 10**10)
    assert rate.in_bps == 8000
    assert r.update(k, Sample(T0 + 2 * S, 10, 0, 100), 10**10) is None       # uptime went backwards
    assert r.update(k, Sample(T0 + 3 * S, 1010, 0, 1100), 10**10).in_bps == 8000
    assert r.update(k, Sample(T0 + 2 * S, 99, 0, 1), 10**10) is None         # a replayed older reading
    assert r.update(k, Sample(T0 + 4 * S, 2010, 0, 2100), 10**10).in_bps == 8000


def test_counter_wrap_through_the_domain(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    d.apply(counters("leaf1", "ethernet-1/1", 0, 2**32 - 1000), T0)
    d.apply(counters("leaf1", "ethernet-1/1", S, 1000), T0 + S)
    assert d.views["leaf1"].interface("ethernet-1/1").in_bps == 2000 * 8


# ------------------------------------------------------------ LACP and LAG balance

@pytest.mark.parametrize("actor,partner,healthy,reason", [
    (61, 61, True, None),
    (61, 13, False, "partner not collecting/distributing"),
    (0x45, 61, False, "actor not synchronization/collecting/distributing; actor defaulted"),
    (61 | 128, 61, False, "actor expired"),
    (61, None, True, None),             # gNMI reports the actor only
    (None, None, None, None),
])
def test_lacp_health(actor, partner, healthy, reason):
    assert lacp_health(actor, partner) == (healthy, reason)


def test_lag_balance_over_an_esi_lag_and_its_alerts(cfg):
    cfg = dataclasses.replace(cfg, thresholds=dataclasses.replace(cfg.thresholds, lag_imbalance=1.5, lag_imbalance_windows=2))
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    for dev, partner in (("leaf1", 61), ("leaf2", 13)):
        d.apply(LagMemberState(dev, "lag1", "ethernet-1/1", "sflow", T0, T0, "up", "02:11:00:00:01", "00:c1:c1:00:00:01",
                               100001, 61, 61, 61, partner), T0)
    results = []
    for w in range(3):
        for s in range(5):
            t = (w * 5 + s) * S
            d.apply(counters("leaf1", "ethernet-1/1", t, 1_000_000 * (w * 5 + s)), T0 + t)   # 8 Mb/s
            d.apply(counters("leaf2", "ethernet-1/1", t, 100_000 * (w * 5 + s)), T0 + t)     # 0.8 Mb/s
        results += of(LagBalance, d.tick(T0 + (w + 1) * 5 * S)[0])
    lag = [r for r in results if r.lag_id == "esi:01:11:11:11:11:11:11:00:00:01"]
    assert len(lag) == 2                         # the first tick opens the first window
    last = lag[-1]
    assert last.devices == ["leaf1", "leaf2"] and last.partner_consistent
    rates = {m.device: m.rate_bps for m in last.members}
    assert rates["leaf1"] == pytest.approx(8e6) and rates["leaf2"] == pytest.approx(8e5)
    assert last.imbalance == pytest.approx(2 * 8 / 8.8)
    assert "imbalance 1.82 above 1.5 for 2 windows" in last.alert
    assert "member leaf2:ethernet-1/1 unhealthy: partner not collecting/distributing" in last.alert
    assert [m.lacp_healthy for m in last.members] == [True, False]


# ------------------------------------------------------------ uplink health

def test_uplink_health_states(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    out = healthy_leaf(d, "leaf1")
    assert of(UplinkHealth, out)[-1].state == "healthy"
    out = d.apply(state("leaf1", "ethernet-1/49", "down", S), T0 + S)[0]
    out += d.apply(bgp("leaf1", "198.18.128.0", "idle", S), T0 + S)[0]
    assert of(UplinkHealth, out)[-1].state == "degraded"
    out = d.apply(state("leaf1", "ethernet-1/50", "down", 2 * S), T0 + 2 * S)[0]
    h = of(UplinkHealth, out)[-1]
    assert (h.state, h.uplinks_up, h.uplinks_total) == ("isolated", 0, 2)
    # Silence is never isolation: 11 s without telemetry makes it unknown.
    out, _ = d.tick(T0 + 13 * S)
    assert [x.state for x in of(UplinkHealth, out) if x.device == "leaf1"][-1] == "unknown"


def test_links_up_without_bgp_cannot_forward(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf3"))
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.apply(state("leaf3", u, "up", 0), T0)
    out = d.apply(bgp("leaf3", "198.18.128.9", "active", 0), T0)[0]
    assert of(UplinkHealth, out)[-1].state == "isolated"


# ------------------------------------------------------------ oper-groups

def lose_uplinks(d, dev, t):
    out = []
    for i, u in enumerate(("ethernet-1/49", "ethernet-1/50")):
        out += d.apply(state(dev, u, "down", t), T0 + t)[0]
        out += d.apply(bgp(dev, f"198.18.128.{i}", "idle", t), T0 + t)[0]
    return out


def test_uplink_loss_disables_the_access_link_at_once(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    out = d.apply(state("leaf1", "ethernet-1/49", "down", 20 * S), T0 + 20 * S)[0]
    assert not of(OperGroupDecision, out)            # one uplink is enough
    out = d.apply(state("leaf1", "ethernet-1/50", "down", 20 * S + 1000), T0 + 20 * S + 2000)[0]
    [dec] = of(OperGroupDecision, out)
    assert (dec.device, dec.action, dec.suppressed, dec.trigger_ts_ns) == ("leaf1", "disable", False, T0 + 20 * S + 1000)
    assert {(e.interface, e.value) for e in dec.evidence if e.kind == "oper_state"} == {
        ("ethernet-1/49", "down"), ("ethernet-1/50", "down")}
    [cmd] = of(RemediationCommand, out)
    assert (cmd.device, cmd.interface, cmd.path, cmd.value) == (
        "leaf1", "ethernet-1/1", "/interface[name=ethernet-1/1]/admin-state", '"disable"')
    assert cmd.command_id == f"{dec.decision_id}:ethernet-1/1"


def test_recovery_waits_for_bgp_and_the_hold_up_time(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    lose_uplinks(d, "leaf1", 10 * S)
    assert d.engine.states["og-leaf1"].state == "down"
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.apply(state("leaf1", u, "up", 20 * S), T0 + 20 * S)
    assert not of(OperGroupDecision, d.tick(T0 + 30 * S)[0])        # links up, BGP not yet
    d.apply(bgp("leaf1", "198.18.128.0", "established", 23 * S), T0 + 23 * S)
    d.apply(bgp("leaf1", "198.18.128.1", "established", 23 * S), T0 + 23 * S)
    assert d.engine.states["og-leaf1"].state == "pending_up"
    assert not of(OperGroupDecision, d.tick(T0 + 27 * S)[0])          # hold-up is 5 s
    out, _ = d.tick(T0 + 28 * S + 1)
    [dec] = of(OperGroupDecision, out)
    assert dec.action == "enable" and dec.trigger_ts_ns == T0 + 23 * S
    assert [c.value for c in of(RemediationCommand, out)] == ['"enable"']


def test_flapping_inside_hold_down_does_nothing(cfg):
    groups = tuple(dataclasses.replace(g, hold_down_ms=2000) for g in cfg.oper_groups)
    d = Domain(dataclasses.replace(cfg, oper_groups=groups), DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    out = lose_uplinks(d, "leaf1", 15 * S)
    for u in ("ethernet-1/49", "ethernet-1/50"):
        out += d.apply(state("leaf1", u, "up", 15 * S + S // 2), T0 + 15 * S + S // 2)[0]
    out += d.tick(T0 + 18 * S)[0]
    assert not of(OperGroupDecision, out)
    # a loss that outlasts the hold-down is acted on
    out = lose_uplinks(d, "leaf1", 20 * S) + d.tick(T0 + 21 * S)[0]
    assert not of(OperGroupDecision, out)
    [dec] = of(OperGroupDecision, d.tick(T0 + 22 * S)[0])
    assert dec.action == "disable"


def test_both_leaves_of_a_segment_isolated_second_is_suppressed(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    [first] = of(OperGroupDecision, lose_uplinks(d, "leaf1", 15 * S))
    d.apply(state("leaf1", "ethernet-1/1", "down", 15 * S + 1, "disable"), T0 + 16 * S)   # the command applied
    out = lose_uplinks(d, "leaf2", 22 * S)
    [second] = of(OperGroupDecision, out)
    assert not first.suppressed and second.suppressed and second.device == "leaf2"
    assert "last active member of the ethernet segment: leaf2:ethernet-1/1" in second.reason
    assert not of(RemediationCommand, out)
    assert not of(OperGroupDecision, d.tick(T0 + 23 * S)[0])     # recorded once, not repeated


def test_stale_telemetry_is_never_acted_on(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    # The records say "down" but they arrive after 30 s of silence: evaluated 11 s after the last seen.
    d.views["leaf1"].last_seen_ns = T0
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.views["leaf1"].interface(u).oper = "down"
    assert not d.engine.evaluate(d.views, T0 + 11 * S).decisions


def test_a_device_heard_from_but_without_uplink_state_is_not_down(cfg):
    """Regression: counters from leaf2 arrived before any of its interface
    states; its uplinks' unknown state must not count as down."""
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    out = d.apply(counters("leaf2", "ethernet-1/2", 0, 0), T0)[0]
    out += healthy_leaf(d, "leaf1")
    assert not of(OperGroupDecision, out)
    assert [h.state for h in of(UplinkHealth, out) if h.device == "leaf2"] == ["unknown"]


def test_rate_limit_suppresses_decisions(cfg):
    cfg = dataclasses.replace(cfg, safety=dataclasses.replace(cfg.safety, max_decisions_per_minute=1))
    d = Domain(cfg, DecisionDomain.parse("leaf3"))
    healthy_leaf(d, "leaf3")
    assert of(OperGroupDecision, lose_uplinks(d, "leaf3", S))[0].suppressed is False
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.apply(state("leaf3", u, "up", 2 * S), T0 + 2 * S)
    d.apply(bgp("leaf3", "198.18.128.0", "established", 2 * S), T0 + 2 * S)
    d.apply(bgp("leaf3", "198.18.128.1", "established", 2 * S), T0 + 2 * S)
    [dec] = of(OperGroupDecision, d.tick(T0 + 8 * S)[0])
    assert dec.suppressed and dec.reason.startswith("rate limit")


def test_replay_gives_the_same_decision_ids(cfg):
    def run():
        d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
        healthy_leaf(d, "leaf1")
        healthy_leaf(d, "leaf2")
        return [o.decision_id for o in of(OperGroupDecision, lose_uplinks(d, "leaf1", 20 * S))]
    assert run() == run() and len(run()) == 1


def test_state_survives_a_restart_through_its_snapshot(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    lose_uplinks(d, "leaf1", 20 * S)
    restored = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    restored.load(d.to_dict())
    assert restored.engine.states["og-leaf1"].state == "down"
    # A replay of the same records after the restart decides nothing new.
    assert not of(OperGroupDecision, lose_uplinks(restored, "leaf1", 20 * S))


def test_domains_group_devices_that_share_a_segment(cfg):
    m = domains(cfg)
    assert m["leaf1"] == m["leaf2"] == DecisionDomain(("leaf1", "leaf2"))
    assert m["leaf3"] == DecisionDomain(("leaf3",)) and m["spine1"].devices == ("spine1",)
    assert "leaf2" in m["leaf1"] and "leaf3" not in m["leaf1"]


def test_a_fabric_s_domains_are_worked_out_once_per_configuration(cfg):
    """Each decision domain asks for the fabric's domains (its flow groups
    read them); one configuration works them out once, another anew."""
    from fabtel.partitioning import fabric_domains
    assert fabric_domains(cfg.fabric) is fabric_domains(cfg.fabric) is domains(cfg)
    other = dataclasses.replace(cfg.fabric, devices=[d for d in cfg.fabric.devices if d.name != "leaf3"])
    theirs = fabric_domains(other)
    assert theirs is not domains(cfg) and "leaf3" not in theirs and theirs["leaf1"] == domains(cfg)["leaf1"]


def test_a_domain_travels_by_its_name_and_keeps_one_partition(cfg):
    both = DecisionDomain.of(["leaf2", "leaf1", "leaf2"])
    assert both.name == str(both) == "leaf1+leaf2" and DecisionDomain.parse(both.name) == both
    p = DomainPartitioner(cfg)
    # Every record of leaf1 and leaf2, and the domain's own ticks, share one partition number.
    assert p.partition("leaf1", 12) == p.partition("leaf2", 12) == partition_of(both, 12)
    # An sFlow agent outside the inventory is a domain of its own.
    assert p.domain("10.9.9.9") == DecisionDomain(("10.9.9.9",))


def test_domains_close_their_windows_at_their_own_phases(cfg):
    """A worker's domains, all first seen at once, do not close their windows
    in the same timer round (250 ms): each ends its windows at its own phase of
    the clock, kept whatever the ticks' lateness."""
    window = cfg.thresholds.window_ms * 1_000_000
    domains = [Domain(cfg, DecisionDomain.parse(f"leaf{2 * i + 1}+leaf{2 * i + 2}")) for i in range(128)]
    for d in domains:
        d.tick(T0)
    rounds = Counter((d.window_start_ns + window - T0) // 250_000_000 for d in domains)
    assert len(rounds) >= window // 250_000_000 - 2 and max(rounds.values()) <= 16, rounds
    d = domains[0]
    for late in (T0 + window + 7 * S // 10, T0 + 3 * window + 1):     # late ticks: the next window still ends on the phase
        assert d.tick(late)[1]
        assert d.window_start_ns <= late and (d.window_start_ns - d.window_phase_ns) % window == 0


def test_a_domain_asks_for_a_tick_only_when_something_is_due(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    assert d.next_due_ns(T0) == T0                          # no window yet, leaves never heard from
    healthy_leaf(d, "leaf1")
    healthy_leaf(d, "leaf2")
    d.tick(T0)                                               # opens the window, reports health
    window, stale = cfg.thresholds.window_ms * 1_000_000, cfg.thresholds.stale_after_ms * 1_000_000
    end = d.window_start_ns + window                          # the window ends at the domain's phase
    assert T0 < end <= T0 + window and (end - d.window_phase_ns) % window == 0
    assert d.next_due_ns(T0 + S) == min(end, T0 + stale + 1)
    # the hold-up timer of a recovering leaf
    lose_uplinks(d, "leaf1", S)
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.apply(state("leaf1", u, "up", 2 * S), T0 + 2 * S)
    d.apply(bgp("leaf1", "198.18.128.0", "established", 2 * S), T0 + 2 * S)
    assert d.engine.states["og-leaf1"].state == "pending_up"
    hold_up = cfg.oper_groups[0].hold_up_ms * 1_000_000
    # (and leaf1's disable, watched for its outcome: looked at every 250 ms until its deadline)
    assert d.watches and d.next_due_ns(T0 + 2 * S) == min(T0 + 2 * S + min(hold_up, 250_000_000), end)
    # leaves gone silent past stale_after_ms are due at once, until their health says unknown
    quiet = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    healthy_leaf(quiet, "leaf1")
    healthy_leaf(quiet, "leaf2")
    quiet.tick(T0)
    late = T0 + stale + 3 * S
    assert quiet.next_due_ns(late) == late
    quiet.tick(late)
    assert quiet.last_health == {"leaf1": "unknown", "leaf2": "unknown"}
    assert quiet.next_due_ns(late) == quiet.window_start_ns + window and quiet.window_start_ns <= late
    # a stale leaf whose hold timer is pending keeps asking (its engine waits for telemetry)
    assert d.next_due_ns(late) == late


# ------------------------------------------------------------ gNMI deletes

def test_a_deleted_neighbour_no_longer_counts_as_established(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf3"))
    for i, u in enumerate(("ethernet-1/49", "ethernet-1/50")):
        d.apply(state("leaf3", u, "up", 0), T0)
        d.apply(bgp("leaf3", f"198.18.128.{i}", "established", 0), T0)
    assert d.views["leaf3"].established()[0] == 2
    gone = BgpSession("leaf3", "default", "198.18.128.1", T0 + S, T0 + S, "idle", deleted=True)
    out = d.apply(gone, T0 + S)[0]
    h = of(UplinkHealth, out)[-1]
    assert (h.state, h.uplinks_up, h.bgp_established) == ("degraded", 1, 1)


def test_a_member_deleted_from_its_lag_leaves_the_balance(cfg):
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    for dev in ("leaf1", "leaf2"):
        d.apply(LagMemberState(dev, "lag1", "ethernet-1/1", "gnmi", T0, T0, "up", actor_oper_port_state=61), T0)
    d.tick(T0)
    d.apply(LagMemberState("leaf2", "lag1", "ethernet-1/1", "gnmi", T0 + S, T0 + S, "down", deleted=True), T0 + S)
    [lag] = [r for r in of(LagBalance, d.tick(T0 + 5 * S)[0]) if r.lag_id.startswith("esi:")]
    assert [(m.device, m.lacp_healthy) for m in lag.members] == [("leaf1", True)] and lag.alert is None
    d.apply(LagMemberState("leaf2", "lag1", "ethernet-1/1", "gnmi", T0 + 6 * S, T0 + 6 * S, "up",
                           actor_oper_port_state=61), T0 + 6 * S)
    [lag] = [r for r in of(LagBalance, d.tick(T0 + 10 * S)[0]) if r.lag_id.startswith("esi:")]
    assert [m.device for m in lag.members] == ["leaf1", "leaf2"]


# ------------------------------------------------------------ LACP bit order of sFlow agents

def _lag_states(cfg, agent, states, order="auto"):
    from fabtel.connectors.sflow.codec import decode_datagram, encode_datagram
    from fabtel.connectors.sflow.normalize import Inventory, normalize
    from sflow_cases import counters
    inv = Inventory(cfg.fabric, order)
    out = []
    for actor_admin, actor, partner_admin, partner in states:
        [sample] = decode_datagram(encode_datagram(agent, 0, 1, 1, [counters(1, 1001, 5, lag_states=(
            actor_admin, actor, partner_admin, partner))])).samples
        sample.device = inv.device(agent)
        [_, member] = normalize(sample, inv)
        out.append((lacp_health(member.actor_oper_port_state, member.partner_oper_port_state), member.port_state_order))
    return out


def test_a_mib_order_switch_at_252_252_is_healthy_and_a_lost_sync_is_not(cfg):
    from sflow_cases import MIB_ADMIN_ACTOR, MIB_ADMIN_PARTNER, MIB_HEALTHY, MIB_SYNC_LOST
    (healthy, order), (lost, _) = _lag_states(cfg, "203.0.113.7", [
        (MIB_ADMIN_ACTOR, MIB_HEALTHY, MIB_ADMIN_PARTNER, MIB_HEALTHY),
        (MIB_ADMIN_ACTOR, MIB_HEALTHY, MIB_ADMIN_PARTNER, MIB_SYNC_LOST)])
    assert healthy == (True, None) and order == "mib-bits (detected)"
    assert lost[0] is False and "partner not synchronization" in lost[1]


def test_an_ieee_order_agent_at_61_61_is_healthy_and_a_lost_sync_is_not(cfg):
    from fabtel.lacp import SYNCHRONIZATION
    (healthy, order), (lost, _) = _lag_states(cfg, "198.18.0.11", [
        (61, 61, 61, 61), (61, 61, 61, 61 & ~SYNCHRONIZATION & ~0x30)])
    assert healthy == (True, None) and order == "ieee8021ax (assumed)"
    assert lost[0] is False and "partner not synchronization" in lost[1]


def test_a_configured_order_wins_over_detection(cfg):
    [(judged, order)] = _lag_states(cfg, "198.18.0.11", [(252, 252, 226, 2)], order="ieee8021ax")
    assert order == "ieee8021ax (configured)" and judged[0] is False        # read as told: expired, defaulted


def test_a_leaf_without_bgp_telemetry_is_judged_the_same_by_health_and_oper_group(cfg):
    """No BgpSession record ever arrives from leaf1: both judgements count its
    links up (usable_uplinks), so the oper-group disables on the loss and
    re-enables on the return, as the health goes isolated and healthy."""
    d = Domain(cfg, DecisionDomain.parse("leaf1+leaf2"))
    for u in ("ethernet-1/49", "ethernet-1/50"):
        d.apply(state("leaf1", u, "up", 0, "enable"), T0)
    d.apply(state("leaf1", "ethernet-1/1", "up", 0, "enable"), T0)
    healthy_leaf(d, "leaf2")
    h = [o for o in d._decide(T0 + S, {"leaf1"}) if isinstance(o, UplinkHealth) and o.device == "leaf1"][-1]
    assert h.state == "healthy" and h.uplinks_up == 2 and h.bgp_established == 0
    out = []
    for u in ("ethernet-1/49", "ethernet-1/50"):
        out += d.apply(state("leaf1", u, "down", 10 * S), T0 + 10 * S)[0]
    assert [x.action for x in of(OperGroupDecision, out)] == ["disable"]
    assert [x.state for x in of(UplinkHealth, out) if x.device == "leaf1"][-1] == "isolated"
    out = []
    for u in ("ethernet-1/49", "ethernet-1/50"):
        out += d.apply(state("leaf1", u, "up", 20 * S), T0 + 20 * S)[0]
    assert [x.state for x in of(UplinkHealth, out) if x.device == "leaf1"][-1] == "healthy"
    [dec] = of(OperGroupDecision, d.tick(T0 + 25 * S + 1)[0])
    assert dec.action == "enable" and dec.trigger_ts_ns == T0 + 20 * S


def test_a_rate_per_direction_and_one_reset_for_a_reading_that_gives_none():
    from fabtel.pipeline.counters import RateTracker, Sample, bits_per_s
    assert bits_per_s(None, 10, 1.0, 10**9) == 0.0               # a reading without the counter: no traffic told
    assert bits_per_s(100, 1100, 2.0, 10**9) == 4000.0
    assert bits_per_s((1 << 32) - 100, 900, 1.0, 10**9) == 8000.0  # a 32-bit wrap
    assert bits_per_s(5_000_000_000, 10, 1.0, 10**9) is None       # a reset
    rates = RateTracker()
    assert rates.update(("leaf1", "e1", "gnmi"), Sample(1_000_000_000, 5_000_000_000, 6_000_000_000), 10**9) is None
    # both directions went back: one reset, no rate, and the new baseline kept
    assert rates.update(("leaf1", "e1", "gnmi"), Sample(2_000_000_000, 10, 20), 10**9) is None and rates.resets == 1
    rate = rates.update(("leaf1", "e1", "gnmi"), Sample(3_000_000_000, 1010, None), 10**9)
    assert (rate.in_bps, rate.out_bps, rate.elapsed_s) == (8000.0, 0.0, 1.0)
