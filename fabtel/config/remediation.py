"""The `remediation` section: propose or enforce, how old a command may be, how often to retry,
how often an idle executor reads ahead on each device.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.reader import YamlReader


REMEDIATION_MODES = ("propose", "enforce")


@dataclass(frozen=True)
class Remediation:
    mode: str = "propose"
    max_command_age_ms: int = 30000
    retries: int = 3
    idle_read_ms: int = 30000        # 0: read ahead only at start and after an assignment


def read(r: YamlReader, node) -> Remediation:
    return r.section(node, "remediation", Remediation, {
        "mode": lambda n, p: r.choice(n, p, REMEDIATION_MODES),
        "max_command_age_ms": r.positive, "retries": r.integer,
        "idle_read_ms": r.integer})
