"""The `kafka` section: brokers, topics (their keys from fabtel.topics),
partitions and security.

May import: the standard library, fabtel.config.reader, fabtel.config.secrets, fabtel.topics.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fabtel.config.reader import YamlReader, host_port_ok
from fabtel.config.secrets import SecretRef, read_secret
from fabtel.topics import TOPIC_KEYS, default_topic_name


KAFKA_IMPLEMENTATIONS = ("apache", "tansu")

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of fabtel authenticates and encrypts."""
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    ca_file: str | None = None              # CA that signed the brokers' certificates
    cert_file: str | None = None            # client certificate and key: mutual TLS
    key_file: str | None = None
    username: "SecretRef | str | None" = None
    password: "SecretRef | None" = None

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def describe(self) -> str:
        """The listener kind and mechanism, for error messages (never a credential)."""
        return self.protocol + (f" with {self.sasl_mechanism}" if self.sasl else "")


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str = "127.0.0.1:9092"
    schema_registry_url: str | None = None
    partitions: int = 4
    replication: int = 1
    retention_ms: int = 7 * 24 * 3600 * 1000
    topics: dict[str, str] = field(default_factory=dict)
    session_timeout_ms: int = 6000
    security: KafkaSecurity = KafkaSecurity()
    broker_wait_ms: int = 60000             # how long a component waits for the broker at start
    implementation: str = "apache"          # apache (Apache Kafka, Strimzi) or tansu: its workarounds only for it
    targets_partitions: int = 60            # the inventory topic: a multiple of the gNMI collectors you run

    def topic(self, key: str) -> str:
        return self.topics[key]


def read_kafka(r: YamlReader, node) -> KafkaConfig:
    topics = {key: default_topic_name(key) for key in TOPIC_KEYS}
    if node is None:
        return KafkaConfig(topics=topics)
    f = r.mapping(node, "kafka", {"bootstrap_servers", "schema_registry_url", "partitions", "replication",
                                  "retention_ms", "topics", "session_timeout_ms", "security", "broker_wait_ms",
                                  "implementation", "targets_partitions"}) or {}
    values: dict[str, Any] = {}
    for key, reader in (("bootstrap_servers", r.string), ("schema_registry_url", r.string)):
        if key in f:
            values[key] = reader(f[key], f"kafka.{key}")
    for server in (values.get("bootstrap_servers") or "").split(","):
        if not host_port_ok(server.strip()):
            r.problem("kafka.bootstrap_servers", f["bootstrap_servers"],
                      f"expected HOST:PORT[,HOST:PORT...] with ports from 1 to 65535, got {server.strip()!r}")
            break
    for key in ("partitions", "replication", "retention_ms", "session_timeout_ms", "broker_wait_ms", "targets_partitions"):
        if key in f:
            values[key] = r.integer(f[key], f"kafka.{key}", minimum=1)
    if "security" in f:
        values["security"] = read_kafka_security(r, f["security"])
    if "implementation" in f:
        values["implementation"] = r.choice(f["implementation"], "kafka.implementation", KAFKA_IMPLEMENTATIONS)
    if "topics" in f:
        tf = r.mapping(f["topics"], "kafka.topics", set(TOPIC_KEYS)) or {}
        for key, sub in tf.items():
            name = r.string(sub, f"kafka.topics.{key}")
            if name is not None:
                if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name):
                    r.problem(f"kafka.topics.{key}", sub, f"not a valid Kafka topic name: {name!r}")
                topics[key] = name
    return KafkaConfig(**{k: v for k, v in values.items() if v is not None}, topics=topics)


def read_kafka_security(r: YamlReader, node) -> KafkaSecurity | None:
    path = "kafka.security"
    keys = {"protocol", "sasl_mechanism", "ca_file", "cert_file", "key_file", "username", "username_env",
            "username_file", "password_env", "password_file"}
    f = r.mapping(node, path, keys)
    if f is None:
        return None
    values: dict[str, Any] = {}
    if "protocol" in f:
        values["protocol"] = r.choice(f["protocol"], f"{path}.protocol", KAFKA_PROTOCOLS)
    if "sasl_mechanism" in f:
        values["sasl_mechanism"] = r.choice(f["sasl_mechanism"], f"{path}.sasl_mechanism", SASL_MECHANISMS)
    for key in ("ca_file", "cert_file", "key_file"):
        if key in f:
            values[key] = r.string(f[key], f"{path}.{key}")
    values["username"] = r.string(f["username"], f"{path}.username") if "username" in f else read_secret(r, f, path, "username")
    values["password"] = read_secret(r, f, path, "password")
    sec = KafkaSecurity(**{k: v for k, v in values.items() if v is not None})
    if sec.sasl and not (sec.sasl_mechanism and sec.username and sec.password):
        r.problem(path, node, f"{sec.protocol} needs sasl_mechanism, a username and password_env or password_file")
    if not sec.sasl and (sec.sasl_mechanism or sec.username or sec.password):
        r.problem(path, node, f"sasl_mechanism and credentials need protocol SASL_PLAINTEXT or SASL_SSL, not {sec.protocol}")
    if not sec.tls and (sec.ca_file or sec.cert_file or sec.key_file):
        r.problem(path, node, f"ca_file, cert_file and key_file need protocol SSL or SASL_SSL, not {sec.protocol}")
    if bool(sec.cert_file) != bool(sec.key_file):
        r.problem(path, node, "cert_file and key_file go together (mutual TLS)")
    return sec
