"""What every benchmark shares: making sure the local stack runs, a config
whose topics are private to the run, and printing results."""
from __future__ import annotations

import dataclasses
import json
import math
import platform
import sys
import time
import uuid

from fabtel.config import Config, load_config


# what this run made, by broker: (its Kafka config, name prefixes); deleted at its end (remove_run_topics)
_MADE: dict[int, tuple[object, list[str]]] = {}


def made_here(kafka, prefix: str) -> None:
    """Topics and groups whose names start with `prefix` are this run's own."""
    _MADE.setdefault(id(kafka), (kafka, []))[1].append(prefix)


def remove_run_topics() -> int:
    """Delete the topics and groups this run made. A broker that keeps every
    run's topics slows down run after run (2,757 partitions after a day of
    benches: produce requests of 40-55 ms instead of 1), and later runs would
    measure that. Returns the topics deleted; a broker gone by now is no error."""
    from confluent_kafka import KafkaException

    from fabtel.kafka import delete_by_prefix
    deleted = 0
    for kafka, prefixes in _MADE.values():
        try:
            deleted += delete_by_prefix(kafka, tuple(prefixes))[0]
        except KafkaException:
            pass
    _MADE.clear()
    return deleted


class BenchError(Exception):
    """A benchmark that cannot measure what it says; one line says why."""


def bench_config(path: str, run_name: str) -> Config:
    """The configuration with topics unique to this run (the memory broker
    keeps earlier runs' records), created on the broker."""
    from fabtel.config import with_endpoints
    from fabtel.kafka import create_topics
    cfg = with_endpoints(load_config(path))
    tag = f"bench-{run_name}-{uuid.uuid4().hex[:6]}"
    kafka = dataclasses.replace(cfg.kafka, topics={k: f"{tag}.{v}" for k, v in cfg.kafka.topics.items()})
    cfg = dataclasses.replace(cfg, kafka=kafka)
    create_topics(cfg.kafka)
    made_here(cfg.kafka, f"{tag}.")
    return cfg


def machine() -> str:
    import os
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def python_loop_ms() -> float:
    """The time of a fixed pure-Python loop (dict stores, small strings, as
    the worker's per-event code does), the median of three: this machine's
    speed for one thread now. It drifts from minute to minute on a shared
    host (on this project's, a fixed loop's time varied 1.8-fold within ten
    minutes); a throughput reported beside it can be compared across runs."""
    def once() -> float:
        t, d = time.perf_counter(), {}
        for i in range(400_000):
            d[i & 1023] = (i, str(i & 255))
        return (time.perf_counter() - t) * 1000
    return round(sorted(once() for _ in range(3))[1], 1)


def host_cpu_ticks(stat_text: str | None = None) -> tuple[int, int, int]:
    """(busy, steal, total) clock ticks of all the machine's cores since boot,
    from /proc/stat's first line (or `stat_text`); idle and iowait are not busy."""
    if stat_text is None:
        with open("/proc/stat") as f:
            stat_text = f.readline()
    name, *values = stat_text.split() or [""]
    if name != "cpu" or len(values) < 8 or not all(v.isdigit() for v in values[:8]):
        raise BenchError(f"/proc/stat: expected the 'cpu' totals line, got {stat_text[:40]!r}")
    ticks = [int(v) for v in values[:8]]       # user nice system idle iowait irq softirq steal
    total = sum(ticks)
    return total - ticks[3] - ticks[4] - ticks[7], ticks[7], total


def host_cpu_use(before: tuple[int, int, int], after: tuple[int, int, int]) -> dict:
    """{busy_pct, steal_pct} of all cores between two host_cpu_ticks(): how
    much of the machine a run used (every process, the broker's too), and
    how much the hypervisor reported taking (0 where it reports none)."""
    total = max(after[2] - before[2], 1)
    return {"busy_pct": round(100 * (after[0] - before[0]) / total, 1),
            "steal_pct": round(100 * (after[1] - before[1]) / total, 1)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    import os
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def topic_count(cfg: Config, topic: str, within_s: float = 30.0) -> int:
    """Records in a topic: the sum of its partitions' end offsets (ListOffsets).
    A topic just made has partitions without a leader for a moment: retried."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    from fabtel.kafka import consumer_settings
    c = Consumer(consumer_settings(cfg.kafka, f"bench-count-{uuid.uuid4().hex[:6]}"))
    deadline = time.monotonic() + within_s
    try:
        while True:
            try:
                meta = c.list_topics(topic, timeout=10).topics[topic]
                return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions)
            except KafkaException as exc:
                if not exc.args[0].retriable() and exc.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION \
                        or time.monotonic() > deadline:
                    raise BenchError(f"cannot count the records in {topic}: {exc.args[0].str()}") from None
                time.sleep(0.2)
    finally:
        c.close()


def config_file(cfg: Config, config_path: str) -> str:
    """The benchmark's configuration (its topics, its broker) as a file, for a collector process."""
    import tempfile

    import yaml
    data = yaml.safe_load(open(config_path).read())
    data.setdefault("kafka", {}).update(bootstrap_servers=cfg.kafka.bootstrap_servers, topics=dict(cfg.kafka.topics))
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="fabtel-bench-", delete=False)
    yaml.safe_dump(data, f, sort_keys=False)
    f.close()
    return f.name


def settled_count(count, quiet_s: float = 3.0) -> int:
    """`count()` (records a collector has published) once it has not grown for `quiet_s`."""
    last, stable = -1, time.monotonic()
    while True:
        current = count()
        if current != last:
            last, stable = current, time.monotonic()
        elif time.monotonic() - stable >= quiet_s:
            return current
        time.sleep(0.5)


MIN_FOR_P99 = 100       # fewer samples than this and a "p99" is only their maximum: say so


def percentiles(values: list[float], name: str, digits: int = 1) -> dict:
    """`{name}_p50`, `{name}_p99` and `{name}_max` of `values`, by nearest
    rank (the p99 of 100 values is the 99th smallest, not the largest); with
    fewer than MIN_FOR_P99 of them, the max in place of the p99, and a note
    that says why."""
    values = sorted(values)
    if not values:
        return {f"{name}_p50": None, f"{name}_p99": None}

    def pct(q: float) -> float:
        return round(values[max(0, math.ceil(q * len(values)) - 1)], digits)
    if len(values) < MIN_FOR_P99:
        return {f"{name}_p50": pct(0.5), f"{name}_max": round(values[-1], digits),
                f"{name}_note": f"max of {len(values)}, not a p99: fewer than {MIN_FOR_P99} samples"}
    return {f"{name}_p50": pct(0.5), f"{name}_p99": pct(0.99), f"{name}_max": round(values[-1], digits)}


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
