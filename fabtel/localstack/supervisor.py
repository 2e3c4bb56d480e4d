"""The process supervisor the demo, the FRR lab and the benchmarks share:
fabtel's components started as their own processes (`python -m fabtel ...`),
each logging to a file of the run's work directory, watched for an early
exit, and stopped together (SIGTERM, then SIGKILL if one outlives its grace). Every process
it starts (`spawn`) gets SIGTERM when the thread that started it dies, so a
run killed outright leaves nothing behind.

May import: the standard library, fabtel.signals.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fabtel.signals import STOP_GRACE_S, dying_with_parent


def spawn(argv: list[str], **popen) -> subprocess.Popen:
    """A child process that dies with its parent (fabtel.signals.dying_with_parent)."""
    return subprocess.Popen(dying_with_parent(argv), **popen)


class ComponentFailed(RuntimeError):
    """A component exited or never got ready: one line naming it, its last log line and its log."""


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


class Components:
    """The pipeline's processes for one run; stopped together."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "w")
        proc = spawn([sys.executable, "-m", "fabtel", *args], stdout=log, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL, env=os.environ.copy())
        self.procs.append((name, proc))
        return proc

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> None:
        path = self.workdir / f"{name}.log"
        proc = dict(self.procs)[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in path.read_text(errors="replace"):
                return
            if proc.poll() is not None:
                raise ComponentFailed(f"{name} exited at start: {_last_line(path)} (log {path})")
            time.sleep(0.2)
        raise ComponentFailed(f"{name} did not log {text!r} within {timeout:.0f} s (log {path})")

    def kill(self, name: str) -> None:
        """SIGKILL one component, as a crash would (failure tests); it is no longer watched."""
        proc = dict(self.procs)[name]
        proc.kill()
        proc.wait(10)
        self.procs = [(n, p) for n, p in self.procs if n != name]

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                path = self.workdir / f"{name}.log"
                raise ComponentFailed(f"{name} died (exit {proc.returncode}): {_last_line(path)} (log {path})")

    def stop(self) -> None:
        """SIGTERM to all; SIGKILL to any still there when their grace (fabtel.signals.STOP_GRACE_S) is long over."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S + 5
        for _, proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
