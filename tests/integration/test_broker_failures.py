"""Broker failures on real Apache Kafka, each on a stack of its own: a clean
restart keeps every record and the groups' offsets; a broker SIGKILLed during
the demo scenario and restarted after the uplinks failed loses nothing (a
counted input is in Kafka exactly once, by offsets, and every point of it in
InfluxDB; a replayed point would overwrite itself there, which rows cannot
show), the remediation is applied once, within 1.5 s of the broker's return;
a three-node cluster (replication 3, min.insync.replicas 2, acks=all) loses
one node during the scenario and meets it all the same. Figures (stall time,
counts) are printed for the README: run with -s to see them."""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import EXAMPLE, free_port, with_free_gnmi_ports, write_config
from fabtel.localstack.ports import bindable
from fabtel.localstack.supervisor import ComponentFailed

COUNTED = "counted-input"


def _stack(state_dir: Path, nodes: int = 1):
    from fabtel.localstack.stack import Stack
    port = next(p for p in (free_port() for _ in range(100))
                if all(bindable(p + k) for k in (*range(nodes), *range(100, 100 + nodes))))
    taken = {port + k for k in (*range(nodes), *range(100, 100 + nodes))}
    influx = next(p for p in (free_port() for _ in range(100)) if p not in taken)
    stack = Stack(state_dir, kafka_port=port, influx_port=influx, nodes=nodes)
    stack.up()
    return stack


def _config(stack, directory: Path, replication: int = 1):
    """The example on `stack`, its lab on free ports (a lab or a demo the user
    left running, or a client's ephemeral port, may hold the example's)."""
    from fabtel.config import load_config, with_endpoints
    cfg = with_free_gnmi_ports(with_endpoints(load_config(EXAMPLE), stack.bootstrap, stack.influx_url))
    cfg = dataclasses.replace(cfg, kafka=dataclasses.replace(cfg.kafka, partitions=2, replication=replication))
    return cfg, write_config(cfg, directory / "fabric.yaml", kafka={"replication": replication})


def _committed_once_the_coordinator_answers(consumer, topic, within=30.0):
    """A restarted broker answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS
    until it has loaded __consumer_offsets (longer on a busy machine); both are
    retriable, as every Kafka client treats them."""
    from confluent_kafka import KafkaError, KafkaException
    retriable = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                 KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT}
    deadline = time.monotonic() + within
    while True:
        try:
            return {tp.partition: tp.offset for tp in consumer.committed(
                [TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)}
        except KafkaException as e:
            if e.args[0].code() not in retriable or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_records_and_group_offsets_survive_a_restart(tmp_path):
    from fabtel.kafka import RecordProducer, consumer_settings, create_topics, tail
    from fabtel.records import InterfaceCounters
    stack = _stack(tmp_path / "state")
    try:
        cfg, _ = _config(stack, tmp_path)
        create_topics(cfg.kafka)
        topic = cfg.kafka.topic("interface_counters")
        p = RecordProducer(cfg.kafka)
        for i in range(1000):
            p.send(InterfaceCounters(COUNTED, "x", "gnmi", i + 1, i + 1, in_octets=i))
        assert p.flush(30) == 0 and p.delivered == 1000
        c = Consumer(consumer_settings(cfg.kafka, "restart-group"))
        c.subscribe([topic])
        taken = []
        while len(taken) < 400:
            for m in c.consume(400 - len(taken), 1.0):
                if not m.error():
                    taken.append(m)
        c.commit(asynchronous=False)
        committed = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)])}
        c.close()

        stack.down()
        assert not any(s.pid() for s in stack.brokers)
        stack.up()

        again = Consumer(consumer_settings(cfg.kafka, "restart-group"))
        after = _committed_once_the_coordinator_answers(again, topic)
        again.close()
        assert after == committed and sum(o for o in committed.values() if o >= 0) == 400
        records = [r for r, _ in tail(cfg.kafka, topic, None, 5, until_end=True)]
        assert sorted(r.in_octets for r in records) == list(range(1000))
    finally:
        stack.down()


class CountedInput(threading.Thread):
    """Produces InterfaceCounters of a device outside the inventory, one every
    20 ms, through an outage: every one must be in Kafka exactly once."""

    def __init__(self, cfg, seconds: float):
        super().__init__(daemon=True)
        from fabtel.kafka import RecordProducer
        self.producer = RecordProducer(cfg.kafka, **{"message.timeout.ms": 120_000})
        self.seconds, self.sent = seconds, 0

    def run(self):
        from fabtel.records import InterfaceCounters
        t_end = time.monotonic() + self.seconds
        while time.monotonic() < t_end:
            now = time.time_ns()
            self.producer.send(InterfaceCounters(COUNTED, "x", "gnmi", now, now,
                                                                       in_octets=self.sent, out_octets=0))
            self.sent += 1
            self.producer.poll(0)
            time.sleep(0.02)
        self.undelivered = self.producer.flush(120)


