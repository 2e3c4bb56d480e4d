"""The `sflow` section: the collector's listen address, socket, workers and queue, and its flow estimates.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.reader import YamlReader


LACP_BIT_ORDERS = ("auto", "ieee8021ax", "mib-bits")
FLOW_SAMPLE_MODES = ("both", "raw", "aggregate")


@dataclass(frozen=True)
class SflowCollector:
    listen: str = "127.0.0.1:6343"
    queue_limit: int = 10000
    lacp_bit_order: str = "auto"       # how agents write LAG port states: detected per agent unless fixed here
    flow_samples: str = "both"         # raw (each sample to Kafka), aggregate (flow windows only) or both
    flow_window_ms: int = 5000         # flow estimates per interface over this window
    flow_table_size: int = 256         # heavy-hitter table per interface and window (memory bound)
    top_flows: int = 10                # flows reported per window
    receive_buffer_bytes: int = 32 << 20   # the socket's buffer: what a burst may queue before the kernel drops
    workers: int = 1                   # receivers on the port (SO_REUSEPORT); `collect sflow --workers` overrides


def read(r: YamlReader, node) -> SflowCollector:
    return r.section(node, "sflow", SflowCollector, {
        "listen": r.endpoint, "queue_limit": r.positive,
        "lacp_bit_order": lambda n, p: r.choice(n, p, LACP_BIT_ORDERS),
        "flow_samples": lambda n, p: r.choice(n, p, FLOW_SAMPLE_MODES), "flow_window_ms": r.positive,
        "flow_table_size": r.positive, "top_flows": r.positive, "receive_buffer_bytes": r.positive,
        "workers": r.positive})
