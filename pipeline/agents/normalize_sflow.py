"""normalize_sflow: sFlow samples into interface counters and LAG member
state, on their domain's partition, for `evaluate`; their ifIndex numbers
named by each device's map (InterfaceIndexes, on the same partition: kept in
a table; passed on to the cabling check too). A sample of a device whose map is still to come waits for it; a
number no map names is kept and counted (connectors.sflow.normalize.Naming:
pipeline_unresolved_ifindex_total and pipeline_resolved_ifindex_total, by
device and reason).

May import: the standard library, fabtel.pipeline.agents, fabtel.pipeline.tables, fabtel.records,
fabtel.connectors.sflow.normalize.
"""
from __future__ import annotations

import time

from fabtel.connectors.sflow.normalize import Inventory, Naming
from fabtel.pipeline.agents import records
from fabtel.pipeline.tables import interface_index_table
from fabtel.records import IfIndexEntry, InterfaceIndexes


def register(app, worker) -> None:
    inventory = Inventory(worker.cfg.fabric, worker.cfg.sflow.lacp_bit_order)
    naming = Naming(inventory, lambda what, device, reason: worker.metrics.inc(f"{what}_ifindex_total", device, reason))
    maps = interface_index_table(app, worker.cfg)

    def recall(device: str) -> None:
        """A map this worker learnt before a restart, from its table."""
        saved = maps.get(device) if inventory.awaits(device) else None
        if saved:
            inventory.learn(InterfaceIndexes(device, "table", [IfIndexEntry(n, i) for n, i in saved], 0, 0))

    @app.agent(worker.topics.sflow, name="normalize_sflow")
    async def normalize_sflow(stream):
        async for event, rec in records(worker, "normalize_sflow", stream, ("SflowSample", "InterfaceIndexes")):
            if isinstance(rec, InterfaceIndexes):
                maps[rec.device] = [[e.interface, e.ifindex] for e in rec.entries]
                out = naming.learn(rec, time.time_ns())
                # the cabling check names Junos's and SONiC's LLDP port IDs by the far device's map
                await worker.topics.cabling.send(key=b"fabric", value=event.value, partition=0)
            else:
                recall(rec.device or rec.agent)
                out = naming.sample(rec, time.time_ns())
            for normalized in out:
                await worker.send(normalized)
