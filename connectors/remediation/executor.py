"""`fabtel remediate`: applies remediation commands to the devices over gNMI.

In `propose` mode (the default) it only records what it would do. In
`enforce` mode it reads the path, sets it with pygnmi, reads it back to
confirm, and records the outcome on the results topic: applied,
already_in_state, failed (with the device's error, after bounded retries
with backoff) or skipped_stale (the command is older than
remediation.max_command_age_ms: never applied blindly).

Each device has its own worker thread, so an unreachable device never
blocks commands for the others. A command id already handled (seen on the
results topic, or earlier in this run) is not applied twice. Offsets are
committed only once every command up to them has its result recorded.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

from fabtel.config import Config, Device, SecretError, resolve_secret
from fabtel.kafka import RecordProducer, consumer_settings, tail
from fabtel.metrics import Metrics
from fabtel.records import RemediationCommand, RemediationResult
from fabtel.serde import CorruptMessage

log = logging.getLogger("fabtel.remediation")

OUTCOMES = ("proposed", "applied", "already_in_state", "failed", "skipped_stale")


def executor_metrics() -> Metrics:
    m = Metrics("remediation")
    m.declare("results_total", "Commands handled, by outcome.", ("outcome",), zero_for=[(o,) for o in OUTCOMES])
    m.declare("duplicates_total", "Commands skipped because their id was already handled.")
    m.declare("corrupt_messages_total", "Messages on the commands topic that did not decode.")
    return m


class GnmiDevice:
    """A device's gNMI session through pygnmi, reopened after a failure."""

    def __init__(self, device: Device, timeout_s: float = 5.0):
        self.device = device
        self.timeout_s = timeout_s
        self.client = None

    def _connect(self):
        from pygnmi.client import gNMIclient
        t = self.device.gnmi
        host, _, port = t.address.rpartition(":")
        user = t.username if isinstance(t.username, str) else resolve_secret(t.username)
        kwargs = dict(target=(host, int(port)), username=user or "", password=resolve_secret(t.password) or "",
                      gnmi_timeout=int(self.timeout_s))
        if t.insecure:
            kwargs["insecure"] = True
        else:
            kwargs.update(path_root=t.tls_ca, path_cert=t.tls_cert, path_key=t.tls_key, skip_verify=t.skip_verify)
        client = gNMIclient(**kwargs)
        client.connect(timeout=int(self.timeout_s))
        return client

    def get(self, path: str):
        if self.client is None:
            self.client = self._connect()
        reply = self.client.get(path=[path], encoding="json")
        return reply["notification"][0]["update"][0]["val"]

    def set(self, path: str, value) -> None:
        if self.client is None:
            self.client = self._connect()
        self.client.set(update=[(path, value)], encoding="json")

    def reset(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # the channel may already be broken
                pass
        self.client = None


def _error(exc: Exception) -> str:
    cause = exc.__cause__ or exc.__context__
    details = getattr(cause, "details", None)
    text = details() if callable(details) else str(exc)
    return text.strip() or type(exc).__name__


class DeviceWorker(threading.Thread):
    def __init__(self, device: Device, retries: int, done, backoff_s: float = 0.5):
        super().__init__(name=f"remediate-{device.name}", daemon=True)
        self.session = GnmiDevice(device)
        self.retries, self.done, self.backoff_s = retries, done, backoff_s
        self.jobs: queue.Queue = queue.Queue()

    def run(self) -> None:
        # Open the session before the first command: a connect (and pygnmi's
        # capabilities exchange) costs a few hundred ms we do not want on the
        # path of a remediation.
        try:
            self.session.client = self.session._connect()
        except Exception as exc:  # unreachable now: the first command retries
            log.info("remediate %s: not connected yet (%s)", self.session.device.name, _error(exc))
        while True:
            job = self.jobs.get()
            if job is None:
                self.session.reset()
                return
            cmd, token = job
            outcome, detail, attempts = self.apply(cmd)
            self.done(cmd, token, outcome, detail, attempts)

    def apply(self, cmd: RemediationCommand) -> tuple[str, str, int]:
        want = json.loads(cmd.value)
        last_error = ""
        for attempt in range(1, self.retries + 2):
            try:
                if self.session.get(cmd.path) == want:
                    return "already_in_state", f"{cmd.path} was already {cmd.value}", attempt
                self.session.set(cmd.path, want)
                got = self.session.get(cmd.path)
                if got == want:
                    return "applied", f"{cmd.path} = {cmd.value}, confirmed by reading it back", attempt
                return "failed", f"read back {json.dumps(got)} after setting {cmd.value}", attempt
            except SecretError as exc:
                return "failed", f"credentials: {exc}", attempt
            except Exception as exc:  # pygnmi wraps gRPC errors in gNMIException; connection errors vary
                last_error = _error(exc)
                if "Timeout" in type(exc).__name__:
                    last_error = f"cannot reach {self.session.device.gnmi.address} within {self.session.timeout_s:.0f} s"
                self.session.reset()
                log.warning("remediate %s %s: attempt %d failed: %s", cmd.device, cmd.interface, attempt, last_error)
                if attempt <= self.retries:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return "failed", last_error, self.retries + 1


class Executor:
    def __init__(self, cfg: Config, mode: str | None = None, group: str = "fabtel-remediation"):
        self.cfg = cfg
        self.mode = mode or cfg.remediation.mode
        self.metrics = executor_metrics()
        self.producer = RecordProducer(cfg.kafka, **{"linger.ms": 0})
        self.consumer = Consumer(consumer_settings(cfg.kafka, group, **{"fetch.wait.max.ms": 10}))
        self.handled: set[str] = set()
        self.workers: dict[str, DeviceWorker] = {}
        self.lock = threading.Lock()
        self.inflight: dict[tuple[str, int], dict[int, bool]] = {}     # partition -> offset -> done

    def load_history(self) -> None:
        """Command ids already handled, from the results topic."""
        for rec, _ in tail(self.cfg.kafka, self.cfg.kafka.topic("command_results"), None, 2, until_end=True):
            if rec is not None and rec.outcome != "proposed":
                self.handled.add(rec.command_id)
        log.info("remediation (%s mode): %d commands already handled", self.mode, len(self.handled))

    def _worker(self, device: str) -> DeviceWorker | None:
        w = self.workers.get(device)
        if w is None:
            try:
                dev = self.cfg.fabric.device(device)
            except KeyError:
                return None
            if dev.gnmi is None:
                return None
            w = self.workers[device] = DeviceWorker(dev, self.cfg.remediation.retries, self._done)
            w.start()
        return w

    def _result(self, cmd: RemediationCommand, outcome: str, detail: str, attempts: int) -> None:
        self.metrics.inc("results_total", outcome)
        self.producer.send("command_results", RemediationResult(
            cmd.command_id, cmd.decision_id, cmd.device, cmd.interface, cmd.action, outcome, detail, attempts,
            cmd.trigger_ts_ns, time.time_ns()))
        self.producer.poll(0)
        log.info("remediation %s: %s %s %s -> %s (%s)", cmd.command_id, cmd.device, cmd.interface, cmd.action,
                 outcome, detail)

    def _done(self, cmd, token, outcome, detail, attempts) -> None:
        self._result(cmd, outcome, detail, attempts)
        with self.lock:
            self.handled.add(cmd.command_id)
            self.inflight[token[0]][token[1]] = True

    def handle(self, msg) -> None:
        tp = (msg.topic(), msg.partition())
        with self.lock:
            self.inflight.setdefault(tp, {})[msg.offset()] = False
        token = (tp, msg.offset())
        try:
            cmd = self.producer.codec.decode(msg.value(), "RemediationCommand")
        except CorruptMessage as exc:
            from fabtel.kafka import dead_letter
            self.metrics.inc("corrupt_messages_total")
            self.producer.send("dead_letters", dead_letter("remediation", exc.reason, msg.value() or b"", msg.topic(),
                                                           msg.partition(), msg.offset(), msg.key()))
            return self._finish(token)
        with self.lock:
            duplicate = cmd.command_id in self.handled
            if not duplicate:
                self.handled.add(cmd.command_id)        # claimed: a second delivery in flight is a duplicate too
        if duplicate:
            self.metrics.inc("duplicates_total")
            return self._finish(token)
        age_ms = (time.time_ns() - cmd.trigger_ts_ns) / 1e6
        if age_ms > self.cfg.remediation.max_command_age_ms:
            self._result(cmd, "skipped_stale", f"command is {age_ms:.0f} ms old, limit "
                                               f"{self.cfg.remediation.max_command_age_ms} ms", 0)
            return self._finish(token)
        if self.mode != "enforce":
            self._result(cmd, "proposed", f"would set {cmd.path} = {cmd.value}", 0)
            return self._finish(token)
        worker = self._worker(cmd.device)
        if worker is None:
            self._result(cmd, "failed", f"device {cmd.device} has no gNMI target in the inventory", 0)
            return self._finish(token)
        worker.jobs.put((cmd, token))

    def _finish(self, token) -> None:
        with self.lock:
            self.inflight[token[0]][token[1]] = True

    def commit_ready(self) -> None:
        """Commit, per partition, up to the first command still in flight."""
        offsets = []
        with self.lock:
            for (topic, part), pending in self.inflight.items():
                done_upto = None
                for off in sorted(pending):
                    if not pending[off]:
                        break
                    done_upto = off
                if done_upto is not None:
                    offsets.append(TopicPartition(topic, part, done_upto + 1))
                    for off in [o for o in pending if o <= done_upto]:
                        del pending[off]
        if offsets:
            self.producer.flush(10)              # results are stored before the offsets move
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def run(self, stop: threading.Event) -> None:
        self.load_history()
        if self.mode == "enforce":
            for dev in self.cfg.fabric.devices:
                if dev.gnmi is not None:
                    self._worker(dev.name)
        self.consumer.subscribe([self.cfg.kafka.topic("commands")],
                                on_assign=lambda c, parts: log.info("remediation: assigned %d partitions", len(parts)))
        log.info("remediation: %s mode, consuming %s", self.mode, self.cfg.kafka.topic("commands"))
        last_commit = time.monotonic()
        try:
            while not stop.is_set():
                msg = self.consumer.poll(0.05)
                if msg is not None:
                    if msg.error():
                        if msg.error().code() != KafkaError._PARTITION_EOF:
                            log.warning("remediation: consumer error: %s", msg.error().str())
                    else:
                        self.handle(msg)
                self.producer.poll(0)
                if time.monotonic() - last_commit > 0.5:
                    self.commit_ready()
                    last_commit = time.monotonic()
        finally:
            for w in self.workers.values():
                w.jobs.put(None)
            deadline = time.monotonic() + 10          # a worker stuck on an unreachable device is a daemon
            for w in self.workers.values():
                w.join(max(0.0, deadline - time.monotonic()))
            self.commit_ready()
            self.consumer.close()
            self.producer.flush(10)


def run_executor(cfg: Config, mode: str | None, metrics_listen: str | None, group: str = "fabtel-remediation") -> int:
    from fabtel.stats import run_until_stopped
    return run_until_stopped(cfg, metrics_listen, Executor(cfg, mode, group))
