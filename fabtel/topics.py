"""fabtel's topics as facts, stated once: which record type lives on which
configured topic (every producer and the Faust worker route by it), the
topics whose settings differ from a log of events, and each topic's default
name. The configuration reads its topic keys here, and fabtel.kafka routes
and creates topics from here.

May import: the standard library.
"""
from __future__ import annotations

from typing import Any

# configuration key -> the record type (fabtel.records) on that topic
TOPIC_RECORDS = {
    "interface_state": "InterfaceState", "interface_counters": "InterfaceCounters",
    "lag_member": "LagMemberState", "bgp_session": "BgpSession", "sflow_samples": "SflowSample",
    "lag_balance": "LagBalance", "uplink_health": "UplinkHealth", "decisions": "OperGroupDecision",
    "commands": "RemediationCommand", "command_results": "RemediationResult", "dead_letters": "DeadLetter",
    "pipeline_stats": "ComponentStats", "bmp_messages": "BmpMessage", "convergence": "ConvergenceResult",
    "routing_events": "RoutingEvent", "targets": "CollectorTarget", "flows": "FlowWindow",
    "flow_reports": "FlowReport", "interface_index": "InterfaceIndexes", "lldp_neighbors": "LldpNeighbor",
    "cabling": "CablingCheck", "remediation_outcomes": "RemediationOutcome",
}
TOPIC_KEYS = tuple(TOPIC_RECORDS)
# Topics that are not a log of events: the inventory the gNMI collectors share
# out is compacted (the latest record per device; a tombstone removes one) and
# has partitions enough to spread devices evenly over many collectors
# (kafka.targets_partitions, 60 by default: it divides by 2, 3, 4, 5 and 6).
# The devices' ifIndex maps are compacted too: the latest map per device is the state.
TOPIC_SETTINGS = {"targets": ("targets_partitions", {"cleanup.policy": "compact"}),
                  "interface_index": ("partitions", {"cleanup.policy": "compact"})}
TOPIC_OF = {name: key for key, name in TOPIC_RECORDS.items()}      # record type name -> topic key


def default_topic_name(key: str) -> str:
    return f"fabtel.{key.replace('_', '-')}"


def topic_key_of(record: Any) -> str:
    return TOPIC_OF[type(record).__name__]
