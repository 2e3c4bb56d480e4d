"""Adjustments to faust-streaming 0.15, installed once by `install()` before
the app is built, and the worker to run it with (`worker()`). They keep
Faust's behaviour; they only remove waiting and per-message overhead.
May import: faust, mode, aiokafka, fabtel.heap, fabtel.signals, the standard library.

1. A short fetch wait, on Tansu only. aiokafka waits up to
   `fetch_max_wait_ms` for data; Faust hard-codes 1.5 s, and Tansu does not
   answer a waiting fetch early when data arrives, so a record could wait
   1.5 s before a worker sees it. Apache Kafka answers a waiting fetch as
   soon as data arrives: there Faust's own setting stays.

2. Message delivery without four tasks per message. Faust's consumer hands
   every message to the conductor with
   `wait_first(callback(message), suspend_flow.wait())`, and mode's
   `wait_first` wraps that callback, the flow event, and the service's stopped
   and crashed events in a task each and runs `asyncio.wait` over them: about
   40 % of a worker's event-loop time (py-spy, `fabtel bench faust-ceiling`).
   The callback almost never blocks (it decodes and puts the event on a
   stream's queue), so `FastDeliveryConsumer.wait_first` runs it one step
   inline; only when it does block (a full stream buffer, flow control during
   a rebalance, a full producer buffer) is the rest of it raced against the
   flow event exactly as before.

3. Delivery waits for room in bulk. Under a backlog the fetcher outruns
   the agent, the stream's queue is full, and every message took the slow
   path above (plus a task of its own to put it on the queue) as soon as
   one slot was free. `room_first` makes the delivery wait, once, until the
   queue is half empty; the next thousands of messages then go inline.

4. One event for many messages of a raw topic. For a partition read by one
   channel whose key and value are raw bytes (all of fabtel's topics), Faust
   made an Event per message (acquire the flow, check the producer buffer,
   decode key and value through the serializer registry, which for "raw"
   returns them unchanged) and the stream took each one through its queue,
   its current-event bookkeeping and an ack under Faust's lock (`fabtel
   bench process`: 13,600-18,800 events/s before, 30,900-49,900 with
   batches). `direct_events` gathers the messages one loop
   round delivers for a partition (at most BATCH_MAX) into one Event whose
   value is a `Batch` of their values; `records` in the agents walks it;
   acking it acks every message, so offsets are committed after the agent
   has finished them all. A batch is one partition's, so the tables'
   changelog writes go to the partition of the event as before. Delivery
   waits while the queue holds `maxsize // BATCH_MAX` batches (the same
   bound in messages as Faust's); a batch still gathering when a rebalance
   suspends the flow is dropped unacked (the partition's next owner reads it
   again). Otherwise (flow suspended, producer buffer full) the message
   takes Faust's own handler, after what was gathered before it.

5. A lighter Monitor. Faust's default sensor keeps per-stream counters and
   timings for its web views (off here) on every message and event; fabtel
   counts its own. `LeanMonitor` keeps only what the consumer itself reads:
   when each partition's stream last took an event (its "stream idle"
   warning), the end and committed offsets.

6. A stream goes to the event loop every 16th event, not before each one.
   Faust's compiled stream iterator awaits `asyncio.sleep(0)` before every
   event, so each event cost a whole loop round: an epoll call that releases
   the GIL to the consumer's thread and waits to get it back. Yielding
   every 16th event (`YieldEvery`, in place of that module's `sleep`) took
   `fabtel bench process` from 17,800-20,800 to 26,500-33,900 events/s
   (every 4th or 64th: the same). The other tasks (fetcher, timers,
   producer) wait at most 16 events (< 1 ms).

7. The garbage collector settled after startup: everything alive then is
   frozen (a full collection scanned the whole process, 80 ms each, four in
   100,000 events) and young collections run every 10,000 allocations
   (`fabtel.heap.settle`, as every long-running component does).

8. A worker without the terminal spinner: at log level WARNING Faust sets
   the root logger to DEBUG so that every debug line of aiokafka and Faust
   turns its spinner, building a log record for each fetch, frame and send.

9. (Gone: a remediation command no longer leaves through Faust's producer,
   so nothing of it is ended early; it has a producer of its own,
   fabtel.pipeline.command_out.)

10. aiokafka fetches only what Faust reads. Faust pauses a partition in its
   own bookkeeping only (it stops asking for it), and aiokafka went on
   fetching it: a fresh worker's table changelogs, never paused after a
   recovery that had nothing to read, were fetched from offset 0 in every
   fetch request (8 partitions, up to 1 MB each, fetched and copied again and
   again). `fetch_only_what_is_read` pauses in aiokafka every assigned
   partition that Faust's getmany does not ask for, and resumes it when
   Faust asks again (a recovery, a standby).

11. A state change before the bulk of its fetch. Faust hands a fetch's
   records to the agents round-robin over its topics, so the uplink-down
   that sets off a remediation could wait behind a second's interface
   counters, LLDP neighbours and flows fetched with it (the evaluate agent
   reads state and counters in one stream). `urgent_first` is a Faust
   consumer scheduler (its public `ConsumerScheduler` setting) that delivers
   the records of the state topics (fabtel.pipeline.topics.URGENT) of each
   fetch first, then the rest as Faust does. Kafka orders records only
   within a partition, so no order the worker relied on changes: each
   partition's records keep theirs. Being a setting, it applies on every
   version and with the tuning off.

Points 2-6 and 10 reach into faust-streaming's internals. `install()` applies them
only to the version they were written against (TESTED_VERSION) and only when
every attribute they replace is there; otherwise it warns once and the worker
runs untuned (slower, correct). FABTEL_FAUST_TUNING=off turns them off.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import types
from typing import Any, Coroutine

from fabtel import heap
from fabtel.signals import arm_exit_deadline

log = logging.getLogger("fabtel.pipeline")

TESTED_VERSION = "0.15.3"          # faust-streaming: what points 2-6 and 10 were written against
TANSU_FETCH_MAX_WAIT_MS = int(os.environ.get("FABTEL_FETCH_MAX_WAIT_MS", "20"))
STREAM_YIELD_EVERY = int(os.environ.get("FABTEL_STREAM_YIELD_EVERY", "16"))
BATCH_MAX = max(1, int(os.environ.get("FABTEL_BATCH_MAX", "256")))


def enabled() -> bool:
    return os.environ.get("FABTEL_FAUST_TUNING", "on").strip().lower() not in ("off", "0", "false", "no")


def mismatch() -> str | None:
    """Why the internals patches cannot be applied here, or None."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        found = version("faust-streaming")
    except PackageNotFoundError:
        return "faust-streaming is not installed as a distribution"
    if found != TESTED_VERSION:
        return f"faust-streaming {found} (the tuning was written for {TESTED_VERSION})"
    import faust.transport.drivers.aiokafka as driver
    from faust.transport.conductor import Conductor
    missing = [name for owner, name, attr in (
        (driver, "aiokafka driver Transport.Consumer", lambda: driver.Transport.Consumer.wait_first),
        (Conductor, "Conductor._build_handler", lambda: Conductor._build_handler),
        (driver, "AIOKafkaConsumer", lambda: driver.aiokafka.AIOKafkaConsumer),
        (driver, "AIOKafkaConsumerThread._fetch_records", lambda: driver.AIOKafkaConsumerThread._fetch_records))
        if not _has(attr)]
    return f"faust-streaming lacks {', '.join(missing)}" if missing else None


