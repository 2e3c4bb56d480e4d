"""What the Faust worker's agents and timers share, as one object passed to
each (no closures): the configuration, the codec and metrics, the topics and
the domain-state table, the decision domains it holds (cached, reloaded
from the table after a rebalance), the convergence tracker and where EVPN
segment routes are. Its methods are the worker's one way to send a record
and to decode an event (or dead-letter it).

May import: the standard library, fabtel.config, fabtel.kafka, fabtel.metrics, fabtel.partitioning,
fabtel.records, fabtel.serde, fabtel.topics, fabtel.pipeline.cabling, fabtel.pipeline.command_out,
fabtel.pipeline.convergence_events,
fabtel.pipeline.domain,
fabtel.pipeline.evpn_segments, fabtel.pipeline.topics.
"""
from __future__ import annotations

import asyncio
import logging
import time

from fabtel.config import Config
from fabtel.kafka import decode_or_letter, registry_log
from fabtel.metrics import Metrics
from fabtel.partitioning import DecisionDomain, DomainPartitioner, partition_of
from fabtel.pipeline.cabling import Cabling
from fabtel.pipeline.command_out import CommandOut
from fabtel.pipeline.convergence_events import ConvergenceTracker, topology_of
from fabtel.pipeline.domain import Domain
from fabtel.pipeline.evpn_segments import SegmentRoutes, waiting_segments
from fabtel.pipeline.topics import WorkerTopics
from fabtel.records import (TELEMETRY, CablingCheck, ConvergenceResult, DomainTick, GroupClear, RemediationOutcome, FlowReport, LagBalance, OperGroupDecision,
                            RemediationCommand, SegmentPresence, UplinkHealth, kind_of, record_key)
from fabtel.serde import RecordCodec, RegistryUnavailable
from fabtel.topics import topic_key_of

log = logging.getLogger("fabtel.pipeline")

OUTPUTS = (UplinkHealth, LagBalance, OperGroupDecision, RemediationCommand, ConvergenceResult, FlowReport, CablingCheck,
           RemediationOutcome)
AGENTS = ("evaluate", "normalize_sflow", "route_events", "convergence", "route_lldp", "cabling")


def pipeline_metrics() -> Metrics:
    m = Metrics("pipeline")
    m.declare("events_total", "Records processed, by agent.", ("agent",), zero_for=[(a,) for a in AGENTS])
    m.declare("dead_letters_total", "Messages sent to the dead-letter topic, by agent.", ("agent",),
              zero_for=[(a,) for a in AGENTS])
    m.declare("unmeasured_events_total", "Routing events whose element the topology does not name.")
    m.declare("unresolved_ifindex_total", "sFlow ifIndex numbers no device map names (kept under their number), "
              "or held until the device's map comes, by device and reason.", ("device", "reason"))
    m.declare("resolved_ifindex_total", "sFlow samples held for their device's ifIndex map and named once it came.",
              ("device", "reason"))
    m.declare("outputs_total", "Records emitted, by type.", ("type",),
              zero_for=[(t.__name__,) for t in OUTPUTS])
    return m


