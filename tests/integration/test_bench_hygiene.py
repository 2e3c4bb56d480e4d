"""A bench run leaves nothing behind on the broker: the topics its
configuration made, and its Faust worker's group and changelog topics, are
deleted at its end (a broker keeping every run's topics slowed down run
after run, and later runs measured that)."""
from __future__ import annotations

import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import NewTopic

from conftest import EXAMPLE, wait_until


def test_a_bench_run_deletes_what_it_made(stack, monkeypatch):
    from fabtel.bench import common
    from fabtel.kafka import admin_client
    monkeypatch.setenv("FABTEL_KAFKA_BOOTSTRAP", stack.bootstrap)
    cfg = common.bench_config(str(EXAMPLE), "hygiene")
    tag = next(iter(cfg.kafka.topics.values())).split(".")[0]
    app = f"bench-hygiene-{uuid.uuid4().hex[:6]}"
    common.made_here(cfg.kafka, app)
    admin = admin_client(cfg.kafka)
    changelog = f"{app}-state-changelog"
    admin.create_topics([NewTopic(changelog, 1, 1)])[changelog].result()
    group = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": app})

    def committed() -> bool:
        try:
            group.commit(offsets=[TopicPartition(changelog, 0, 0)], asynchronous=False)
            return True
        except KafkaException:                   # the new partition has no leader yet
            return False
    assert wait_until(committed, timeout=30)
    group.close()
    mine = (f"{tag}.", app)

    def left() -> list[str]:
        return [t for t in admin.list_topics(timeout=10).topics if t.startswith(mine)]
    assert len(left()) == len(set(cfg.kafka.topics.values())) + 1
    assert common.remove_run_topics() == len(set(cfg.kafka.topics.values())) + 1
    assert wait_until(lambda: not left(), timeout=30), left()
    groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid]
    assert app not in groups
    assert common.remove_run_topics() == 0                   # nothing twice
