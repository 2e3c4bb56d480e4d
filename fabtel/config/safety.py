"""The `safety` section: what the oper-groups never do.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.reader import YamlReader


@dataclass(frozen=True)
class Safety:
    act_on_unknown: bool = False
    protect_last_es_member: bool = True
    max_decisions_per_minute: int = 6


def read(r: YamlReader, node) -> Safety:
    return r.section(node, "safety", Safety, {
        "act_on_unknown": r.boolean, "protect_last_es_member": r.boolean, "max_decisions_per_minute": r.integer})