class Worker:
    def __init__(self, cfg: Config, topics: WorkerTopics, state_table):
        self.cfg, self.topics, self.state_table = cfg, topics, state_table
        self.codec = RecordCodec(cfg.kafka.schema_registry_url)
        self.metrics = pipeline_metrics()
        self.partitioner = DomainPartitioner(cfg)
        self.domains: dict[DecisionDomain, Domain] = {}
        self.tracker = ConvergenceTracker(topology_of(cfg), cfg.convergence.quiet_ms * 1_000_000,
                                          cfg.convergence.max_event_ms * 1_000_000, cfg.convergence.families)
        self.waiting = waiting_segments(cfg)          # (router id, ESI) -> device, for oper-groups that wait for EVPN
        self.segments = SegmentRoutes()
        self.cabling = Cabling(cfg.fabric)
        self.commands = CommandOut(cfg.kafka)

    # ------------------------------------------------------------ records out

    async def send_all(self, out: list) -> None:
        """A domain's outputs: its remediation commands first, all at once, on
        their own way out and acknowledged (fabtel.pipeline.command_out), then
        the rest in their order (topics keep no order between them anyway)."""
        commands = [o for o in out if isinstance(o, RemediationCommand)]
        if commands:
            await self.deliver_commands(commands)
        for rec in out:
            if not isinstance(rec, RemediationCommand):
                await self.send(rec)

    async def deliver_commands(self, commands: list[RemediationCommand]) -> None:
        topic = self.cfg.kafka.topic(topic_key_of(commands[0]))
        await self.commands.deliver([(topic, record_key(c), await self.encoded(c, topic)) for c in commands])
        self.metrics.inc("outputs_total", RemediationCommand.__name__, by=len(commands))

    async def send(self, rec) -> None:
        """A judgement or a normalized record to its topic (fabtel.topics); telemetry on its domain's partition."""
        if isinstance(rec, RemediationCommand):
            return await self.deliver_commands([rec])
        key = topic_key_of(rec)
        partitions = self.cfg.kafka.partitions
        partition = self.partitioner.partition(rec.device, partitions) if kind_of(rec) in TELEMETRY else None
        await self.topics.outputs[key].send(key=record_key(rec), value=await self.encoded(rec, self.cfg.kafka.topic(key)),
                                            partition=partition)
        if isinstance(rec, OUTPUTS):
            self.metrics.inc("outputs_total", type(rec).__name__)
        if isinstance(rec, FlowReport) and rec.verdict:
            log.info("flows %s %s: %s", rec.kind, rec.group, rec.verdict)
        if isinstance(rec, CablingCheck) and rec.verdict in ("miswired", "unexpected"):
            log.warning("cabling %s:%s %s: %s", rec.device, rec.interface, rec.verdict, rec.detail)
        if isinstance(rec, RemediationOutcome):
            log.log(logging.INFO if rec.outcome == "verified" else logging.WARNING, "outcome of %s: %s %s after %.0f ms%s: %s",
                    rec.decision_id, rec.device, rec.outcome, rec.took_ms, " (rolled back)" if rec.rolled_back else "",
                    rec.reason)
        if isinstance(rec, OperGroupDecision):
            log.info("decision %s: %s %s %s%s: %s", rec.decision_id, rec.device, rec.oper_group, rec.action,
                     " (suppressed)" if rec.suppressed else "", rec.reason)

    def log_clear(self, rec: GroupClear, cleared: bool) -> None:
        log.info("oper-group %s %s by %s", rec.oper_group,
                 "cleared: it may act again" if cleared else "was not held: nothing to clear", rec.by)

    async def send_to_domain(self, rec: DomainTick | SegmentPresence | GroupClear) -> None:
        """The worker's own record for a domain, through the domain's partition of the ticks topic."""
        await self.topics.ticks.send(key=rec.domain.encode(), value=self.codec.encode(rec, single_object=True),
                                     partition=partition_of(DecisionDomain.parse(rec.domain), self.cfg.kafka.partitions))

    async def encoded(self, rec, topic: str) -> bytes:
        """The record's bytes; with the schema registry down, the agent waits
        for it (one line a minute) rather than dropping a judgement."""
        delay = 0.5
        while True:
            try:
                return self.codec.encode(rec, topic)
            except RegistryUnavailable as exc:
                registry_log.warning("%s; the worker waits for it", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # ------------------------------------------------------------ records in

    def decoded(self, agent: str, msg, value, key, expect: str | tuple[str, ...] | None = None):
        """(the record in a message's value, None), or (None, the dead letter
        the agent sends instead) (fabtel.kafka.decode_or_letter)."""
        rec, letter = decode_or_letter(self.codec, f"pipeline-{agent}", value, msg.topic, msg.partition,
                                       msg.offset, key if isinstance(key, bytes) else None, expect)
        if letter is not None:
            self.metrics.inc("dead_letters_total", agent)
        return rec, letter

    # ------------------------------------------------------------ domains

    def domain(self, members: DecisionDomain) -> Domain:
        d = self.domains.get(members)
        if d is None:
            d = self.domains[members] = Domain(self.cfg, members)
            saved = self.state_table.get(members.name)
            if saved:
                d.load(saved)
        return d

    def save(self, members: DecisionDomain) -> None:
        """The domain's decision state into its table (a changelog), from inside the stream as Faust requires."""
        self.state_table[members.name] = self.domains[members].to_dict()

    def due(self, now_ns: int) -> list[DomainTick]:
        """A tick for each held domain with something due (a window ending, a leaf going stale, a hold timer)."""
        return [DomainTick(members.name, now_ns) for members, d in list(self.domains.items())
                if d.next_due_ns(now_ns) <= now_ns]

    async def close_events(self) -> None:
        """Convergence events that have ended, measured and sent."""
        for result in self.tracker.due(time.time_ns()):
            log.info("convergence: %s %s: %d messages, locality %s, %d state rounds", result.element, result.kind,
                     result.messages, result.locality, result.state_rounds)
            await self.send(result)
        self.metrics.set("unmeasured_events_total", value=self.tracker.unidentified)

    # ------------------------------------------------------------ rebalances

    async def assigned(self, app, assigned, **kwargs) -> None:
        self.commands.start(self.cfg.kafka.topic("commands"))      # warm before the first command, once
        log.info("pipeline: %d partitions assigned (%d topics)", len(assigned), len({tp.topic for tp in assigned}))

    async def stopping(self, app, **kwargs) -> None:
        self.commands.close()

    async def revoked(self, app, revoked, **kwargs) -> None:
        # Domains of revoked partitions now belong to another worker; reload
        # from the table (restored from its changelog) on the next event.
        self.domains.clear()
        self.tracker.event = None
