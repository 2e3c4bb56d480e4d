"""`fabtel bench faust-ceiling`: events per second a Faust agent that does
nothing reads from the local broker: the ceiling any Faust worker (and so
`bench process`) can reach on this machine, with the worker's own settings
(short fetch wait, session timeout). The same interface-counters records as
`bench process`, on a topic of its own; the agent runs in a child process."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

from fabtel.bench.common import bench_config, machine, made_here, progress
from fabtel.kafka import RecordProducer
from fabtel.records import InterfaceCounters


def run(config_path: str, seconds: float, events: int = 100_000) -> dict:
    cfg = bench_config(config_path, "ceiling")
    p = RecordProducer(cfg.kafka, **{"linger.ms": 20, "queue.buffering.max.messages": 500_000})
    progress(f"producing {events} interface counter records")
    t = time.time_ns()
    for i in range(events):
        p.send(InterfaceCounters(f"leaf{i % 128}", "ethernet-1/1", "gnmi", t + i, t + i,
                                                       i * 1000, i * 1000, speed_bps=10**10))
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(60)
    progress("one do-nothing Faust agent reads them")
    app_id = f"bench-ceiling-{time.time_ns()}"
    made_here(cfg.kafka, app_id)                      # its group and internal topic
    with tempfile.TemporaryDirectory(prefix="fabtel-ceiling-") as workdir:     # Faust's data dir, not the caller's
        out = subprocess.run([sys.executable, "-m", "fabtel.bench.faust_ceiling", cfg.kafka.bootstrap_servers,
                              cfg.kafka.topic("interface_counters"), str(cfg.kafka.partitions), str(events),
                              cfg.kafka.implementation, app_id],
                             capture_output=True, text=True, timeout=300, cwd=workdir)
    found = re.findall(r'\{"events_per_s": \d+\}', out.stdout + out.stderr)   # Faust logs the agent's stdout
    if not found:
        raise RuntimeError(f"the agent did not finish: {out.stderr[-1000:]}")
    return {**json.loads(found[-1]), "events": events, "machine": machine()}


def _child(bootstrap: str, topic: str, partitions: int, events: int, implementation: str, app_id: str) -> None:
    import faust

    from fabtel.pipeline import faust_tuning
    faust_tuning.install(faust_tuning.TANSU_FETCH_MAX_WAIT_MS if implementation == "tansu" else None)
    app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://",
                    web_enabled=False, broker_session_timeout=6, broker_heartbeat_interval=2,
                    consumer_auto_offset_reset="earliest", stream_wait_empty=False, topic_partitions=partitions)
    seen = {"n": 0, "t0": 0.0}

    @app.agent(app.topic(topic, key_serializer="raw", value_serializer="raw"))
    async def count(stream):
        async for event in stream.events():
            if seen["n"] == 0:
                seen["t0"], seen["first"] = time.perf_counter(), len(faust_tuning.carriers(event))
            seen["n"] += len(faust_tuning.carriers(event))       # a batch of messages is one event (tuned)
            if seen["n"] >= events:
                rate = (events - seen["first"]) / (time.perf_counter() - seen["t0"])
                print(json.dumps({"events_per_s": round(rate)}), flush=True)
                os._exit(0)

    faust_tuning.worker(app, "warning").execute_from_commandline()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
