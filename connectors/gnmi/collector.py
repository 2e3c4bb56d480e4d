"""`fabtel collect gnmi`: one STREAM subscription per device, each in its own
thread so that a device that is down or slow never delays the others.

We subscribe through fabtel's gNMI client (raw gRPC with pygnmi's compiled
stubs, connectors/gnmi/client.py) rather than pygnmi's `subscribe2`, to
defend against its known traps:
- #177: its first response after sync merges notifications and keeps only
  the last prefix. We read every notification as it comes and name each
  update by its own full path (normalize.py).
- #112/#104: a dead stream only raises inside pygnmi's thread. Here the
  stream's RpcError ends our loop at once, and a watchdog cancels a stream
  that has been silent for three sample intervals; we reconnect with
  exponential backoff and jitter and count reconnects.
- its internal queue is unbounded. We hold no queue: each response is
  normalized and handed to the producer before the next is read, so gRPC
  flow control pushes back on the device, and the producer's own queue is
  bounded (counters are dropped and counted when it is full; state changes
  wait for room, they are never dropped).
A device that rejects a path (NOT_FOUND / INVALID_ARGUMENT) is reported once
with its error; the path is dropped and the rest of the subscription goes on.
The encoding is the first of JSON_IETF, JSON, PROTO the device offers in its
Capabilities, asked again at every (re)connect.
"""
from __future__ import annotations

import logging
import random
import threading
import time

import grpc
from pygnmi.spec.v080 import gnmi_pb2

from fabtel.connectors.gnmi.client import GnmiClient, describe
from fabtel.connectors.gnmi.normalize import SYNC, UPDATE, DeviceNormalizer, ResponseError
from fabtel import native
from fabtel.config import Config, Device, SecretError
from fabtel.platforms import platform
from fabtel.kafka import RecordProducer
from fabtel.metrics import Metrics
from fabtel.partitioning import DomainPartitioner
from fabtel.records import NEVER_DROPPED, kind_of

log = logging.getLogger("fabtel.gnmi")


def collector_metrics(devices: list[str]) -> Metrics:
    m = Metrics("gnmi")
    zero = [(d,) for d in devices]
    m.declare("updates_total", "gNMI updates received.", ("device",), zero_for=zero)
    m.declare("records_total", "Normalized records produced.", ("device",), zero_for=zero)
    m.declare("reconnects_total", "Subscriptions re-established after a failure.", ("device",), zero_for=zero)
    m.declare("connected", "1 while the device's stream is up.", ("device",), kind="gauge", zero_for=zero)
    m.declare("held", "1 while this collector holds the device (its own, or assigned by the targets group).",
              ("device",), kind="gauge", zero_for=zero)
    m.declare("stale_devices", "Devices held with no notification for thresholds.stale_after_ms.", kind="gauge")
    m.declare("last_update_age_seconds", "Seconds since the device's last update.", ("device",), kind="gauge", zero_for=zero)
    m.declare("rejected_paths_total", "Paths a device rejected.", ("device", "path"))
    m.declare("missing_models_total", "Models subscribed paths need that the device's Capabilities do not list.",
              ("device", "model"))
    m.declare("unknown_paths_total", "Updates on paths fabtel does not normalize.", ("device",), zero_for=zero)
    m.declare("unreadable_values_total", "Updates whose value the platform cannot read (skipped).", ("device",),
              zero_for=zero)
    m.declare("undecodable_total", "Responses that are not a readable SubscribeResponse (skipped).", ("device",),
              zero_for=zero)
    m.declare("dropped_total", "Counter records dropped because the Kafka queue was full.", ("reason",),
              zero_for=[("kafka_queue_full",)])
    return m


