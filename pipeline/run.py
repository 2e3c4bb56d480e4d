"""`fabtel process`: one Faust worker of fabtel's app (fabtel.pipeline.app);
several with the same configuration share the partitions of one group. Its
own topics are created first with their partition counts, /healthz answers
once its tables are recovered, and it stops within fabtel.signals' grace.

May import: the standard library, confluent_kafka, fabtel.config, fabtel.kafka, fabtel.stats,
fabtel.pipeline.app, fabtel.pipeline.faust_tuning, fabtel.pipeline.topics.
"""
from __future__ import annotations

import logging
import threading

from fabtel.config import Config
from fabtel.pipeline import faust_tuning
from fabtel.pipeline.app import build_app
from fabtel.pipeline.topics import APP_ID, internal_topics

log = logging.getLogger("fabtel.pipeline")


def create_internal_topics(cfg: Config, app_id: str) -> None:
    """Create the worker's internal topics with their own partition counts
    before it subscribes (the ticks topic must be co-partitioned with the
    inputs, the convergence topic has one partition), or the broker may
    auto-create them with its default count."""
    from confluent_kafka.admin import NewTopic

    from fabtel.kafka import admin_client, internal_topic_config
    admin = admin_client(cfg.kafka)
    existing = admin.list_topics(timeout=15).topics
    wanted = [NewTopic(name, partitions or cfg.kafka.partitions, cfg.kafka.replication,
                       config=internal_topic_config(cfg.kafka, extra))
              for name, (partitions, extra) in internal_topics(app_id).items() if name not in existing]
    for name, future in (admin.create_topics(wanted).items() if wanted else ()):
        try:
            future.result()
        except Exception as exc:  # TOPIC_ALREADY_EXISTS from a worker starting beside us
            log.info("internal topic %s: %s", name, exc)


def run_worker(cfg: Config, metrics_listen: str | None, loglevel: str = "info", app_id: str = APP_ID,
               data_dir: str | None = None) -> int:
    from fabtel.kafka import quiet_repeats, wait_for_broker
    from fabtel.stats import observe
    wait_for_broker(cfg.kafka, "pipeline")
    create_internal_topics(cfg, app_id)
    app = build_app(cfg, app_id, data_dir)
    started = threading.Event()
    # /healthz answers 503 until the worker runs (its tables recovered): the
    # Kubernetes startupProbe waits for that, then the liveness probe takes over.
    observe(cfg, metrics_listen, [app.fabtel_worker.metrics], threading.Event(), healthy=started.is_set)

    def ready() -> None:
        started.set()
        log.info("pipeline: worker ready (app %s): tables recovered, consuming", app_id)
    worker = faust_tuning.worker(app, loglevel, on_started=ready)
    quiet_repeats("aiokafka")            # a broker outage: one line per failure a minute, not ten a second
    worker.execute_from_commandline()
    return 0
