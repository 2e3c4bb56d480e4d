"""The what-if before a disable, the verification after it and the
rollback of a change that made things worse: the pure core on a virtual
clock (records stamped by hand), no broker."""
from __future__ import annotations

import dataclasses

import pytest

from conftest import EXAMPLE
from fabtel.config import load_config
from fabtel.partitioning import DecisionDomain
from fabtel.pipeline.domain import Domain
from fabtel.records import (BgpSession, InterfaceCounters, InterfaceState, OperGroupDecision, RemediationCommand,
                            RemediationOutcome)

S = 1_000_000_000
T0 = 1_800_000_000 * S
G = 10**9                           # 1 Gb/s
UPLINKS = ("ethernet-1/49", "ethernet-1/50")


def config(**group):
    cfg = load_config(EXAMPLE)
    groups = tuple(dataclasses.replace(g, **group) for g in cfg.oper_groups)
    return dataclasses.replace(cfg, oper_groups=groups, remediation=dataclasses.replace(cfg.remediation,
                                                                                      mode="enforce"))


class Clock:
    """Feeds a domain: interface states, BGP, and counters that advance at given rates."""

    def __init__(self, d: Domain):
        self.d, self.t, self.octets, self.out = d, 0, {}, []

    def feed(self, rec) -> list:
        outs = self.d.apply(rec, T0 + self.t)[0]
        self.out += outs
        return outs

    def state(self, dev, intf, oper, admin="enable"):
        return self.feed(InterfaceState(dev, intf, "gnmi", T0 + self.t, T0 + self.t, admin, oper))

    def rates(self, rates: dict, speed=10 * G) -> list:
        """One counter sample per (device, interface) at rates (in_bps, out_bps) since the last."""
        outs = []
        for (dev, intf), (in_bps, out_bps) in rates.items():
            i, o = self.octets.get((dev, intf), (0, 0))
            i, o = i + int(in_bps / 8), o + int(out_bps / 8)          # one second's worth
            self.octets[(dev, intf)] = (i, o)
            outs += self.feed(InterfaceCounters(dev, intf, "gnmi", T0 + self.t, T0 + self.t, i, o,
                                                speed_bps=speed if "1/1" not in intf else 10 * G))
        return outs

    def second(self, rates: dict, speed=10 * G) -> list:
        self.t += S
        return self.rates(rates, speed) + self.d.tick(T0 + self.t)[0]


def fabric(c: Clock, uplink_speed=10 * G) -> None:
    for dev in ("leaf1", "leaf2"):
        for i, u in enumerate(UPLINKS):
            c.state(dev, u, "up")
            c.feed(BgpSession(dev, "default", f"198.18.128.{i}", T0, T0, "established"))
        c.state(dev, "ethernet-1/1", "up")


def steady(client_split=(0.9 * G, 0.9 * G)) -> dict:
    """client1 sends 1.8 Gb/s, half through each leaf's member; each leaf sends it up."""
    a, b = client_split
    return {("leaf1", "ethernet-1/1"): (a, 0), ("leaf2", "ethernet-1/1"): (b, 0),
            ("leaf1", UPLINKS[0]): (0, a / 2), ("leaf1", UPLINKS[1]): (0, a / 2),
            ("leaf2", UPLINKS[0]): (0, b / 2), ("leaf2", UPLINKS[1]): (0, b / 2)}


def run_until_decision(c: Clock, uplink_speed=10 * G) -> OperGroupDecision:
    fabric(c)
    for _ in range(3):
        c.second(steady(), uplink_speed)
    for u in UPLINKS:
        c.state("leaf1", u, "down")
    return next(o for o in c.out if isinstance(o, OperGroupDecision) and o.action == "disable")


def evidence(d: OperGroupDecision) -> dict:
    return {e.kind: e.value for e in d.evidence if e.interface == "what-if"}


def test_the_what_if_puts_its_figures_in_the_evidence_and_a_fit_acts():
    c = Clock(Domain(config(), DecisionDomain.parse("leaf1+leaf2")))
    d = run_until_decision(c)
    assert evidence(d) == {"moving_bps": "900.0 Mb/s", "member_headroom_bps": "7100.0 Mb/s",
                           "uplink_headroom_bps": "15100.0 Mb/s", "verdict": "fits"}
    assert not d.suppressed and [x.interface for x in c.out if isinstance(x, RemediationCommand)] == ["ethernet-1/1"]


@pytest.mark.parametrize("overload,suppressed,propose_only,acts", [
    ("warn", False, False, True), ("propose", False, True, False), ("block", True, None, False)])
def test_an_overload_warns_proposes_or_blocks_as_the_group_says(overload, suppressed, propose_only, acts):
    """leaf2's uplinks are 1 Gb/s: 0.9 Gb/s of client1's traffic cannot move onto them below 80 %."""
    c = Clock(Domain(config(overload=overload), DecisionDomain.parse("leaf1+leaf2")))
    d = run_until_decision(c, uplink_speed=G)
    assert evidence(d)["verdict"].startswith("overloads their leaves' uplinks (leaf2:ethernet-1/49, "
                                             "leaf2:ethernet-1/50): 900 Mb/s to move, 700 Mb/s of room below 80% of their speed")
    assert d.suppressed is suppressed
    commands = [x for x in c.out if isinstance(x, RemediationCommand)]
    if propose_only is None:
        assert commands == [] and "what-if" in d.reason
    else:
        assert [x.propose_only for x in commands] == [propose_only]
    assert bool(c.d.watches) is acts                       # only an applied change is watched


