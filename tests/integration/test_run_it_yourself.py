"""README "Run it yourself": its command block, run as a new user would on a
fresh clone, disables leaf1's access link over gNMI when the lab's leaf1
loses its uplinks.

The block uses the default ports (Kafka 9092, InfluxDB 8086, sFlow 6343,
the lab's gNMI 57401-57413), which a stack the user left running (`./run
demo` leaves one) may hold. So the block runs exactly as written in a
network namespace of its own, whose loopback is its alone: the tests never
need the default ports free."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FABTEL = Path(sys.executable).parent / "fabtel"


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Run it yourself"):text.index("## How data flows")]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def in_namespace(ns: str, *argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, *map(str, argv)], capture_output=True, text=True, **kw)


def test_the_readme_commands_run_the_pipeline(tmp_path):
    ns = f"fabtel-riy-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    assert made.returncode == 0, f"the test needs network namespaces (root): {made.stderr}"
    state = tmp_path / "state"
    block = readme_block()
    assert "fabtel stack up" in block and "remediate --mode enforce" in block
    started_ns = time.time_ns()
    script = tmp_path / "run-it-yourself.sh"
    script.write_text("set -e\ncd " + str(ROOT) + "\n" + block + "\nwait\n")
    env = {**os.environ, "FABTEL_STATE_DIR": str(state)}
    for key in ("FABTEL_KAFKA_BOOTSTRAP", "FABTEL_INFLUX_URL", "FABTEL_REGISTRY_URL", "FABTEL_CONFIG"):
        env.pop(key, None)
    log = tmp_path / "run.log"
    proc = None
    mine = []
    try:
        assert in_namespace(ns, "ip", "link", "set", "lo", "up").returncode == 0
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "bash", str(script)], cwd=tmp_path, env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while not mine and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(3)
            # read the results inside the namespace, where the block's broker listens on 127.0.0.1:9092
            out = in_namespace(ns, FABTEL, "topics", "tail", "command_results", "--from-beginning", "--timeout", "2",
                               "--bootstrap-servers", "127.0.0.1:9092", env=env, cwd=ROOT, timeout=60)
            records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            mine = [r for r in records if r.get("result_ts_ns", 0) >= started_ns
                    and (r.get("device"), r.get("interface")) == ("leaf1", "ethernet-1/1")]
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        in_namespace(ns, FABTEL, "stack", "down", "--state-dir", state, "--purge", timeout=120)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    lines = [x for x in log.read_text().splitlines() if "HTTP Request" not in x and not x.startswith(("[", "+", "|"))]
    assert mine, "\n".join(lines[-60:])
    assert any(r["action"] == "disable" and r["outcome"] == "applied" for r in mine), mine
    assert "Traceback" not in log.read_text()
