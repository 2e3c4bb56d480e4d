"""Remediation commands' own way out of the worker.

Faust's producer (aiokafka) keeps one produce request in flight per broker,
so a command sent just after the worker's other outputs waited for that
request's answer first; when it met the broker's tail, the command carried
it (47.8 ms in the worst of 30 probed remediations). Commands go instead
through a confluent-kafka producer of their own: its own connection, no
linger or Nagle, and Java's partitioner (murmur2, as aiokafka's), so a device's
commands land on the partition they always did.

Commit after effect: `deliver` returns only when the broker has
acknowledged every command, so the agent acks the event that set them off,
and Faust commits its offset, only after. A failed delivery is produced
again until it is acknowledged (commands are idempotent: their ids are
deterministic and the executor applies a state, not a toggle).

May import: the standard library, confluent_kafka, fabtel.config, fabtel.kafka.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from fabtel.config import KafkaConfig

log = logging.getLogger("fabtel.pipeline")

# No linger and no Nagle (a small request must not wait for the last one's ACK), as the collector's state producer.
SETTINGS = {"linger.ms": 0, "socket.nagle.disable": True, "partitioner": "murmur2_random", "acks": "all"}


class CommandOut:
    def __init__(self, cfg: KafkaConfig, producer: Any = None):
        self.cfg = cfg
        self._producer = producer
        self._serving: threading.Thread | None = None
        self._stop = threading.Event()
        self._warned_at = -1e9

    def start(self, topic: str | None = None) -> None:
        """The producer and the thread that serves its delivery reports, ready
        before the first command: the thread first asks for `topic`'s metadata,
        which connects and (idempotence) gets the producer its id, the half
        second that the first command waited otherwise."""
        if self._producer is None:
            from confluent_kafka import Producer

            from fabtel.kafka import producer_settings
            self._producer = Producer(producer_settings(self.cfg, **SETTINGS))
        if self._serving is None:
            self._stop.clear()
            self._serving = threading.Thread(target=self._serve, args=(topic,), name="fabtel-commands-out", daemon=True)
            self._serving.start()

    def _serve(self, topic: str | None) -> None:
        from confluent_kafka import KafkaException
        if topic is not None:
            try:
                self._producer.list_topics(topic, timeout=10)
            except KafkaException as exc:       # the broker away: the first command connects instead
                log.info("pipeline: the commands' producer could not warm up (%s)", exc)
        while not self._stop.is_set():
            self._producer.poll(0.1)

    async def deliver(self, messages: list[tuple[str, bytes, bytes]]) -> None:
        """Each (topic, key, value) produced at once and acknowledged by the
        broker before this returns; the failed ones again, after a pause."""
        loop = asyncio.get_running_loop()
        delay = 0.5
        while messages:
            errors = await asyncio.gather(*(self._produce(loop, *m) for m in messages))
            failed = [(m, e) for m, e in zip(messages, errors) if e is not None]
            if not failed:
                return
            now = time.monotonic()
            if now - self._warned_at >= 60:
                self._warned_at = now
                log.warning("pipeline: %d command(s) not acknowledged (%s); produced again until they are",
                            len(failed), failed[0][1])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            messages = [m for m, _ in failed]

    def _produce(self, loop: asyncio.AbstractEventLoop, topic: str, key: bytes, value: bytes) -> asyncio.Future:
        """A future of the delivery's error (None once acknowledged)."""
        done = loop.create_future()

        def settle(err: Any) -> None:
            if not done.done():
                done.set_result(err)

        def reported(err: Any, _msg: Any) -> None:          # on the serving thread
            try:
                loop.call_soon_threadsafe(settle, err)
            except RuntimeError:                            # the loop closed at shutdown: the event is unacked
                pass
        try:
            self.start()
            self._producer.produce(topic, value, key, on_delivery=reported)
        except BufferError as exc:                          # never for a few commands; retried like a failure
            settle(exc)
        return done

    def close(self, timeout_s: float = 5.0) -> None:
        """What is still in flight sent (within `timeout_s`), the serving thread
        stopped (it may still be warming up against an absent broker: not waited for)."""
        if self._serving is None:
            return
        self._stop.set()
        self._serving.join(timeout_s)
        self._serving = None
        self._producer.flush(timeout_s)
