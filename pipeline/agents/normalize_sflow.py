"""normalize_sflow: sFlow samples into interface counters and LAG member
state, on their domain's partition, for `evaluate`; their ifIndex numbers
named by each device's map (InterfaceIndexes, on the same partition: kept in
a table). A sample of a device whose map is still to come waits for it
(connectors.sflow.normalize.PendingSamples); a number no map names is kept
and counted (pipeline_unresolved_ifindex_total, by device and reason).

May import: the standard library, fabtel.pipeline.agents, fabtel.pipeline.tables, fabtel.records,
fabtel.connectors.sflow.normalize.
"""
from __future__ import annotations

import time

from fabtel.connectors.sflow.normalize import Inventory, PendingSamples, normalize, unresolved
from fabtel.pipeline.agents import records
from fabtel.pipeline.tables import interface_index_table
from fabtel.records import IfIndexEntry, InterfaceIndexes


def register(app, worker) -> None:
    inventory = Inventory(worker.cfg.fabric, worker.cfg.sflow.lacp_bit_order)
    pending = PendingSamples()
    maps = interface_index_table(app, worker.cfg)

    async def emit(sample) -> None:
        for device, reason in unresolved(sample, inventory):
            worker.metrics.inc("unresolved_ifindex_total", device, reason)
        for rec in normalize(sample, inventory):
            await worker.send(rec)

    def recall(device: str) -> None:
        """A map this worker learnt before a restart, from its table."""
        saved = maps.get(device) if inventory.awaits(device) else None
        if saved:
            inventory.learn(InterfaceIndexes(device, "table", [IfIndexEntry(n, i) for n, i in saved], 0, 0))

    @app.agent(worker.topics.sflow, name="normalize_sflow")
    async def normalize_sflow(stream):
        async for _, rec in records(worker, "normalize_sflow", stream):
            now = time.time_ns()
            if isinstance(rec, InterfaceIndexes):
                inventory.learn(rec)
                maps[rec.device] = [[e.interface, e.ifindex] for e in rec.entries]
                for sample in pending.release(rec.device):
                    await emit(sample)
            else:
                device = rec.device or rec.agent
                recall(device)
                if rec.sample_type == "counters" and inventory.awaits(device):
                    rec = pending.hold(device, rec, now)       # the oldest, when too many wait
                if rec is not None:
                    await emit(rec)
            for sample in pending.expired(now):
                await emit(sample)
