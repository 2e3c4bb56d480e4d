"""The Faust worker's tables, each with a changelog so that what it holds
survives a worker's restart or a rebalance: each decision domain's decision
state (hold timers, oper-group states), and each device's ifIndex map (the
compacted topic it comes from is read once, from the committed offset on).

May import: fabtel.config.
"""
from __future__ import annotations

from fabtel.config import Config


def domain_state_table(app, cfg: Config):
    return app.Table("domain-state", default=None, partitions=cfg.kafka.partitions)


def interface_index_table(app, cfg: Config):
    """device -> [[interface, ifIndex], ...]: the last map the device reported."""
    return app.Table("interface-index", default=None, partitions=cfg.kafka.partitions)