def _has(get) -> bool:
    try:
        get()
        return True
    except AttributeError:
        return False


def install(fetch_max_wait_ms: int | None = None) -> bool:
    """Apply the tuning (once per process); whether the internals patches
    (points 2-6, 10) are in place. `fetch_max_wait_ms` (point 1: the broker is
    Tansu) is applied in any case: it only sets a constructor argument."""
    import aiokafka
    import faust.transport.drivers.aiokafka as driver
    from faust.transport.conductor import Conductor
    if getattr(driver, "_fabtel_tuned", None) is not None:
        return driver._fabtel_tuned
    if fetch_max_wait_ms is not None:
        class ShortWaitConsumer(aiokafka.AIOKafkaConsumer):
            def __init__(self, *args, **kwargs):
                kwargs["fetch_max_wait_ms"] = fetch_max_wait_ms
                super().__init__(*args, **kwargs)
        proxy = types.ModuleType("aiokafka")
        proxy.__dict__.update(aiokafka.__dict__)
        proxy.AIOKafkaConsumer = ShortWaitConsumer
        driver.aiokafka = proxy
    reason = None if enabled() else "FABTEL_FAUST_TUNING=off"
    reason = reason or mismatch()
    if reason:
        log.warning("Faust worker untuned: %s; it runs correctly, more slowly", reason)
        driver._fabtel_tuned = False
        return False
    driver.Transport.Consumer = fast_delivery(driver.Transport.Consumer)
    driver.AIOKafkaConsumerThread._fetch_records = fetch_only_what_is_read(driver.AIOKafkaConsumerThread._fetch_records)
    Conductor._build_handler = direct_events(room_first(Conductor._build_handler))
    try:
        from faust._cython import streams as cython_streams
    except ImportError:      # without Faust's compiled extension its Python iterator yields per event
        cython_streams = None
    if cython_streams is not None and STREAM_YIELD_EVERY > 1:
        cython_streams.sleep = YieldEvery(STREAM_YIELD_EVERY, cython_streams.sleep)
    driver._fabtel_tuned = True
    return True


