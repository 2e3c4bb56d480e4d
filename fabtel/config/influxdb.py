"""The `influxdb` section: where the sink writes and the checks read.

May import: the standard library, fabtel.config.reader, fabtel.config.secrets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fabtel.config.reader import YamlReader
from fabtel.config.secrets import SecretRef, read_secret


INFLUX_APIS = ("v1", "v2")


@dataclass(frozen=True)
class InfluxConfig:
    url: str = "http://127.0.0.1:8086"
    api: str = "v1"
    database: str = "fabtel"
    org: str | None = None
    bucket: str | None = None
    token: SecretRef | None = None
    batch_size: int = 5000
    flush_interval_ms: int = 1000
    wait_ms: int = 60000                    # how long the sink waits for InfluxDB at start


def read_influx(r: YamlReader, node) -> InfluxConfig:
    if node is None:
        return InfluxConfig()
    keys = {"url", "api", "database", "org", "bucket", "token_env", "token_file", "batch_size", "flush_interval_ms",
            "wait_ms"}
    f = r.mapping(node, "influxdb", keys) or {}
    values: dict[str, Any] = {}
    for key in ("url", "database", "org", "bucket"):
        if key in f:
            values[key] = r.string(f[key], f"influxdb.{key}")
    if "api" in f:
        values["api"] = r.choice(f["api"], "influxdb.api", INFLUX_APIS)
    for key in ("batch_size", "flush_interval_ms", "wait_ms"):
        if key in f:
            values[key] = r.integer(f[key], f"influxdb.{key}", minimum=1)
    values["token"] = read_secret(r, f, "influxdb", "token")
    cfg = InfluxConfig(**{k: v for k, v in values.items() if v is not None})
    if cfg.api == "v2" and not (cfg.org and cfg.bucket):
        r.problem("influxdb", node, "api v2 needs org and bucket")
    return cfg
