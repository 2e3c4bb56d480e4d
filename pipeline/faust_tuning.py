"""Adjustments to faust-streaming 0.15, installed once by `install()` before
the app is built, and the worker to run it with (`worker()`). They keep
Faust's behaviour; they only remove waiting and per-message overhead.
May import: faust, mode, aiokafka, the standard library.

1. A short fetch wait. aiokafka waits up to `fetch_max_wait_ms` for data;
   Faust hard-codes 1.5 s, and Tansu does not answer a waiting fetch early
   when data arrives, so a record could wait 1.5 s before a worker sees it.

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

4. A worker without the terminal spinner: at log level WARNING Faust sets
   the root logger to DEBUG so that every debug line of aiokafka and Faust
   turns its spinner, building a log record for each fetch, frame and send.
"""
from __future__ import annotations

import asyncio
import os
import types
from typing import Any, Coroutine

FETCH_MAX_WAIT_MS = int(os.environ.get("FABTEL_FETCH_MAX_WAIT_MS", "20"))


def install() -> None:
    import aiokafka
    import faust.transport.drivers.aiokafka as driver
    from faust.transport.conductor import Conductor
    if getattr(driver, "_fabtel_tuned", False):
        return

    class ShortWaitConsumer(aiokafka.AIOKafkaConsumer):
        def __init__(self, *args, **kwargs):
            kwargs["fetch_max_wait_ms"] = FETCH_MAX_WAIT_MS
            super().__init__(*args, **kwargs)
    proxy = types.ModuleType("aiokafka")
    proxy.__dict__.update(aiokafka.__dict__)
    proxy.AIOKafkaConsumer = ShortWaitConsumer
    driver.aiokafka = proxy
    driver.Transport.Consumer = fast_delivery(driver.Transport.Consumer)
    Conductor._build_handler = room_first(Conductor._build_handler)
    driver._fabtel_tuned = True


def worker(app: Any, loglevel: str):
    import faust
    w = faust.Worker(app, loglevel=loglevel, quiet=True)
    w.spinner = None
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
