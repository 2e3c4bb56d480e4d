"""`fabtel remediate`: applies remediation commands to the devices over gNMI.

In `propose` mode (the default) it only records what it would do. In
`enforce` mode it reads the path (unless its own last read there found
another value), sets it (the command's value as JSON, in the encoding the
device offers) with fabtel's gNMI client, reads it back to confirm, and
records the outcome on the results topic: applied, already_in_state, failed
(with the device's error, after bounded retries with backoff; a value or
path the device refuses is not retried) or skipped_stale (the command is
older than remediation.max_command_age_ms: never applied blindly).

Each device has its own worker thread, so an unreachable device never
blocks commands for the others. It reads ahead the paths its device's
commands may set (its oper-groups' down-links): at start, after an
assignment and every remediation.idle_read_ms while idle (sooner while
the device does not answer: 1 s, doubling up to it), so that the
channel is open and tested when a remediation comes, the first Set needs no
read of its own, and a device that stops answering is said (one line, and
the device_reachable gauge) before a command needs it. A command id already handled (seen on the
results topic, or earlier in this run) is not applied twice. Offsets are
committed only once every command up to them has its result recorded.

Several executors share the commands through one consumer group
(cooperative-sticky): the commands topic is keyed by device, so each device's
commands are applied by one executor at a time. Before it gives a partition
up, an executor waits (boundedly) for the commands in flight there and
commits behind them; an executor given a partition first reads the results
topic again, so a command its previous owner applied is a duplicate here,
not a second Set (and a read before the Set stops one anyway: what was
read before the assignment is forgotten, and a value read that is the one
wanted is always read again before a command is called already in state).
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time

import grpc
from confluent_kafka import Consumer, KafkaError, TopicPartition

from fabtel.connectors.gnmi.client import GnmiClient, GnmiError, describe
from fabtel.config import Config, Device, SecretError
from fabtel.kafka import RecordProducer, commit, configure_group, consumer_settings, decode_or_dead_letter, tail
from fabtel.metrics import Metrics
from fabtel.platforms import platform
from fabtel.records import RemediationCommand, RemediationResult

log = logging.getLogger("fabtel.remediation")

OUTCOMES = ("proposed", "applied", "already_in_state", "failed", "skipped_stale")


def executor_metrics() -> Metrics:
    m = Metrics("remediation")
    m.declare("results_total", "Commands handled, by outcome.", ("outcome",), zero_for=[(o,) for o in OUTCOMES])
    m.declare("duplicates_total", "Commands skipped because their id was already handled.")
    m.declare("corrupt_messages_total", "Messages on the commands topic that did not decode.")
    m.declare("commits_refused_total", "Offset commits the group refused (the commands come again), by reason.",
              ("reason",))
    m.declare("assigned", "1 for each partition of the commands topic this executor holds.", ("partition",), "gauge")
    m.declare("device_reachable", "1 when the executor's last gNMI call to the device got through, 0 when it did "
              "not (an idle executor reads ahead every remediation.idle_read_ms).", ("device",), "gauge")
    return m


def settable_paths(cfg: Config, device: Device) -> tuple[str, ...]:
    """The paths the device's commands may set: its oper-groups' down-links'
    admin state, as the worker builds them (the platform's own path)."""
    plat = platform(device.platform)
    links = sorted({link for g in cfg.oper_groups if g.device == device.name for link in g.down_links})
    return tuple(plat.admin_path(link) for link in links)


# A device that answers with one of these will answer the same again: no retry.
FINAL_CODES = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
               grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNIMPLEMENTED}
UNREACHABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
READ_AHEAD = "read ahead"                           # a worker's job: read its paths again


def reason(exc: Exception) -> str:
    """Why a call to a device failed, in a log line's words."""
    if isinstance(exc, grpc.RpcError):
        return describe(exc)
    return f"credentials: {exc}" if isinstance(exc, SecretError) else str(exc)


