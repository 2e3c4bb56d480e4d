"""The remediation executor's consumer side without a broker or a device:
test stand-ins for its Kafka consumer and producer, its history of handled
command ids and its gNMI connection (Executor's collaborators), so that the
commit-behind-results, dedup, age-limit, dead-letter and refused-commit
paths are checked one by one. The real clients are tested in
tests/integration (test_remediation, test_stack_kafka)."""
from __future__ import annotations

import json
import threading
import time

from confluent_kafka import KafkaError, KafkaException

from conftest import EXAMPLE, wait_until
from fabtel.config import load_config
from fabtel.connectors.remediation.executor import Executor
from fabtel.records import DeadLetter, RemediationCommand, RemediationResult
from fabtel.serde import RecordCodec

TOPIC = "fabtel.commands"
PATH = "/interface[name=ethernet-1/1]/admin-state"
CODEC = RecordCodec(None)


class Message:
    def __init__(self, value: bytes, offset: int, partition: int = 0):
        self._value, self._offset, self._partition = value, offset, partition

    def value(self):
        return self._value

    def key(self):
        return b"leaf1"

    def topic(self):
        return TOPIC

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def error(self):
        return None


class Producer:
    codec = CODEC

    def __init__(self):
        self.sent, self.flushes = [], 0

    def send(self, record):
        self.sent.append(record)

    def poll(self, timeout=0):
        return 0

    def flush(self, timeout=None):
        self.flushes += 1
        return 0

    def results(self):
        return [r for r in self.sent if isinstance(r, RemediationResult)]


class Consumer:
    def __init__(self, refuse: KafkaError | None = None):
        self.commits, self.refuse = [], refuse

    def commit(self, offsets, asynchronous=True):
        if self.refuse is not None:
            raise KafkaException(self.refuse)
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


class Device:
    """leaf1's admin-state; `hold` keeps a Set waiting until the test releases it."""

    def __init__(self, value="enable", hold: threading.Event | None = None):
        self.value, self.hold, self.sets = value, hold, 0

    def connect(self, device, timeout):
        return self

    def agree_encoding(self):
        pass

    def get(self, path):
        return self.value

    def set_update(self, path, value):
        if self.hold is not None:
            self.hold.wait(10)
        self.sets += 1
        self.value = json.loads(value)

    def close(self):
        pass


def command(cid="d1:ethernet-1/1", age_s=0.0) -> RemediationCommand:
    t = time.time_ns() - int(age_s * 1e9)
    return RemediationCommand(cid, "d1", "leaf1", "ethernet-1/1", "disable", "srlinux", PATH, '"disable"', t, t)


def message(cmd: RemediationCommand, offset: int) -> Message:
    return Message(CODEC.encode(cmd, TOPIC), offset)


def executor(mode="propose", device: Device | None = None, history=(), consumer: Consumer | None = None):
    ex = Executor(load_config(EXAMPLE), mode, producer=Producer(), consumer=consumer or Consumer(),
                  history=lambda: list(history), connect=(device or Device()).connect)
    ex.load_history()
    return ex



def test_propose_mode_records_what_it_would_do_and_commits_behind_it():
    ex = executor("propose")
    ex.handle(message(command(), 7))
    [result] = ex.producer.results()
    assert (result.outcome, result.detail) == ("proposed", f'would set {PATH} = "disable"')
    ex.commit_ready()
    assert ex.consumer.commits == [[(TOPIC, 0, 8)]] and ex.producer.flushes == 1   # results stored first


def test_enforce_applies_once_and_a_second_delivery_is_a_duplicate():
    dev = Device()
    ex = executor("enforce", dev)
    ex.handle(message(command(), 0))
    assert wait_until(lambda: ex.producer.results())
    ex.handle(message(command(), 1))                      # the same command again (a replay)
    ex.commit_ready()
    assert [r.outcome for r in ex.producer.results()] == ["applied"] and dev.sets == 1
    assert ex.metrics.get("duplicates_total") == 1 and ex.consumer.commits == [[(TOPIC, 0, 2)]]


def test_ids_handled_before_the_restart_are_not_applied_again_but_proposals_are():
    applied = RemediationResult("old", "d", "leaf1", "ethernet-1/1", "disable", "applied", "", 1, 0, 0)
    proposed = RemediationResult("new", "d", "leaf1", "ethernet-1/1", "disable", "proposed", "", 0, 0, 0)
    dev = Device()
    ex = executor("enforce", dev, history=[applied, proposed])
    ex.handle(message(command("old"), 0))
    ex.handle(message(command("new"), 1))
    assert wait_until(lambda: ex.producer.results())
    assert [(r.command_id, r.outcome) for r in ex.producer.results()] == [("new", "applied")] and dev.sets == 1


