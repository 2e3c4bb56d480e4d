"""Stopping: a command that starts components (the demo here; the benchmarks
and the FRR lab use the same supervisor) stops them when it is stopped by
SIGTERM, and leaves none behind when it is SIGKILLed; and every component
exits within a few seconds of SIGTERM even when its broker is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, wait_until, write_config
from fabtel.signals import STOP_GRACE_S


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (Linux /proc)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_demo(config, tmp_path) -> tuple[subprocess.Popen, Path]:
    path = write_config(config, tmp_path / "fabric.yaml")
    log = tmp_path / "demo.log"
    env = {**os.environ, "FABTEL_STATE_DIR": str(tmp_path / "state")}
    # started as a shell without job control starts `fabtel demo &`: SIGINT ignored (it must stop on it all the same)
    demo = subprocess.Popen([str(Path(sys.executable).parent / "fabtel"), "demo", "--config", str(path),
                             "--no-baseline"], cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    # the worker, the sink, the executor and both collectors
    assert wait_until(lambda: len(children(demo.pid)) >= 5 or demo.poll() is not None, 120), log.read_text()[-2000:]
    assert demo.poll() is None, log.read_text()[-2000:]
    return demo, log


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_demo_stopped_by_a_signal_stops_its_components(config, tmp_path, how):
    demo, log = start_demo(config, tmp_path)
    components = children(demo.pid)
    demo.send_signal(how)
    demo.wait(STOP_GRACE_S + 30)
    assert demo.returncode == 130, log.read_text()[-2000:]
    assert not [p for p in components if alive(p)], log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()


def test_a_killed_demo_leaves_no_component_behind(config, tmp_path):
    demo, log = start_demo(config, tmp_path)
    components = children(demo.pid)
    demo.kill()
    demo.wait(10)
    assert wait_until(lambda: not [p for p in components if alive(p)], STOP_GRACE_S + 10), \
        [Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ") for p in components if alive(p)]


def test_every_component_exits_within_seconds_of_sigterm_without_its_broker(tmp_path):
    """The components run against a broker that is then SIGKILLed; each is
    told to stop and must be gone within its grace, not waiting on the broker."""
    from fabtel.localstack.supervisor import Components
    from test_broker_failures import _config, _stack
    stack = _stack(tmp_path / "state")
    comps = Components(tmp_path)
    try:
        cfg, path = _config(stack, tmp_path)
        from fabtel.kafka import create_topics
        create_topics(cfg.kafka)
        for name, args in (("process", ("process", "--data-dir", str(tmp_path / "worker"))),
                           ("sink", ("sink", "influx")), ("remediate", ("remediate", "--mode", "enforce")),
                           ("gnmi", ("collect", "gnmi")), ("sflow", ("collect", "sflow", "--listen", f"127.0.0.1:{free_port()}"))):
            comps.start(name, *args, "--config", str(path))
        comps.wait_for_log("process", "worker ready (app")
        comps.wait_for_log("remediate", "remediation: assigned")
        comps.check_alive()
        stack.kill_node(1)
        time.sleep(3)                             # they notice the broker is gone
        t0 = time.monotonic()
        for _, proc in comps.procs:
            proc.send_signal(signal.SIGTERM)
        took = {}
        while len(took) < len(comps.procs) and time.monotonic() - t0 < STOP_GRACE_S + 10:
            for name, proc in comps.procs:
                if name not in took and proc.poll() is not None:
                    took[name] = round(time.monotonic() - t0, 1)
            time.sleep(0.05)
        print(f"\nexit after SIGTERM, broker gone: {took}")
        assert len(took) == len(comps.procs) and max(took.values()) <= STOP_GRACE_S + 1, took
        for name, _ in comps.procs:
            assert "Traceback" not in (tmp_path / f"{name}.log").read_text(), name
    finally:
        comps.stop()
        stack.down()
