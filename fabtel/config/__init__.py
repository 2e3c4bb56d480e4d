"""The fabric configuration: one YAML file, loaded into frozen dataclasses.

Loading validates everything and collects every problem (with its key path and
line) before failing, so that a network engineer fixes a file in one pass.
Unknown keys are errors: a typo must not pass silently. One module per
top-level section reads it with the shared reader (`reader`); this module
puts them together (`parse_config`, `load_config`) and applies the endpoints
a command line or the environment give (`with_endpoints`).

May import: the standard library, PyYAML, fabtel.topics and its own modules. Everything else imports this.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from fabtel.config import bmp, convergence, gnmi, remediation, safety, sflow, thresholds
from fabtel.config.bmp import BmpCollector
from fabtel.config.convergence import Convergence
from fabtel.config.devices import LACP_BIT_ORDERS, PLATFORMS, ROLES, Device, GnmiTarget, Lag
from fabtel.config.fabric import Client, Fabric, Link, check_devices, read_fabric
from fabtel.config.gnmi import GnmiSettings
from fabtel.config.influxdb import INFLUX_APIS, InfluxConfig, read_influx
from fabtel.config.kafka import (KAFKA_IMPLEMENTATIONS, KAFKA_PROTOCOLS, SASL_MECHANISMS, KafkaConfig,
                                 KafkaSecurity, read_kafka)
from fabtel.config.oper_groups import HOLD_TIMER_MAX_MS, OperGroup, read_oper_groups
from fabtel.config.reader import ConfigError, YamlReader, child, compose, host_port_ok
from fabtel.config.remediation import REMEDIATION_MODES, Remediation
from fabtel.config.safety import Safety
from fabtel.config.secrets import SecretError, SecretRef, resolve_secret
from fabtel.config.sflow import FLOW_SAMPLE_MODES, SflowCollector
from fabtel.config.thresholds import Thresholds
from fabtel.topics import TOPIC_KEYS

__all__ = [  # the configuration's API: its records, its choices and its readers
    "BmpCollector", "Client", "Config", "ConfigError", "Convergence", "Device", "Fabric", "FLOW_SAMPLE_MODES",
    "GnmiSettings", "GnmiTarget", "HOLD_TIMER_MAX_MS", "INFLUX_APIS", "InfluxConfig", "KAFKA_IMPLEMENTATIONS",
    "KAFKA_PROTOCOLS", "KafkaConfig", "KafkaSecurity", "LACP_BIT_ORDERS", "Lag", "Link", "OperGroup", "PLATFORMS",
    "REMEDIATION_MODES", "ROLES", "Remediation", "SASL_MECHANISMS", "Safety", "SecretError", "SecretRef",
    "SflowCollector", "TOPIC_KEYS", "Thresholds", "YamlReader", "child", "compose",
    "host_port_ok", "load_config", "parse_config", "resolve_secret", "with_endpoints"]
SECTIONS = ("kafka", "influxdb", "fabric", "oper_groups", "thresholds", "safety", "gnmi", "sflow", "remediation", "bmp",
            "convergence")


@dataclass(frozen=True)
class Config:
    kafka: KafkaConfig
    influxdb: InfluxConfig
    fabric: Fabric
    oper_groups: tuple[OperGroup, ...] = ()
    thresholds: Thresholds = Thresholds()
    safety: Safety = Safety()
    gnmi: GnmiSettings = GnmiSettings()
    sflow: SflowCollector = SflowCollector()
    remediation: Remediation = Remediation()
    bmp: BmpCollector = BmpCollector()
    convergence: Convergence = Convergence()
    path: str | None = None


def parse_config(text: str, source: str = "configuration") -> Config:
    """Parse and validate YAML text; raise ConfigError listing every problem."""
    loader, root = compose(text, source)
    try:
        r = YamlReader(loader)
        top = r.mapping(root, "", set(SECTIONS), {"fabric"})
        if top is None:
            raise ConfigError(r.problems, source)
        kafka = read_kafka(r, top.get("kafka"))
        influx = read_influx(r, top.get("influxdb"))
        fabric, dev_nodes, broken = read_fabric(r, top["fabric"]) if "fabric" in top else (Fabric(()), {}, set())
        groups = read_oper_groups(r, top.get("oper_groups"), fabric, broken)
        flat = [module.read(r, top.get(name)) for name, module in (
            ("thresholds", thresholds), ("safety", safety), ("gnmi", gnmi), ("sflow", sflow),
            ("remediation", remediation), ("bmp", bmp), ("convergence", convergence))]
        check_devices(r, fabric, dev_nodes)
        if r.problems:
            raise ConfigError(r.problems, source)
        return Config(kafka, influx, fabric, groups, *flat, path=source)
    finally:
        loader.dispose()


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a configuration file; raise ConfigError on any problem."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        hint = ("; point at a configuration with --config FILE or FABTEL_CONFIG"
                if isinstance(exc, FileNotFoundError) else "")
        raise ConfigError([f"cannot read the file: {getattr(exc, 'strerror', None) or exc}{hint}"], str(path)) from None
    return parse_config(text, str(path))


ENDPOINT_ENV = {"bootstrap_servers": "FABTEL_KAFKA_BOOTSTRAP", "influx_url": "FABTEL_INFLUX_URL",
                "schema_registry_url": "FABTEL_REGISTRY_URL", "implementation": "FABTEL_KAFKA_IMPLEMENTATION"}


def with_endpoints(cfg: Config, bootstrap_servers: str | None = None, influx_url: str | None = None,
                   schema_registry_url: str | None = None, environ=os.environ) -> Config:
    """The configuration with its endpoints overridden: a flag first, then
    FABTEL_KAFKA_BOOTSTRAP / FABTEL_INFLUX_URL / FABTEL_REGISTRY_URL and
    FABTEL_KAFKA_IMPLEMENTATION (what `fabtel stack up` prints), then the
    file's own value."""
    given = {"bootstrap_servers": bootstrap_servers, "influx_url": influx_url, "schema_registry_url": schema_registry_url,
             "implementation": None}
    pick = {k: v or environ.get(ENDPOINT_ENV[k]) or None for k, v in given.items()}
    kafka = cfg.kafka
    if pick["implementation"] in KAFKA_IMPLEMENTATIONS:
        kafka = dataclasses.replace(kafka, implementation=pick["implementation"])
    if pick["bootstrap_servers"]:
        kafka = dataclasses.replace(kafka, bootstrap_servers=pick["bootstrap_servers"])
    if pick["schema_registry_url"]:
        kafka = dataclasses.replace(kafka, schema_registry_url=pick["schema_registry_url"])
    influx = dataclasses.replace(cfg.influxdb, url=pick["influx_url"]) if pick["influx_url"] else cfg.influxdb
    return dataclasses.replace(cfg, kafka=kafka, influxdb=influx)
