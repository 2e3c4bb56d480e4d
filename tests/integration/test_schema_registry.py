"""The Confluent wire format against a real schema registry (Apicurio
Registry 2.6, its Confluent-compatible API, started by `fabtel stack up
--registry`): every record round-trips through it and the broker; subjects
are FULL-compatible, so the registry refuses an incompatible schema and takes
a compatible one; a value naming an unknown schema id is dead-lettered."""
from __future__ import annotations

import dataclasses
import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from conftest import TEST_REGISTRY_PORT
from fabtel import schemas
from fabtel.kafka import RecordProducer, decode_or_dead_letter, tail
from fabtel.topics import TOPIC_RECORDS
from fabtel.serde import CorruptMessage, RecordCodec
from samples import every_record

URL = f"http://127.0.0.1:{TEST_REGISTRY_PORT}/apis/ccompat/v7"


@pytest.fixture()
def registry_config(config):
    return dataclasses.replace(config, kafka=dataclasses.replace(config.kafka, schema_registry_url=URL))


def test_every_record_round_trips_through_the_registry_and_the_broker(registry_config):
    """Each record on its own topic (one schema per subject <topic>-value, TopicNameStrategy)."""
    k = registry_config.kafka
    producer = RecordProducer(k)
    topic_of = {name: key for key, name in TOPIC_RECORDS.items()}
    sent = [r for r in every_record() if type(r).__name__ in topic_of]     # the worker's own timers have no topic
    for rec in sent:
        producer.send(rec)
    assert producer.flush() == 0
    client = SchemaRegistryClient({"url": URL})
    subjects = set(client.get_subjects())
    for key in sorted({topic_of[type(r).__name__] for r in sent}):
        mine = [r for r in sent if topic_of[type(r).__name__] == key]
        got = list(tail(k, k.topic(key), len(mine), 10))
        assert all(err is None for _, err in got)
        assert sorted(map(repr, (r for r, _ in got))) == sorted(map(repr, mine))
        subject = f"{k.topic(key)}-value"
        assert subject in subjects and client.get_compatibility(subject) == "FULL"


def test_the_registry_enforces_full_compatibility(registry_config):
    codec = RecordCodec(URL)
    topic = registry_config.kafka.topic("interface_state")
    codec.encode(every_record()[1], topic)                  # registers InterfaceState under <topic>-value, FULL
    subject = f"{topic}-value"
    client = SchemaRegistryClient({"url": URL})
    schema = schemas.schema_json("InterfaceState")
    removed = {**schema, "fields": [f for f in schema["fields"] if f["name"] != "device_ts_ns"]}
    with pytest.raises(SchemaRegistryError):
        client.register_schema(subject, Schema(json.dumps(removed), "AVRO"))
    added = {**schema, "fields": schema["fields"] + [{"name": "note", "type": ["null", "string"], "default": None,
                                                       "doc": "A test field."}]}
    assert client.register_schema(subject, Schema(json.dumps(added), "AVRO")) > 0


def test_an_unknown_schema_id_is_dead_lettered(registry_config):
    k = registry_config.kafka
    producer = RecordProducer(k)
    body = producer.codec.encode(every_record()[1], k.topic("interface_state"))[5:]
    producer.produce_raw(k.topic("interface_state"), b"leaf1", b"\x00" + (987654).to_bytes(4, "big") + body)
    assert producer.flush() == 0
    from confluent_kafka import Consumer

    from fabtel.kafka import consumer_settings
    consumer = Consumer(consumer_settings(k, "t-unknown-id"))
    consumer.subscribe([k.topic("interface_state")])
    msg = None
    for _ in range(100):
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            break
    consumer.close()
    reasons: list[str] = []
    assert decode_or_dead_letter(producer, "test", msg, on_corrupt=reasons.append) is None
    assert producer.flush() == 0
    [(letter, _)] = list(tail(k, k.topic("dead_letters"), 1, 10))
    assert letter.reason.startswith("schema id 987654 not found in the registry")
    assert [r.split(":")[0] for r in reasons] == ["schema id 987654 not found in the registry"]
    with pytest.raises(CorruptMessage, match="schema id 987654 not found"):
        RecordCodec(URL).decode(msg.value())
