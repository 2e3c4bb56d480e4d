"""route_lldp and cabling: the devices' LLDP neighbours (and, from
normalize_sflow, their ifIndex maps) onto the one-partition cabling topic,
where one check (fabtel.pipeline.cabling, pure) holds the whole fabric's
intended links and sends a CablingCheck whenever a port's verdict changes.

May import: the standard library, fabtel.pipeline.agents, fabtel.records.
"""
from __future__ import annotations

from fabtel.pipeline.agents import records
from fabtel.records import InterfaceIndexes


def register(app, worker) -> None:
    @app.agent(worker.topics.lldp, name="route_lldp")
    async def route_lldp(stream):
        async for event, _ in records(worker, "route_lldp", stream, "LldpNeighbor"):
            await worker.topics.cabling.send(key=b"fabric", value=event.value, partition=0)

    @app.agent(worker.topics.cabling, name="cabling")
    async def cabling(stream):
        async for _, rec in records(worker, "cabling", stream, ("LldpNeighbor", "InterfaceIndexes")):
            if isinstance(rec, InterfaceIndexes):
                worker.cabling.learn(rec)
                continue
            for check in worker.cabling.observe(rec, rec.device_ts_ns):
                await worker.send(check)
