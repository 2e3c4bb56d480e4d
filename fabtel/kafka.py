"""Kafka plumbing shared by every component: client settings, topic creation,
a record producer, a decoding consumer loop helper and the dead-letter path.

Delivery is at-least-once everywhere: consumers commit offsets only after
their effect happened, and every effect is idempotent. May import:
fabtel.config, fabtel.serde, fabtel.records, fabtel.topics, confluent_kafka.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

from fabtel.config import KafkaConfig, resolve_secret
from fabtel.records import TELEMETRY, DeadLetter, kind_of, record_key
from fabtel.serde import CorruptMessage, RecordCodec, RegistryUnavailable
from fabtel.topics import TOPIC_SETTINGS, topic_key_of

log = logging.getLogger("fabtel.kafka")

class _OncePerMinute(logging.Filter):
    """librdkafka repeats a failing connection's error every few hundred ms:
    let each distinct message through once a minute."""

    def __init__(self):
        super().__init__()
        self.seen: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = re.sub(r"\d+", "#", text.split("|")[-1])[:120]       # the same failure, whatever its numbers
        now = time.monotonic()
        if now - self.seen.get(key, -1e9) < 60:
            return False
        if len(self.seen) > 1000:
            self.seen.clear()
        self.seen[key] = now
        return True


librdkafka_log = logging.getLogger("fabtel.librdkafka")
librdkafka_log.addFilter(_OncePerMinute())
# A topic full of records we cannot read (a registry-framed topic read
# without the registry, say) is one line a minute per reason, not one per
# record; the dead-letter topic and the components' counters keep them all.
dead_letter_log = logging.getLogger("fabtel.dead_letters")
dead_letter_log.addFilter(_OncePerMinute())
registry_log = logging.getLogger("fabtel.registry")           # an outage: one line a minute, not one per record
registry_log.addFilter(_OncePerMinute())


def quiet_repeats(prefix: str) -> None:
    """Let each distinct message of the loggers under `prefix` (aiokafka's,
    say, which log every failed reconnect) through once a minute. A filter
    applies to its own logger only, so each module logger gets one."""
    once = _OncePerMinute()
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if (name == prefix or name.startswith(prefix + ".")) and isinstance(logger, logging.Logger):
            logger.addFilter(once)


# After a broker outage, every client is back within a few hundred ms of the
# broker: librdkafka's reconnect backoff would grow to 10 s, and its
# re-bootstrap after "all brokers down" retries only about once a second
# (both measured: a producer's first ack 1-2 s after the broker returned).
RECONNECT_SETTINGS = {"reconnect.backoff.max.ms": 500, "metadata.recovery.strategy": "none"}


def client_settings(cfg: KafkaConfig) -> dict:
    """What every confluent-kafka client of fabtel sets: the brokers, the
    security settings (credentials read now, from the environment or a file;
    never logged), and librdkafka's log through fabtel's, rate-limited."""
    settings: dict[str, Any] = {"bootstrap.servers": cfg.bootstrap_servers, "log_level": 3, "logger": librdkafka_log,
                                **RECONNECT_SETTINGS}
    sec = cfg.security
    settings["security.protocol"] = sec.protocol
    if sec.sasl:
        user = sec.username if isinstance(sec.username, str) else resolve_secret(sec.username)
        settings.update({"sasl.mechanism": sec.sasl_mechanism, "sasl.username": user,
                         "sasl.password": resolve_secret(sec.password)})
    if sec.tls:
        settings.update({k: v for k, v in (("ssl.ca.location", sec.ca_file), ("ssl.certificate.location", sec.cert_file),
                                           ("ssl.key.location", sec.key_file)) if v})
    return settings


def producer_settings(cfg: KafkaConfig, **extra: Any) -> dict:
    settings = {**client_settings(cfg), "enable.idempotence": True, "linger.ms": 5}
    settings.update(extra)
    return settings


def consumer_settings(cfg: KafkaConfig, group: str, **extra: Any) -> dict:
    """A group consumer's settings. On Apache Kafka it speaks KIP-848's
    consumer protocol: a member cut off from the coordinator (a broker
    restart) rejoins as itself at once, where the classic protocol makes the
    group wait out the member's old session (6 s measured after every broker
    restart); its session timeout is then the group's (`configure_group`).
    Tansu speaks only the classic protocol."""
    settings = {**client_settings(cfg), "group.id": group, "enable.auto.commit": False,
                "auto.offset.reset": "earliest"}
    if cfg.implementation == "tansu":
        settings.update({"session.timeout.ms": cfg.session_timeout_ms,
                         "heartbeat.interval.ms": max(500, cfg.session_timeout_ms // 3)})
    else:
        settings["group.protocol"] = "consumer"
    settings.update(extra)
    if settings.get("group.protocol") == "consumer":
        # its assignment is incremental by design, and done by the coordinator
        settings.pop("partition.assignment.strategy", None)
    return settings


def group_settings(cfg: KafkaConfig) -> dict[str, str]:
    """A consumer group's own configuration (KIP-848): kafka.session_timeout_ms
    and a heartbeat a sixth of it, so a member that dies hands its partitions
    over in about the session timeout, and one that stays learns of a new
    assignment within a heartbeat."""
    return {"consumer.session.timeout.ms": str(cfg.session_timeout_ms),
            "consumer.heartbeat.interval.ms": str(max(100, cfg.session_timeout_ms // 6))}


def configure_group(cfg: KafkaConfig, group: str, component: str) -> bool:
    """Set `group`'s session timeout and heartbeat (group_settings) before
    joining it; a broker whose bounds refuse them keeps its own (45 s by
    default), said in one line. False when they were not set."""
    if cfg.implementation == "tansu":
        return False
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in group_settings(cfg).items()]
    admin = admin_client(cfg)             # held until the answer: a collected client cancels its requests
    try:
        for future in admin.incremental_alter_configs(
                [ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)]).values():
            future.result(timeout=15)
        return True
    except (KafkaException, TimeoutError) as exc:
        reason = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
        log.warning("%s: consumer group %s keeps the broker's session timeout, not kafka.session_timeout_ms "
                    "%d ms (%s); a member that dies hands its partitions over only after that", component, group,
                    cfg.session_timeout_ms, reason)
        return False


def admin_client(cfg: KafkaConfig, **extra: Any) -> AdminClient:
    return AdminClient({**client_settings(cfg), **extra})


def delete_by_prefix(cfg: KafkaConfig, prefixes: tuple[str, ...]) -> tuple[int, int]:
    """Delete the topics and consumer groups whose names start with one of
    `prefixes` (what a demo or bench run made); (topics, groups) deleted."""
    admin = admin_client(cfg)
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefixes)]
    try:
        groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid
                  if g.group_id.startswith(prefixes)]
    except KafkaException:                    # a broker without the group API (Tansu): the topics at least
        groups = []
    done = [0, 0]
    for i, futures in enumerate((admin.delete_topics(topics, operation_timeout=15) if topics else {},
                                 admin.delete_consumer_groups(groups, request_timeout=15) if groups else {})):
        for future in futures.values():
            try:
                future.result()
                done[i] += 1
            except KafkaException:            # already gone, or a member still leaving: nothing to keep
                pass
    return done[0], done[1]


class KafkaAuthError(Exception):
    """The broker refused fabtel's credentials or could not be trusted: retrying will not help."""