class DeviceWorker(threading.Thread):
    """Applies one device's commands in order, over fabtel's gNMI client."""

    def __init__(self, device: Device, retries: int, done, backoff_s: float = 0.5, timeout_s: float = 5.0,
                 connect=GnmiClient, paths: tuple[str, ...] = (), idle_read_s: float = 0.0, reached=None):
        super().__init__(name=f"remediate-{device.name}", daemon=True)
        self.device, self.timeout_s = device, timeout_s
        self.connect = connect                      # (device, timeout) -> a gNMI client: fabtel's, or a test's
        self.client: GnmiClient | None = None
        self.retries, self.done, self.backoff_s = retries, done, backoff_s
        self.jobs: queue.Queue = queue.Queue()
        self.known: dict[str, object] = {}          # path -> the value this worker last read there
        self.paths, self.idle_read_s = paths, idle_read_s      # what its commands may set; how often to read ahead
        self.reached = reached or (lambda device, ok: None)    # (device name, the last call got through?)
        self.reachable: bool | None = None
        self.epoch = 0                              # counts forget(): a read begun before one is not evidence
        self.refused: set[str] = set()              # paths whose read the device refused (said once each)
        self.retry_s = 0.0                          # the wait before the next read of a device that does not answer

    def forget(self) -> None:
        """What this worker read is not evidence any more (a new channel, a rebalance)."""
        self.epoch += 1
        self.known.clear()

    def _idle_wait(self) -> float | None:
        """How long to wait for a command before reading ahead again: the idle
        interval, or while the device does not answer, 1 s doubling up to it."""
        if not self.idle_read_s or not self.paths:
            return None
        if self.reachable is False:
            self.retry_s = min(self.retry_s * 2, self.idle_read_s) if self.retry_s else min(1.0, self.idle_read_s)
            return self.retry_s
        self.retry_s = 0.0
        return self.idle_read_s

    def read_ahead(self) -> None:
        """Have this worker read its paths again (after an assignment), in its own thread."""
        self.jobs.put(READ_AHEAD)

    def _read_paths(self) -> None:
        # What a command may set, read before it comes: the first Set after a
        # start or an assignment then goes out without a read of its own (when
        # the value read is another), and an idle channel stays open and tested.
        for path in self.paths:
            if not self.jobs.empty():               # a command waits: it reads what it needs itself
                return
            epoch = self.epoch
            try:
                value = self._client().get(path)
            except grpc.RpcError as exc:
                if exc.code() not in FINAL_CODES:
                    self._reach(False, reason(exc))
                    self.reset()
                    return
                self._refused(path, describe(exc))          # it answers: a command there would fail the same
                continue
            except (GnmiError, SecretError, OSError) as exc:
                self._reach(False, reason(exc))
                self.reset()
                return
            if epoch == self.epoch:
                self.known[path] = value
        if self.paths:
            self._reach(True)

    def _refused(self, path: str, why: str) -> None:
        if path not in self.refused:
            self.refused.add(path)
            log.warning("remediate %s: reading %s ahead, the device refused (%s): a command there would fail",
                        self.device.name, path, why)

    def _reach(self, ok: bool, why: str = "", say: bool = True) -> None:
        """One line when a device stops or starts answering, and the gauge."""
        if ok != self.reachable:
            if not ok and say:
                log.warning("remediate %s: cannot read %s (%s): its commands will retry",
                            self.device.name, self.device.gnmi.address, why)
            elif self.reachable is False:
                log.info("remediate %s: %s answers again", self.device.name, self.device.gnmi.address)
        self.reachable = ok
        self.reached(self.device.name, ok)

    def _client(self) -> GnmiClient:
        if self.client is None:
            self.client = self.connect(self.device, self.timeout_s)
        return self.client

    def reset(self) -> None:
        self.forget()
        if self.client is not None:
            self.client.close()
        self.client = None

    def run(self) -> None:
        # Agree the encoding and read ahead before the first command: the
        # channel, the Capabilities exchange and a first Get cost a few hundred
        # ms we do not want on the path of a remediation.
        try:
            self._client().agree_encoding()
            self._read_paths()
        except (grpc.RpcError, GnmiError, SecretError, OSError) as exc:   # unreachable now: the first command retries
            self._reach(False, reason(exc))
            self.reset()
        while True:
            try:
                job = self.jobs.get(timeout=self._idle_wait())
            except queue.Empty:                     # idle: read ahead again
                job = READ_AHEAD
            if job is None:
                self.reset()
                return
            if job is READ_AHEAD:
                self._read_paths()
                continue
            cmd, token = job
            outcome, detail, attempts = self.apply(cmd)
            self.done(cmd, token, outcome, detail, attempts)

    def apply(self, cmd: RemediationCommand) -> tuple[str, str, int]:
        want = json.loads(cmd.value)
        last_error = ""
        for attempt in range(1, self.retries + 2):
            try:
                outcome, detail = self._attempt(cmd, want)
                self._reach(True)
                return outcome, detail, attempt
            except SecretError as exc:
                return "failed", f"credentials: {exc}", attempt
            except grpc.RpcError as exc:
                if exc.code() in FINAL_CODES:
                    self._reach(True)
                    return "failed", f"device refused: {describe(exc)}", attempt
                last_error = describe(exc)
                if exc.code() in UNREACHABLE_CODES:
                    last_error = f"cannot reach {self.device.gnmi.address} within {self.timeout_s:.0f} s ({last_error})"
            except (GnmiError, OSError) as exc:
                last_error = str(exc)
            self.reset()
            self._reach(False, last_error, say=False)          # each attempt says it below
            log.warning("remediate %s %s: attempt %d failed: %s", cmd.device, cmd.interface, attempt, last_error)
            if attempt <= self.retries:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
        return "failed", last_error, self.retries + 1

    def _attempt(self, cmd: RemediationCommand, want) -> tuple[str, str]:
        client = self._client()
        # The read before the Set tells "already in state" apart. It is skipped
        # when this worker's last read of the path found another value: the Set
        # then goes out one round trip sooner, and were the value there after
        # all, setting it again is harmless (the read-back confirms either way).
        # It is never skipped on the belief that the value is already there.
        if self.known.get(cmd.path, want) == want:
            self.known[cmd.path] = client.get(cmd.path)
            if self.known[cmd.path] == want:
                return "already_in_state", f"{cmd.path} was already {cmd.value}"
        client.set_update(cmd.path, cmd.value)
        got = self.known[cmd.path] = client.get(cmd.path)
        if got == want:
            return "applied", f"{cmd.path} = {cmd.value}, confirmed by reading it back"
        return "failed", f"read back {json.dumps(got)} after setting {cmd.value}"


