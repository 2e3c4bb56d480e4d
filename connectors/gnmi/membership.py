"""The targets topic's I/O: publishing the inventory (`sync`) and the
consumer group the gNMI collectors share it through (`TargetGroup`).

A collector in the group consumes its assigned partitions of the compacted
topic from the start, every time (it never commits: the topic is the state,
not a log to resume), and hands each device it reads to `add`, each
tombstone and each device of a revoked or lost partition to `remove`. With
the cooperative-sticky assignor only the partitions that move are revoked:
the other devices keep streaming through a rebalance.

May import: fabtel.config, fabtel.kafka, fabtel.records, fabtel.serde,
fabtel.connectors.gnmi.targets, confluent_kafka.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError

from fabtel.config import Config
from fabtel.connectors.gnmi.targets import plan
from fabtel.kafka import (RecordProducer, configure_group, consumer_settings, create_topics, read_topic,
                          topic_partitions)
from fabtel.records import CollectorTarget
from fabtel.serde import CorruptMessage, RecordCodec

log = logging.getLogger("fabtel.gnmi.targets")

GROUP = "fabtel-gnmi-collectors"


def read_targets(cfg: Config, timeout_s: float = 10.0) -> dict[str, tuple[int, CollectorTarget]]:
    """device -> (partition, its latest target) on the topic now."""
    out: dict[str, tuple[int, CollectorTarget]] = {}
    for read in read_topic(cfg.kafka, cfg.kafka.topic("targets"), "beginning", timeout_s=timeout_s, until_end=True):
        name = (read.key or b"").decode()
        if read.tombstone:
            out.pop(name, None)
        elif isinstance(read.record, CollectorTarget):
            out[name] = (read.partition, read.record)
        else:
            log.warning("targets: %s[%d]@%d is not a target (%s); ignored", read.topic, read.partition, read.offset,
                        read.error or type(read.record).__name__)
    return out


def sync(cfg: Config) -> list[str]:
    """Make the targets topic hold the configuration's inventory; one line per change."""
    create_topics(cfg.kafka)
    topic = cfg.kafka.topic("targets")
    changes = plan(cfg, read_targets(cfg), topic_partitions(cfg.kafka, "targets"), time.time_ns())
    producer = RecordProducer(cfg.kafka, **{"linger.ms": 5})
    for c in changes:
        value = None if c.target is None else producer.codec.encode(c.target, topic)
        producer.produce_raw(topic, c.device.encode(), value, partition=c.partition)
    left = producer.flush(15)
    if left:
        raise RuntimeError(f"targets: {left} records not delivered to {topic}")
    return [f"{c.device}: {'removed' if c.target is None else 'published'} (partition {c.partition})" for c in changes]


class TargetGroup:
    """One collector's membership of the targets group."""

    def __init__(self, cfg: Config, add: Callable[[CollectorTarget], None], remove: Callable[[str], None],
                 group: str = GROUP):
        self.cfg, self.add, self.remove = cfg, add, remove
        self.topic = cfg.kafka.topic("targets")
        self.codec = RecordCodec(cfg.kafka.schema_registry_url)
        configure_group(cfg.kafka, group, "targets")
        self.consumer = Consumer(consumer_settings(cfg.kafka, group, **{
            "partition.assignment.strategy": "cooperative-sticky", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100}))
        self.held: dict[int, set[str]] = {}          # partition -> devices read from it

    def _assigned(self, consumer, partitions) -> None:
        # Read each new partition from its start: the compacted topic is the state.
        for tp in partitions:
            tp.offset = OFFSET_BEGINNING
            self.held.setdefault(tp.partition, set())
        consumer.incremental_assign(partitions)
        if partitions:
            log.info("targets: %d partitions assigned (%s); holding %d", len(partitions),
                     ",".join(str(tp.partition) for tp in partitions), len(self.held))

    def _revoked(self, consumer, partitions) -> None:
        for tp in partitions:
            for name in sorted(self.held.pop(tp.partition, set())):
                self.remove(name)
        consumer.incremental_unassign(partitions)
        if partitions:
            log.info("targets: %d partitions revoked (%s); holding %d", len(partitions),
                     ",".join(str(tp.partition) for tp in partitions), len(self.held))

    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked,
                                on_lost=self._revoked)
        try:
            while not stop.is_set():
                msg = self.consumer.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    if msg.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("targets: consumer error: %s", msg.error().str())
                    continue
                self._apply(msg)
        finally:
            self.consumer.close()             # leaves the group: the others take its partitions at once
            for p in list(self.held):
                for name in sorted(self.held.pop(p)):
                    self.remove(name)

    def _apply(self, msg) -> None:
        name = (msg.key() or b"").decode()
        held = self.held.setdefault(msg.partition(), set())
        if msg.value() is None:
            if name in held:
                held.discard(name)
                self.remove(name)
            return
        try:
            target = self.codec.decode(msg.value(), "CollectorTarget")
        except CorruptMessage as exc:
            log.warning("targets: %s[%d]@%d does not decode (%s); ignored", msg.topic(), msg.partition(), msg.offset(),
                        exc.reason)
            return
        held.add(name)
        self.add(target)