def _refusal(cfg: KafkaConfig, err: KafkaError) -> str | None:
    """One line naming the listener kind and mechanism, when `err` is an
    authentication or TLS failure (None for anything worth retrying)."""
    text = err.str()
    sec = cfg.security
    if err.code() == KafkaError._AUTHENTICATION or "SASL authentication" in text or "Authentication failed" in text:
        user = sec.username if isinstance(sec.username, str) else f"the user in {sec.username}"
        return (f"broker {cfg.bootstrap_servers} refused {sec.sasl_mechanism or sec.protocol} authentication "
                f"as {user} on its {sec.protocol} listener: {text.split(': ', 1)[-1]}")
    if err.code() == KafkaError._SSL or "certificate verify failed" in text or "SSL handshake failed" in text:
        return (f"cannot trust broker {cfg.bootstrap_servers} on its {sec.describe()} listener "
                f"(TLS: {text}); check kafka.security.ca_file")
    return None


def wait_for_broker(cfg: KafkaConfig, component: str, timeout_s: float | None = None, stop=None) -> None:
    """Block until the broker answers a metadata request. Says once that it
    is waiting (and why), retries with backoff up to `timeout_s` (default
    kafka.broker_wait_ms), then raises KafkaUnavailable; raises
    KafkaAuthError at once when the broker refuses the credentials or its
    certificate is not trusted."""
    timeout_s = cfg.broker_wait_ms / 1000 if timeout_s is None else timeout_s
    errors: list[KafkaError] = []
    # timeout 0 is a probe (is a broker there?): its refused connection is an answer, not an error to log
    admin = admin_client(cfg, error_cb=errors.append, **({"log_level": 0} if timeout_s == 0 else {}))
    deadline = time.monotonic() + timeout_s
    delay, said = 0.5, False
    while True:
        try:
            admin.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            if said:
                log.info("%s: broker %s answers", component, cfg.bootstrap_servers)
            return
        except KafkaException as exc:
            admin.poll(0.2)             # serves error_cb: the broker's reason (authentication, TLS) arrives there
            errors.append(exc.args[0])
        for err in errors:
            refusal = _refusal(cfg, err)
            if refusal:
                raise KafkaAuthError(refusal)
        reason = errors[-1].str() if errors else "no answer"
        errors.clear()
        if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
            raise KafkaUnavailable(f"broker {cfg.bootstrap_servers} did not answer within {timeout_s:.0f} s "
                                   f"({reason}); is it running? (fabtel stack up, or --bootstrap-servers)")
        if not said:
            log.warning("%s: waiting for broker %s (%s)", component, cfg.bootstrap_servers, reason)
            said = True
        (stop.wait if stop is not None else time.sleep)(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)