class InfluxWatch(threading.Thread):
    """Polls how many counted points InfluxDB holds, to measure the stall."""

    def __init__(self, cfg):
        super().__init__(daemon=True)
        self.cfg, self.samples, self.stop = cfg, [], threading.Event()

    def count(self) -> int:
        from fabtel.connectors.influx.query import influxql
        try:
            series = influxql(self.cfg.influxdb, f"SELECT count(in_octets) FROM interface_counters WHERE device = '{COUNTED}'")
        except Exception:  # InfluxDB busy or the database not created yet
            return -1
        return int(series[0]["values"][0][1]) if series else 0

    def run(self):
        while not self.stop.wait(0.25):
            self.samples.append((time.monotonic(), self.count()))

    def longest_stall(self) -> float:
        """The longest time InfluxDB's count of counted points stood still
        while records were being produced (about every 20 ms)."""
        grew = [t for (t, n), (_, prev) in zip(self.samples[1:], self.samples) if n > prev]
        return round(max((b - a for a, b in zip(grew, grew[1:])), default=float("inf")), 1)


def _serving_again_ns(broker_log: Path) -> int | None:
    """When the restarted broker served again, by its own log (time.time_ns()
    scale): the last metadata change after its last start that made it the
    leader of its partitions, which its group coordinator logs as it
    schedules the loading of __consumer_offsets (one change leads them and
    the data partitions: consumers fetch again from then, and groups answer
    a few ms later). Its port answers earlier: a lone node is refused as a
    duplicate registration until the controller fences its previous
    incarnation, is unfenced, and only then leads its partitions again,
    seconds later on a busy machine."""
    from datetime import datetime
    text = broker_log.read_text(errors="replace")
    text = text[text.rfind("Registered signal handlers"):]
    led = re.findall(r"^(\S+) INFO CoordinatorRuntime: .*Scheduling loading of metadata from __consumer_offsets-\d+ ",
                     text, re.M)
    return int(datetime.strptime(led[-1], "%Y-%m-%dT%H:%M:%S,%f").timestamp() * 1e9) if led else None


def _scenario_with(stack, tmp_path, replication: int, kill, kill_at_s: float, restart_at_s: float | None):
    """The demo's main scenario, with the oper-group, against `stack`; `kill`
    picks the node SIGKILLed `kill_at_s` into the scenario (restarted at
    `restart_at_s`, if given). Returns (result, report, problems, counted
    input, influx watch, {killed, returned_ns}, counted records in the topic)."""
    from fabtel.kafka import create_topics, tail
    from fabtel.lab.scenario import SCENARIO_DIR, load_scenario
    from fabtel.demo.report import build_report, check_expectations
    from fabtel.demo.run import run_config, run_once
    cfg, path = _config(stack, tmp_path, replication)
    # 60 s rather than 40: a broker restarted on a busy machine may take 15 s to
    # answer, and the remediation's outcome and recovery still need time after it
    scenario = dataclasses.replace(load_scenario(SCENARIO_DIR / "leaf1-uplinks-down.yaml", cfg), duration_s=60)
    tag = "f" + str(time.time_ns())[-6:]
    run_cfg = run_config(cfg, scenario, True, tag)
    create_topics(run_cfg.kafka)
    counted, watch = CountedInput(run_cfg, 24), InfluxWatch(run_cfg)
    state = {"killed": None, "restarted": False, "returned_ns": None}

    def restart() -> None:
        state["restarting_ns"] = time.time_ns()
        stack.start_node(kill)
        state["returned_ns"] = time.time_ns()      # the node answers metadata requests again

    def hook(elapsed: float) -> None:
        if elapsed >= 6 and not counted.is_alive() and not counted.sent:
            counted.start()
            watch.start()
        if elapsed >= kill_at_s and state["killed"] is None:
            state["killed"] = time.monotonic()
            stack.kill_node(kill)
        if restart_at_s is not None and state["killed"] and not state["restarted"] and elapsed >= restart_at_s:
            state["restarted"] = True
            threading.Thread(target=restart, daemon=True).start()

    try:
        result = run_once(cfg, path, scenario, True, tmp_path, tag, hook=hook)
    except ComponentFailed as exc:
        # librdkafka (2.16.0, the newest) can read uninitialized memory when a
        # restarted broker answers a fetch with leader -1: a consumer dies of
        # SIGSEGV (confluentinc/librdkafka#5280; README, "Known limit"). Only
        # that death is let through, as an expected failure naming it.
        if "died (exit -11)" in str(exc) and state["killed"] is not None:
            pytest.xfail(f"a component died of SIGSEGV during the broker's outage (librdkafka#5280): {exc}")
        raise
    counted.join(150)
    deadline = time.monotonic() + 60
    while watch.count() < counted.sent and time.monotonic() < deadline:
        time.sleep(0.5)
    watch.stop.set()
    report = build_report(scenario, result, None, {})
    problems = check_expectations(scenario, report)
    in_topic = [r.in_octets for r, _ in tail(run_cfg.kafka, run_cfg.kafka.topic("interface_counters"), None, 5,
                                             until_end=True) if r is not None and r.device == COUNTED]
    return result, report, problems, counted, watch, state, in_topic