def test_a_change_that_moved_the_traffic_is_verified_with_the_time_it_took():
    c = Clock(Domain(config(), DecisionDomain.parse("leaf1+leaf2")))
    run_until_decision(c)
    c.t += S // 10
    c.state("leaf1", "ethernet-1/1", "down", admin="disable")              # the change, in the telemetry
    effect = T0 + c.t
    assert c.d.watches[0].effect_ns == effect
    moved = {("leaf1", "ethernet-1/1"): (0, 0), ("leaf2", "ethernet-1/1"): (1.8 * G, 0),
             ("leaf2", UPLINKS[0]): (0, 0.9 * G), ("leaf2", UPLINKS[1]): (0, 0.9 * G)}
    c.second(moved)                                        # the first rates straddle the change: not yet
    assert not [o for o in c.out if isinstance(o, RemediationOutcome)]
    c.second(moved)
    [o] = [o for o in c.out if isinstance(o, RemediationOutcome)]
    assert (o.outcome, o.before_bps, o.after_bps, o.rolled_back) == ("verified", 1.8 * G, 1.8 * G, False)
    assert o.took_ms == pytest.approx((T0 + c.t - effect) / 1e6) and o.peer_uplink_utilisation == pytest.approx(0.09)
    assert "moved: 1800 of 1800 Mb/s now on leaf2:ethernet-1/1" in o.reason and c.d.watches == []


def test_a_change_that_made_it_worse_is_rolled_back_once_and_the_group_holds():
    """client1 cannot fail over (its link to leaf2 carries nothing): after the disable the segment
    receives nothing of the 1.8 Gb/s it did."""
    c = Clock(Domain(config(required_up_uplinks=2), DecisionDomain.parse("leaf1+leaf2")))
    fabric(c)
    alone = {("leaf1", "ethernet-1/1"): (1.8 * G, 0), ("leaf2", "ethernet-1/1"): (0, 0),
             ("leaf1", UPLINKS[1]): (0, 1.8 * G)}
    for _ in range(3):
        c.second(alone)
    c.state("leaf1", UPLINKS[0], "down")                  # one uplink lost: the group wants two
    assert [o.action for o in c.out if isinstance(o, OperGroupDecision)] == ["disable"]
    c.t += S // 10
    c.state("leaf1", "ethernet-1/1", "down", admin="disable")
    dark = {("leaf1", "ethernet-1/1"): (0, 0), ("leaf2", "ethernet-1/1"): (0, 0)}
    c.second(dark)
    c.second(dark)
    [o] = [o for o in c.out if isinstance(o, RemediationOutcome)]
    assert (o.outcome, o.rolled_back) == ("worse", True) and "did not fail over" in o.reason
    decisions = [x for x in c.out if isinstance(x, OperGroupDecision)]
    assert [(x.action, x.reason.startswith("rollback: ")) for x in decisions] == [("disable", False), ("enable", True)]
    assert [(x.interface, x.action) for x in c.out if isinstance(x, RemediationCommand)][-1] == ("ethernet-1/1", "enable")
    assert c.d.engine.states["og-leaf1"].state == "held"
    # held: the uplink stays down, nothing more is decided until the hold passes (no flapping)
    for _ in range(5):
        c.second(alone)
    assert len([x for x in c.out if isinstance(x, OperGroupDecision)]) == 2
    assert c.d.clear("og-leaf1") and c.d.engine.states["og-leaf1"].state == "armed"


def test_rollback_is_off_in_propose_mode_and_says_so_in_the_outcome():
    cfg = config(required_up_uplinks=2)
    cfg = dataclasses.replace(cfg, remediation=dataclasses.replace(cfg.remediation, mode="propose"))
    c = Clock(Domain(cfg, DecisionDomain.parse("leaf1+leaf2")))
    fabric(c)
    alone = {("leaf1", "ethernet-1/1"): (1.8 * G, 0), ("leaf2", "ethernet-1/1"): (0, 0)}
    for _ in range(3):
        c.second(alone)
    c.state("leaf1", UPLINKS[0], "down")
    c.t += S // 10
    c.state("leaf1", "ethernet-1/1", "down", admin="disable")
    for _ in range(2):
        c.second({("leaf1", "ethernet-1/1"): (0, 0), ("leaf2", "ethernet-1/1"): (0, 0)})
    [o] = [o for o in c.out if isinstance(o, RemediationOutcome)]
    assert (o.outcome, o.rolled_back) == ("worse", False)
    assert [x.action for x in c.out if isinstance(x, OperGroupDecision)] == ["disable"]


def test_a_change_never_seen_is_not_verified_at_its_deadline():
    c = Clock(Domain(config(verify_ms=3000), DecisionDomain.parse("leaf1+leaf2")))
    run_until_decision(c)
    for _ in range(8):                                     # the link never goes down in the telemetry
        c.second(steady())
    [o] = [o for o in c.out if isinstance(o, RemediationOutcome)]
    assert o.outcome == "not_verified" and "never showed in the telemetry" in o.reason


def test_a_watch_survives_a_worker_restart():
    c = Clock(Domain(config(), DecisionDomain.parse("leaf1+leaf2")))
    run_until_decision(c)
    saved = c.d.to_dict()
    again = Domain(config(), DecisionDomain.parse("leaf1+leaf2"))
    again.load(saved)
    assert [w.decision_id for w in again.watches] == [w.decision_id for w in c.d.watches]
