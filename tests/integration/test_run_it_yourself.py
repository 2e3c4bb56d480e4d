"""README "Run it yourself": its command block, run as a new user would on a
fresh clone (its own state directory, so `stack up` starts a fresh Kafka and
InfluxDB on the default ports; nothing else changed), disables leaf1's
access link over gNMI when the lab's leaf1 loses its uplinks."""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Run it yourself"):text.index("## How data flows")]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def listening(port: int) -> bool:
    import socket
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_commands_run_the_pipeline(tmp_path):
    from fabtel.config import load_config
    from fabtel.kafka import read_topic
    taken = [p for p in (9092, 9192, 8086, 6343, 57401, 57402, 57411, 57412, 57413) if listening(p)]
    assert not taken, f"the README's commands use the default ports; these are taken: {taken} (a stack of yours?)"
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
    proc = subprocess.Popen(["bash", str(script)], cwd=tmp_path, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    kafka = dataclasses.replace(load_config(ROOT / "examples" / "fabric.yaml").kafka, bootstrap_servers="127.0.0.1:9092")
    mine = []
    try:
        deadline = time.monotonic() + 150
        while not mine and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(3)
            try:
                mine = [r.record for r in read_topic(kafka, kafka.topic("command_results"), "beginning", timeout_s=2,
                                                     until_end=True)
                        if r.record is not None and r.record.result_ts_ns >= started_ns
                        and (r.record.device, r.record.interface) == ("leaf1", "ethernet-1/1")]
            except Exception:  # the topic does not exist until the block's `topics create`
                continue
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        subprocess.run([str(Path(sys.executable).parent / "fabtel"), "stack", "down", "--state-dir", str(state), "--purge"],
                       capture_output=True, timeout=120)
    lines = [x for x in log.read_text().splitlines() if "HTTP Request" not in x and not x.startswith(("[", "+", "|"))]
    assert mine, "\n".join(lines[-60:])
    assert any(r.action == "disable" and r.outcome == "applied" for r in mine), mine
    assert "Traceback" not in log.read_text()
