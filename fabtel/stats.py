"""Pipeline health into Kafka: every running component publishes a snapshot of
its metrics (the values `/metrics` serves) to the `pipeline_stats` topic, and
the InfluxDB sink writes them beside the telemetry, so Grafana's pipeline
health dashboard needs no Prometheus. Telegraf's `inputs.internal` does the
same for Telegraf itself.

May import: fabtel.config, fabtel.heap, fabtel.kafka, fabtel.metrics, fabtel.records, fabtel.signals.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable

from fabtel.config import Config
from fabtel.kafka import RecordProducer, wait_for_broker
from fabtel.metrics import Metrics, serve
from fabtel.records import ComponentStats, MetricLabel, MetricSample

log = logging.getLogger("fabtel.stats")

PUBLISH_INTERVAL_S = float(os.environ.get("FABTEL_STATS_INTERVAL_S", "10"))
RATES_LINE_INTERVAL_S = float(os.environ.get("FABTEL_RATES_LINE_INTERVAL_S", "60"))


def instance_name() -> str:
    """The replica: the host name (a pod's name on Kubernetes) and the process id."""
    return f"{socket.gethostname()}/{os.getpid()}"


def snapshot(metrics: Metrics, instance: str) -> ComponentStats:
    samples = [MetricSample(name, [MetricLabel(k, str(v)) for k, v in labels.items()], float(value))
               for name, labels, value in metrics.samples()]
    return ComponentStats(metrics.subsystem, instance, samples, time.time_ns())


def rates_line(subsystem: str, before: list[tuple[str, str, float]], now: list[tuple[str, str, float]],
               seconds: float) -> str:
    """One line of what a component did over the last `seconds`: each
    counter that moved as a rate per second, each gauge that is not zero as
    its value (lag, queue depth, devices connected); the rest left out."""
    previous = {name: value for name, _, value in before}
    parts = []
    for name, kind, value in now:
        if kind == "counter":
            rate = (value - previous.get(name, 0)) / seconds if seconds > 0 else 0.0
            if rate:
                parts.append(f"{name.removesuffix('_total').replace('_', ' ')} {rate:,.{0 if rate >= 10 else 1}f}/s")
        elif value:
            parts.append(f"{name.replace('_', ' ')} {value:,g}")
    return f"{subsystem}: " + (", ".join(parts) if parts else f"idle for {seconds:.0f} s")


class StatsPublisher:
    """Sends one ComponentStats per Metrics every `interval_s`, and a last one
    when `stop` is set. Failures to deliver are counted by the producer and
    never stop the component."""

    def __init__(self, cfg: Config, metrics: list[Metrics], interval_s: float = PUBLISH_INTERVAL_S):
        self.metrics = metrics
        self.interval_s = interval_s
        self.instance = instance_name()
        self.producer = RecordProducer(cfg.kafka)

    def publish(self) -> None:
        for m in self.metrics:
            self.producer.send(snapshot(m, self.instance))
        self.producer.poll(0)

    def run(self, stop: threading.Event) -> None:
        last_line, before = time.monotonic(), [m.totals() for m in self.metrics]
        while not stop.wait(min(self.interval_s, RATES_LINE_INTERVAL_S)):
            self.publish()
            if time.monotonic() - last_line >= RATES_LINE_INTERVAL_S:
                now, elapsed = [m.totals() for m in self.metrics], time.monotonic() - last_line
                for m, b, n in zip(self.metrics, before, now):
                    log.info("%s", rates_line(m.subsystem, b, n, elapsed))
                last_line, before = time.monotonic(), now
        self.publish()
        self.producer.flush(5)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="stats-publisher", daemon=True)
        thread.start()
        return thread


def observe(cfg: Config, listen: str | None, metrics: list[Metrics], stop: threading.Event,
            healthy: Callable = lambda: True, ready: Callable | None = None) -> StatsPublisher:
    """What every long-running component does beside its work: serve /metrics,
    /healthz, /readyz and /livez (when `listen` is set) and publish its stats to Kafka."""
    serve(listen, metrics, healthy, ready)
    publisher = StatsPublisher(cfg, metrics)
    publisher.start(stop)
    return publisher


def run_until_stopped(cfg: Config, listen: str | None, component, *args) -> int:
    """The life of a long-running component: stop on SIGTERM/SIGINT, wait for
    the broker (fabtel.kafka.wait_for_broker), serve and publish its metrics,
    `component.run(*args, stop)` until told to stop, its heap settled (fabtel.heap)."""
    from fabtel import heap
    from fabtel.signals import stop_on_signals
    stop = stop_on_signals(component.metrics.subsystem)
    wait_for_broker(cfg.kafka, component.metrics.subsystem, stop=stop)
    observe(cfg, listen, [component.metrics], stop)
    heap.settle()
    component.run(*args, stop)
    return 0
