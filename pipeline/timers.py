"""The Faust worker's timers: ticks for the domains with something due, sent
through each domain's partition like any record (so the table is written
from inside the stream, as Faust requires, and hold timers stay ordered with
the telemetry), and the end of quiet routing events. Ticking every domain
every round cost a quarter of a worker's throughput; only the due ones get one.

May import: the standard library.
"""
from __future__ import annotations

import time

TICK_S = 0.25
QUIET_CHECK_S = 0.5


def register(app, worker) -> None:
    @app.timer(interval=QUIET_CHECK_S)
    async def quiet_check():
        await worker.close_events()

    @app.timer(interval=TICK_S)
    async def tick():
        for due in worker.due(time.time_ns()):
            await worker.send_to_domain(due)