class DeviceSubscriber:
    def __init__(self, device: Device, sample_interval_ns: int, emit, metrics: Metrics,
                 backoff_ms: tuple[int, int] = (200, 10_000)):
        self.device = device
        self.name = device.name
        self.emit = emit
        self.metrics = metrics
        self.sample_interval_ns = sample_interval_ns
        self.paths = list(platform(device.platform).subscriptions)
        self.rejected: set[str] = set()
        self.capabilities_checked = False
        self.normalizer = DeviceNormalizer(device.name, device.platform)
        self.backoff_ms = backoff_ms
        self.last_update = time.monotonic()          # the watchdog's clock: also reset by each new stream
        self.last_notification = time.monotonic()    # staleness: only what the device sent
        self.call = None
        self.synced = False               # the current stream finished its initial sync
        self.session_synced = False       # ... at some point (the stream worked)
        self.ever_synced = False
        self.cancel_reason: str | None = None
        self.reconnects = 0
        self.undecodable = 0
        self.state, self.reason = "starting", "not connected yet"

    def run(self, stop: threading.Event) -> None:
        client = self._client(stop)
        delay = self.backoff_ms[0]
        first = True
        failures = 0          # failed attempts in this outage: the first is one WARNING, the rest DEBUG
        while client is not None and not stop.is_set():
            if not first:
                self.reconnects += 1
                self.metrics.inc("reconnects_total", self.name)
            first = False
            self.session_synced, self.cancel_reason = False, None
            reason = "the device ended the stream"
            try:
                self._session(client, stop, failures)
            except grpc.RpcError as exc:
                if stop.is_set():
                    break
                if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT) and self._drop_rejected(client):
                    client.close()
                    continue
                reason = self.cancel_reason if exc.code() == grpc.StatusCode.CANCELLED and self.cancel_reason \
                    else describe(exc)
            except OSError as exc:        # TLS: the device's certificate could not be fetched
                reason = f"cannot connect: {exc}"
            except Exception as exc:      # a fault of fabtel's own: said with its stack; the device is not given up
                log.exception("gnmi %s: the stream failed inside fabtel; subscribing again after the backoff", self.name)
                reason = f"failed inside fabtel: {type(exc).__name__}: {exc}"
            finally:
                self.metrics.set("connected", self.name, value=0)
                client.close()
            if stop.is_set():
                break
            if self.session_synced:       # a working stream dropped: a new outage begins
                failures, delay = 0, self.backoff_ms[0]
            failures += 1
            self.state, self.reason = "down", reason
            log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                    "gnmi %s (%s): stream down: %s; retrying with backoff up to %d ms", self.name, client.address,
                    reason, self.backoff_ms[1])
            # Exponential backoff with full jitter so that a fabric-wide event
            # does not make every collector reconnect in lockstep.
            stop.wait(random.uniform(delay / 2, delay) / 1000)
            delay = min(delay * 2, self.backoff_ms[1])

    def _client(self, stop: threading.Event) -> GnmiClient | None:
        """The device's client; without its credentials (a secret not mounted
        yet), said once and tried again every reconnect_max_ms."""
        said = False
        while not stop.is_set():
            try:
                return GnmiClient(self.device)
            except (SecretError, OSError) as exc:
                self.state, self.reason = "no credentials", str(exc)
                if not said:
                    log.error("gnmi %s: cannot build the connection: %s; trying again every %g s", self.name, exc,
                              self.backoff_ms[1] / 1000)
                    said = True
                stop.wait(self.backoff_ms[1] / 1000)
        return None

    def _session(self, client: GnmiClient, stop: threading.Event, failures: int = 0) -> None:
        done = threading.Event()
        req = client.subscription([p for p in self.paths if p[0] not in self.rejected], self.sample_interval_ns)
        self.check_capabilities(client.capabilities_seen)

        def requests():
            yield req
            while not (done.is_set() or stop.is_set()):
                done.wait(1)

        self.call = client.subscribe(requests())
        self.last_update = time.monotonic()
        synced = self.synced = False
        try:
            for data in self.call:
                self.last_update = self.last_notification = time.monotonic()
                norm = self.normalizer
                before = len(norm.unknown_paths), norm.unreadable_values
                try:
                    kind, n, records = norm.read(data, time.time_ns())
                except ResponseError as exc:
                    self._undecodable(exc, len(data))
                    continue
                if kind == UPDATE:
                    self.metrics.inc("updates_total", self.name, by=n)
                    if len(norm.unknown_paths) > before[0]:
                        self.metrics.inc("unknown_paths_total", self.name, by=len(norm.unknown_paths) - before[0])
                    if norm.unreadable_values > before[1]:
                        self.metrics.inc("unreadable_values_total", self.name, by=norm.unreadable_values - before[1])
                    if records:
                        self.emit(records)
                        self.metrics.inc("records_total", self.name, by=len(records))
                elif kind == SYNC and not synced:
                    synced = self.synced = self.session_synced = self.ever_synced = True
                    self.state, self.reason = "streaming", ""
                    self.metrics.set("connected", self.name, value=1)
                    log.info("gnmi %s (%s): subscribed (%s), initial sync done%s", self.name, client.address,
                             gnmi_pb2.Encoding.Name(req.subscribe.encoding),
                             f" (after {failures} failed attempt{'s' if failures > 1 else ''})" if failures else "")
                    self.emit(self.normalizer.synced(time.time_ns()))
                if stop.is_set():
                    break
        finally:
            self.synced = False
            done.set()
            self.call.cancel()

    def _undecodable(self, exc: ResponseError, size: int) -> None:
        """A response that is not a SubscribeResponse: counted and skipped; the
        first is a WARNING, the rest DEBUG. The stream goes on."""
        self.metrics.inc("undecodable_total", self.name)
        self.undecodable += 1
        log.log(logging.WARNING if self.undecodable == 1 else logging.DEBUG,
                "gnmi %s: a response of %d bytes that cannot be read, skipped and counted: %s", self.name, size, exc)

    def check_capabilities(self, caps) -> list[str]:
        """Once: the models the subscribed paths need that the device does not
        list in its Capabilities, each said in one line (its updates may never
        come; a device that answers NOT_FOUND is handled by _drop_rejected)."""
        if caps is None or self.capabilities_checked:
            return []
        self.capabilities_checked = True
        listed = {m.name for m in caps.supported_models}
        plat = platform(self.device.platform)
        missing: dict[str, list[str]] = {}
        for path, _ in self.paths:
            for model in plat.models_for(path):
                if model not in listed:
                    missing.setdefault(model, []).append(path)
        for model, paths in sorted(missing.items()):
            self.metrics.inc("missing_models_total", self.name, model)
            log.warning("gnmi %s: the device's Capabilities list no %s, which %d subscribed path%s need%s (%s): "
                        "their updates may never come", self.name, model, len(paths), "s" if len(paths) > 1 else "",
                        "" if len(paths) > 1 else "s", paths[0] + (", ..." if len(paths) > 1 else ""))
        offered = {gnmi_pb2.Encoding.Name(e) for e in caps.supported_encodings if e in gnmi_pb2.Encoding.values()}
        if offered and not offered & set(plat.encodings):
            log.warning("gnmi %s: the device offers %s, none of what a %s device speaks (%s)", self.name,
                        ", ".join(sorted(offered)), plat.name, ", ".join(plat.encodings))
        return sorted(missing)

    def _drop_rejected(self, client: GnmiClient) -> bool:
        """Find which paths the device rejects (one ONCE probe each), report
        each once with the device's error, and go on without them."""
        dropped = False
        for path, mode in self.paths:
            if path in self.rejected:
                continue
            probe = client.subscription([(path, mode)], self.sample_interval_ns, mode=gnmi_pb2.SubscriptionList.ONCE)
            for sub in probe.subscribe.subscription:
                sub.mode = gnmi_pb2.TARGET_DEFINED
            try:
                for resp in client.stub.Subscribe(iter([probe]), metadata=client.metadata, timeout=10):
                    if resp.sync_response:
                        break
            except grpc.RpcError as exc:
                if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    self.rejected.add(path)
                    self.metrics.inc("rejected_paths_total", self.name, path)
                    log.error("gnmi %s: device rejected %s (%s); subscribing without it", self.name, path,
                              describe(exc))
                    dropped = True
        return dropped
    def cancel_if_silent(self, silence_s: float) -> None:
        age = time.monotonic() - self.last_update
        self.metrics.set("last_update_age_seconds", self.name, value=round(age, 3))
        if self.call is not None and self.synced and age > silence_s:
            # The run loop logs the drop, with this as its reason: one line per outage.
            self.cancel_reason = f"no update for {age:.1f} s, the stream is dead"
            self.last_update = time.monotonic()
            self.call.cancel()


