"""The lab's clock is exact: traffic is integrated between changes, each at
its own timestamp, whatever the runner's tick, so a blackhole's bytes are
its rate times its length to the nanosecond. No server."""
from __future__ import annotations

import pytest

from fabtel.config import load_config
from fabtel.lab.runner import LabRunner
from fabtel.lab.scenario import Event, Scenario, Traffic

from conftest import EXAMPLE

S = 1_000_000_000
RATE = 8 * 100_000_000            # client1's eight 100 Mb/s streams


def _runner(events, tick_s=0.1):
    cfg = load_config(EXAMPLE)
    scenario = Scenario("clock", 30, (Traffic("client1", "client2", 8, 100_000_000),), tuple(events))
    r = LabRunner(cfg, scenario, None, tick_s=tick_s, with_gnmi=False)
    r.fabric.start_ns = 0
    return r


def test_an_event_between_ticks_takes_effect_at_its_own_time():
    at = 20.0437                                   # not on a 100 ms tick
    r = _runner([Event(at, "leaf1", ("ethernet-1/49", "ethernet-1/50"), admin_state="disable")])
    r.simulate(22)
    [span] = r.fabric.blackhole_spans
    assert span[0] == int(round(at * S)) and span[1] == 22 * S
    lost_in_second_20 = next(s for s in r.fabric.ground_truth() if s["t"] == 20)["blackholed_bytes"]
    assert lost_in_second_20 == pytest.approx(span[3] / 8 * (21 - at), abs=1)
    assert 0 < span[3] < RATE                       # the flows client1 hashes to leaf1, not all of them


@pytest.mark.parametrize("tick_s", [0.1, 0.013, 1.0])
def test_the_loss_is_the_same_whatever_the_tick(tick_s):
    r = _runner([Event(20.0437, "leaf1", ("ethernet-1/49", "ethernet-1/50"), admin_state="disable"),
                 Event(23.5001, "leaf1", ("ethernet-1/1",), admin_state="disable")], tick_s=tick_s)
    r.simulate(26)
    [span] = r.fabric.blackhole_spans
    assert (span[0], span[1]) == (20_043_700_000, 23_500_100_000)
    lost = sum(s["blackholed_bytes"] for s in r.fabric.ground_truth())
    assert lost == pytest.approx(span[3] / 8 * 3.4564, abs=2)


def test_a_change_scheduled_for_later_applies_at_its_time_and_is_logged():
    r = _runner([Event(10.0, "leaf1", ("ethernet-1/49", "ethernet-1/50"), admin_state="disable")])
    f = r.fabric
    f.begin(0)
    r.simulate(10.5)                                  # the uplinks are down: the blackhole runs
    f.schedule(int(10.7654321 * S), lambda at: f.set_admin("leaf1", "ethernet-1/1", False, at, origin="gnmi",
                                                           requested_ns=int(10.7154321 * S)))
    f.advance_to(12 * S)
    [span] = f.blackhole_spans
    assert span[1] == 10_765_432_100
    change = f.changes[-1]
    assert (change["device"], change["interface"], change["value"], change["at_ms"]) == \
        ("leaf1", "ethernet-1/1", "disable", 10765.432)
    assert f.events_log[-1]["requested_ns"] == 10_715_432_100
