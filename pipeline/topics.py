"""The Faust worker's topics. Its own, named from its app id (the one list
that the worker creates at start and the Kubernetes manifests declare), and
the Faust topic objects its agents read and write (`worker_topics`).

May import: the standard library, fabtel.config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fabtel.config import Config

APP_ID = "fabtel-processor"
TABLES = ("domain-state", "interface-index")
# what the evaluate agent reads beside its own ticks topic, and what the worker writes
EVALUATED = ("interface_state", "interface_counters", "lag_member", "bgp_session", "flows")
# the state changes that set off a remediation: delivered first of each fetch (faust_tuning point 11)
URGENT = ("interface_state", "lag_member", "bgp_session")
WRITTEN = ("uplink_health", "lag_balance", "decisions", "commands", "convergence", "flow_reports", "interface_counters",
           "lag_member", "dead_letters", "cabling", "remediation_outcomes")


def internal_topics(app_id: str = APP_ID) -> dict[str, tuple[int | None, dict]]:
    """name -> (partitions, None for the configured count; topic config): the
    ticks topic (co-partitioned with the inputs), the convergence and cabling
    topics (one partition each: one tracker sees the whole fabric, one
    cabling check all its links) and each table's changelog (compacted: only
    the last state counts)."""
    topics: dict[str, tuple[int | None, dict]] = {f"{app_id}-ticks": (None, {}), f"{app_id}-convergence": (1, {}),
                                                  f"{app_id}-cabling": (1, {})}
    topics.update({f"{app_id}-{t}-changelog": (None, {"cleanup.policy": "compact"}) for t in TABLES})
    return topics


def urgent_topics(cfg: Config) -> frozenset[str]:
    return frozenset(cfg.kafka.topic(key) for key in URGENT)


@dataclass
class WorkerTopics:
    evaluated: Any            # the telemetry topics and the ticks topic, one stream (co-partitioned)
    ticks: Any                # the worker's timers and segment presences, per domain partition
    sflow: Any                # sFlow samples, to normalize, and the devices' ifIndex maps that name them
    routing: Any              # BMP messages and routing events
    convergence: Any          # the routing records that matter, on one partition for one tracker
    lldp: Any                 # the devices' LLDP neighbours
    cabling: Any              # LLDP neighbours and ifIndex maps, on one partition for one cabling check
    outputs: dict[str, Any]   # topic key -> topic the worker writes


def worker_topics(app, cfg: Config, app_id: str) -> WorkerTopics:
    k = cfg.kafka

    def raw(*names: str, partitions: int | None = None, internal: bool = False):
        return app.topic(*names, key_serializer="raw", value_serializer="raw", internal=internal, partitions=partitions)
    ticks = raw(f"{app_id}-ticks", partitions=k.partitions, internal=True)
    return WorkerTopics(
        evaluated=raw(*(k.topic(key) for key in EVALUATED), ticks.get_topic_name()), ticks=ticks,
        sflow=raw(k.topic("sflow_samples"), k.topic("interface_index")),
        routing=raw(k.topic("bmp_messages"), k.topic("routing_events")),
        convergence=raw(f"{app_id}-convergence", partitions=1, internal=True),
        lldp=raw(k.topic("lldp_neighbors")), cabling=raw(f"{app_id}-cabling", partitions=1, internal=True),
        outputs={key: raw(k.topic(key)) for key in WRITTEN})
