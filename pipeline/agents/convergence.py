"""convergence: Sibyl's metrics of each routing event (the tracker, pure),
and where the leaves' EVPN segment routes are, sent to their domains for
the oper-groups that wait for EVPN.

May import: the standard library, fabtel.pipeline.agents, fabtel.pipeline.convergence_events,
fabtel.pipeline.evpn_segments, fabtel.records.
"""
from __future__ import annotations

import time

from fabtel.pipeline.agents import records
from fabtel.pipeline.convergence_events import matters
from fabtel.pipeline.evpn_segments import relevant
from fabtel.records import SegmentPresence


def register(app, worker) -> None:
    @app.agent(worker.topics.convergence, name="convergence")
    async def convergence(stream):
        async for _, rec in records(worker, "convergence", stream):
            if matters(rec):
                worker.tracker.observe(rec, time.time_ns())
            if worker.waiting and relevant(rec):
                for origin, esi in worker.segments.observe(rec):
                    device = worker.waiting.get((origin, esi))
                    if device is not None:
                        p = worker.segments.presence(origin, esi, rec.ts_ns)
                        await worker.send_to_domain(SegmentPresence(worker.partitioner.domain(device).name, device, esi,
                                                                    p.routers, p.routes, p.ts_ns))
            await worker.close_events()