class GnmiCollector:
    def __init__(self, cfg: Config, devices: list[Device] | None = None, producer: RecordProducer | None = None,
                 state_producer: RecordProducer | None = None):
        self.cfg = cfg
        self.devices = devices if devices is not None else [d for d in cfg.fabric.devices if d.gnmi]
        self.metrics = collector_metrics([d.name for d in self.devices])
        native.say_once("gnmi collector")
        limit = cfg.gnmi.queue_limit * 10
        # Counters may be batched; state changes go out at once.
        partitioner = DomainPartitioner(cfg)
        self.counters = producer or RecordProducer(cfg.kafka, partitioner=partitioner,
                                                   **{"linger.ms": 50, "queue.buffering.max.messages": limit})
        self.state = state_producer or RecordProducer(cfg.kafka, partitioner=partitioner,
                                                      **{"linger.ms": 0, "socket.nagle.disable": True,
                                                         "queue.buffering.max.messages": limit})
        self.interval_ns = cfg.gnmi.sample_interval_ms * 1_000_000
        self.backoff = (cfg.gnmi.reconnect_min_ms, cfg.gnmi.reconnect_max_ms)
        self._subs: dict[str, tuple[DeviceSubscriber, threading.Event, threading.Thread | None]] = {}
        self._lock = threading.Lock()
        self.started = False
        for d in self.devices:
            self._subs[d.name] = (DeviceSubscriber(d, self.interval_ns, self.emit, self.metrics, self.backoff),
                                  threading.Event(), None)
        self.silence_s = max(3 * cfg.gnmi.sample_interval_ms / 1000, 3.0)

    @property
    def subscribers(self) -> list[DeviceSubscriber]:
        with self._lock:
            return [sub for sub, _, _ in self._subs.values()]

    def _run(self, name: str) -> None:
        sub, stop, _ = self._subs[name]
        thread = threading.Thread(target=sub.run, args=(stop,), name=f"gnmi-{name}", daemon=True)
        self._subs[name] = (sub, stop, thread)
        thread.start()

    def add(self, device: Device) -> None:
        """Collect `device` from now on (a target assigned to this collector);
        a changed device is resubscribed with its new settings."""
        with self._lock:
            held = self._subs.get(device.name)
            if held is not None and held[0].device == device:
                return
        if held is not None:
            self.remove(device.name)
        with self._lock:
            self._subs[device.name] = (DeviceSubscriber(device, self.interval_ns, self.emit, self.metrics, self.backoff),
                                       threading.Event(), None)
            self.metrics.set("held", device.name, value=1)
            if self.started:
                self._run(device.name)
        log.info("gnmi %s (%s): collecting it (%d devices held)", device.name, device.gnmi.address, len(self._subs))

    def remove(self, name: str) -> None:
        """Stop collecting `name` (moved to another collector, or out of the inventory)."""
        with self._lock:
            held = self._subs.pop(name, None)
        if held is None:
            return
        sub, stop, _ = held
        stop.set()
        if sub.call is not None:
            sub.call.cancel()
        self.metrics.set("held", name, value=0)
        self.metrics.set("connected", name, value=0)
        log.info("gnmi %s: released (%d devices held)", name, len(self._subs))

    def health(self) -> tuple[bool, str]:
        """Unhealthy when a device lacks its credentials or none of them
        answers; the body lists each device's state and reason."""
        subs = self.subscribers
        lines = "".join(f"{s.name}: {s.state}{f' ({s.reason})' if s.reason else ''}\n" for s in subs)
        ok = not any(s.state == "no credentials" for s in subs) and not (
            subs and all(s.state in ("down", "no credentials") for s in subs))
        return ok, lines

    def ready(self) -> tuple[bool, str]:
        """Ready once a device finished its initial sync (or there is none to collect)."""
        ok, lines = self.health()
        return ok and (not self.subscribers or any(s.ever_synced for s in self.subscribers)), lines

    def emit(self, records: list) -> None:
        for rec in records:
            if kind_of(rec) in NEVER_DROPPED:
                self.state.send(rec)       # waits for room: never dropped
                self.state.poll(0)
            elif not self.counters.try_send(rec):
                self.metrics.inc("dropped_total", "kafka_queue_full")
        self.counters.poll(0)

    def _serve_state_deliveries(self, stop: threading.Event) -> None:
        # Delivery reports arrive only when polled: a thread of their own keeps
        # acknowledgement (and its latency metric) prompt.
        while not stop.is_set():
            self.state.poll(0.05)

    def start(self, stop: threading.Event) -> None:
        threading.Thread(target=self._serve_state_deliveries, args=(stop,), name="gnmi-acks", daemon=True).start()
        with self._lock:
            self.started = True
            for name in list(self._subs):
                self.metrics.set("held", name, value=1)
                self._run(name)
        log.info("gnmi collector: %d devices, sample interval %d ms, producing to %s", len(self.subscribers),
                 self.cfg.gnmi.sample_interval_ms, self.cfg.kafka.bootstrap_servers)
        threading.Thread(target=self._say_if_nothing_answers, args=(stop,), name="gnmi-start", daemon=True).start()

    def _say_if_nothing_answers(self, stop: threading.Event, grace_s: float = 15.0) -> None:
        """One line at start when no device has answered after a grace period."""
        if stop.wait(grace_s) or not self.subscribers or any(s.ever_synced for s in self.subscribers):
            return
        log.error("gnmi collector: none of its %d devices streams after %.0f s: %s", len(self.subscribers), grace_s,
                  "; ".join(f"{s.name} {s.state} ({s.reason})" for s in self.subscribers))

    def watch(self, stop: threading.Event) -> None:
        """Watchdog and producer service loop, until stop."""
        stale_s = self.cfg.thresholds.stale_after_ms / 1000
        while not stop.wait(0.5):
            subs = self.subscribers
            for sub in subs:
                sub.cancel_if_silent(self.silence_s)
            now = time.monotonic()
            self.metrics.set("stale_devices", value=sum(1 for sub in subs if now - sub.last_notification > stale_s))
            self.counters.poll(0)

    def close(self) -> int:
        with self._lock:
            held = list(self._subs.values())
        for sub, stop, _ in held:
            stop.set()
            if sub.call is not None:
                sub.call.cancel()
        for _, _, thread in held:
            if thread is not None:
                thread.join(5)
        return self.state.flush(10) + self.counters.flush(10)