def urgent_first(urgent: frozenset[str]) -> type:
    """Faust's consumer scheduler with the records of the `urgent` topics of
    each fetch first (point 11); each group round-robin as Faust's default."""
    from faust.transport.utils import DefaultSchedulingStrategy

    class UrgentFirst(DefaultSchedulingStrategy):
        def iterate(self, records):
            first = {tp: batch for tp, batch in records.items() if tp.topic in urgent}
            if not first:
                return super().iterate(records)
            rest = {tp: batch for tp, batch in records.items() if tp.topic not in urgent}
            return itertools.chain(super().iterate(first), super().iterate(rest))
    return UrgentFirst


def lean_monitor():
    """A Faust Monitor (pass as `faust.App(monitor=...)`) that records, per
    message and event, only what the consumer reads back (Faust's own Monitor
    when the tuning is off)."""
    from time import monotonic

    from faust.sensors.monitor import Monitor
    if not enabled() or mismatch():
        return Monitor()

    class LeanMonitor(Monitor):
        def on_message_in(self, tp, offset, message) -> None:
            pass

        def on_stream_event_in(self, tp, offset, stream, event):
            self.stream_inbound_time[tp] = monotonic()
            return None

        def on_stream_event_out(self, tp, offset, stream, event, state=None) -> None:
            pass

        def on_message_out(self, tp, offset, message) -> None:
            pass
    return LeanMonitor()


def worker(app: Any, loglevel: str, on_started=None):
    """The Faust worker for `app`; `on_started()` is called once it runs
    (its tables recovered from their changelogs)."""
    import faust

    class TunedWorker(faust.Worker):
        def _schedule_shutdown(self, signal) -> None:
            # Faust's clean stop commits and flushes, and waits as long as the
            # broker does not answer (11 s and more measured): it gets STOP_GRACE_S.
            arm_exit_deadline("pipeline")
            super()._schedule_shutdown(signal)

        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            heap.settle()
            if on_started is not None:
                on_started()

    # fabtel's logging stays as the CLI set it (one format for every
    # component): Faust's and aiokafka's start-up and shutdown tables (about
    # 150 lines) go to DEBUG; warnings and errors still show.
    w = TunedWorker(app, loglevel=loglevel, quiet=True, override_logging=False)
    w.spinner = None
    quiet = logging.getLogger().level > logging.DEBUG
    for name in ("faust", "mode", "aiokafka", __name__):
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.DEBUG)
    return w


