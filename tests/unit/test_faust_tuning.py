"""pipeline.faust_tuning: the inline delivery step must behave as the task
Faust would have made (result, exception, cancellation, suspension), and a
full stream queue must hold delivery until it is half empty. Pure asyncio;
the Faust tests (test_pipeline_faust) run the tuned worker on the real broker."""
from __future__ import annotations

import asyncio
import types

import pytest
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from fabtel.pipeline import faust_tuning
from fabtel.pipeline.faust_tuning import (Batch, YieldEvery, direct_events, fast_delivery, fetch_only, finish, lean_monitor,
                                          room_first)


async def _waits_then(result, delay=0.01):
    await asyncio.wait([asyncio.ensure_future(asyncio.sleep(delay))])
    await asyncio.sleep(0)                      # a bare yield too
    if isinstance(result, BaseException):
        raise result
    return result


def _started(coro):
    return coro, coro.send(None)


def test_finish_completes_a_started_coroutine_with_its_result():
    async def main():
        coro, awaiting = _started(_waits_then(42))
        assert awaiting is not None             # it did suspend on a future
        return await asyncio.ensure_future(finish(coro, awaiting))
    assert asyncio.run(main()) == 42


def test_finish_raises_the_coroutines_own_exception():
    async def main():
        coro, awaiting = _started(_waits_then(ValueError("bad value")))
        await asyncio.ensure_future(finish(coro, awaiting))
    with pytest.raises(ValueError, match="bad value"):
        asyncio.run(main())


def test_cancelling_finish_cancels_the_coroutine_inside():
    seen = []

    async def victim():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main():
        coro, awaiting = _started(victim())
        task = asyncio.ensure_future(finish(coro, awaiting))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())
    assert seen == ["cancelled"]


class _Service:
    """The parts of mode's Service that wait_first uses, with a recording fallback."""

    def __init__(self):
        self.suspend_flow = asyncio.Event()
        self._stopped = asyncio.Event()
        self._crashed = asyncio.Event()
        self.slow_calls = 0

    async def wait_first(self, *coros, timeout=None):
        from mode.services import WaitResults
        self.slow_calls += 1
        futures = [asyncio.ensure_future(c) for c in coros]
        done, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
        for f in pending:
            f.cancel()
        for f in done:
            f.result()
        return WaitResults([c for c, f in zip(coros, futures) if f.done()],
                           [f.result() for f in futures if f.done()], False)


def test_a_delivery_that_does_not_block_runs_inline():
    async def main():
        consumer = fast_delivery(_Service)()
        delivered = []

        async def deliver(x):
            delivered.append(x)
            return x
        for i in range(3):
            res = await consumer.wait_first(deliver(i), consumer.suspend_flow.wait())
            assert res.results == [i]
        return consumer, delivered
    consumer, delivered = asyncio.run(main())
    assert delivered == [0, 1, 2] and consumer.slow_calls == 0