def shard(devices: list[Device], spec: str | None) -> list[Device]:
    """Devices of shard I of N ("I/N"), by position: each device collected once."""
    if not spec:
        return devices
    index, count = (int(x) for x in spec.split("/"))
    return [d for i, d in enumerate(devices) if i % count == index]


def run_collector(cfg: Config, shard_spec: str | None, metrics_listen: str | None, group: str | None = None,
                  publish: bool = True) -> int:
    """Static (every device, or shard I/N of them) or, with `group`, the
    devices the targets group assigns this collector (publishing the
    inventory to the targets topic first, unless `publish` is off)."""
    from fabtel import heap
    from fabtel.signals import stop_on_signals
    from fabtel.stats import observe
    from fabtel.kafka import wait_for_broker
    stop = stop_on_signals("gnmi collector")
    wait_for_broker(cfg.kafka, "gnmi", stop=stop)
    devices = [] if group else shard([d for d in cfg.fabric.devices if d.gnmi], shard_spec)
    collector = GnmiCollector(cfg, devices)
    observe(cfg, metrics_listen, [collector.metrics], stop, healthy=collector.health, ready=collector.ready)
    collector.start(stop)
    heap.settle()
    if group:
        from fabtel.connectors.gnmi.membership import TargetGroup, sync
        from fabtel.connectors.gnmi.targets import device_of
        if publish:
            changes = sync(cfg)
            log.info("gnmi collector: inventory published to %s (%d changes)", cfg.kafka.topic("targets"), len(changes))
        members = TargetGroup(cfg, lambda t: collector.add(_with_local_credentials(cfg, device_of(t))),
                              collector.remove, group)
        membership = threading.Thread(target=members.run, args=(stop,), name="gnmi-targets", daemon=True)
        membership.start()
        log.info("gnmi collector: taking devices from %s as a member of group %s", cfg.kafka.topic("targets"), group)
    collector.watch(stop)
    if group:
        # Leave the group before exiting: the others take our devices at the
        # next rebalance, not a session timeout later.
        membership.join(3)
    pending = collector.close()
    log.info("gnmi collector stopped (%d records still undelivered)", pending)
    return 0


def _with_local_credentials(cfg: Config, device: Device) -> Device:
    """The target's device, with this collector's own credential settings for
    it when its configuration names the device (a record never holds secrets)."""
    import dataclasses
    try:
        local = cfg.fabric.device(device.name)
    except KeyError:
        return device
    if local.gnmi is None or (local.gnmi.username is None and local.gnmi.password is None):
        return device
    return dataclasses.replace(device, gnmi=dataclasses.replace(device.gnmi, username=local.gnmi.username,
                                                                password=local.gnmi.password))