# A commit the group refuses because it moved on (a rebalance, a coordinator
# failover, a session that timed out) or that the broker cannot take now:
# the records will be delivered again and their effects are idempotent.
COMMIT_REFUSALS = {KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS,
                   KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                   KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN,
                   KafkaError._NO_OFFSET, KafkaError.FENCED_INSTANCE_ID, KafkaError.STALE_MEMBER_EPOCH,
                   KafkaError._STATE, KafkaError._WAIT_COORD, KafkaError.NETWORK_EXCEPTION}


def commit(consumer: Consumer, offsets: list[TopicPartition], component: str, refused=None) -> bool:
    """Commit synchronously. A commit the group or the broker refuses is
    logged in one line, counted through `refused(reason)` and survived: the
    consumer rejoins by itself and the records come again (replays are
    harmless). Returns whether the offsets were stored."""
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
        return True
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() not in COMMIT_REFUSALS:
            raise
        log.warning("%s: commit refused (%s: %s); the records will be delivered again", component, err.name(), err.str())
        if refused is not None:
            refused(err.name())
        return False


def create_topics(cfg: KafkaConfig, timeout: float | None = None) -> list[str]:
    """Create every configured topic that does not exist yet; idempotent.
    Waits up to `timeout` s (kafka.broker_wait_ms: a busy broker may take
    seconds to lead a few dozen new partitions)."""
    timeout = cfg.broker_wait_ms / 1000 if timeout is None else timeout
    admin = admin_client(cfg)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(f"broker {cfg.bootstrap_servers} does not answer: {exc.args[0].str()}") from None
    wanted = [NewTopic(name, num_partitions=topic_partitions(cfg, key), replication_factor=cfg.replication,
                       config=topic_config(cfg, key))
              for key, name in cfg.topics.items() if name not in existing]
    lines = [f"{name}: exists" for name in sorted(set(cfg.topics.values()) & existing)]
    if wanted:
        partitions = {t.topic: t.num_partitions for t in wanted}
        for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
            try:
                future.result()
                lines.append(f"{name}: created ({partitions[name]} partitions)")
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    lines.append(f"{name}: exists")
                else:
                    raise KafkaUnavailable(f"cannot create {name}: {exc.args[0].str()}") from None
        _wait_until_served(admin, [t.topic for t in wanted], timeout)
    return sorted(lines)


