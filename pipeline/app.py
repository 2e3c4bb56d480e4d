"""The Faust app: `fabtel process --config FILE` runs one worker; several
workers with the same configuration share the partitions of one group.

The agents only move records; every judgement is in the pure modules
(domain, oper_group, uplink_health, lag_balance, counters):
- `normalize_sflow`: sFlow samples -> interface counters and LAG member state;
- `evaluate`: the normalized topics, through one Domain object per decision
  domain (devices that share ethernet segments), whose decision state lives
  in a Faust table with a changelog. The producers put a domain's records on
  one partition number of every topic (fabtel.partitioning), so no
  repartition hop is needed and a worker sees each of its domains whole;
- a timer sends tick events through each domain's partition of an internal
  topic: hold timers, staleness and the periodic windows.
Processing is at-least-once (Faust flushes the producer before it commits
offsets); outputs are idempotent (deterministic decision and command ids).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time

import faust

from fabtel.config import Config, KafkaSecurity, resolve_secret
from fabtel.kafka import TOPIC_OF, decode_or_letter, registry_log, topic_key_of
from fabtel.metrics import Metrics
from fabtel.records import (ConvergenceResult, FlowReport, LagBalance, OperGroupDecision, RemediationCommand,
                            UplinkHealth, record_key)
from fabtel.serde import RecordCodec, RegistryUnavailable
from fabtel.pipeline import faust_tuning
from fabtel.pipeline.topics import APP_ID, internal_topics

log = logging.getLogger("fabtel.pipeline")

# With no linger every send is its own produce request, one round trip each
# (about 500 records/s); 5 ms lets a burst share a request at little latency.
PRODUCER_LINGER_S = float(os.environ.get("FABTEL_PRODUCER_LINGER_MS", "5")) / 1000
TICK_S = 0.25
TICK = b"fabtel:tick"      # a timer event for a domain, sent through its own partition
SEGMENT = b"fabtel:es:"    # + JSON: where a leaf's EVPN segment routes are, for its domain's partition
OUTPUTS = (UplinkHealth, LagBalance, OperGroupDecision, RemediationCommand, ConvergenceResult, FlowReport)    # the worker's judgements
AGENTS = ("evaluate", "normalize_sflow", "route_events", "convergence")


def pipeline_metrics() -> Metrics:
    m = Metrics("pipeline")
    m.declare("events_total", "Records processed, by agent.", ("agent",), zero_for=[(a,) for a in AGENTS])
    m.declare("dead_letters_total", "Messages sent to the dead-letter topic, by agent.", ("agent",),
              zero_for=[(a,) for a in AGENTS])
    m.declare("unmeasured_events_total", "Routing events whose element the topology does not name.")
    m.declare("outputs_total", "Records emitted, by type.", ("type",),
              zero_for=[(t.__name__,) for t in OUTPUTS])
    return m


def faust_credentials(sec: KafkaSecurity):
    """kafka.security as Faust's (aiokafka's) credentials: the same listener,
    CA, client certificate and SASL user as the confluent-kafka clients."""
    if sec.protocol == "PLAINTEXT":
        return None
    context = None
    if sec.tls:
        import ssl
        context = ssl.create_default_context(cafile=sec.ca_file)
        if sec.cert_file:
            context.load_cert_chain(sec.cert_file, sec.key_file)
    if not sec.sasl:
        return faust.SSLCredentials(context)
    user = sec.username if isinstance(sec.username, str) else resolve_secret(sec.username)
    return faust.SASLCredentials(username=user, password=resolve_secret(sec.password), ssl_context=context,
                                 mechanism=sec.sasl_mechanism)


def build_app(cfg: Config, app_id: str = APP_ID, data_dir: str | None = None) -> faust.App:
    from fabtel.connectors.sflow.normalize import Inventory, normalize
    from fabtel.partitioning import DecisionDomain, DomainPartitioner, partition_of
    from fabtel.pipeline.convergence_events import ConvergenceTracker, matters, topology_of
    from fabtel.pipeline.domain import Domain
    from fabtel.pipeline.evpn_segments import SegmentRoutes, relevant, waiting_segments
    k = cfg.kafka
    faust_tuning.install(faust_tuning.TANSU_FETCH_MAX_WAIT_MS if k.implementation == "tansu" else None)
    app = faust.App(
        app_id, broker=[f"kafka://{b}" for b in k.bootstrap_servers.split(",")], store="memory://",
        topic_partitions=k.partitions, topic_replication_factor=k.replication, web_enabled=False,
        broker_session_timeout=k.session_timeout_ms / 1000, broker_heartbeat_interval=max(0.5, k.session_timeout_ms / 3000),
        broker_request_timeout=max(40.0, k.session_timeout_ms / 1000 + 5), producer_linger=PRODUCER_LINGER_S,
        broker_commit_interval=1.0, consumer_auto_offset_reset="earliest", stream_wait_empty=False,
        table_cleanup_interval=3600.0, stream_buffer_maxsize=16384, broker_credentials=faust_credentials(k.security),
        monitor=faust_tuning.lean_monitor(), datadir=data_dir or f"{app_id}-data")
    app.codec_ = codec = RecordCodec(k.schema_registry_url)
    app.metrics_ = metrics = pipeline_metrics()

    def topic(key: str, internal: bool = False):
        return app.topic(k.topic(key) if not internal else key, key_serializer="raw", value_serializer="raw",
                         internal=internal, partitions=k.partitions if internal else None)

    ticks = topic(f"{app_id}-ticks", internal=True)
    # Convergence needs the whole fabric in one place: the routing records go
    # through a one-partition internal topic to a single tracker.
    routing = app.topic(f"{app_id}-convergence", key_serializer="raw", value_serializer="raw", internal=True,
                        partitions=1)
    tracker = ConvergenceTracker(topology_of(cfg), cfg.convergence.quiet_ms * 1_000_000,
                                 cfg.convergence.max_event_ms * 1_000_000, cfg.convergence.families)
    inputs = [topic("interface_state"), topic("interface_counters"), topic("lag_member"), topic("bgp_session"),
              topic("flows"), ticks]
    sflow = topic("sflow_samples")
    normalized = ("interface_counters", "lag_member")          # what normalize_sflow writes, on the domain's partition
    outputs = {key: topic(key) for key in {TOPIC_OF[t.__name__] for t in OUTPUTS} | {*normalized, "dead_letters"}}
    state_table = app.Table("domain-state", default=None, partitions=k.partitions)   # JSON keys and values
    partitioner = DomainPartitioner(cfg)
    inventory = Inventory(cfg.fabric, cfg.sflow.lacp_bit_order)
    cache: dict[str, Domain] = {}
    waiting = waiting_segments(cfg)              # (router id, ESI) -> device, for oper-groups that wait for EVPN
    segments = SegmentRoutes()

    async def send_record(rec) -> None:
        key = topic_key_of(rec)
        partition = partitioner.partition(rec.device, k.partitions) if key in normalized else None
        await outputs[key].send(key=record_key(rec), value=await encoded(rec, k.topic(key)), partition=partition)
        if isinstance(rec, OUTPUTS):
            metrics.inc("outputs_total", type(rec).__name__)
        if isinstance(rec, FlowReport) and rec.verdict:
            log.info("flows %s %s: %s", rec.kind, rec.group, rec.verdict)
        if isinstance(rec, OperGroupDecision):
            log.info("decision %s: %s %s %s%s: %s", rec.decision_id, rec.device, rec.oper_group, rec.action,
                     " (suppressed)" if rec.suppressed else "", rec.reason)

    async def encoded(rec, topic: str) -> bytes:
        """The record's bytes; with the schema registry down, the agent waits
        for it (one line a minute) rather than dropping a judgement."""
        delay = 0.5
        while True:
            try:
                return codec.encode(rec, topic)
            except RegistryUnavailable as exc:
                registry_log.warning("%s; the worker waits for it", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def decoded(agent: str, event, expect: str | None = None):
        """The record of an event, or None once it is dead-lettered (kafka.decode_or_letter)."""
        msg = event.message
        rec, letter = decode_or_letter(codec, f"pipeline-{agent}", event.value, msg.topic, msg.partition, msg.offset,
                                       event.key if isinstance(event.key, bytes) else None, expect)
        if letter is not None:
            metrics.inc("dead_letters_total", agent)
            await send_record(letter)
        return rec

    def domain(members: DecisionDomain) -> Domain:
        d = cache.get(members)
        if d is None:
            d = cache[members] = Domain(cfg, members)
            saved = state_table.get(members.name)
            if saved:
                d.load(saved)
        return d

    @app.agent(sflow, name="normalize_sflow")
    async def normalize_sflow(stream):
        async for event in stream.events():
            metrics.inc("events_total", "normalize_sflow")
            sample = await decoded("normalize_sflow", event, "SflowSample")
            if sample is None:
                continue
            for rec in normalize(sample, inventory):
                await send_record(rec)

    @app.agent(app.topic(*[t.get_topic_name() for t in inputs], key_serializer="raw", value_serializer="raw"),
               name="evaluate")
    async def evaluate(stream):
        async for event in stream.events():
            if event.value == TICK:
                members = DecisionDomain.parse(event.key.decode())
                out, changed = domain(members).tick(time.time_ns())
            elif event.value.startswith(SEGMENT):
                members, seg = DecisionDomain.parse(event.key.decode()), json.loads(event.value[len(SEGMENT):])
                out, changed = domain(members).apply_segment(seg["device"], seg["esi"], seg["routers"], seg["routes"],
                                                          seg["ts_ns"], time.time_ns())
            else:
                metrics.inc("events_total", "evaluate")
                rec = await decoded("evaluate", event)
                if rec is None:
                    continue
                members = partitioner.domain(rec.device)
                out, changed = domain(members).apply(rec, time.time_ns())
            for o in out:
                await send_record(o)
            if changed:
                state_table[members.name] = cache[members].to_dict()

    @app.agent(app.topic(k.topic("bmp_messages"), k.topic("routing_events"), key_serializer="raw",
                         value_serializer="raw"), name="route_events")
    async def route_events(stream):
        async for event in stream.events():
            metrics.inc("events_total", "route_events")
            rec = await decoded("route_events", event)
            if rec is None:
                continue
            if matters(rec) or (waiting and relevant(rec)):
                await routing.send(key=b"fabric", value=event.value, partition=0)

    async def close_events() -> None:
        for result in tracker.due(time.time_ns()):
            log.info("convergence: %s %s: %d messages, locality %s, %d state rounds", result.element, result.kind,
                     result.messages, result.locality, result.state_rounds)
            await send_record(result)
        metrics.set("unmeasured_events_total", value=tracker.unidentified)

    @app.agent(routing, name="convergence")
    async def convergence(stream):
        async for event in stream.events():
            metrics.inc("events_total", "convergence")
            rec = await decoded("convergence", event)
            if rec is None:
                continue
            if matters(rec):
                tracker.observe(rec, time.time_ns())
            if waiting and relevant(rec):
                for origin, esi in segments.observe(rec):
                    device = waiting.get((origin, esi))
                    if device is not None:
                        await send_segment(device, esi, segments.presence(origin, esi, rec.ts_ns))
            await close_events()

    async def send_segment(device: str, esi: str, presence) -> None:
        members = partitioner.domain(device)
        body = {"device": device, "esi": esi, "routers": presence.routers, "routes": presence.routes,
                "ts_ns": presence.ts_ns}
        await ticks.send(key=members.name.encode(), value=SEGMENT + json.dumps(body).encode(),
                         partition=partition_of(members, k.partitions))

    @app.timer(interval=0.5)
    async def quiet_check():
        await close_events()

    @app.timer(interval=TICK_S)
    async def tick():
        # Timers go through the domain's partition like any record, so that
        # the table is written from inside the stream (as Faust requires) and
        # hold timers stay ordered with the telemetry.
        # Only domains with something due get one (a window ending, a leaf going
        # stale, a hold timer): ticking all of them every round cost a quarter
        # of a worker's throughput.
        now = time.time_ns()
        for members, d in list(cache.items()):
            if d.next_due_ns(now) <= now:
                await ticks.send(key=members.name.encode(), value=TICK, partition=partition_of(members, k.partitions))

    @app.on_partitions_assigned.connect
    async def assigned(app, assigned, **kwargs):
        log.info("pipeline: %d partitions assigned (%d topics)", len(assigned), len({tp.topic for tp in assigned}))

    @app.on_partitions_revoked.connect
    async def forget(app, revoked, **kwargs):
        # Domains of revoked partitions now belong to another worker; reload
        # from the table (restored from its changelog) on the next event.
        cache.clear()
        tracker.event = None

    return app


def create_internal_topics(cfg: Config, app_id: str) -> None:
    """Create the worker's internal topics with their own partition counts
    before it subscribes (the ticks topic must be co-partitioned with the
    inputs, the convergence topic has one partition), or the broker may
    auto-create them with its default count."""
    from confluent_kafka.admin import NewTopic

    from fabtel.kafka import admin_client
    admin = admin_client(cfg.kafka)
    existing = admin.list_topics(timeout=15).topics
    wanted = [NewTopic(name, partitions or cfg.kafka.partitions, cfg.kafka.replication, config=config)
              for name, (partitions, config) in internal_topics(app_id).items() if name not in existing]
    for name, future in (admin.create_topics(wanted).items() if wanted else ()):
        try:
            future.result()
        except Exception as exc:  # TOPIC_ALREADY_EXISTS from a worker starting beside us
            log.info("internal topic %s: %s", name, exc)


def run_worker(cfg: Config, metrics_listen: str | None, loglevel: str = "info", app_id: str = APP_ID,
               data_dir: str | None = None) -> int:
    import threading

    from fabtel.kafka import quiet_repeats, wait_for_broker
    from fabtel.stats import observe
    wait_for_broker(cfg.kafka, "pipeline")
    create_internal_topics(cfg, app_id)
    app = build_app(cfg, app_id, data_dir)
    started = threading.Event()
    # /healthz answers 503 until the worker runs (its tables recovered): the
    # Kubernetes startupProbe waits for that, then the liveness probe takes over.
    observe(cfg, metrics_listen, [app.metrics_], threading.Event(), healthy=started.is_set)
    def ready() -> None:
        started.set()
        log.info("pipeline: worker ready (app %s): tables recovered, consuming", app_id)
    worker = faust_tuning.worker(app, loglevel, on_started=ready)
    quiet_repeats("aiokafka")            # a broker outage: one line per failure a minute, not ten a second
    worker.execute_from_commandline()
    return 0
