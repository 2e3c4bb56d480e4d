"""route_events: the BMP messages and routing events that matter to
convergence, or to an oper-group waiting for EVPN, onto the one-partition
convergence topic, where one tracker sees the whole fabric.

May import: fabtel.pipeline.agents, fabtel.pipeline.convergence_events, fabtel.pipeline.evpn_segments.
"""
from __future__ import annotations

from fabtel.pipeline.agents import records
from fabtel.pipeline.convergence_events import matters
from fabtel.pipeline.evpn_segments import relevant


def register(app, worker) -> None:
    @app.agent(worker.topics.routing, name="route_events")
    async def route_events(stream):
        async for event, rec in records(worker, "route_events", stream):
            if matters(rec) or (worker.waiting and relevant(rec)):
                await worker.topics.convergence.send(key=b"fabric", value=event.value, partition=0)
