"""Against the real local stack: the stack command is idempotent, every schema
round-trips through the broker, corrupt messages are dead-lettered."""
from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, Producer

from conftest import TEST_REGISTRY_PORT, fabtel, stack_args
from fabtel.kafka import RecordProducer, consumer_settings, decode_or_dead_letter, tail
from fabtel.serde import RecordCodec
from samples import every_record


def test_stack_up_twice_reports_the_running_stack(stack):
    out = fabtel("stack", "up", *stack_args())
    assert out.returncode == 0, out.stderr
    assert "kafka: Apache Kafka 4.3.1 (1 node) already running on 127.0.0.1:" in out.stdout
    assert "influxdb: already running on 127.0.0.1:" in out.stdout
    assert f"export FABTEL_KAFKA_BOOTSTRAP={stack.bootstrap}" in out.stdout
    assert f"registry: already running on 127.0.0.1:{TEST_REGISTRY_PORT}" in out.stdout
    assert f"export FABTEL_REGISTRY_URL=http://127.0.0.1:{TEST_REGISTRY_PORT}/apis/ccompat/v7" in out.stdout
    status = fabtel("stack", "status", *stack_args())
    assert status.returncode == 0 and status.stdout.count("running on") == 3
    assert "kafka-1: Apache Kafka 4.3.1, running on" in status.stdout
    assert "registry: Apicurio Registry 2.6.13.Final (Confluent API at " in status.stdout
    # what `stack up` recorded is enough: no port flags needed
    bare = fabtel("stack", "status", "--state-dir", str(stack.state_dir))
    assert bare.returncode == 0 and bare.stdout == status.stdout
    with urllib.request.urlopen(stack.influx_url + "/ping") as resp:
        assert resp.status == 204


def test_the_broker_runs_with_its_class_archive(stack):
    """`stack up` builds the broker's class archive once and every node maps
    it: the JVM reports the archive among its mapped regions, and the node's
    log has no CDS warning (a classpath or JVM that does not match the
    archive makes the JVM drop it with one)."""
    from fabtel.localstack import kafka_broker as kb
    archive = kb.class_archive()
    assert archive is not None and archive.stat().st_size > 10_000_000
    pid = int((stack.state_dir / "kafka-1.pid").read_text())
    assert f"-XX:SharedArchiveFile={archive}" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    assert str(archive) in Path(f"/proc/{pid}/maps").read_text()
    assert "[cds]" not in (stack.state_dir / "kafka-1.log").read_text()


def test_taken_port_is_a_one_line_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = fabtel("stack", "up", "--state-dir", str(tmp_path), "--kafka-port", str(port), "--influx-port", "1")
    assert out.returncode == 2
    assert f"kafka-1: port 127.0.0.1:{port} is already taken" in out.stderr
    assert "Traceback" not in out.stderr


def test_topics_create_is_idempotent(config):
    from fabtel.kafka import create_topics
    again = create_topics(config.kafka)
    assert all(line.endswith(": exists") for line in again) and len(again) == len(config.kafka.topics)


def test_every_schema_round_trips_through_kafka(config):
    producer = RecordProducer(config.kafka)
    sent = every_record()
    for rec in sent:
        producer.produce_raw("t-roundtrip-" + config.kafka.topic("commands"), b"k", producer.codec.encode(rec))
    assert producer.flush() == 0 and producer.delivered == len(sent)
    got = [rec for rec, err in tail(config.kafka, "t-roundtrip-" + config.kafka.topic("commands"), len(sent), 10)]
    assert sorted(map(repr, got)) == sorted(map(repr, sent))


def test_corrupt_message_lands_on_the_dead_letter_topic(config):
    topic = config.kafka.topic("interface_state")
    raw = Producer({"bootstrap.servers": config.kafka.bootstrap_servers})
    good = RecordCodec().encode(every_record()[1])
    raw.produce(topic, b"garbage\x00\xff", b"leaf1", partition=0)
    raw.produce(topic, good, b"leaf1", partition=0)
    raw.flush(10)
    producer = RecordProducer(config.kafka)
    consumer = Consumer(consumer_settings(config.kafka, "t-dlq"))
    consumer.subscribe([topic])
    reasons: list[str] = []
    decoded, deadline = [], time.monotonic() + 30
    while len(decoded) < 2 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        decoded.append(decode_or_dead_letter(producer, "test", msg, on_corrupt=reasons.append))
    consumer.close()
    assert producer.flush() == 0
    assert decoded[0] is None and decoded[1] == every_record()[1]
    assert reasons == ["no Avro schema marker (first bytes 67617262)"]
    letters = [rec for rec, _ in tail(config.kafka, config.kafka.topic("dead_letters"), 1, 10)]
    assert len(letters) == 1
    dl = letters[0]
    assert dl.payload == b"garbage\x00\xff" and dl.key == b"leaf1" and dl.source_topic == topic
    assert dl.offset == 0 and "no Avro schema marker" in dl.reason and dl.component == "test"