def test_a_blocked_delivery_is_still_abandoned_when_the_flow_is_suspended():
    async def main():
        consumer = fast_delivery(_Service)()
        gate = asyncio.Event()
        state = []

        async def deliver():
            state.append("started")
            await gate.wait()                    # a full queue that never drains
            state.append("delivered")
        waiting = asyncio.ensure_future(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        assert not waiting.done() and consumer.slow_calls == 1
        consumer.suspend_flow.set()              # a rebalance begins
        await asyncio.wait_for(waiting, 1)
        gate.set()
        await asyncio.sleep(0.01)
        return state
    assert asyncio.run(main()) == ["started"]


def test_while_suspended_the_original_path_is_taken():
    async def main():
        consumer = fast_delivery(_Service)()
        consumer.suspend_flow.set()

        async def deliver():
            return 1
        await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
        return consumer.slow_calls
    assert asyncio.run(main()) == 1


class _Chan:
    def __init__(self, maxsize):
        self.queue = FlowControlQueue(maxsize, flow_control=FlowControlEvent())


def test_room_first_waits_for_a_full_queue_to_half_empty_then_delivers():
    async def main():
        chan = _Chan(10)
        for i in range(10):
            chan.queue.put_nowait(i)
        sizes_at_delivery = []

        def build(conductor, tp, channels):
            async def handler(message):
                sizes_at_delivery.append(chan.queue.qsize())
                chan.queue.put_nowait(message)
            return handler
        deliver = room_first(build)(None, ("t", 0), {chan})
        task = asyncio.ensure_future(deliver("m"))
        await asyncio.sleep(0.01)
        assert not task.done()                   # full: nothing delivered yet
        for _ in range(4):
            chan.queue.get_nowait()
        await asyncio.sleep(0.01)
        assert not task.done()                   # 6 of 10: still more than half
        chan.queue.get_nowait()
        await asyncio.wait_for(task, 1)
        await deliver("n")                       # room now: straight through
        return sizes_at_delivery
    assert asyncio.run(main()) == [5, 6]


def test_install_is_idempotent_and_tunes_the_driver():
    import faust.transport.drivers.aiokafka as driver
    faust_tuning.install()
    consumer_class = driver.Transport.Consumer
    faust_tuning.install()
    assert driver.Transport.Consumer is consumer_class
    assert "FastDelivery" in consumer_class.__mro__[0].__qualname__


@pytest.mark.parametrize("setup,reason", [
    ("import os; os.environ['FABTEL_FAUST_TUNING'] = 'off'", "FABTEL_FAUST_TUNING=off"),
    ("faust_tuning.TESTED_VERSION = '0.14.0'", "(the tuning was written for 0.14.0)"),
    ("from faust.transport.conductor import Conductor; del Conductor._build_handler",
     "faust-streaming lacks Conductor._build_handler"),
])
def test_untuned_when_switched_off_or_faust_differs(setup, reason):
    """A fresh process each: the worker warns once and runs on Faust's own code."""
    import subprocess
    import sys
    code = (f"from fabtel.pipeline import faust_tuning\n{setup}\n"
            "import faust.transport.drivers.aiokafka as d\nbefore = d.Transport.Consumer\n"
            "print(faust_tuning.install(fetch_max_wait_ms=20), d.Transport.Consumer is before,"
            " d.aiokafka.AIOKafkaConsumer.__name__, type(faust_tuning.lean_monitor()).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True", "ShortWaitConsumer", "Monitor"], out.stderr
    assert out.stderr.count("Faust worker untuned") == 1 and reason in out.stderr


class _Fetching:
    """aiokafka's consumer as fetch_only sees it: its assignment and which of it is paused."""

    def __init__(self, assigned):
        self.assigned, self.paused_now, self.calls = set(assigned), set(), []

    def assignment(self):
        return set(self.assigned)

    def paused(self):
        return set(self.paused_now)

    def pause(self, *tps):
        self.calls.append(("pause", set(tps)))
        self.paused_now |= set(tps)

    def resume(self, *tps):
        self.calls.append(("resume", set(tps)))
        self.paused_now -= set(tps)


def test_aiokafka_fetches_only_the_partitions_faust_reads():
    from aiokafka.structs import TopicPartition
    from faust.types import TP
    stream = [TopicPartition("in", p) for p in range(2)]
    changelog = [TopicPartition("app-state-changelog", p) for p in range(2)]
    consumer = _Fetching(stream + changelog)
    fetch_only(consumer, {TP("in", 0), TP("in", 1)})                  # Faust's own TP type asks
    assert consumer.paused_now == set(changelog)
    fetch_only(consumer, {TP("in", 0), TP("in", 1)})
    assert len(consumer.calls) == 1                                    # nothing to change: no call
    fetch_only(consumer, {TP("in", 0), TP("in", 1), TP("app-state-changelog", 1)})   # a recovery reads it
    assert consumer.paused_now == {changelog[0]} and consumer.calls[-1] == ("resume", {changelog[1]})


def test_install_makes_the_consumer_thread_fetch_only_what_is_read():
    import faust.transport.drivers.aiokafka as driver
    faust_tuning.install()
    assert driver.AIOKafkaConsumerThread._fetch_records.__qualname__.startswith("fetch_only_what_is_read")


def test_install_makes_faust_stream_iterators_yield_every_nth_event():
    from faust._cython import streams as cython_streams
    faust_tuning.install()
    assert isinstance(cython_streams.sleep, YieldEvery) and cython_streams.sleep.n == faust_tuning.STREAM_YIELD_EVERY


def test_yield_every_goes_to_the_loop_only_on_every_nth_zero_sleep():
    async def main():
        rounds = 0

        async def count_rounds():
            nonlocal rounds
            while True:
                rounds += 1
                await asyncio.sleep(0)
        counter = asyncio.ensure_future(count_rounds())
        await asyncio.sleep(0)
        sleep = YieldEvery(4, asyncio.sleep)
        before = rounds
        for _ in range(8):
            await sleep(0)
        zero_sleep_rounds = rounds - before
        before = rounds
        assert await sleep(0.005, "done") == "done"        # a real delay is never skipped
        delayed_rounds = rounds - before
        counter.cancel()
        return zero_sleep_rounds, delayed_rounds
    zero_sleep_rounds, delayed_rounds = asyncio.run(main())
    assert zero_sleep_rounds == 2                          # 8 zero sleeps, every 4th one yields
    assert delayed_rounds >= 1


def _faust_app(stream_buffer_maxsize=10):
    import faust
    app = faust.App(f"tuning-test-{id(object())}", broker="kafka://127.0.0.1:1", store="memory://",
                    stream_buffer_maxsize=stream_buffer_maxsize)
    app.flow_control.resume()            # as a started worker has it (suspended until then)
    return app


def _message(offset: int, key=b"leaf1", value=b"\x00\x01"):
    from faust.types.tuples import TP, Message
    return Message("t", 0, offset, 0.0, 0, [("origin", b"lab")], key, value, None, tp=TP("t", 0))


def _handlers(app, chan):
    """Faust's own handler for one partition, and the direct one built around it (counting fallbacks)."""
    from faust.transport.conductor import ConductorCompiler
    from faust.types.tuples import TP
    fallbacks = []

    def faust_build(conductor, tp, channels):
        handler = ConductorCompiler().build(conductor, tp, channels)

        async def counted(message):
            fallbacks.append(message.offset)
            return await handler(message)
        return counted
    tp = TP("t", 0)
    return ConductorCompiler().build(app.topics, tp, {chan}), direct_events(faust_build)(app.topics, tp, {chan}), \
        fallbacks


def test_direct_events_carry_a_rounds_messages_as_the_events_faust_makes():
    async def main():
        app = _faust_app()
        chan = app.topic("t", key_serializer="raw", value_serializer="raw")
        faust_handler, direct, fallbacks = _handlers(app, chan)
        theirs = [_message(1), _message(2, key=None, value=b"\x02")]
        ours = [_message(1), _message(2, key=None, value=b"\x02")]
        for m in theirs:
            await faust_handler(m)
        faust_events = [chan.queue.get_nowait(), chan.queue.get_nowait()]
        for m in ours:
            assert await direct(m) is None
        assert chan.queue.qsize() == 0                      # gathered until the loop's next round
        await asyncio.sleep(0)
        assert chan.queue.qsize() == 1
        batch = chan.queue.get_nowait()
        assert isinstance(batch, app.conf.Event) and isinstance(batch.value, Batch)
        assert batch.messages == ours and batch.message is ours[-1]
        assert list(batch.value) == [e.value for e in faust_events] == [b"\x00\x01", b"\x02"]
        assert [(m.key, m.value, m.headers) for m in batch.messages] == \
            [(e.message.key, e.value, e.message.headers) for e in faust_events]
        assert [m.refcount for m in ours] == [m.refcount for m in theirs] == [1, 1]
        return fallbacks
    assert asyncio.run(main()) == []


async def _delivered(n: int):
    """A raw channel's direct handler given messages 0..n-1 in one loop round."""
    app = _faust_app()
    chan = app.topic("t", key_serializer="raw", value_serializer="raw")
    _, direct, _ = _handlers(app, chan)
    messages = [_message(offset) for offset in range(n)]
    for m in messages:
        await direct(m)
    return app, chan, messages


def test_acking_a_batch_acks_every_message_in_it():
    async def main():
        app, chan, messages = await _delivered(5)
        await asyncio.sleep(0)
        batch = chan.queue.get_nowait()
        assert not any(m.acked for m in messages)
        batch.ack()
        return messages
    assert all(m.acked and m.refcount == 0 for m in asyncio.run(main()))


def test_a_full_batch_goes_at_once_and_a_full_queue_holds_delivery(monkeypatch):
    monkeypatch.setattr(faust_tuning, "BATCH_MAX", 4)

    async def main():
        app = _faust_app(stream_buffer_maxsize=12)           # room for 12 // 4 = 3 batches
        chan = app.topic("t", key_serializer="raw", value_serializer="raw")
        _, direct, fallbacks = _handlers(app, chan)
        for offset in range(10):
            await direct(_message(offset))
        assert chan.queue.qsize() == 2                       # two full batches at once; two messages wait for the round
        await asyncio.sleep(0)
        assert chan.queue.qsize() == 3
        held = asyncio.ensure_future(direct(_message(10)))
        await asyncio.sleep(0.01)
        assert not held.done()                               # no room: delivery waits
        got = [chan.queue.get_nowait()]
        await asyncio.sleep(0.01)
        assert not held.done()                               # until no more than half the room is taken
        got.append(chan.queue.get_nowait())
        await asyncio.wait_for(held, 1)
        await asyncio.sleep(0)
        got += [chan.queue.get_nowait(), chan.queue.get_nowait()]
        return [[m.offset for m in e.messages] for e in got], fallbacks
    assert asyncio.run(asyncio.wait_for(main(), 10)) == ([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [10]], [])


def test_a_batch_gathered_when_a_rebalance_begins_is_dropped_unacked():
    async def main():
        app, chan, messages = await _delivered(3)
        app.flow_control.suspend()                           # as Faust does when partitions are revoked
        await asyncio.sleep(0)
        return chan.queue.qsize(), messages
    queued, messages = asyncio.run(main())
    assert queued == 0 and all(m.refcount == 0 and not m.acked for m in messages)


def test_direct_events_leave_other_cases_to_faust():
    async def main():
        app = _faust_app()
        decoded = app.topic("t", key_serializer="json", value_serializer="raw")
        _, direct, fallbacks = _handlers(app, decoded)
        await direct(_message(1, key=b'"leaf1"'))
        assert decoded.queue.get_nowait().key == "leaf1"         # decoded by Faust, not passed raw
        raw = app.topic("t", key_serializer="raw", value_serializer="raw")
        _, direct, raw_fallbacks = _handlers(app, raw)
        app.flow_control.suspend()
        suspended = asyncio.ensure_future(direct(_message(2)))
        await asyncio.sleep(0.01)
        assert raw_fallbacks == [2] and not suspended.done()     # Faust's handler waits for the flow
        app.flow_control.resume()
        await asyncio.wait_for(suspended, 1)
        return fallbacks
    assert asyncio.run(main()) == [1]


def test_direct_events_leave_a_full_producer_buffer_to_faust_after_what_came_before():
    async def main():
        app = _faust_app()
        chan = app.topic("t", key_serializer="raw", value_serializer="raw")
        _, direct, fallbacks = _handlers(app, chan)
        await direct(_message(1))                              # gathered
        buffer = app.producer.buffer
        buffer.max_messages = 0
        buffer.pending.put_nowait(object())                    # one send waiting: over the limit
        task = asyncio.ensure_future(direct(_message(2)))
        await asyncio.sleep(0.01)
        task.cancel()                                         # Faust's handler flushes first; no producer here
        await asyncio.gather(task, return_exceptions=True)
        first = chan.queue.get_nowait()
        return fallbacks, [m.offset for m in first.messages], chan.queue.qsize()
    assert asyncio.run(main()) == ([2], [1], 0)


def test_lean_monitor_keeps_only_when_each_partition_last_took_an_event():
    from faust.sensors.monitor import Monitor
    from faust.types.tuples import TP
    monitor = lean_monitor()
    tp = TP("t", 3)
    assert isinstance(monitor, Monitor)
    monitor.on_message_in(tp, 7, _message(7))
    assert monitor.on_stream_event_in(tp, 7, None, None) is None
    monitor.on_stream_event_out(tp, 7, None, None, None)
    monitor.on_message_out(tp, 7, _message(7))
    assert tp in monitor.stream_inbound_time
    assert monitor.messages_received_total == 0 and monitor.events_total == 0


def test_settling_the_collector_freezes_what_startup_made():
    import gc

    from fabtel import heap
    threshold = gc.get_threshold()
    try:
        heap.settle()
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_the_state_topics_of_a_fetch_are_delivered_before_the_rest():
    from faust.transport.utils import DefaultSchedulingStrategy
    from faust.types import TP
    state, counters, lldp = TP("state", 0), TP("counters", 0), TP("lldp", 1)
    records = {counters: ["c1", "c2", "c3"], lldp: ["l1"], TP("state", 2): ["s2"], state: ["s1", "s1b"]}
    got = list(faust_tuning.urgent_first(frozenset({"state"}))().iterate(records))
    # the state records first, then the rest; each group in Faust's own order (round-robin)
    urgent = {tp: batch for tp, batch in records.items() if tp.topic == "state"}
    rest = {tp: batch for tp, batch in records.items() if tp.topic != "state"}
    assert got == list(DefaultSchedulingStrategy().iterate(urgent)) + list(DefaultSchedulingStrategy().iterate(rest))
    assert [r for _, r in got[:3]] == ["s2", "s1", "s1b"] and [r for _, r in got[3:]] == ["c1", "l1", "c2", "c3"]
    # a fetch without state records is Faust's own order
    assert list(faust_tuning.urgent_first(frozenset({"state"}))().iterate(rest)) == \
        list(DefaultSchedulingStrategy().iterate(rest))


def test_the_urgent_topics_are_the_evaluated_state_changes():
    from fabtel import records
    from fabtel.pipeline.topics import EVALUATED, URGENT
    from fabtel.topics import TOPIC_RECORDS
    assert set(URGENT) <= set(EVALUATED)
    assert {key for key in EVALUATED if getattr(records, TOPIC_RECORDS[key]).KIND == records.STATE} == set(URGENT)


def test_the_worker_s_app_delivers_state_changes_first(tmp_path):
    from pathlib import Path
    from faust.types import TP
    from fabtel.config import load_config
    from fabtel.pipeline.app import build_app
    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "fabric.yaml")
    app = build_app(cfg, data_dir=str(tmp_path / "data"))
    fetched = {TP(cfg.kafka.topic("interface_counters"), 0): ["counters"], TP(cfg.kafka.topic("lldp_neighbors"), 0): ["lldp"],
               TP(cfg.kafka.topic("bgp_session"), 0): ["bgp"], TP(cfg.kafka.topic("interface_state"), 0): ["state"]}
    got = [r for _, r in app.conf.ConsumerScheduler().iterate(fetched)]
    assert set(got[:2]) == {"bgp", "state"} and set(got[2:]) == {"counters", "lldp"}
