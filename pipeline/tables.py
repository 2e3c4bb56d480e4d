"""The Faust worker's table: each decision domain's decision state (JSON
keys and values), with a changelog, so that a domain's hold timers and
oper-group states survive a worker's restart or a rebalance.

May import: fabtel.config.
"""
from __future__ import annotations

from fabtel.config import Config


def domain_state_table(app, cfg: Config):
    return app.Table("domain-state", default=None, partitions=cfg.kafka.partitions)
