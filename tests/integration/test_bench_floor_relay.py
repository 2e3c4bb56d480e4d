"""`bench e2e`'s Kafka floor on the real broker: each round's burst reaches
the relay process, whose command reaches the bench; its topics go at the end."""
from __future__ import annotations

from conftest import EXAMPLE, wait_until


def test_the_floor_relays_every_round_and_leaves_nothing_behind(stack, monkeypatch):
    from fabtel.bench import common, e2e, kafka_floor
    from fabtel.kafka import admin_client
    monkeypatch.setenv("FABTEL_KAFKA_BOOTSTRAP", stack.bootstrap)
    monkeypatch.setattr(kafka_floor, "GAP_S", 0.05)
    cfg = e2e.component_config(EXAMPLE)
    try:
        out = kafka_floor.run(cfg, str(EXAMPLE), 5, 2, rounds=8)
    finally:
        assert common.remove_run_topics() == len(kafka_floor.STATE_KEYS) + 1
    assert out["kafka_floor_lost_rounds"] == 0
    assert 0 < out["kafka_floor_ms_p50"] <= out["kafka_floor_ms_max"] < kafka_floor.WAIT_S * 1000
    assert "a burst of 5 state records" in out["kafka_floor"] and "record 3 of them" in out["kafka_floor"]
    admin = admin_client(cfg.kafka)
    assert wait_until(lambda: not [t for t in admin.list_topics(timeout=10).topics if t.startswith("bench-floor-")],
                      timeout=30)
