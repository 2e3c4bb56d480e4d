"""normalize_sflow: sFlow samples into interface counters and LAG member
state, on their domain's partition, for `evaluate`.

May import: fabtel.pipeline.agents, fabtel.connectors.sflow.normalize.
"""
from __future__ import annotations

from fabtel.connectors.sflow.normalize import Inventory, normalize
from fabtel.pipeline.agents import records


def register(app, worker) -> None:
    inventory = Inventory(worker.cfg.fabric, worker.cfg.sflow.lacp_bit_order)

    @app.agent(worker.topics.sflow, name="normalize_sflow")
    async def normalize_sflow(stream):
        async for _, sample in records(worker, "normalize_sflow", stream, "SflowSample"):
            for rec in normalize(sample, inventory):
                await worker.send(rec)