def fast_delivery(consumer_class: type) -> type:
    """`consumer_class` with the inline first step of each message's delivery."""
    from mode.services import WaitResults

    flow_wait_code = asyncio.Event.wait.__code__

    class FastDeliveryConsumer(consumer_class):
        async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
            if (len(coros) != 2 or timeout is not None or getattr(coros[1], "cr_code", None) is not flow_wait_code
                    or self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set()):
                return await super().wait_first(*coros, timeout=timeout)
            delivery, flow_wait = coros
            try:
                awaiting = delivery.send(None)
            except StopIteration as done:
                flow_wait.close()
                return WaitResults([delivery], [done.value], False)
            except BaseException:
                flow_wait.close()
                raise
            rest = asyncio.ensure_future(finish(delivery, awaiting))
            return await super().wait_first(rest, flow_wait)

    return FastDeliveryConsumer


def fetch_only_what_is_read(fetch_records):
    """Faust's consumer thread's `_fetch_records`, first telling aiokafka which
    partitions to fetch: those Faust asks for (point 10)."""
    async def _fetch_records(self, consumer, active_partitions, timeout=None, max_records=None):
        if self.consumer.flow_active:
            fetch_only(consumer, active_partitions)
        return await fetch_records(self, consumer, active_partitions, timeout=timeout, max_records=max_records)

    return _fetch_records


def fetch_only(consumer: Any, read: set) -> None:
    """Pause in `consumer` (aiokafka's) its assigned partitions outside `read`; resume those in it."""
    paused = consumer.paused()
    idle = {tp for tp in consumer.assignment() if tp not in read}
    if idle - paused:
        consumer.pause(*(idle - paused))
    if paused - idle:
        consumer.resume(*(paused - idle))


class _Ready:
    """An awaitable that is already done: awaiting it does not yield."""
    __slots__ = ()

    def __await__(self):
        return iter(())


class YieldEvery:
    """`asyncio.sleep` for a stream iterator that calls `sleep(0)` before each
    event: only every n-th zero sleep goes to the event loop."""
    def __init__(self, n: int, sleep):
        self.n, self.sleep, self.count, self.ready = n, sleep, 0, _Ready()

    def __call__(self, delay, *args, **kwargs):
        if delay == 0:
            self.count += 1
            if self.count < self.n:
                return self.ready
            self.count = 0
        return self.sleep(delay, *args, **kwargs)


def _is_raw(chan: Any) -> bool:
    return (chan.key_type is None and chan.value_type is None and chan.key_serializer == "raw"
            and chan.value_serializer == "raw")


class Batch(list):
    """The raw values of consecutive messages of one partition, carried by
    one Event (a `BatchEvent`); the agents' `records` walks it."""
    __slots__ = ()


def carriers(event) -> Any:
    """What an event carries, each with its bytes as `.value`: the messages of
    a batch (point 4), or the event itself."""
    return event.messages if type(event.value) is Batch else (event,)


def batch_event_class(event_class: type) -> type:
    """The app's Event class for a batch: acking it acks every message in it,
    in order, so the committed offset moves past the batch only once the agent
    has finished all of it."""
    class BatchEvent(event_class):
        messages: list = []

        def ack(self) -> bool:
            consumer = self.app.consumer
            last = False
            for message in self.messages:
                last = message.ack(consumer)
            return last
    return BatchEvent


