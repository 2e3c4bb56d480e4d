"""The Faust app of fabtel's worker, built from the configuration: its
settings, and its topics (fabtel.pipeline.topics), table (tables), agents
(agents/, one module each) and timers (timers) around one Worker object they
share (worker). Processing is at-least-once (Faust flushes the producer
before it commits offsets; remediation commands, on a producer of their own,
are acknowledged before their event is acked: command_out); outputs are
idempotent (deterministic decision and command ids). `fabtel process` runs it (fabtel.pipeline.run).

May import: faust, the standard library, fabtel.config, fabtel.pipeline.faust_tuning,
fabtel.pipeline.tables, fabtel.pipeline.timers, fabtel.pipeline.agents, fabtel.pipeline.topics,
fabtel.pipeline.worker.
"""
from __future__ import annotations

import os

import faust

from fabtel.config import Config, KafkaSecurity, resolve_secret
from fabtel.pipeline import faust_tuning, tables, timers
from fabtel.pipeline.agents import cabling, convergence, evaluate, normalize_sflow, route_events
from fabtel.pipeline.topics import APP_ID, urgent_topics, worker_topics
from fabtel.pipeline.worker import Worker

# With no linger every send is its own produce request, one round trip each
# (about 500 records/s); 5 ms lets a burst share a request at little latency.
PRODUCER_LINGER_S = float(os.environ.get("FABTEL_PRODUCER_LINGER_MS", "5")) / 1000


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


# Offsets are committed on the 1 s timer only. Faust also commits every
# broker_commit_every (10,000) messages, inline in the loop that hands
# fetched messages to the agents: during a broker outage that commit waits
# for the timer's, stuck until the group coordinator is back, and every
# message waits with it (the access link went down 1.6-2.9 s after a
# broker's return instead of a few hundred ms, whenever the count fell in
# the outage). What is committed is the same: offsets of acked events.
COMMIT_EVERY_NEVER = 2**62


def build_app(cfg: Config, app_id: str = APP_ID, data_dir: str | None = None) -> faust.App:
    k = cfg.kafka
    faust_tuning.install(faust_tuning.TANSU_FETCH_MAX_WAIT_MS if k.implementation == "tansu" else None)
    app = faust.App(
        app_id, broker=[f"kafka://{b}" for b in k.bootstrap_servers.split(",")], store="memory://",
        topic_partitions=k.partitions, topic_replication_factor=k.replication, web_enabled=False,
        broker_session_timeout=k.session_timeout_ms / 1000, broker_heartbeat_interval=max(0.5, k.session_timeout_ms / 3000),
        broker_request_timeout=max(40.0, k.session_timeout_ms / 1000 + 5), producer_linger=PRODUCER_LINGER_S,
        broker_commit_interval=1.0, broker_commit_every=COMMIT_EVERY_NEVER, consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        table_cleanup_interval=3600.0, stream_buffer_maxsize=16384, broker_credentials=faust_credentials(k.security),
        monitor=faust_tuning.lean_monitor(), ConsumerScheduler=faust_tuning.urgent_first(urgent_topics(cfg)),
        datadir=data_dir or f"{app_id}-data")
    topics = worker_topics(app, cfg, app_id)
    worker = app.fabtel_worker = Worker(cfg, topics, tables.domain_state_table(app, cfg))
    for agent in (evaluate, normalize_sflow, route_events, convergence, cabling):
        agent.register(app, worker)
    timers.register(app, worker)
    app.on_partitions_assigned.connect(worker.assigned)
    app.on_partitions_revoked.connect(worker.revoked)
    app.on_before_shutdown.connect(worker.stopping)
    return app