def test_a_command_older_than_the_limit_is_never_applied():
    dev = Device()
    ex = executor("enforce", dev)
    ex.handle(message(command(age_s=31), 0))              # max_command_age_ms is 30,000 in the example
    [result] = ex.producer.results()
    assert result.outcome == "skipped_stale" and "limit 30000 ms" in result.detail and dev.sets == 0


def test_an_undecodable_command_is_dead_lettered_counted_and_passed():
    ex = executor("enforce")
    ex.handle(Message(b"\x00not avro", 3))
    [letter] = [r for r in ex.producer.sent if isinstance(r, DeadLetter)]
    assert (letter.component, letter.source_topic, letter.offset, letter.payload) == ("remediation", TOPIC, 3,
                                                                                        b"\x00not avro")
    assert letter.reason and ex.metrics.get("corrupt_messages_total") == 1
    ex.commit_ready()
    assert ex.consumer.commits == [[(TOPIC, 0, 4)]]


def test_offsets_wait_for_the_command_still_in_flight():
    hold = threading.Event()
    ex = executor("enforce", Device(hold=hold))
    ex.handle(message(command(), 10))                     # waits at the device
    ex.handle(Message(b"junk", 11))                       # done at once, but behind offset 10
    ex.commit_ready()
    assert ex.consumer.commits == []
    hold.set()
    assert wait_until(lambda: ex.producer.results())
    ex.commit_ready()
    assert ex.consumer.commits == [[(TOPIC, 0, 12)]]


def test_a_refused_commit_is_counted_not_fatal():
    ex = executor("propose", consumer=Consumer(refuse=KafkaError(KafkaError.UNKNOWN_MEMBER_ID)))
    ex.handle(message(command(), 0))
    ex.commit_ready()                                     # the command comes again; its id is known by then
    assert ex.metrics.get("commits_refused_total", "UNKNOWN_MEMBER_ID") == 1


def test_after_an_assignment_the_first_set_is_read_before_again():
    """This executor last read "disable"; while the partition was another's,
    the link was enabled and a new command wants it enabled: after the
    assignment it reads first and reports it already in state, not applied."""
    from confluent_kafka import TopicPartition
    dev = Device("enable")
    ex = executor("enforce", dev)
    ex.started = True
    ex.handle(message(command("c1"), 0))                  # disable: read, Set, read back
    assert wait_until(lambda: ex.producer.results())
    dev.value = "enable"                                  # its next owner enabled it
    ex._assigned(ex.consumer, [TopicPartition(TOPIC, 0)])
    enable = RemediationCommand("c2", "d2", "leaf1", "ethernet-1/1", "enable", "srlinux", PATH, '"enable"',
                                time.time_ns(), time.time_ns())
    ex.handle(message(enable, 1))
    assert wait_until(lambda: len(ex.producer.results()) == 2)
    assert [r.outcome for r in ex.producer.results()] == ["applied", "already_in_state"] and dev.sets == 1


def test_each_device_reads_ahead_its_oper_groups_down_links_and_again_after_an_assignment():
    from confluent_kafka import TopicPartition
    from fabtel.connectors.remediation.executor import settable_paths
    cfg = load_config(EXAMPLE)
    assert settable_paths(cfg, cfg.fabric.device("leaf1")) == (PATH,)          # og-leaf1's down-link
    assert settable_paths(cfg, cfg.fabric.device("spine1")) == ()              # in no oper-group: nothing to read

    class Counting(Device):
        gets = 0

        def get(self, path):
            Counting.gets += 1
            return super().get(path)
    dev = Counting("enable")
    ex = executor("enforce", dev)
    ex.started = True
    worker = ex._worker("leaf1")
    assert wait_until(lambda: worker.known == {PATH: "enable"})
    assert ex.metrics.get("device_reachable", "leaf1") == 1
    ex._assigned(ex.consumer, [TopicPartition(TOPIC, 0)])
    assert wait_until(lambda: Counting.gets == 2) and worker.known == {PATH: "enable"}
    worker.jobs.put(None)
    worker.join(5)
