"""The Faust worker's own topics, named from its app id: the one list that
the worker creates at start and the Kubernetes manifests declare. Pure.
May import: the standard library only."""
from __future__ import annotations

APP_ID = "fabtel-processor"
TABLES = ("domain-state",)


def internal_topics(app_id: str = APP_ID) -> dict[str, tuple[int | None, dict]]:
    """name -> (partitions, None for the configured count; topic config): the
    ticks topic (co-partitioned with the inputs), the convergence topic (one
    partition: one tracker sees the whole fabric) and each table's changelog
    (compacted: only the last state counts)."""
    topics: dict[str, tuple[int | None, dict]] = {f"{app_id}-ticks": (None, {}), f"{app_id}-convergence": (1, {})}
    topics.update({f"{app_id}-{t}-changelog": (None, {"cleanup.policy": "compact"}) for t in TABLES})
    return topics