class _Gatherer:
    """One partition's messages for one raw channel, gathered into batch events
    put on the channel's queue, as the stream would take Faust's events."""

    def __init__(self, app, tp, chan):
        self.app, self.tp, self.queue, self.pending = app, tp, chan.queue, []
        self.flow, self.consumer = app.flow_control, app.consumer
        self.make_batch = batch_event_class(app.conf.Event)
        self.acking_topics, self.unacked = app.topics.acking_topics, app.consumer.unacked
        self.room = max(2, self.queue.maxsize // BATCH_MAX)      # batches queued before delivery waits

    def add(self, message) -> None:
        message.refcount += 1
        self.pending.append(message)
        if len(self.pending) >= BATCH_MAX:
            self.flush()
        elif len(self.pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)    # after this round's other messages of the partition

    async def wait_for_room(self) -> None:
        """The queue is full of batches: what was gathered goes, then delivery
        waits until the agent has taken half of them."""
        self.flush()
        while self.queue.qsize() > self.room // 2:    # cancelled on a rebalance
            await asyncio.sleep(ROOM_POLL_S)

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if not self.flow.is_active():             # a rebalance began: not acked, so read again by the next owner
            for message in batch:
                message.refcount -= 1
            return
        if batch[0].topic in self.acking_topics:  # what the stream does for an event's message, for each one
            for message in batch:
                message.tracked = True
                self.unacked.add(message)
        last = batch[-1]
        event = self.make_batch(self.app, last.key, Batch([m.value for m in batch]), last.headers, last)
        event.messages = batch
        self.queue.put_nowait_enhanced(event, on_pressure_high=self.on_pressure_high,
                                       on_pressure_drop=self.on_pressure_drop)

    def on_pressure_high(self) -> None:           # as Faust's handler: stop fetching this partition
        self.app.sensors.on_topic_buffer_full(self.tp)
        self.consumer.on_buffer_full(self.tp)

    def on_pressure_drop(self) -> None:
        self.consumer.on_buffer_drop(self.tp)


def direct_events(build_handler):
    """Wrap the conductor's per-partition handler builder: the messages of one
    partition for one raw channel are gathered, as they arrive in a loop
    round, into one Event (point 4)."""
    def build(conductor, tp, channels):
        handler = build_handler(conductor, tp, channels)
        app = conductor.app
        flow, producer_buffer = app.flow_control, app.producer.buffer
        (chan,) = channels if len(channels) == 1 else (None,)
        if chan is None or not _is_raw(chan) or app.conf.producer_threaded:    # a threaded producer's buffer differs
            return handler
        gatherer = _Gatherer(app, tp, chan)
        queue, room = chan.queue, gatherer.room

        async def deliver(message):
            if flow.is_active() and len(producer_buffer.pending._queue) <= producer_buffer.max_messages:
                if queue.qsize() >= room:
                    await gatherer.wait_for_room()
                if flow.is_active():
                    gatherer.add(message)
                    return None
            gatherer.flush()                        # what came before goes first
            return await handler(message)
        return deliver
    return build


ROOM_POLL_S = 0.0005


def room_first(build_handler):
    """Wrap the conductor's per-partition handler builder: a handler that,
    when a stream's queue is full, first waits until it is half empty."""
    def build(conductor, tp, channels):
        handler = build_handler(conductor, tp, channels)

        async def deliver(message):
            for chan in channels:
                queue = chan.queue
                if queue.full():
                    half = queue.maxsize // 2
                    while queue.qsize() > half:      # the agent drains it meanwhile; cancelled on a rebalance
                        await asyncio.sleep(ROOM_POLL_S)
            return await handler(message)
        return deliver
    return build


async def finish(coro: Coroutine, awaiting: Any) -> Any:
    """Drive `coro`, already started and now waiting on `awaiting` (what it
    yielded to the event loop), to its end, as the asyncio Task would have:
    wait for that future, then resume the coroutine, which reads the future's
    result (or exception) itself. A cancellation of this task cancels the
    future, so the coroutine sees it; a bare yield is one loop round."""
    while True:
        try:
            if awaiting is None:
                await asyncio.sleep(0)
            else:
                awaiting._asyncio_future_blocking = False     # as asyncio's Task does with a yielded future
                await awaiting
        except asyncio.CancelledError:
            if awaiting is None or not awaiting.cancelled():     # this task was cancelled, not the future
                try:
                    awaiting = coro.throw(asyncio.CancelledError())
                except StopIteration as done:
                    return done.value
                continue
        except BaseException:       # the coroutine reads the outcome from the future itself
            pass
        try:
            awaiting = coro.send(None)
        except StopIteration as done:
            return done.value
