"""Remediation commands' own way out of the worker, on the real broker: each
is acknowledged, readable, and on the partition Faust's producer (aiokafka,
Java's murmur2 partitioner) put it before, so a device's commands stay on
one partition and in order across an upgrade."""
from __future__ import annotations

import asyncio

from aiokafka.partitioner import DefaultPartitioner

from fabtel.kafka import read_topic, topic_partitions
from fabtel.pipeline.command_out import CommandOut
from fabtel.serde import RecordCodec


def test_commands_are_acknowledged_on_the_partition_aiokafka_chose(config):
    from fabtel.records import RemediationCommand
    topic = config.kafka.topic("commands")
    partitions = topic_partitions(config.kafka, "commands")
    devices = [f"leaf{n}" for n in range(1, 13)]
    codec = RecordCodec(None)
    commands = [RemediationCommand(f"d{n}:e1", f"d{n}", d, "ethernet-1/1", "disable", "srlinux", "/p", '"disable"', 1, 2)
                for n, d in enumerate(devices)]
    out = CommandOut(config.kafka)
    try:
        asyncio.run(asyncio.wait_for(out.deliver([(topic, c.device.encode(), codec.encode(c, topic)) for c in commands]),
                                     30))
    finally:
        out.close()
    read = list(read_topic(config.kafka, topic, max_records=len(devices), timeout_s=10))
    assert sorted(r.record.device for r in read) == sorted(devices)
    chosen = DefaultPartitioner()
    ids = list(range(partitions))
    assert partitions > 1 and len({r.partition for r in read}) > 1
    for r in read:
        assert r.partition == chosen(r.key, ids, ids), r.key