def test_topics_tail_prints_json_lines(config):
    import dataclasses
    import json
    producer = RecordProducer(config.kafka)
    first = every_record()[8]
    for n in range(3):
        producer.send(dataclasses.replace(first, decision_id=f"d-{n + 1}"))
    producer.flush()
    cfg_path = str(_write_config(config))
    topic = config.kafka.topic("decisions")
    out = fabtel("topics", "tail", topic, "--from-beginning", "--max", "3", "--timeout", "10", "--config", cfg_path)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["type"] for x in lines] == ["OperGroupDecision"] * 3 and lines[0]["decision_id"] == "d-1"
    # -J: kcat's envelope; --partition and --offset pick one message
    out = fabtel("topics", "tail", topic, "--from-beginning", "-J", "--max", "3", "--timeout", "10", "--config", cfg_path)
    env = [json.loads(x) for x in out.stdout.splitlines()]
    assert {e["topic"] for e in env} == {topic} and all(e["key"] == "leaf1" for e in env)
    second = next(e for e in env if e["payload"]["decision_id"] == "d-2")
    out = fabtel("topics", "tail", topic, "--partition", str(second["partition"]), "--offset", str(second["offset"]),
                 "--max", "1", "-J", "--timeout", "10", "--config", cfg_path)
    [one] = [json.loads(x) for x in out.stdout.splitlines()]
    assert (one["offset"], one["payload"]["decision_id"]) == (second["offset"], "d-2") and one["ts"] > 0
    # without --from-beginning: only what arrives from now on
    out = fabtel("topics", "tail", topic, "--max", "1", "--timeout", "3", "--config", cfg_path)
    assert out.returncode == 0 and out.stdout == ""
    out = fabtel("topics", "tail", topic, "--offset", "1", "--config", cfg_path)
    assert out.returncode == 2 and "--offset needs --partition" in out.stderr
    out = fabtel("topics", "tail", topic[:-1], "--config", cfg_path)         # a typo: did you mean
    assert out.returncode == 2 and f"no topic {topic[:-1]!r}" in out.stderr and f"did you mean {topic}" in out.stderr
    # several topics, one after the other; --follow reads one
    out = fabtel("topics", "tail", config.kafka.topic("commands"), topic, "--from-beginning", "-e", "-J",
                 "--config", cfg_path)
    assert out.returncode == 0, out.stderr
    assert [e["payload"]["decision_id"] for e in map(json.loads, out.stdout.splitlines()) if e["topic"] == topic] \
        == ["d-1", "d-2", "d-3"]
    out = fabtel("topics", "tail", config.kafka.topic("commands"), topic, "-f", "--config", cfg_path)
    assert out.returncode == 2 and "--follow, --partition and --max read one topic" in out.stderr


def _write_config(config):
    """The example file with the test's broker (tail reads the topic by name)."""
    import tempfile

    from conftest import EXAMPLE
    text = EXAMPLE.read_text().replace("bootstrap_servers: 127.0.0.1:9092", f"bootstrap_servers: {config.kafka.bootstrap_servers}")
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


def test_reading_to_the_end_stops_on_a_topic_written_without_pause(config):
    """`until_end` reads each partition to its end as it was at the start.
    A topic written steadily (the FRR lab's BMP mirror sends every keepalive)
    to one partition (the FRR lab's BMP mirror sends every keepalive) may
    never let the consumer see that partition's EOF (librdkafka reports it
    only for a fetch that comes back empty), nor go the timeout's 5 s without
    a record: the read must stop anyway, with everything written before it
    started."""
    import dataclasses
    import threading
    topic = config.kafka.topic("decisions")
    producer = RecordProducer(config.kafka)
    first = every_record()[8]
    for n in range(100):
        producer.send(dataclasses.replace(first, decision_id=f"before-{n}", device=f"leaf{n % 7}"))
    assert producer.flush() == 0
    stop, written = threading.Event(), [0]

    def keep_writing():
        later = RecordProducer(config.kafka)
        while not stop.is_set() and written[0] < 6000:          # at most 60 s
            later.send(dataclasses.replace(first, decision_id=f"after-{written[0]}", device="leaf1"))
            later.flush()
            written[0] += 1
            time.sleep(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while written[0] < 50:
            time.sleep(0.05)
        got = [rec.decision_id for rec, err in tail(config.kafka, topic, None, 5, until_end=True)]
        still_writing = writer.is_alive() and not stop.is_set()
    finally:
        stop.set()
        writer.join()
    assert still_writing, "the read ended only when the writer stopped"
    assert {f"before-{n}" for n in range(100)} <= set(got)
    assert all(d.startswith(("before-", "after-")) for d in got)
