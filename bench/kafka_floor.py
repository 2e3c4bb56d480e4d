"""`bench e2e`'s Kafka floor: the remediation path's two Kafka hops with
bare confluent-kafka clients and no work between them, on the same broker,
in the same run, after the cycles.

An uplink loss is a burst of state records from several devices: the
collector produces the burst, a relay process (the worker's place) polls the
triggering record and produces a command, and the first process (the
executor's place) polls the command. The burst is the run's own: the median
number of state topic partitions that had records within BURST_WINDOW_MS of
each trigger, the trigger at its median place among them. Both producers are
set as the collector's state producer (no linger, no Nagle). What a p99 of
this floor takes from the bar, fabtel's own processes cannot win back. It
runs once the pipeline has stopped, so the broker carries nothing else: a
lower bound for the hops during the cycles.

May import: fabtel.bench, fabtel.config, fabtel.kafka, fabtel.records, confluent_kafka.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid

STATE_KEYS = ("interface_state", "lag_member", "bgp_session", "lldp_neighbors")
BURST_WINDOW_MS = 10
ROUNDS = 200
GAP_S = 0.5              # mean pause between rounds (0.5-1.5 of it): an idle path, as between cycles
WAIT_S = 5.0             # a round not relayed by then counts as this long


def burst_shape(reads: list, triggers: list) -> tuple[int, int]:
    """(partitions, place): of the state topic partitions with records received
    within BURST_WINDOW_MS of each trigger, the median count, and the median
    count of those whose first record in the window came before the trigger's.
    `reads`: fabtel.kafka.Read of the run's state topics; `triggers`: the
    state records that caused a remediation."""
    window = BURST_WINDOW_MS * 1_000_000
    sizes, places = [], []
    for t in triggers:
        near = [r for r in reads if abs(r.record.receive_ts_ns - t.receive_ts_ns) <= window]
        first: dict[tuple[str, int], int] = {}
        for r in near:
            where = (r.topic, r.partition)
            first[where] = min(r.record.receive_ts_ns, first.get(where, r.record.receive_ts_ns))
        mine = next(((r.topic, r.partition) for r in near if r.record == t), None)
        sizes.append(max(1, len(first)))
        places.append(sum(1 for w, ts in first.items() if w != mine and ts < t.receive_ts_ns))
    if not sizes:
        return 1, 0
    size = round(statistics.median(sizes))
    return size, min(round(statistics.median(places)), size - 1)


def state_reads(cfg) -> list:
    """The run's state records with where they were (fabtel.kafka.Read)."""
    from fabtel.kafka import read_topic
    return [r for key in STATE_KEYS for r in read_topic(cfg.kafka, cfg.kafka.topic(key), "beginning", None, None, 2,
                                                        True) if r.record is not None]


