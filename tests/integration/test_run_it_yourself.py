"""README "Run it yourself": its command block, run line by line as a new
user would (pointed at the test stack through FABTEL_STATE_DIR, nothing
else changed), disables leaf1's access link over gNMI when the lab's
leaf1 loses its uplinks."""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from conftest import STATE_DIR

ROOT = Path(__file__).resolve().parents[2]


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Run it yourself"):text.index("## How data flows")]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def fresh_start(bootstrap: str) -> None:
    """What a new user has: no fabtel.* topics, internal topics or consumer
    groups of the default names (the test stack lives across runs)."""
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(("fabtel.", "fabtel-processor"))]
    for future in (admin.delete_topics(topics).values() if topics else ()):
        future.result()
    groups = [g.group_id for g in admin.list_consumer_groups().result().valid
              if g.group_id.startswith(("fabtel-processor", "fabtel-influx", "fabtel-remediation", "fabtel-sink"))]
    for future in (admin.delete_consumer_groups(groups).values() if groups else ()):
        future.result()
    deadline = time.monotonic() + 30
    while any(t.startswith("fabtel.") for t in admin.list_topics(timeout=10).topics) and time.monotonic() < deadline:
        time.sleep(0.5)


def test_the_readme_commands_run_the_pipeline(stack, tmp_path):
    from fabtel.config import load_config
    from fabtel.kafka import read_topic
    fresh_start(stack.bootstrap)
    block = readme_block()
    assert "fabtel stack up" in block and "remediate --mode enforce" in block
    started_ns = time.time_ns()
    script = tmp_path / "run-it-yourself.sh"
    script.write_text("set -e\ncd " + str(ROOT) + "\n" + block + "\nwait\n")
    env = {**os.environ, "FABTEL_STATE_DIR": str(STATE_DIR)}
    for key in ("FABTEL_KAFKA_BOOTSTRAP", "FABTEL_INFLUX_URL", "FABTEL_REGISTRY_URL", "FABTEL_CONFIG"):
        env.pop(key, None)
    log = tmp_path / "run.log"
    proc = subprocess.Popen(["bash", str(script)], cwd=tmp_path, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    kafka = dataclasses.replace(load_config(ROOT / "examples" / "fabric.yaml").kafka, bootstrap_servers=stack.bootstrap,
                                schema_registry_url=stack.registry_url)
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
    assert mine, log.read_text()[-4000:]
    assert any(r.action == "disable" and r.outcome == "applied" for r in mine), mine
    assert "Traceback" not in log.read_text()
