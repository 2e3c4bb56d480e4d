"""The Faust worker's agents, one module each; each module's `register(app,
worker)` defines its agent on the app. Agents only move records: every
judgement is in the pure modules, reached through the worker's domains.

May import: the standard library, fabtel.pipeline.worker.
"""
from __future__ import annotations

from typing import Any, AsyncIterator


async def records(worker, agent: str, stream,
                  expect: str | tuple[str, ...] | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """(event, record) of each event of `stream`, counted; an event whose value
    does not decode is dead-lettered and skipped (fabtel.kafka.decode_or_letter)."""
    async for event in stream.events():
        worker.metrics.inc("events_total", agent)
        rec = await worker.decoded(agent, event, expect)
        if rec is not None:
            yield event, rec
