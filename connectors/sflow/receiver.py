"""The sFlow collector's UDP side: the receive socket, the kernel's drop
counter for it, and N receivers on one port.

A flood is absorbed by the socket's receive buffer, sized from the
configuration (`sflow.receive_buffer_bytes`; as root past the kernel's
net.core.rmem_max, as goflow2 and hsflowd's collectors advise). What the
kernel still drops is read from /proc/net/udp (its `drops` column for this
socket), served as a metric, and logged once a minute while it rises.

`--workers N` runs N collector processes on one port with SO_REUSEPORT: the
kernel spreads agents over them by their address and port, so each agent's
datagrams stay with one process (its sequence tracking and flow windows are
per agent). The parent serves /metrics as the sum of the workers' and
restarts a worker that dies.

May import: the standard library, fabtel.metrics, fabtel.native, fabtel.signals.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import select
import socket
import threading
import time
from typing import Callable

from fabtel import native
from fabtel.metrics import Metrics
from fabtel.signals import die_with_parent

log = logging.getLogger("fabtel.sflow")

SNAPSHOT_INTERVAL_S = 1.0      # how often a worker hands its metrics to the parent
DROPS_LINE_INTERVAL_S = 60.0   # one line a minute while the kernel drops
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)    # Linux's; Python's socket module does not name it


def open_socket(listen: str, buffer_bytes: int, reuse_port: bool = False) -> socket.socket:
    """A UDP socket bound to HOST:PORT with a receive buffer of `buffer_bytes`
    (the kernel may grant less: said once, with the reason)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:                                        # root (CAP_NET_ADMIN): past net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, buffer_bytes)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2   # the kernel reports twice what it grants
    if granted < buffer_bytes:
        log.warning("sflow receive buffer is %d bytes, not the %d configured: net.core.rmem_max caps it "
                    "(raise it, or run with CAP_NET_ADMIN)", granted, buffer_bytes)
    sock.bind((host, int(port)))
    return sock


class Receiver:
    """The socket's datagrams in bursts: what waits is taken in one go
    (recvmmsg(2) in fabtel.native; without it, recv until the socket is
    empty), and the wait for more happens only when nothing waits."""
    BURST = 64

    def __init__(self, sock: socket.socket):
        sock.setblocking(False)
        self.sock = sock
        self.batch = native.module().BatchReceiver(self.BURST) if native.available() else None

    def _take(self) -> list[bytes]:
        if self.batch is not None:
            return self.batch.recv(self.sock.fileno())
        out = []
        while len(out) < self.BURST:
            try:
                out.append(self.sock.recv(65535))
            except BlockingIOError:
                break
        return out

    def burst(self, timeout: float) -> list[bytes]:
        """The datagrams waiting now, or within `timeout` seconds ([] if none came)."""
        got = self._take()
        if got:
            return got
        select.select([self.sock], [], [], timeout)
        return self._take()


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (its receive buffer was
    full), from /proc/net/udp or udp6; None where the kernel does not say."""
    inode = os.fstat(sock.fileno()).st_ino
    table = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
    try:
        with open(table) as f:
            next(f)                                  # the header
            for line in f:
                fields = line.split()
                if len(fields) >= 13 and fields[9] == str(inode):
                    return int(fields[12])
    except (OSError, ValueError, StopIteration):
        return None
    return None


class DropWatch:
    """The socket's kernel drops as the `kernel_drops_total` metric, and one
    log line a minute while they rise."""

    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.monotonic):
        self.metrics, self.clock = metrics, clock
        self.logged_at, self.logged_value = clock(), 0

    def check(self, sock: socket.socket) -> None:
        drops = kernel_drops(sock)
        if drops is None:
            return
        self.metrics.set("kernel_drops_total", value=drops)
        now = self.clock()
        if drops > self.logged_value and now - self.logged_at >= DROPS_LINE_INTERVAL_S:
            log.warning("sflow: the kernel dropped %d datagrams in the last %.0f s (%d in all): the collector "
                        "does not keep up; add --workers or raise sflow.receive_buffer_bytes",
                        drops - self.logged_value, now - self.logged_at, drops)
            self.logged_at, self.logged_value = now, drops


Samples = list[tuple[str, dict[str, str], float]]


def merge(into: Metrics, snapshots: dict[int, Samples], retired: Samples = ()) -> None:
    """`into` becomes the sum of the workers' latest snapshots and of the
    counters of workers that died (`retired`): a restart is no counter reset."""
    sums: dict[tuple, float] = {}
    for samples in [*snapshots.values(), retired]:
        for name, labels, value in samples:
            key = (name, tuple(labels.values()))
            sums[key] = sums.get(key, 0) + value
    for (name, labels), value in sums.items():
        into.set(name, *labels, value=value)


def retire(into: Metrics, retired: Samples, last: Samples) -> Samples:
    """The dead workers' counters with a worker's `last` snapshot added
    (its gauges die with it), one sample per series however many died."""
    counters = {name for name, kind, _ in into.totals() if kind == "counter"}
    sums: dict[tuple, float] = {}
    for name, labels, value in [*retired, *(s for s in last if s[0] in counters)]:
        key = (name, tuple(labels.items()))
        sums[key] = sums.get(key, 0) + value
    return [(name, dict(labels), value) for (name, labels), value in sums.items()]


def run_workers(workers: int, work: Callable[[int, Callable[[Metrics], None]], None], metrics: Metrics,
                metrics_listen: str | None, stop: threading.Event) -> int:
    """Run `work(i, report)` in `workers` processes until `stop`; each calls
    `report(its metrics)` to have them in the parent's sum. A worker that dies
    is started again."""
    from fabtel.metrics import serve
    ctx = multiprocessing.get_context("fork")     # before this process starts threads or Kafka clients
    snapshots = ctx.Queue()

    def start(i: int):
        proc = ctx.Process(target=_worker, args=(work, i, snapshots), name=f"fabtel-sflow-{i}", daemon=False)
        proc.start()
        return proc

    procs = {i: start(i) for i in range(workers)}
    latest: dict[int, list] = {}
    retired: Samples = []
    serve(metrics_listen, [metrics],
          healthy=lambda: (all(p.is_alive() for p in procs.values()),
                           f"{sum(p.is_alive() for p in procs.values())} of {workers} sflow workers alive\n"))
    log.info("sflow collector: %d workers on one port (SO_REUSEPORT)", workers)
    try:
        while not stop.is_set():
            try:
                i, samples = snapshots.get(timeout=0.5)
                latest[i] = samples
                merge(metrics, latest, retired)
            except (queue.Empty, EOFError, OSError, ValueError):    # nothing yet; a killed worker's last words
                pass
            for i, proc in list(procs.items()):
                if not proc.is_alive() and not stop.is_set():
                    log.warning("sflow worker %d ended (exit code %s); starting it again", i, proc.exitcode)
                    retired = retire(metrics, retired, latest.pop(i, []))
                    procs[i] = start(i)
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.terminate()               # SIGTERM: each flushes its windows and its producer
        for proc in procs.values():
            proc.join(20)
            if proc.is_alive():
                proc.kill()
    return 0


def _worker(work, i: int, snapshots) -> None:
    die_with_parent()                              # a worker ends with its parent, even one killed outright

    def report(metrics: Metrics) -> None:
        def loop():
            while True:
                snapshots.put((i, metrics.samples()))
                time.sleep(SNAPSHOT_INTERVAL_S)
        threading.Thread(target=loop, name="sflow-metrics-to-parent", daemon=True).start()
    work(i, report)
