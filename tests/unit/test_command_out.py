"""Remediation commands' own way out of the worker (fabtel.pipeline.command_out)
and the order in which the worker sends a domain's outputs. The producer here
is an in-process stand-in for confluent-kafka's, reporting deliveries the way
librdkafka does (from poll(), on the serving thread); the real client and
broker are in tests/integration/test_command_out_broker.py."""
from __future__ import annotations

import asyncio
import threading
import types

from fabtel.pipeline.command_out import CommandOut
from fabtel.records import OperGroupDecision, RemediationCommand, UplinkHealth


class Producer:
    """Queues each produce; poll() reports what `gate` lets through, failing the first `fail` of them."""

    def __init__(self, fail: int = 0):
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.pending: list = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail
        self.lock = threading.Lock()
        self.flushed = False

    def produce(self, topic, value, key, on_delivery):
        with self.lock:
            self.produced.append((topic, key, value))
            self.pending.append(on_delivery)

    def poll(self, timeout):
        if not self.gate.wait(timeout):
            return 0
        with self.lock:
            due, self.pending = self.pending, []
        for report in due:
            err = None
            if self.fail:
                self.fail -= 1
                err = "_MSG_TIMED_OUT"
            report(err, None)
        return len(due)

    def list_topics(self, topic, timeout):
        self.asked = topic

    def flush(self, timeout):
        self.flushed = True
        return 0


def command(n: int, device: str = "leaf1") -> RemediationCommand:
    return RemediationCommand(f"d1:e{n}", "d1", device, f"ethernet-1/{n}", "disable", "srlinux", "/p", '"disable"', 1, 2)


def test_deliver_returns_only_once_the_broker_has_acknowledged_every_command():
    producer = Producer()
    producer.gate.clear()
    out = CommandOut(types.SimpleNamespace(), producer=producer)

    async def scenario():
        delivery = asyncio.ensure_future(out.deliver([("commands", b"leaf1", b"a"), ("commands", b"leaf1", b"b")]))
        await asyncio.sleep(0.3)
        assert not delivery.done()                            # produced, not yet acknowledged
        assert [v for _, _, v in producer.produced] == [b"a", b"b"]   # both at once, not one round trip each
        producer.gate.set()
        await asyncio.wait_for(delivery, 5)
    asyncio.run(scenario())
    out.close()
    assert producer.flushed and out._serving is None


def test_a_failed_delivery_is_produced_again_until_it_is_acknowledged(caplog):
    producer = Producer(fail=1)
    out = CommandOut(types.SimpleNamespace(), producer=producer)
    asyncio.run(asyncio.wait_for(out.deliver([("commands", b"leaf1", b"a"), ("commands", b"leaf2", b"b")]), 10))
    out.close()
    assert [v for _, _, v in producer.produced] == [b"a", b"b", b"a"]     # only the failed one again
    assert "1 command(s) not acknowledged (_MSG_TIMED_OUT)" in caplog.text


def test_start_warms_the_producer_once_before_the_first_command():
    producer = Producer()
    out = CommandOut(types.SimpleNamespace(), producer=producer)
    out.start("commands")
    serving = out._serving
    out.start("commands")                                     # a second assignment: the same thread
    assert out._serving is serving
    asyncio.run(asyncio.wait_for(out.deliver([("commands", b"leaf1", b"a")]), 5))
    out.close()
    assert producer.asked == "commands" and producer.produced == [("commands", b"leaf1", b"a")]


def test_close_before_any_command_starts_nothing():
    out = CommandOut(types.SimpleNamespace(), producer=Producer())
    out.close()
    assert out._serving is None


def test_the_worker_sends_a_domains_commands_first_then_the_rest_in_their_order(lab_config, monkeypatch):
    from fabtel.pipeline.worker import Worker
    sent, delivered = [], []

    class Topic:
        def __init__(self, key):
            self.key = key

        async def send(self, key, value, partition):
            sent.append(self.key)

    class Commands:
        async def deliver(self, messages):
            assert not sent                                   # nothing else went before them
            delivered.extend(messages)

    topics = types.SimpleNamespace(outputs={k: Topic(k) for k in ("uplink_health", "decisions", "lag_balance")})
    worker = Worker(lab_config, topics, {})
    worker.commands = Commands()
    monkeypatch.setattr(worker, "encoded", lambda rec, topic: asyncio.sleep(0, result=b"x"))
    health = UplinkHealth.__new__(UplinkHealth)
    records = [OperGroupDecision("d1", "g", "leaf1", "disable", [], False, "", [], 1, 2), command(1), health,
               command(2, "leaf2")]
    sent_kinds = []
    real_send = worker.send

    async def send(rec):
        sent_kinds.append(type(rec).__name__)
        await real_send(rec)
    monkeypatch.setattr(worker, "send", send)
    asyncio.run(worker.send_all(records))
    assert [(k.decode(), t) for t, k, _ in delivered] == [("leaf1", lab_config.kafka.topic("commands")),
                                                          ("leaf2", lab_config.kafka.topic("commands"))]
    assert sent_kinds == ["OperGroupDecision", "UplinkHealth"] and sent == ["decisions", "uplink_health"]
    assert worker.metrics._values["outputs_total"][("RemediationCommand",)] == 2
