"""A schema registry outage costs no judgement or state record: a producer's
`send` waits for it (one log line a minute), `try_send` reports a drop the
caller counts. No broker: the client's produce calls are recorded."""
from __future__ import annotations

import logging

from fabtel.config import KafkaConfig
from fabtel.kafka import RecordProducer
from fabtel.records import InterfaceState
from fabtel.serde import RecordCodec, RegistryUnavailable

REC = InterfaceState("leaf1", "ethernet-1/1", "gnmi", 1, 2, "up", "enable")


class FlakyCodec(RecordCodec):
    def __init__(self, failures: int):
        super().__init__(None)
        self.failures = failures

    def encode(self, record, topic=None):
        if self.failures:
            self.failures -= 1
            raise RegistryUnavailable("schema registry: cannot register x-value: connection refused")
        return super().encode(record, topic)


class Client:
    """The confluent-kafka producer's produce, recorded."""

    def __init__(self):
        self.produced = []

    def produce(self, topic, value, key, partition=-1, on_delivery=None):
        self.produced.append((topic, key))


def producer(failures: int) -> RecordProducer:
    cfg = KafkaConfig(bootstrap_servers="127.0.0.1:1", topics={"interface_state": "fabtel.interface-state"})
    p = RecordProducer(cfg, codec=FlakyCodec(failures))
    p.producer = Client()
    return p


def test_send_waits_for_the_registry_and_says_so_once(caplog):
    caplog.set_level(logging.WARNING, "fabtel.registry")
    p = producer(failures=2)
    p.send(REC)                                  # retried after 0.5 s and 1 s
    assert p.producer.produced == [("fabtel.interface-state", b"leaf1")] and p.codec.failures == 0
    assert [r.getMessage() for r in caplog.records if r.name == "fabtel.registry"] == [
        "schema registry: cannot register x-value: connection refused; records of this type wait and are retried"]


def test_try_send_reports_a_drop_while_the_registry_is_down():
    p = producer(failures=1)
    assert p.try_send(REC) is False and p.producer.produced == []
    assert p.try_send(REC) is True and len(p.producer.produced) == 1