class Executor:
    """Consumes the commands, hands each to its device's worker and commits
    behind the results. Its Kafka clients, its history of handled ids and its
    gNMI connection are collaborators (the real ones by default), so that the
    commit, dedup, age-limit and read-back paths are testable without servers."""

    def __init__(self, cfg: Config, mode: str | None = None, group: str = "fabtel-remediation", *,
                 producer=None, consumer=None, history=None, connect=GnmiClient):
        self.cfg = cfg
        self.mode = mode or cfg.remediation.mode
        self.metrics = executor_metrics()
        self.producer = producer if producer is not None else RecordProducer(cfg.kafka, **{"linger.ms": 0})
        if consumer is None:
            configure_group(cfg.kafka, group, "remediation")
            consumer = Consumer(consumer_settings(
                cfg.kafka, group, **{"fetch.wait.max.ms": 10, "partition.assignment.strategy": "cooperative-sticky"}))
        self.consumer = consumer
        self.history = history if history is not None else self._results_on_kafka
        self.connect = connect
        self.started = False
        self.handled: set[str] = set()
        self.workers: dict[str, DeviceWorker] = {}
        self.lock = threading.Lock()
        self.inflight: dict[tuple[str, int], dict[int, bool]] = {}     # partition -> offset -> done

    def _results_on_kafka(self):
        for rec, _ in tail(self.cfg.kafka, self.cfg.kafka.topic("command_results"), None, 2, until_end=True):
            if rec is not None:
                yield rec

    def load_history(self) -> None:
        """Command ids already handled (a proposal handles nothing), from the results topic."""
        for rec in self.history():
            if rec.outcome != "proposed":
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
            w = self.workers[device] = DeviceWorker(
                dev, self.cfg.remediation.retries, self._done, connect=self.connect,
                paths=settable_paths(self.cfg, dev), idle_read_s=self.cfg.remediation.idle_read_ms / 1000,
                reached=lambda name, ok: self.metrics.set("device_reachable", name, value=int(ok)))
            w.start()
        return w

    def _result(self, cmd: RemediationCommand, outcome: str, detail: str, attempts: int) -> None:
        self.metrics.inc("results_total", outcome)
        self.producer.send(RemediationResult(
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
        cmd = decode_or_dead_letter(self.producer, "remediation", msg, "RemediationCommand",
                                    on_corrupt=lambda _: self.metrics.inc("corrupt_messages_total"))
        if cmd is None:
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
        if self.mode != "enforce" or cmd.propose_only:
            why = " (the decision's what-if found an overload: the oper-group says propose)" if cmd.propose_only else ""
            self._result(cmd, "proposed", f"would set {cmd.path} = {cmd.value}{why}", 0)
            return self._finish(token)
        worker = self._worker(cmd.device)
        if worker is None:
            self._result(cmd, "failed", f"device {cmd.device} has no gNMI target in the inventory", 0)
            return self._finish(token)
        worker.jobs.put((cmd, token))

    def _assigned(self, consumer, partitions) -> None:
        if partitions and self.started:
            self.load_history()           # what their previous owner applied is known before their commands come
            for w in self.workers.values():
                w.forget()                # and what it set since our last read is not known: read again
                w.read_ahead()
        for tp in partitions:
            self.metrics.set("assigned", str(tp.partition), value=1)
        log.info("remediation: assigned partitions %s", ",".join(str(tp.partition) for tp in partitions) or "none")

    def _revoked(self, consumer, partitions, wait_s: float = 10.0) -> None:
        """Finish (boundedly) what is in flight on the partitions leaving, and commit behind it."""
        leaving = {(tp.topic, tp.partition) for tp in partitions}
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self.lock:
                busy = [tp for tp in leaving if not all(self.inflight.get(tp, {}).values())]
            if not busy:
                break
            time.sleep(0.02)
        self.commit_ready()
        with self.lock:
            abandoned = sum(1 for tp in leaving for done in self.inflight.pop(tp, {}).values() if not done)
        for tp in partitions:
            self.metrics.set("assigned", str(tp.partition), value=0)
        log.info("remediation: gave up partitions %s%s", ",".join(str(tp.partition) for tp in partitions) or "none",
                 f" ({abandoned} commands abandoned in flight: their new owner reads before it sets)" if abandoned else "")

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
            commit(self.consumer, offsets, "remediation", lambda reason: self.metrics.inc("commits_refused_total", reason))

    def run(self, stop: threading.Event) -> None:
        self.load_history()
        self.started = True
        if self.mode == "enforce":
            for dev in self.cfg.fabric.devices:
                if dev.gnmi is not None:
                    self._worker(dev.name)
        self.consumer.subscribe([self.cfg.kafka.topic("commands")], on_assign=self._assigned,
                                on_revoke=self._revoked, on_lost=self._revoked)
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
            deadline = time.monotonic() + 3           # a worker stuck on an unreachable device is a daemon
            for w in self.workers.values():
                w.join(max(0.0, deadline - time.monotonic()))
            self.commit_ready()
            self.consumer.close()
            self.producer.flush(10)


def run_executor(cfg: Config, mode: str | None, metrics_listen: str | None, group: str = "fabtel-remediation") -> int:
    from fabtel.stats import run_until_stopped
    return run_until_stopped(cfg, metrics_listen, Executor(cfg, mode, group))
