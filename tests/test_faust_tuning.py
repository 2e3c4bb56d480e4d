"""pipeline.faust_tuning: the inline delivery step must behave as the task
Faust would have made (result, exception, cancellation, suspension), and a
full stream queue must hold delivery until it is half empty. Pure asyncio;
the Faust tests (test_pipeline_faust) run the tuned worker on the real broker."""
from __future__ import annotations

import asyncio

import pytest
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from pipeline import faust_tuning
from pipeline.faust_tuning import fast_delivery, finish, room_first


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
    assert driver.aiokafka.AIOKafkaConsumer.__name__ == "ShortWaitConsumer"
