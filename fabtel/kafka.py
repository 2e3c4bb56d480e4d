"""Kafka plumbing shared by every component: client settings, topic creation,
a record producer, a decoding consumer loop helper and the dead-letter path.

Delivery is at-least-once everywhere: consumers commit offsets only after
their effect happened, and every effect is idempotent. May import:
fabtel.config, fabtel.serde, fabtel.records, confluent_kafka.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from fabtel.config import KafkaConfig
from fabtel.records import DeadLetter, record_key
from fabtel.serde import CorruptMessage, RecordCodec

log = logging.getLogger("fabtel.kafka")

# Which record type lives on which configured topic.
TOPIC_RECORDS = {
    "interface_state": "InterfaceState", "interface_counters": "InterfaceCounters",
    "lag_member": "LagMemberState", "bgp_session": "BgpSession", "sflow_samples": "SflowSample",
    "lag_balance": "LagBalance", "uplink_health": "UplinkHealth", "decisions": "OperGroupDecision",
    "commands": "RemediationCommand", "command_results": "RemediationResult", "dead_letters": "DeadLetter",
    "pipeline_stats": "ComponentStats", "bmp_messages": "BmpMessage", "convergence": "ConvergenceResult",
    "routing_events": "RoutingEvent",
}


def producer_settings(cfg: KafkaConfig, **extra: Any) -> dict:
    settings = {"bootstrap.servers": cfg.bootstrap_servers, "enable.idempotence": True,
                "linger.ms": 5, "log_level": 3}
    settings.update(extra)
    return settings


def consumer_settings(cfg: KafkaConfig, group: str, **extra: Any) -> dict:
    settings = {"bootstrap.servers": cfg.bootstrap_servers, "group.id": group,
                "enable.auto.commit": False, "auto.offset.reset": "earliest",
                "session.timeout.ms": cfg.session_timeout_ms,
                "heartbeat.interval.ms": max(500, cfg.session_timeout_ms // 3), "log_level": 3}
    settings.update(extra)
    return settings


def create_topics(cfg: KafkaConfig, timeout: float = 15.0) -> list[str]:
    """Create every configured topic that does not exist yet; idempotent."""
    admin = AdminClient({"bootstrap.servers": cfg.bootstrap_servers, "log_level": 3})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(f"broker {cfg.bootstrap_servers} does not answer: {exc.args[0].str()}") from None
    wanted = [NewTopic(name, num_partitions=cfg.partitions, replication_factor=cfg.replication,
                       config={"retention.ms": str(cfg.retention_ms)})
              for name in cfg.topics.values() if name not in existing]
    lines = [f"{name}: exists" for name in sorted(set(cfg.topics.values()) & existing)]
    if wanted:
        for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
            try:
                future.result()
                lines.append(f"{name}: created ({cfg.partitions} partitions)")
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    lines.append(f"{name}: exists")
                else:
                    raise KafkaUnavailable(f"cannot create {name}: {exc.args[0].str()}") from None
    return sorted(lines)


class KafkaUnavailable(Exception):
    """The broker cannot be reached or refused an administrative request."""


class RecordProducer:
    """Produces typed records keyed by device. With a partitioner, telemetry
    goes to the partition of the device's decision domain (fabtel.partitioning).
    Delivery failures are counted and logged once per reason; callers poll()
    in their loop."""

    def __init__(self, cfg: KafkaConfig, codec: RecordCodec | None = None, partitioner=None, **settings: Any):
        self.cfg = cfg
        self.codec = codec or RecordCodec(cfg.schema_registry_url)
        self.producer = Producer(producer_settings(cfg, **settings))
        self.partitioner = partitioner
        self._partitions: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.delivered = 0

    def partition_for(self, topic: str, record: Any) -> int:
        """-1 (the client's own choice by key) unless a partitioner applies."""
        device = getattr(record, "device", None)
        if self.partitioner is None or device is None or not hasattr(record, "receive_ts_ns"):
            return -1
        n = self._partitions.get(topic)
        if n is None:
            meta = self.producer.list_topics(topic, timeout=10).topics.get(topic)
            n = self._partitions[topic] = len(meta.partitions) if meta and meta.partitions else self.cfg.partitions
        return self.partitioner.partition(device, n)

    def _on_delivery(self, err, msg) -> None:
        if err is None:
            self.delivered += 1
            return
        reason = err.name() if hasattr(err, "name") else str(err)
        if reason not in self.failures:
            log.warning("delivery to %s failed: %s", msg.topic(), err.str() if hasattr(err, "str") else err)
        self.failures[reason] = self.failures.get(reason, 0) + 1

    def send(self, topic_key: str, record: Any, on_delivery=None) -> None:
        topic = self.cfg.topic(topic_key)
        value = self.codec.encode(record, topic)
        self.produce_raw(topic, record_key(record), value, on_delivery, self.partition_for(topic, record))

    def produce_raw(self, topic: str, key: bytes | None, value: bytes, on_delivery=None, partition: int = -1) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, on_delivery=on_delivery or self._on_delivery)
                return
            except BufferError:
                # The local queue is full: serve deliveries, then try again. Bounded memory.
                self.producer.poll(0.05)

    def try_send(self, topic_key: str, record: Any) -> bool:
        """Produce without waiting: False when the bounded local queue is full
        (the caller counts the drop instead of growing without bound)."""
        topic = self.cfg.topic(topic_key)
        try:
            self.producer.produce(topic, self.codec.encode(record, topic), record_key(record),
                                  partition=self.partition_for(topic, record), on_delivery=self._on_delivery)
            return True
        except BufferError:
            return False

    def poll(self, timeout: float = 0.0) -> int:
        return self.producer.poll(timeout)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding deliveries; return how many are still pending."""
        return self.producer.flush(timeout)


def dead_letter(component: str, reason: str, payload: bytes, source_topic: str = "",
                partition: int = -1, offset: int = -1, key: bytes | None = None) -> DeadLetter:
    return DeadLetter(component=component, source_topic=source_topic, partition=partition, offset=offset,
                      key=key, reason=reason, payload=payload or b"", ts_ns=time.time_ns())


def decode_or_dead_letter(codec: RecordCodec, producer: RecordProducer, component: str, msg,
                          counters: dict[str, int], expect: str | None = None) -> Any | None:
    """Decode a consumed message; on failure publish a dead letter, count the
    reason and return None. Never raises for bad input."""
    try:
        return codec.decode(msg.value(), expect)
    except CorruptMessage as exc:
        counters[exc.reason.split(":")[0]] = counters.get(exc.reason.split(":")[0], 0) + 1
        producer.send("dead_letters", dead_letter(component, exc.reason, msg.value() or b"", msg.topic(),
                                                  msg.partition(), msg.offset(), msg.key()))
        log.warning("%s: dead-lettered %s[%d]@%d: %s", component, msg.topic(), msg.partition(), msg.offset(), exc.reason)
        return None


def tail(cfg: KafkaConfig, topic: str, max_records: int | None, timeout_s: float,
         until_end: bool = False) -> Iterator[tuple[Any, str | None]]:
    """Yield (record or None, error) for each message of `topic` from the start,
    until `max_records` or `timeout_s` without a new message; with `until_end`,
    also stop once every partition's end (as it was at the start) is read."""
    codec = RecordCodec(cfg.schema_registry_url)
    # Partition EOF events, not ListOffsets: Tansu 0.6 reports wrong high
    # watermarks for every partition but the first (see shared field notes).
    consumer = Consumer(consumer_settings(cfg, f"fabtel-tail-{time.time_ns()}", **{"enable.partition.eof": until_end}))
    try:
        meta = consumer.list_topics(topic, timeout=10)
        if meta.topics[topic].error is not None:
            raise KafkaUnavailable(f"topic {topic}: {meta.topics[topic].error.str()}")
        partitions = list(meta.topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        remaining = set(partitions)
        seen, last = 0, time.monotonic()
        while (max_records is None or seen < max_records) and time.monotonic() - last < timeout_s:
            if until_end and not remaining:
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    remaining.discard(msg.partition())
                continue
            last = time.monotonic()
            seen += 1
            try:
                yield codec.decode(msg.value()), None
            except CorruptMessage as exc:
                yield None, f"{msg.topic()}[{msg.partition()}]@{msg.offset()}: {exc.reason}"
    except KafkaException as exc:
        raise KafkaUnavailable(f"broker {cfg.bootstrap_servers}: {exc.args[0].str()}") from None
    finally:
        consumer.close()