def test_a_broker_killed_during_the_scenario_loses_nothing(tmp_path):
    """The single broker is SIGKILLed 10 s into the scenario and started again
    once the uplinks have failed (20 s), so the whole remediation waits for
    it: every component resumes at once, and the access link goes down within
    1.5 s of the broker's return: the time it leads its partitions again
    (_serving_again_ns). Its port answering comes first, by about 0.1 s on an
    idle machine and by up to seconds with both cores busy; both are printed. A consumer's SIGSEGV inside
    librdkafka during the outage is an expected failure (_scenario_with);
    anything else fails."""
    stack = _stack(tmp_path / "state")
    try:
        result, report, problems, counted, watch, state, in_topic = _scenario_with(stack, tmp_path, 1, 1, 10.0, 20.5)
    finally:
        stack.down()
    state["serving_ns"] = _serving_again_ns(stack.state_dir / "kafka-1.log")
    assert state["returned_ns"] and state["serving_ns"], "the broker did not come back, or did not lead again"
    assert not problems, problems                                  # the decision was made, the link disabled
    assert result.set_requests.get("leaf1") == 1                   # applied once, not twice
    [applied] = [a for a in result.admin_changes if a["admin_state"] == "disable"]
    assert applied["interface"] == "ethernet-1/1"
    assert counted.undelivered == 0 and counted.sent > 800
    assert sorted(in_topic) == list(range(counted.sent))           # idempotent producer: none lost, none doubled
    assert watch.count() == counted.sent or watch.samples[-1][1] == counted.sent
    stall = watch.longest_stall()
    returned_at = (state["returned_ns"] - result.start_ns) / 1e9
    after_port_ms = (applied["ts_ns"] - state["returned_ns"]) / 1e6
    after_return_ms = (applied["ts_ns"] - state["serving_ns"]) / 1e6
    print(f"\nbroker SIGKILLed 10 s into the scenario, started again at 20.5 s, answering at {returned_at:.1f} s, "
          f"leading again {(state['serving_ns'] - state['returned_ns']) / 1e6:.0f} ms later: "
          f"{counted.sent} counted records, all in Kafka once and in InfluxDB; InfluxDB writes stalled {stall} s; "
          f"leaf1's access link disabled {after_return_ms:.0f} ms after the broker led again "
          f"({after_port_ms:.0f} ms after its port answered)")
    assert returned_at > 20, returned_at                           # the remediation had to wait for the broker
    assert applied["ts_ns"] > state["restarting_ns"]              # not before the broker was started again
    assert after_return_ms <= 1500, after_return_ms
    assert stall < 30


def test_a_three_node_cluster_survives_losing_a_node(tmp_path):
    stack = _stack(tmp_path / "state", nodes=3)
    try:
        result, report, problems, counted, watch, _, in_topic = _scenario_with(stack, tmp_path, 3, 2, 14.0, None)
        from confluent_kafka.admin import AdminClient
        alive = AdminClient({"bootstrap.servers": stack.bootstrap}).list_topics(timeout=10).brokers
    finally:
        stack.down()
    assert not problems, problems
    assert result.set_requests.get("leaf1") == 1
    assert counted.undelivered == 0 and sorted(in_topic) == list(range(counted.sent))
    assert sorted(alive) == [1, 3]                                  # the other two kept serving
    stall = watch.longest_stall()
    print(f"\nthree nodes, node 2 SIGKILLed 14 s into the scenario (not restarted): {counted.sent} counted records, "
          f"all in Kafka once and in InfluxDB; InfluxDB writes stalled {stall} s; detect->apply "
          f"{[x['detect_to_apply_ms'] for x in report['detect_to_apply_ms']]} ms")
