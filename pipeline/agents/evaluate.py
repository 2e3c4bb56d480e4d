"""evaluate: the telemetry of each decision domain, with its timers and where
its leaves' EVPN segment routes are, through the domain (fabtel.pipeline.domain);
the outputs sent (its commands first, acknowledged before the event is),
the decision state saved when it changed; a person's
clearing of an oper-group held after a rollback comes the same way. The producers put
a domain's records on one partition number of every topic, so a worker sees
each of its domains whole without a repartition hop.

May import: the standard library, fabtel.pipeline.agents, fabtel.partitioning, fabtel.records.
"""
from __future__ import annotations

import time

from fabtel.partitioning import DecisionDomain
from fabtel.pipeline.agents import records
from fabtel.records import DomainTick, GroupClear, SegmentPresence


def register(app, worker) -> None:
    @app.agent(worker.topics.evaluated, name="evaluate")
    async def evaluate(stream):
        async for _, rec in records(worker, "evaluate", stream):
            now = time.time_ns()
            if isinstance(rec, DomainTick):
                members = DecisionDomain.parse(rec.domain)
                out, changed = worker.domain(members).tick(now)
            elif isinstance(rec, GroupClear):       # `fabtel oper-group clear`: a held group may act again
                members = DecisionDomain.parse(rec.domain)
                changed = worker.domain(members).clear(rec.oper_group)
                worker.log_clear(rec, changed)
                out = []
            elif isinstance(rec, SegmentPresence):
                members = DecisionDomain.parse(rec.domain)
                out, changed = worker.domain(members).apply_segment(rec.device, rec.esi, rec.routers, rec.routes,
                                                                    rec.ts_ns, now)
            else:
                members = worker.partitioner.domain(rec.device)
                out, changed = worker.domain(members).apply(rec, now)
            if out:                                 # most records (counters) have none: no await for them
                await worker.send_all(out)
            if changed:
                worker.save(members)

