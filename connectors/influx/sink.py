"""`fabtel sink influx`: Kafka -> InfluxDB without loss.

The consumer reads the telemetry and the processors' outputs, turns records
into line protocol and writes them in batches bounded in size and time.
Offsets are committed only after InfluxDB accepted the batch (up to two
batches are written, oldest committed first, while the next is decoded), so
a crash or an outage means a replay, and a replay rewrites identical points. While
InfluxDB is down or slow, consumption pauses (Kafka keeps the data) and
resumes by itself. Points InfluxDB rejects go to the dead-letter topic with
the server's message; the rest of the batch is written.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition

from fabtel.connectors.influx.lineproto import to_lines
from fabtel.connectors.influx.writer import InfluxRejected, InfluxUnavailable, InfluxUnreachable, Writer
from fabtel.config import Config
from fabtel.kafka import (RecordProducer, commit, configure_group, consumer_settings, dead_letter,
                          decode_or_dead_letter)
from fabtel.metrics import Metrics

log = logging.getLogger("fabtel.influx")

# Two batches written at once keep InfluxDB busy while the sink waits on one.
MAX_INFLIGHT = 2
TOPIC_KEYS = ("interface_state", "interface_counters", "lag_member", "bgp_session", "lag_balance", "uplink_health",
              "decisions", "commands", "command_results", "dead_letters", "pipeline_stats", "convergence", "flows",
              "flow_reports", "lldp_neighbors", "cabling", "remediation_outcomes")


def sink_metrics() -> Metrics:
    m = Metrics("influx")
    m.declare("points_written_total", "Points InfluxDB accepted.")
    m.declare("records_total", "Records consumed.")
    m.declare("batches_total", "Batches written.")
    m.declare("rejected_points_total", "Points InfluxDB refused (sent to the dead-letter topic).")
    m.declare("corrupt_messages_total", "Messages that did not decode (sent to the dead-letter topic).")
    m.declare("outages_total", "Times InfluxDB became unavailable.")
    m.declare("paused", "1 while consumption is paused for an InfluxDB outage.", kind="gauge")
    m.declare("commits_refused_total", "Offset commits the group refused (the records come again), by reason.",
              ("reason",))
    m.declare("consumer_lag", "Records behind the partitions' ends at the last commit, per topic.", ("topic",), "gauge")
    return m


class InfluxSink:
    def __init__(self, cfg: Config, group: str = "fabtel-influx-sink", writer: Writer | None = None,
                 topics: tuple[str, ...] = TOPIC_KEYS):
        self.cfg = cfg
        self.writer = writer or Writer(cfg.influxdb)
        self.producer = RecordProducer(cfg.kafka)
        self.metrics = sink_metrics()
        self.topics = [cfg.kafka.topic(k) for k in topics]
        self.group = group
        self.consumer = Consumer(consumer_settings(cfg.kafka, group, **{"fetch.wait.max.ms": 100}))
        self.lines: list[str] = []
        self.offsets: dict[tuple[str, int], int] = {}
        self.batch_started = 0.0
        self.held: list = []
        self.inflight: deque[Batch] = deque()      # oldest first; committed in this order
        self.pool = ThreadPoolExecutor(max_workers=MAX_INFLIGHT, thread_name_prefix="influx-write")

    # ------------------------------------------------------------ loop

    def run(self, stop: threading.Event) -> None:
        self._ensure_database(stop)
        log.info("influx sink: writing to %s, batches of %d points or %d ms", self.writer.describe(),
                 self.cfg.influxdb.batch_size, self.cfg.influxdb.flush_interval_ms)
        configure_group(self.cfg.kafka, self.group, "influx sink")
        self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                msgs, self.held = self.held, []
                msgs += self.consumer.consume(num_messages=min(5000, self.cfg.influxdb.batch_size), timeout=0.1)
                if msgs:
                    self.metrics.inc("records_total", by=sum(1 for m in msgs if not m.error()))
                for msg in msgs:
                    self._take(msg)
                if self.lines or self.offsets:
                    full = len(self.lines) >= self.cfg.influxdb.batch_size
                    old = time.monotonic() - self.batch_started >= self.cfg.influxdb.flush_interval_ms / 1000
                    if full or old:
                        self.submit(stop)
                elif self.inflight and self.inflight[0].future.done():
                    self.complete_inflight(stop)
                self.producer.poll(0)
            self.flush(stop)
        finally:
            self.pool.shutdown(wait=True)
            self.consumer.close()
            self.producer.flush(10)

    def _ensure_database(self, stop: threading.Event) -> None:
        """Wait for InfluxDB as every component waits for the broker: one
        line saying why, retries with backoff up to influxdb.wait_ms, then
        InfluxUnreachable (one line and exit 2). Later outages are survived:
        batches wait and are retried, and nothing is committed meanwhile."""
        url, wait_s = self.cfg.influxdb.url, self.cfg.influxdb.wait_ms / 1000
        deadline = time.monotonic() + wait_s
        delay, said = 0.5, False
        while not stop.is_set():
            try:
                self.writer.ping()
                self.writer.ensure_database()
                if said:
                    log.info("influx sink: InfluxDB at %s answers", url)
                return
            except InfluxRejected as exc:
                raise InfluxUnreachable(f"InfluxDB at {url} refused us ({exc}); check influxdb.url, api, database "
                                        "and credentials") from None
            except InfluxUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise InfluxUnreachable(f"InfluxDB at {url} did not answer within {wait_s:.0f} s ({exc}); is it "
                                            "running? (fabtel stack up, or --influx-url)") from None
                if not said:
                    log.warning("influx sink: waiting for InfluxDB at %s (%s)", url, exc)
                    said = True
                stop.wait(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 5.0)

    def _take(self, msg) -> None:
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                log.warning("influx sink: consumer error: %s", msg.error().str())
            return
        if not self.offsets and not self.lines:
            self.batch_started = time.monotonic()
        self.offsets[(msg.topic(), msg.partition())] = msg.offset()
        record = decode_or_dead_letter(self.producer, "influx-sink", msg,
                                       on_corrupt=lambda _: self.metrics.inc("corrupt_messages_total"))
        if record is not None:
            self.lines.extend(to_lines(record))

    # ------------------------------------------------------------ writing: batches in flight

    def submit(self, stop: threading.Event) -> bool:
        """Hand the batch to a writer thread and go on decoding the next one
        (InfluxDB ingests on the other core meanwhile). At most MAX_INFLIGHT
        batches are in flight: the oldest is finished first, so commits stay
        in order and memory stays bounded."""
        while len(self.inflight) >= MAX_INFLIGHT:
            if not self.complete_inflight(stop):
                return False
        batch = Batch(self.lines, self.offsets)
        self.lines, self.offsets = [], {}
        batch.future = self.pool.submit(self.writer.write, batch.lines)
        self.inflight.append(batch)
        return True

    def complete_inflight(self, stop: threading.Event) -> bool:
        """Wait for the oldest batch in flight; on an outage, pause and retry it
        until InfluxDB accepts it (or `stop`); then commit its offsets."""
        if not self.inflight:
            return True
        batch = self.inflight.popleft()
        try:
            rejected = batch.future.result()
        except InfluxUnavailable as exc:
            rejected = self._write_through_outage(batch.lines, stop, exc)
            if rejected is None:      # stopping: nothing more committed; these batches are replayed on the next start
                self.inflight.clear()
                return False
        self._committed(batch, rejected)
        return True

    def flush(self, stop: threading.Event) -> bool:
        """Write everything held now (the batches in flight, then the current one)."""
        if not self.submit(stop):
            return False
        while self.inflight:
            if not self.complete_inflight(stop):
                return False
        return True

    def _write_through_outage(self, lines: list[str], stop: threading.Event, exc: Exception):
        delay = 0.5
        self.metrics.inc("outages_total")
        self.metrics.set("paused", value=1)
        self.consumer.pause(self.consumer.assignment())
        log.warning("influx sink: InfluxDB unavailable (%s); paused consumption, %d points waiting", exc, len(lines))
        try:
            while not stop.is_set():
                stop.wait(delay)
                delay = min(delay * 2, 10)
                # Keep the consumer alive in its group; anything already fetched is held, not lost.
                msg = self.consumer.poll(0)
                if msg is not None:
                    self.held.append(msg)
                try:
                    rejected = self.writer.write(lines)
                except InfluxUnavailable:
                    continue
                log.info("influx sink: InfluxDB is back; resumed")
                return rejected
            return None
        finally:
            self.consumer.resume(self.consumer.assignment())
            self.metrics.set("paused", value=0)

    def _committed(self, batch: "Batch", rejected: list[tuple[str, str]]) -> None:
        for text, message in rejected:
            self.metrics.inc("rejected_points_total")
            log.warning("influx sink: point rejected: %s", message)
            self.producer.send(dead_letter("influx-sink", f"InfluxDB rejected the point: {message}",
                                                           text.encode(), "influxdb"))
        self.metrics.inc("points_written_total", by=len(batch.lines) - len(rejected))
        if batch.lines:
            self.metrics.inc("batches_total")
        if rejected:
            self.producer.flush(10)       # dead letters stored before the offsets move on
        if batch.offsets and commit(self.consumer, [TopicPartition(t, p, o + 1) for (t, p), o in batch.offsets.items()],
                                    "influx sink", lambda reason: self.metrics.inc("commits_refused_total", reason)):
            self._note_lag(batch.offsets)

    def _note_lag(self, offsets: dict[tuple[str, int], int]) -> None:
        # High watermarks as the last fetch responses reported them (no broker round trip).
        lag: dict[str, int] = {}
        for (t, p), o in offsets.items():
            high = self.consumer.get_watermark_offsets(TopicPartition(t, p), cached=True)[1]
            if high is not None and high >= 0:
                lag[t] = lag.get(t, 0) + max(0, high - o - 1)
        for t, n in lag.items():
            self.metrics.set("consumer_lag", t, value=n)

    def _on_revoke(self, consumer, partitions) -> None:
        # Write what we hold before the partitions move; if InfluxDB is down
        # the new owner replays them from the last commit.
        try:
            while self.inflight:
                batch = self.inflight.popleft()
                self._committed(batch, batch.future.result())
            if self.lines:
                batch = Batch(self.lines, self.offsets)
                self._committed(batch, self.writer.write(batch.lines))
        except Exception as exc:  # an outage during a rebalance: leave it to the replay
            log.warning("influx sink: could not flush before a rebalance (%s); the batch will be replayed", exc)
        self.lines, self.offsets = [], {}


@dataclass
class Batch:
    lines: list[str]
    offsets: dict[tuple[str, int], int]
    future: Future | None = None


def run_sink(cfg: Config, metrics_listen: str | None, group: str = "fabtel-influx-sink") -> int:
    from fabtel.stats import run_until_stopped
    sink = InfluxSink(cfg, group)
    run_until_stopped(cfg, metrics_listen, sink)
    log.info("influx sink stopped: %d points written", sink.metrics.get("points_written_total"))
    return 0
