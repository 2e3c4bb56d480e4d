"""`bench e2e`'s Kafka floor takes the shape of its burst from the run's own
state records: how many partitions had records around each trigger, and the
trigger's place among them."""
from fabtel.bench import e2e, kafka_floor
from fabtel.kafka import Read
from fabtel.records import InterfaceState, OperGroupDecision

MS = 1_000_000


def state(device, name, receive_ms, oper="down"):
    return InterfaceState(device, name, "gnmi", receive_ms * MS - MS, receive_ms * MS, "enable", oper)


def read(topic, partition, record):
    return Read(topic, partition, 0, 0, None, record)


def test_the_burst_is_the_partitions_near_each_trigger_and_the_trigger_is_placed_among_them():
    leaf_a, leaf_b, leaf_c = (state("leaf1", "ethernet-1/49", t) for t in (1000, 9000, 20000))
    reads = [
        # first loss: two partitions before the leaf's, one with it, one after; one far away
        read("s.interface", 3, state("spine1", "ethernet-1/1", 998)),
        read("s.bgp", 3, state("spine1", "x", 999)),
        read("s.interface", 1, leaf_a),
        read("s.interface", 1, state("leaf1", "ethernet-1/50", 1000)),
        read("s.interface", 5, state("spine2", "ethernet-1/1", 1004)),
        read("s.interface", 5, state("spine2", "ethernet-1/1", 1500)),       # outside the window
        # second loss: the leaf first, two after
        read("s.interface", 1, leaf_b),
        read("s.interface", 3, state("spine1", "ethernet-1/1", 9002)),
        read("s.interface", 5, state("spine2", "ethernet-1/1", 9003)),
        # third loss: as the first
        read("s.interface", 3, state("spine1", "ethernet-1/1", 19995)),
        read("s.lldp", 2, state("spine1", "x", 19999)),
        read("s.interface", 1, leaf_c),
        read("s.bgp", 0, state("spine2", "x", 20010)),
    ]
    # sizes 4, 3, 4; partitions before the trigger's 2, 0, 2
    assert kafka_floor.burst_shape(reads, [leaf_a, leaf_b, leaf_c]) == (4, 2)
    assert kafka_floor.burst_shape(reads, []) == (1, 0)


def test_a_lone_trigger_is_a_burst_of_one():
    leaf = state("leaf1", "ethernet-1/49", 1000)
    assert kafka_floor.burst_shape([read("s.interface", 1, leaf)], [leaf]) == (1, 0)


def test_a_burst_spreads_over_the_state_topics_first_then_their_partitions():
    pairs = kafka_floor.burst_pairs(10, 12)
    assert len(set(pairs)) == 10
    assert pairs[:4] == [(0, 0), (1, 0), (2, 0), (3, 0)] and pairs[4] == (0, 1)
    assert len(set(kafka_floor.burst_pairs(60, 12))) == 48          # no more partitions than the topics have


def test_the_triggers_are_the_states_of_the_disables_that_were_carried_out():
    leaf = state("leaf1", "ethernet-1/49", 1000)
    other = state("leaf1", "ethernet-1/49", 5000, oper="up")

    def decision(i, trigger, action="disable", suppressed=False):
        return OperGroupDecision(f"d{i}", "g", "leaf1", action, [], suppressed, "", [], trigger.device_ts_ns, 0)
    decisions = [decision(0, leaf), decision(1, other, "enable"), decision(2, other, suppressed=True)]
    assert e2e.triggers([leaf, other], decisions) == [leaf]


def test_a_floor_that_cannot_be_measured_is_reported_and_the_cycles_figures_kept(monkeypatch):
    def refused(*args, **kwargs):
        raise RuntimeError("the floor's relay did not start")
    monkeypatch.setattr(kafka_floor, "run", refused)
    leaf = state("leaf1", "ethernet-1/49", 1000)
    out = e2e.measured_floor(None, "fabric.yaml", [read("s.interface", 1, leaf)], [leaf])
    assert out == {"kafka_floor_error": "the floor's relay did not start"}
