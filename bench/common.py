"""What every benchmark shares: making sure the local stack runs, a config
whose topics are private to the run, and printing results."""
from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
import uuid

from fabtel.config import Config, load_config


def bench_config(path: str, run_name: str) -> Config:
    """The configuration with topics unique to this run (the memory broker
    keeps earlier runs' records), created on the broker."""
    from fabtel.kafka import create_topics
    cfg = load_config(path)
    tag = f"bench-{run_name}-{uuid.uuid4().hex[:6]}"
    kafka = dataclasses.replace(cfg.kafka, topics={k: f"{tag}.{v}" for k, v in cfg.kafka.topics.items()})
    cfg = dataclasses.replace(cfg, kafka=kafka)
    create_topics(cfg.kafka)
    return cfg


def machine() -> str:
    import os
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
