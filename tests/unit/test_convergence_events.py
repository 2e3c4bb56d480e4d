"""The convergence tracker over BMP records (pure): events open on sessions
going down or up or on a named event, collect mirrored UPDATEs, close when
quiet, and name the element from the sessions when nobody named it."""
from __future__ import annotations

from pathlib import Path

from fabtel.records import BmpMessage, RoutingEvent
from fabtel.pipeline.convergence import load_topology
from fabtel.pipeline.convergence_events import ConvergenceTracker, matters

CHAIN = load_topology(Path(__file__).parent.parent / "cases" / "convergence" / "chain-topology.yaml")
IDS = {"leaf_1_0_1": "198.19.0.1", "spine_1_1_1": "198.19.0.2", "leaf_2_0_1": "198.19.0.3", "spine_2_1_1": "198.19.0.4",
       "tof_1_2_1": "198.19.0.5"}
S = 1_000_000_000


def bmp(router, kind, peer, t, bgp_type=None, size=27):
    return BmpMessage(router, "198.18.128.9", kind, t, t, size, peer_address="198.18.0.1", peer_bgp_id=IDS[peer],
                      router_bgp_id=IDS[router], bgp_type=bgp_type)


def withdraw(sender, receiver, t):
    return bmp(receiver, "route_mirroring", sender, t, "update")


CHAIN_FAILURE = [
    bmp("spine_1_1_1", "peer_down", "leaf_1_0_1", 100 * S),
    bmp("leaf_1_0_1", "peer_down", "spine_1_1_1", 100 * S),
    withdraw("spine_1_1_1", "tof_1_2_1", 100 * S + 75_000_000),
    bmp("tof_1_2_1", "route_mirroring", "spine_1_1_1", 100 * S + 80_000_000, "keepalive", 19),
    withdraw("tof_1_2_1", "spine_1_1_1", 100 * S + 127_000_000),
    withdraw("tof_1_2_1", "spine_2_1_1", 100 * S + 128_000_000),
    withdraw("spine_2_1_1", "leaf_2_0_1", 100 * S + 178_000_000),
    withdraw("spine_2_1_1", "tof_1_2_1", 100 * S + 178_000_000),
    withdraw("leaf_2_0_1", "spine_2_1_1", 100 * S + 228_000_000),
]


def run(records, named=None):
    tracker = ConvergenceTracker(CHAIN, quiet_ns=3 * S, max_event_ns=60 * S)
    tracker.names.update({v: k for k, v in IDS.items()})      # as every router's own Peer Up tells
    now = 100 * S
    if named:
        tracker.observe(named, now)
    for r in records:
        tracker.observe(r, now)
        now += 10_000_000
        assert tracker.due(now) == []
    assert tracker.due(now + 2 * S) == []       # not quiet long enough yet
    return tracker.due(now + 4 * S)


def test_a_named_leaf_failure_on_the_chain_gives_the_issue_figures():
    [r] = run(CHAIN_FAILURE, RoutingEvent("leaf_1_0_1", "failure", 100 * S - 1000, "lab"))
    assert (r.element, r.kind, r.messages, r.bytes, r.locality, r.blast_radius, r.state_rounds) == (
        "leaf_1_0_1", "failure", 6, 162, [0, 2, 2, 2], 18, 4)
    assert r.detectors == ["spine_1_1_1"] and r.converged_ts_ns == 100 * S + 228_000_000


def test_without_a_name_the_element_comes_from_the_sessions_that_went_down():
    # Both ends of one session: a link (a degree-one node's failure looks the same; the lab names those).
    [r] = run(CHAIN_FAILURE)
    assert r.element == "leaf_1_0_1--spine_1_1_1" and r.detectors == ["leaf_1_0_1", "spine_1_1_1"]
    # Every session of the tof went down: the tof failed.
    records = [bmp("spine_1_1_1", "peer_down", "tof_1_2_1", 100 * S), bmp("spine_2_1_1", "peer_down", "tof_1_2_1", 100 * S),
               withdraw("spine_1_1_1", "leaf_1_0_1", 100 * S + 10)]
    [r] = run(records)
    assert r.element == "tof_1_2_1" and r.locality == [0, 1] and r.detectors == ["spine_1_1_1", "spine_2_1_1"]


def test_replays_give_the_same_event_id_and_noise_is_ignored():
    first = run(CHAIN_FAILURE, RoutingEvent("leaf_1_0_1", "failure", 100 * S, "lab"))
    again = run(CHAIN_FAILURE, RoutingEvent("leaf_1_0_1", "failure", 100 * S, "lab"))
    assert first[0].event_id == again[0].event_id
    never_up = BmpMessage("tof_1_2_1", "x", "peer_down", 1, 1, 51, peer_bgp_id="0.0.0.0")
    tracker = ConvergenceTracker(CHAIN, 3 * S, 60 * S)
    tracker.observe(never_up, 0)
    assert tracker.event is None and tracker.due(10 * S) == []
    assert not matters(BmpMessage("a", "x", "route_monitoring", 1, 1, 27)) and matters(CHAIN_FAILURE[0])


def test_an_event_naming_nothing_in_the_topology_is_counted_not_measured():
    tracker = ConvergenceTracker(CHAIN, 3 * S, 60 * S)
    tracker.observe(bmp("spine_1_1_1", "peer_down", "leaf_1_0_1", S), 0)
    tracker.observe(bmp("tof_1_2_1", "peer_down", "spine_2_1_1", S), 0)
    assert tracker.due(5 * S) == [] and tracker.unidentified == 1


def test_every_family_counts_and_a_filter_says_which():
    """The same failure seen as underlay (IPv4 unicast) and EVPN overlay UPDATEs:
    unfiltered, both count; filtered, only that family's, and the result names it."""
    from fabtel.records import BmpRoute
    underlay = [BmpRoute("ipv4-unicast", "withdraw", "198.19.1.0/24")]
    overlay = [BmpRoute("evpn", "withdraw", rd="198.19.0.1:3", route_type=1, esi="00:11:22:33:44:55:66:77:88:99")]
    records = list(CHAIN_FAILURE)
    for r in records:
        if r.type == "route_mirroring" and r.bgp_type == "update":
            r.routes = underlay
    extra = []
    for r in records[2:]:
        if r.type == "route_mirroring" and r.bgp_type == "update":
            twin = BmpMessage(**{**r.__dict__, "routes": overlay, "size": 60})
            extra.append(twin)
    named = RoutingEvent("leaf_1_0_1", "failure", 100 * S - 1000, "lab")
    everything = records + extra

    def result(families):
        tracker = ConvergenceTracker(CHAIN, 3 * S, 60 * S, families)
        tracker.names.update({v: k for k, v in IDS.items()})
        tracker.observe(named, 100 * S)
        for r in everything:
            tracker.observe(r, 100 * S)
        [res] = tracker.due(200 * S)
        return res

    both, evpn, v4 = result(()), result(("evpn",)), result(("ipv4-unicast",))
    assert (both.messages, both.families) == (12, ["evpn", "ipv4-unicast"])
    assert (evpn.messages, evpn.bytes, evpn.families) == (6, 360, ["evpn"])
    assert (v4.messages, v4.bytes, v4.families) == (6, 162, ["ipv4-unicast"])
    eor = BmpMessage("tof_1_2_1", "x", "route_mirroring", 100 * S, 100 * S, 30, peer_bgp_id=IDS["spine_1_1_1"],
                     bgp_type="update", end_of_rib="evpn")
    everything.append(eor)
    assert result(("evpn",)).messages == 7