def _wait_until_served(admin: AdminClient, topics: list[str], timeout: float) -> None:
    """A created topic is in the controller's log before every broker serves
    it: wait until the metadata shows each with a leader for every partition,
    so that a consumer started next does not find it unknown."""
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(timeout=timeout).topics
        missing = [t for t in topics if t not in meta or meta[t].error is not None
                   or any(p.leader < 0 for p in meta[t].partitions.values())]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise KafkaUnavailable(f"created {', '.join(missing)}, but the broker does not serve them after {timeout:.0f} s")
        time.sleep(0.1)


def topic_partitions(cfg: KafkaConfig, key: str) -> int:
    return getattr(cfg, TOPIC_SETTINGS[key][0]) if key in TOPIC_SETTINGS else cfg.partitions


def topic_config(cfg: KafkaConfig, key: str) -> dict[str, str]:
    """A configured topic's settings: its own (TOPIC_SETTINGS), else kept kafka.retention_ms."""
    if key in TOPIC_SETTINGS:
        return dict(TOPIC_SETTINGS[key][1])
    return {"retention.ms": str(cfg.retention_ms)}


def internal_topic_config(cfg: KafkaConfig, extra: dict[str, str]) -> dict[str, str]:
    """A Faust worker's own topic (fabtel.pipeline.topics): kept like the others, with its own settings."""
    return {"retention.ms": str(cfg.retention_ms), **extra}


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
        """-1 (the client's own choice by key) unless a partitioner applies: to telemetry (records.TELEMETRY)."""
        if kind_of(record) not in TELEMETRY:
            return -1
        return self.device_partition(topic, getattr(record, "device", None))

    def device_partition(self, topic: str, device: str | None) -> int:
        """The partition of the device's decision domain in `topic` (-1, the
        client's choice by key, without a partitioner or a device)."""
        if self.partitioner is None or device is None:
            return -1
        return self.partitioner.partition(device, self.partitions_of(topic))

    def _on_delivery(self, err, msg) -> None:
        if err is None:
            self.delivered += 1
            return
        reason = err.name() if hasattr(err, "name") else str(err)
        if reason not in self.failures:
            log.warning("delivery to %s failed: %s", msg.topic(), err.str() if hasattr(err, "str") else err)
        self.failures[reason] = self.failures.get(reason, 0) + 1

    def send(self, record: Any, on_delivery=None) -> None:
        """Produce `record` to its type's topic (TOPIC_RECORDS), waiting for
        room in the queue, and for the schema registry when it is down (the
        record's first of its type cannot be encoded without it)."""
        topic = self.cfg.topic(topic_key_of(record))
        value = self._encode(record, topic, wait=True)
        self.produce_raw(topic, record_key(record), value, on_delivery, self.partition_for(topic, record))

    def _encode(self, record: Any, topic: str, wait: bool) -> bytes | None:
        delay = 0.5
        while True:
            try:
                return self.codec.encode(record, topic)
            except RegistryUnavailable as exc:
                if not wait:
                    return None
                registry_log.warning("%s; records of this type wait and are retried", exc)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def produce_raw(self, topic: str, key: bytes | None, value: bytes, on_delivery=None, partition: int = -1) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, on_delivery=on_delivery or self._on_delivery)
                return
            except BufferError:
                # The local queue is full: serve deliveries, then try again. Bounded memory.
                self.producer.poll(0.05)

    def try_send(self, record: Any) -> bool:
        """Produce without waiting: False when the bounded local queue is full
        (the caller counts the drop instead of growing without bound)."""
        topic = self.cfg.topic(topic_key_of(record))
        value = self._encode(record, topic, wait=False)         # the registry down: dropped and counted too
        if value is None:
            return False
        try:
            self.producer.produce(topic, value, record_key(record),
                                  partition=self.partition_for(topic, record), on_delivery=self._on_delivery)
            return True
        except BufferError:
            return False

    def try_produce_batch(self, topic: str, key: bytes, values: list[bytes], partition: int = -1) -> int:
        """Encoded values of one key in one call (librdkafka's batch produce);
        returns how many were queued (the rest found the local queue full)."""
        messages = [{"key": key, "value": v} for v in values]
        try:
            return self.producer.produce_batch(topic, messages, partition=partition, on_delivery=self._on_delivery)
        except BufferError:
            return 0

    def partitions_of(self, topic: str) -> int:
        n = self._partitions.get(topic)
        if n is None:
            meta = self.producer.list_topics(topic, timeout=10).topics.get(topic)
            n = self._partitions[topic] = len(meta.partitions) if meta and meta.partitions else self.cfg.partitions
        return n

    def poll(self, timeout: float = 0.0) -> int:
        return self.producer.poll(timeout)

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding deliveries; return how many are still pending."""
        return self.producer.flush(timeout)


def dead_letter(component: str, reason: str, payload: bytes, source_topic: str = "",
                partition: int = -1, offset: int = -1, key: bytes | None = None) -> DeadLetter:
    return DeadLetter(component=component, source_topic=source_topic, partition=partition, offset=offset,
                      key=key, reason=reason, payload=payload or b"", ts_ns=time.time_ns())


def decode_or_letter(codec: RecordCodec, component: str, value: bytes | None, topic: str, partition: int,
                     offset: int, key: bytes | None = None,
                     expect: str | tuple[str, ...] | None = None) -> tuple[Any, DeadLetter | None]:
    """The one decode path of fabtel's consumers, whatever their client:
    (record, None), or (None, a dead letter naming the reason) when the
    message does not decode, logged in one line. Never raises for bad input;
    the caller sends the letter on its own producer."""
    try:
        return codec.decode(value, expect), None
    except CorruptMessage as exc:
        dead_letter_log.warning("%s: dead-lettered %s[%d]@%d: %s (more for this reason: one line a minute)",
                                component, topic, partition, offset, exc.reason)
        return None, dead_letter(component, exc.reason, value or b"", topic, partition, offset, key)


def decode_or_dead_letter(producer: RecordProducer, component: str, msg,
                          expect: str | tuple[str, ...] | None = None,
                          on_corrupt=None) -> Any | None:
    """decode_or_letter for a confluent-kafka message: the record, or None
    after the letter is sent and `on_corrupt(reason)` (the caller's counter) called."""
    record, letter = decode_or_letter(producer.codec, component, msg.value(), msg.topic(), msg.partition(),
                                      msg.offset(), msg.key(), expect)
    if letter is not None:
        producer.send(letter)
        if on_corrupt is not None:
            on_corrupt(letter.reason)
    return record


@dataclass
class Read:
    """One consumed message: where it was, and its record (or why it did
    not decode, or a tombstone: a compacted topic's deletion of its key)."""
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    record: Any = None
    error: str | None = None
    tombstone: bool = False


def read_topic(cfg: KafkaConfig, topic: str, start: str | int = "beginning", partition: int | None = None,
               max_records: int | None = None, timeout_s: float = 5.0, until_end: bool = False,
               follow: bool = False, stop: threading.Event | None = None) -> Iterator[Read]:
    """Messages of `topic` (one partition, or all) from `start` ("beginning",
    "end" or an offset), until `max_records`, or `timeout_s` without a new
    message (never, with `follow`), or `stop` is set; with `until_end`, also
    stop once every partition's end, as it was at the start, is read."""
    codec = RecordCodec(cfg.schema_registry_url)
    # Partition EOF events, and on Apache Kafka the watermarks too: Tansu 0.6
    # reports wrong high watermarks for every partition but the first.
    consumer = Consumer(consumer_settings(cfg, f"fabtel-tail-{time.time_ns()}", **{"enable.partition.eof": until_end}))
    try:
        meta = consumer.list_topics(topic, timeout=10)
        deadline = time.monotonic() + 5        # a topic created a moment ago may not be served yet
        while meta.topics[topic].error is not None and time.monotonic() < deadline:
            time.sleep(0.2)
            meta = consumer.list_topics(topic, timeout=10)
        if meta.topics[topic].error is not None:
            raise KafkaUnavailable(f"topic {topic}: {meta.topics[topic].error.str()}")
        partitions = list(meta.topics[topic].partitions)
        if partition is not None:
            if partition not in partitions:
                raise KafkaUnavailable(f"topic {topic} has no partition {partition} (it has {len(partitions)})")
            partitions = [partition]
        offset = {"beginning": OFFSET_BEGINNING, "end": OFFSET_END}.get(start, start)
        consumer.assign([TopicPartition(topic, p, offset) for p in partitions])
        # The last offset of each partition at the start: a topic written
        # steadily (BMP mirroring keepalives) may never let a consumer see a
        # partition's EOF, so `until_end` stops there too.
        ends = _last_offsets(consumer, topic, partitions, offset) if until_end and cfg.implementation != "tansu" else {}
        remaining = set(partitions) - {p for p, end in ends.items() if end is None}
        seen, last = 0, time.monotonic()
        while (max_records is None or seen < max_records) and (follow or time.monotonic() - last < timeout_s):
            if (until_end and not remaining) or (stop is not None and stop.is_set()):
                break
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    remaining.discard(msg.partition())
                continue
            if msg.partition() not in remaining and until_end:
                continue                   # written after the start: not asked for
            if ends.get(msg.partition()) is not None and msg.offset() >= ends[msg.partition()]:
                remaining.discard(msg.partition())
            last = time.monotonic()
            seen += 1
            read = Read(msg.topic(), msg.partition(), msg.offset(), msg.timestamp()[1], msg.key())
            if msg.value() is None:
                read.tombstone = True
            else:
                try:
                    read.record = codec.decode(msg.value())
                except CorruptMessage as exc:
                    read.error = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}: {exc.reason}"
            yield read
    except KafkaException as exc:
        raise KafkaUnavailable(f"broker {cfg.bootstrap_servers}: {exc.args[0].str()}") from None
    finally:
        consumer.close()


def _last_offsets(consumer: Consumer, topic: str, partitions: list[int], start: int,
                  within_s: float = 5.0) -> dict[int, int | None]:
    """Each partition's last offset as the broker reports it now, or None
    when nothing at or after `start` is there to read. A partition whose
    watermarks the broker will not give within `within_s` (a topic made a
    moment ago: "not leader for partition") is left out: EOF alone ends it."""
    ends: dict[int, int | None] = {}
    deadline = time.monotonic() + within_s
    for p in partitions:
        while True:
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=within_s)
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    low = high = None
                    break
                time.sleep(0.1)
        if high is None:
            continue
        first = low if start == OFFSET_BEGINNING else high if start == OFFSET_END else max(start, low)
        ends[p] = high - 1 if high > first else None
    return ends


def tail(cfg: KafkaConfig, topic: str, max_records: int | None, timeout_s: float,
         until_end: bool = False) -> Iterator[tuple[Any, str | None]]:
    """(record or None, error) for each message of `topic` from the start (read_topic)."""
    for read in read_topic(cfg, topic, "beginning", None, max_records, timeout_s, until_end):
        yield read.record, read.error
