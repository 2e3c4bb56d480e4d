"""The Faust worker's agents, one module each; each module's `register(app,
worker)` defines its agent on the app. Agents only move records: every
judgement is in the pure modules, reached through the worker's domains.

May import: the standard library, fabtel.pipeline.worker, fabtel.pipeline.faust_tuning.
"""
from __future__ import annotations

from typing import Any, AsyncIterator

from fabtel.pipeline.faust_tuning import carriers


async def records(worker, agent: str, stream,
                  expect: str | tuple[str, ...] | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """(carrier, record) of each message of `stream`, counted; a value that
    does not decode is dead-lettered and skipped (fabtel.kafka.decode_or_letter).
    The carrier has the record's bytes as `.value`: the Faust event, or the
    message itself when the event carries a batch (faust_tuning.direct_events)."""
    count = worker.metrics.inc
    async for event in stream.events():
        for carrier in carriers(event):
            count("events_total", agent)
            message = event.message if carrier is event else carrier
            rec, letter = worker.decoded(agent, message, carrier.value, carrier.key, expect)
            if letter is not None:
                await worker.send(letter)
            else:
                yield carrier, rec