def burst_pairs(partitions: int, per_topic: int) -> list[tuple[int, int]]:
    """(state topic index, partition) of each record of a burst, spread as a
    burst spreads: over the state topics first, then their partitions."""
    return [(i % len(STATE_KEYS), (i // len(STATE_KEYS)) % per_topic) for i in range(partitions)]


def run(cfg, config_path: str, partitions: int, place: int, rounds: int = ROUNDS, progress=None) -> dict:
    """Two hops `rounds` times; {"kafka_floor_ms_p50", "..._p99", "kafka_floor": what was measured}."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition
    from confluent_kafka.admin import NewTopic

    from fabtel.bench.common import made_here, percentiles
    from fabtel.kafka import admin_client, consumer_settings
    prefix = f"bench-floor-{uuid.uuid4().hex[:6]}"
    made_here(cfg.kafka, prefix)
    per_topic = cfg.kafka.partitions
    state, command = [f"{prefix}.state-{i}" for i in range(len(STATE_KEYS))], f"{prefix}.commands"
    admin = admin_client(cfg.kafka)
    for f in admin.create_topics([NewTopic(t, per_topic, 1) for t in state] + [NewTopic(command, 1, 1)]).values():
        f.result()
    pairs = burst_pairs(partitions, per_topic)
    leaf = pairs[place]
    relay = subprocess.Popen([sys.executable, "-m", "fabtel.bench.kafka_floor", config_path, json.dumps(
        {"topics": state, "command": command, "leaf": leaf, "group": prefix})], stdout=subprocess.PIPE)
    producer = _producer(cfg)
    reader = Consumer(consumer_settings(cfg.kafka, prefix + "-reader", **{"auto.offset.reset": "latest"}))
    reader.assign([TopicPartition(command, 0, OFFSET_END)])     # no committed offset to ask the coordinator for
    try:
        if relay.stdout.readline().strip() != b"ready":
            raise RuntimeError("the floor's relay did not start")
        _warm_up(producer, reader, state, pairs)
        times = [_round(producer, reader, state, pairs, n) for n in range(rounds)]
        lost = sum(t is None for t in times)
        times = [WAIT_S * 1000 if t is None else t for t in times]       # a lost round counts as the wait
        if progress:
            progress(f"kafka floor: {len(times)} rounds of a {partitions}-partition burst")
    finally:
        relay.kill()
        relay.wait()
        reader.close()
    return {**percentiles(times, "kafka_floor_ms"), "kafka_floor_lost_rounds": lost,
            "kafka_floor": f"two Kafka hops, bare confluent-kafka clients, {len(times)} rounds on the run's broker: "
                           f"a burst of {partitions} state records (one a partition, the run's median), "
                           f"the triggering record {place + 1} of them"}


def _producer(cfg):
    """Set as the gNMI collector's state producer."""
    from confluent_kafka import Producer

    from fabtel.kafka import producer_settings
    return Producer(producer_settings(cfg.kafka, **{"linger.ms": 0, "socket.nagle.disable": True}))


def _warm_up(producer, reader, state, pairs, rounds: int = 5, limit_s: float = 60.0) -> None:
    """Until the relay and the reader have their partitions' positions (a
    record before that is skipped), then `rounds` more."""
    deadline = time.monotonic() + limit_s
    while _round(producer, reader, state, pairs, "warm-up", wait_s=1.0) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the floor's relay passed nothing on in a minute")
    for _ in range(rounds):
        _round(producer, reader, state, pairs, "warm-up")


def _round(producer, reader, state: list[str], pairs: list[tuple[int, int]], n, wait_s: float = WAIT_S) -> float | None:
    """ms from the burst's first produce to the command polled; None if not in `wait_s`."""
    time.sleep(GAP_S * random.uniform(0.5, 1.5))
    value = f"{n}-{time.monotonic_ns()}".encode()
    start = time.perf_counter()
    for topic, partition in pairs:
        producer.produce(state[topic], value, partition=partition)
    producer.poll(0)
    while time.perf_counter() - start < wait_s:
        producer.poll(0)
        msg = reader.poll(0.001)
        if msg is not None and not msg.error() and msg.value() == value:
            return (time.perf_counter() - start) * 1000
    return None


def relay(config_path: str, spec: dict) -> None:
    """The worker's place: the triggering record in, a command out at once."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    from fabtel.config import load_config, with_endpoints
    from fabtel.kafka import consumer_settings
    cfg = with_endpoints(load_config(config_path))        # as the bench's components load it
    producer = _producer(cfg)
    consumer = Consumer(consumer_settings(cfg.kafka, spec["group"] + "-relay", **{"auto.offset.reset": "latest"}))
    leaf_topic, leaf_partition = spec["topics"][spec["leaf"][0]], spec["leaf"][1]
    consumer.assign([TopicPartition(t, p, OFFSET_END) for t in spec["topics"] for p in range(cfg.kafka.partitions)])
    print("ready", flush=True)
    parent = os.getppid()
    while os.getppid() == parent:                       # ends with the bench
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error() and (msg.topic(), msg.partition()) == (leaf_topic, leaf_partition):
            producer.produce(spec["command"], msg.value(), partition=0)
        producer.poll(0)


if __name__ == "__main__":
    relay(sys.argv[1], json.loads(sys.argv[2]))
