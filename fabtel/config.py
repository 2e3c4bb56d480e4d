"""The fabric configuration: one YAML file, loaded into frozen dataclasses.

Loading validates everything and collects every problem (with its key path and
line) before failing, so that a network engineer fixes a file in one pass.
Unknown keys are errors: a typo must not pass silently.

May import: the standard library and pyyaml only. Everything else imports this.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

TOPIC_KEYS = (
    "interface_state", "interface_counters", "lag_member", "bgp_session",
    "sflow_samples", "lag_balance", "uplink_health", "decisions", "commands",
    "command_results", "dead_letters", "pipeline_stats", "bmp_messages", "convergence", "routing_events",
    "targets", "flows", "flow_reports",
)
ROLES = ("leaf", "spine", "border")
PLATFORMS = ("srlinux", "openconfig")
INFLUX_APIS = ("v1", "v2")
REMEDIATION_MODES = ("propose", "enforce")


class ConfigError(Exception):
    """The configuration is invalid; `problems` lists every one found."""

    def __init__(self, problems: list[str], source: str = "configuration"):
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: " + "; ".join(problems))


# ---------------------------------------------------------------- records

class SecretError(Exception):
    """A credential named by the configuration cannot be read."""


@dataclass(frozen=True)
class SecretRef:
    """Where a credential lives: an environment variable or a file."""
    env: str | None = None
    file: str | None = None

    def resolve(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"environment variable {self.env} is not set")
            return value
        try:
            return Path(self.file).read_text().strip()
        except OSError as exc:
            raise SecretError(f"cannot read secret file {self.file}: {exc.strerror}") from None

    def __str__(self) -> str:
        return f"${self.env}" if self.env else f"file:{self.file}"


def resolve_secret(ref: "SecretRef | None") -> str | None:
    return ref.resolve() if ref is not None else None


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


@dataclass(frozen=True)
class GnmiTarget:
    address: str
    username: SecretRef | str | None = None
    password: SecretRef | None = None
    insecure: bool = False             # plaintext only when the configuration says so
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    skip_verify: bool = False
    target: str | None = None          # the gNMI prefix target, for devices that require one


@dataclass(frozen=True)
class Lag:
    name: str
    members: tuple[str, ...]
    esi: str | None = None


@dataclass(frozen=True)
class Device:
    name: str
    role: str
    platform: str = "srlinux"
    gnmi: GnmiTarget | None = None
    sflow_agent: str | None = None
    uplinks: tuple[str, ...] = ()
    access: tuple[str, ...] = ()
    lags: tuple[Lag, ...] = ()
    ifindex: dict[str, int] = field(default_factory=dict)
    fabric_ports: tuple[str, ...] = ()
    sflow_lacp_bit_order: str | None = None       # auto, ieee8021ax or mib-bits (default: sflow.lacp_bit_order)
    router_id: str | None = None                  # its BGP identifier: names it in BMP (the EVPN wait)

    @property
    def interfaces(self) -> tuple[str, ...]:
        """Every interface the configuration names on this device."""
        names: list[str] = list(self.uplinks) + list(self.access) + list(self.fabric_ports)
        for lag in self.lags:
            names.append(lag.name)
            names.extend(lag.members)
        return tuple(dict.fromkeys(names))

    def lag_of(self, member: str) -> Lag | None:
        return next((lag for lag in self.lags if member in lag.members), None)

    def esi_of(self, interface: str) -> str | None:
        """The ethernet segment of a LAG or of one of its members."""
        lag = self.lag_of(interface) or next((lg for lg in self.lags if lg.name == interface), None)
        return lag.esi if lag else None

    def index_of(self, interface: str) -> int:
        return self.ifindex.get(interface) or default_ifindex(interface)


@dataclass(frozen=True)
class Client:
    name: str
    interfaces: tuple[str, ...]
    bond: tuple[str, ...] = ()
    system_id: str | None = None


@dataclass(frozen=True)
class Link:
    a: tuple[str, str]
    b: tuple[str, str]
    speed_bps: int = 10_000_000_000


@dataclass(frozen=True)
class Fabric:
    devices: tuple[Device, ...]
    clients: tuple[Client, ...] = ()
    links: tuple[Link, ...] = ()

    def device(self, name: str) -> Device:
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise KeyError(name)

    def device_by_agent(self) -> dict[str, str]:
        return {d.sflow_agent: d.name for d in self.devices if d.sflow_agent}

    def es_members(self, esi: str) -> list[tuple[str, str]]:
        """(device, lag) pairs that belong to one ethernet segment."""
        return [(d.name, lag.name) for d in self.devices for lag in d.lags if lag.esi == esi]


@dataclass(frozen=True)
class OperGroup:
    name: str
    device: str
    watch: tuple[str, ...]
    down_links: tuple[str, ...]
    required_up_uplinks: int = 1
    hold_down_ms: int = 0
    hold_up_ms: int = 5000
    require_bgp: bool = True
    wait_for_evpn: bool = False    # re-enable only once the segments' EVPN type-1/4 routes are back at the spines (BMP)


@dataclass(frozen=True)
class Thresholds:
    lag_imbalance: float = 1.5
    lag_imbalance_windows: int = 3
    utilisation: float = 0.8
    window_ms: int = 5000
    stale_after_ms: int = 10000
    elephant_share: float = 0.05          # a flow above this share of a member's speed ...
    elephant_windows: int = 2             # ... for this many windows is an elephant
    blackholing_min_samples: int = 3      # discard samples in a window before "blackholing" is reported


@dataclass(frozen=True)
class Safety:
    act_on_unknown: bool = False
    protect_last_es_member: bool = True
    max_decisions_per_minute: int = 6


@dataclass(frozen=True)
class GnmiSettings:
    sample_interval_ms: int = 1000
    queue_limit: int = 10000
    reconnect_min_ms: int = 200
    reconnect_max_ms: int = 10000


LACP_BIT_ORDERS = ("auto", "ieee8021ax", "mib-bits")
FLOW_SAMPLE_MODES = ("both", "raw", "aggregate")


@dataclass(frozen=True)
class SflowCollector:
    listen: str = "127.0.0.1:6343"
    queue_limit: int = 10000
    lacp_bit_order: str = "auto"       # how agents write LAG port states: detected per agent unless fixed here
    flow_samples: str = "both"         # raw (each sample to Kafka), aggregate (flow windows only) or both
    flow_window_ms: int = 5000         # flow estimates per interface over this window
    flow_table_size: int = 256         # heavy-hitter table per interface and window (memory bound)
    top_flows: int = 10                # flows reported per window


@dataclass(frozen=True)
class BmpCollector:
    listen: str = "127.0.0.1:11019"
    max_message_bytes: int = 1 << 20


@dataclass(frozen=True)
class Convergence:
    quiet_ms: int = 3000           # an event ends when no routing message came for this long
    max_event_ms: int = 120000     # ... or after this long in any case
    topology: str | None = None    # links file for the metrics (default: fabric.links)
    families: tuple[str, ...] = ()  # count only UPDATEs with routes of these families (default: every UPDATE)


@dataclass(frozen=True)
class Remediation:
    mode: str = "propose"
    max_command_age_ms: int = 30000
    retries: int = 3


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


def default_ifindex(interface: str) -> int:
    """A stable ifIndex for an SR Linux name when the config gives none.

    ethernet-S/P -> S*1000+P, lagN -> 100000+N, mgmtN -> 900000+N;
    anything else gets a CRC so that it is still stable across processes.
    """
    m = re.fullmatch(r"ethernet-(\d+)/(\d+)", interface)
    if m:
        return int(m.group(1)) * 1000 + int(m.group(2))
    m = re.fullmatch(r"(lag|mgmt)(\d+)", interface)
    if m:
        return (100000 if m.group(1) == "lag" else 900000) + int(m.group(2))
    import zlib
    return 200000 + zlib.crc32(interface.encode()) % 700000


# ---------------------------------------------------------------- reading

def host_port_ok(text: str) -> bool:
    m = re.fullmatch(r"(.+):(\d{1,5})", text)
    return bool(m) and 1 <= int(m.group(2)) <= 65535


def child(node: yaml.Node | None, *keys: str) -> yaml.Node | None:
    """The node under `keys` of a mapping node, for a line to point at (None when absent)."""
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    return node


class YamlReader:
    """Walks the composed YAML node tree, turning nodes into values and
    collecting problems with their key path and line."""

    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.problems: list[str] = []

    def problem(self, path: str, node: yaml.Node | None, message: str) -> None:
        where = f" (line {node.start_mark.line + 1})" if node is not None else ""
        self.problems.append(f"{path or '<top>'}{where}: {message}")

    def mapping(self, node: yaml.Node, path: str, allowed: set[str],
                required: set[str] = frozenset()) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(path, node, "expected a mapping")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(self.loader.construct_object(key_node))
            sub = f"{path}.{key}" if path else key
            if key not in allowed:
                hint = _close_match(key, allowed)
                self.problem(sub, key_node, "unknown key" + (f" (did you mean '{hint}'?)" if hint else ""))
                continue
            if key in out:
                self.problem(sub, key_node, "duplicate key")
            out[key] = value_node
        for key in sorted(required - set(out)):
            self.problem(f"{path}.{key}" if path else key, node, "missing required key")
        return out

    def seq(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(path, node, "expected a list")
            return []
        return list(node.value)

    def scalar(self, node: yaml.Node, path: str, kind: type | tuple, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(path, node, f"expected {what}")
            return None
        value = self.loader.construct_object(node)
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.problem(path, node, f"expected {what}, got a boolean")
            return None
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            self.problem(path, node, f"expected {what}, got {type(value).__name__} {value!r}")
            return None
        return value

    def string(self, node, path):
        return self.scalar(node, path, str, "a string")

    def integer(self, node, path, minimum: int | None = 0):
        value = self.scalar(node, path, int, "an integer")
        if value is not None and minimum is not None and value < minimum:
            self.problem(path, node, f"must be >= {minimum}, got {value}")
            return None
        return value

    def number(self, node, path):
        value = self.scalar(node, path, float, "a number")
        if value is not None and value < 0:
            self.problem(path, node, f"must be >= 0, got {value}")
            return None
        return value

    def fraction(self, node, path):
        """A share of something, as a number above 0 and at most 1 (0.8, not 80)."""
        return self._number_where(node, path, lambda v: 0 < v <= 1, "a fraction is above 0 and at most 1 (0.8 for 80 %)")

    def ratio(self, node, path):
        """A factor over a mean or a baseline: 1 or more."""
        return self._number_where(node, path, lambda v: v >= 1, "a ratio over the mean is 1 or more")

    def _number_where(self, node, path, ok, rule: str):
        value = self.scalar(node, path, float, "a number")
        if value is not None and not ok(value):
            self.problem(path, node, f"{rule}, got {value:g}")
            return None
        return value

    def positive(self, node, path):
        """A count or a time that must not be zero (a window, a timer, a queue)."""
        return self.integer(node, path, minimum=1)

    def endpoint(self, node, path):
        """HOST:PORT with a port from 1 to 65535."""
        value = self.string(node, path)
        if value is not None and not host_port_ok(value):
            self.problem(path, node, f"expected HOST:PORT with a port from 1 to 65535, got {value!r}")
            return None
        return value

    def boolean(self, node, path):
        return self.scalar(node, path, bool, "true or false")

    def choice(self, node, path, options):
        value = self.string(node, path)
        if value is not None and value not in options:
            self.problem(path, node, f"must be one of {', '.join(options)}, got {value!r}")
            return None
        return value

    def strings(self, node, path) -> tuple[str, ...]:
        return tuple(v for i, n in enumerate(self.seq(node, path))
                     if (v := self.string(n, f"{path}[{i}]")) is not None)

    def section(self, node: yaml.Node | None, path: str, cls: type,
                readers: dict[str, Callable[[yaml.Node, str], Any]]):
        """A flat section whose keys map one to one onto a dataclass's fields."""
        if node is None:
            return cls()
        fields = self.mapping(node, path, set(readers)) or {}
        values = {}
        for key, sub in fields.items():
            value = readers[key](sub, f"{path}.{key}")
            if value is not None:
                values[key] = value
        return cls(**values)


# BMP's address family names (connectors/bmp/nlri.py FAMILIES), or afiN-safiM for any other
FAMILY_NAME = re.compile(r"^(ipv[46]-(unicast|multicast|labeled-unicast)|vpnv[46]|evpn|afi\d+-safi\d+)$")


def _families(r: "YamlReader"):
    def read(node, path):
        names = r.strings(node, path)
        for name in names:
            if not FAMILY_NAME.match(name):
                r.problem(path, node, f"{name!r} is not an address family (ipv4-unicast, ipv6-unicast, evpn, vpnv4, "
                                      "vpnv6, ipv4-labeled-unicast, ..., or afiN-safiM)")
        return names
    return read


def _close_match(key: str, allowed: set[str]) -> str | None:
    import difflib
    match = difflib.get_close_matches(key, sorted(allowed), n=1)
    return match[0] if match else None


def _secret(r: YamlReader, fields: dict[str, yaml.Node], path: str, name: str) -> "SecretRef | None":
    """A credential named by `NAME_env` (an environment variable) or `NAME_file`.

    Only the reference is kept; the value is read when it is used, so that
    `config check` works on a machine without the secrets and the value never
    sits in a config object that might be printed."""
    env = r.string(fields[f"{name}_env"], f"{path}.{name}_env") if f"{name}_env" in fields else None
    file = r.string(fields[f"{name}_file"], f"{path}.{name}_file") if f"{name}_file" in fields else None
    if env and file:
        r.problem(f"{path}.{name}_env", fields[f"{name}_env"], f"give {name}_env or {name}_file, not both")
    return SecretRef(env=env, file=file) if (env or file) else None


def _read_kafka(r: YamlReader, node) -> KafkaConfig:
    topics = {key: f"fabtel.{key.replace('_', '-')}" for key in TOPIC_KEYS}
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
        values["security"] = _read_kafka_security(r, f["security"])
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


def _read_kafka_security(r: YamlReader, node) -> KafkaSecurity | None:
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
    values["username"] = r.string(f["username"], f"{path}.username") if "username" in f else _secret(r, f, path, "username")
    values["password"] = _secret(r, f, path, "password")
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


def _read_influx(r: YamlReader, node) -> InfluxConfig:
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
    values["token"] = _secret(r, f, "influxdb", "token")
    cfg = InfluxConfig(**{k: v for k, v in values.items() if v is not None})
    if cfg.api == "v2" and not (cfg.org and cfg.bucket):
        r.problem("influxdb", node, "api v2 needs org and bucket")
    return cfg


def _read_gnmi_target(r: YamlReader, node, path: str) -> GnmiTarget | None:
    keys = {"address", "username", "username_env", "username_file", "password_env", "password_file",
            "insecure", "tls_ca", "tls_cert", "tls_key", "skip_verify", "target"}
    f = r.mapping(node, path, keys, {"address"})
    if f is None:
        return None
    address = r.string(f["address"], f"{path}.address") if "address" in f else None
    if address is not None and not host_port_ok(address):
        r.problem(f"{path}.address", f["address"], f"expected HOST:PORT with a port from 1 to 65535, got {address!r}")
    username = r.string(f["username"], f"{path}.username") if "username" in f else _secret(r, f, path, "username")
    values = {k: r.string(f[k], f"{path}.{k}") for k in ("tls_ca", "tls_cert", "tls_key", "target") if k in f}
    for k in ("insecure", "skip_verify"):
        if k in f:
            values[k] = r.boolean(f[k], f"{path}.{k}")
    if not {"insecure", "tls_ca", "tls_cert", "skip_verify"} & set(f):
        # Secure by default: plaintext gNMI sends the password in clear, so it must be asked for.
        r.problem(path, node, "no TLS settings: give tls_ca (or skip_verify: true) to use TLS, or insecure: true "
                              "to send the credentials in clear")
    return GnmiTarget(address=address or "", username=username, password=_secret(r, f, path, "password"),
                      **{k: v for k, v in values.items() if v is not None})


def _read_device(r: YamlReader, node, path: str) -> Device | None:
    keys = {"name", "role", "platform", "gnmi", "sflow_agent", "uplinks", "access", "fabric_ports", "lags", "ifindex",
            "sflow_lacp_bit_order", "router_id"}
    f = r.mapping(node, path, keys, {"name", "role"})
    if f is None:
        return None
    name = r.string(f["name"], f"{path}.name") if "name" in f else None
    role = r.choice(f["role"], f"{path}.role", ROLES) if "role" in f else None
    platform = r.choice(f["platform"], f"{path}.platform", PLATFORMS) if "platform" in f else "srlinux"
    gnmi = _read_gnmi_target(r, f["gnmi"], f"{path}.gnmi") if "gnmi" in f else None
    agent = r.string(f["sflow_agent"], f"{path}.sflow_agent") if "sflow_agent" in f else None
    lacp_order = (r.choice(f["sflow_lacp_bit_order"], f"{path}.sflow_lacp_bit_order", LACP_BIT_ORDERS)
                  if "sflow_lacp_bit_order" in f else None)
    router_id = r.string(f["router_id"], f"{path}.router_id") if "router_id" in f else None
    import ipaddress
    if agent is not None:
        try:
            ipaddress.ip_address(agent)
        except ValueError:
            r.problem(f"{path}.sflow_agent", f["sflow_agent"], f"not an IP address: {agent!r}")
    if router_id is not None:
        try:
            ipaddress.IPv4Address(router_id)
        except ValueError:
            r.problem(f"{path}.router_id", f["router_id"], f"a BGP identifier is a dotted quad, got {router_id!r}")
    uplinks = r.strings(f["uplinks"], f"{path}.uplinks") if "uplinks" in f else ()
    access = r.strings(f["access"], f"{path}.access") if "access" in f else ()
    fabric_ports = r.strings(f["fabric_ports"], f"{path}.fabric_ports") if "fabric_ports" in f else ()
    lags = []
    for i, lnode in enumerate(r.seq(f["lags"], f"{path}.lags") if "lags" in f else []):
        lpath = f"{path}.lags[{i}]"
        lf = r.mapping(lnode, lpath, {"name", "members", "esi"}, {"name", "members"})
        if lf is None or "name" not in lf or "members" not in lf:
            continue
        esi = r.string(lf["esi"], f"{lpath}.esi") if "esi" in lf else None
        if esi is not None and not re.fullmatch(r"([0-9A-Fa-f]{2}:){9}[0-9A-Fa-f]{2}", esi):
            r.problem(f"{lpath}.esi", lf["esi"], f"an ESI is 10 bytes as xx:xx:..., got {esi!r}")
        lname = r.string(lf["name"], f"{lpath}.name")
        members = r.strings(lf["members"], f"{lpath}.members")
        if not members:
            r.problem(f"{lpath}.members", lf["members"], "a LAG needs at least one member")
        if lname:
            lags.append(Lag(lname, members, esi))
    ifindex: dict[str, int] = {}
    if "ifindex" in f and isinstance(f["ifindex"], yaml.MappingNode):
        for knode, vnode in f["ifindex"].value:
            key = str(r.loader.construct_object(knode))
            value = r.integer(vnode, f"{path}.ifindex.{key}", minimum=1)
            if value is not None:
                ifindex[key] = value
    elif "ifindex" in f:
        r.problem(f"{path}.ifindex", f["ifindex"], "expected a mapping of interface name to ifIndex")
    if not (name and role):
        return None
    return Device(name=name, role=role, platform=platform or "srlinux", gnmi=gnmi, sflow_agent=agent,
                  uplinks=uplinks, access=access, lags=tuple(lags), ifindex=ifindex,
                  fabric_ports=fabric_ports, sflow_lacp_bit_order=lacp_order, router_id=router_id)


def _endpoint(r: YamlReader, node, path: str) -> tuple[str, str] | None:
    text = r.string(node, path)
    if text is None:
        return None
    if ":" not in text:
        r.problem(path, node, f"expected DEVICE:INTERFACE, got {text!r}")
        return None
    dev, _, intf = text.partition(":")
    return dev, intf


def _read_fabric(r: YamlReader, node) -> tuple[Fabric, dict]:
    f = r.mapping(node, "fabric", {"devices", "clients", "links"}, {"devices"}) or {}
    devices, dev_nodes, broken = [], {}, set()
    for i, dnode in enumerate(r.seq(f["devices"], "fabric.devices") if "devices" in f else []):
        dev = _read_device(r, dnode, f"fabric.devices[{i}]")
        name_node = child(dnode, "name")
        if dev is None and isinstance(name_node, yaml.ScalarNode):
            broken.add(str(name_node.value))    # reported already: references to it are not problems of their own
        if dev is not None:
            if dev.name in dev_nodes:
                r.problem(f"fabric.devices[{i}].name", dnode, f"device {dev.name!r} is defined twice")
            devices.append(dev)
            dev_nodes[dev.name] = (f"fabric.devices[{i}]", dnode)
    clients = []
    for i, cnode in enumerate(r.seq(f["clients"], "fabric.clients") if "clients" in f else []):
        path = f"fabric.clients[{i}]"
        cf = r.mapping(cnode, path, {"name", "interfaces", "bond", "system_id"}, {"name", "interfaces"})
        if cf is None or "name" not in cf or "interfaces" not in cf:
            continue
        interfaces = r.strings(cf["interfaces"], f"{path}.interfaces")
        bond = r.strings(cf["bond"], f"{path}.bond") if "bond" in cf else ()
        for m in bond:
            if m not in interfaces:
                r.problem(f"{path}.bond", cf["bond"], f"bond member {m!r} is not one of the client's interfaces")
        sysid = r.string(cf["system_id"], f"{path}.system_id") if "system_id" in cf else None
        name = r.string(cf["name"], f"{path}.name")
        if name:
            clients.append(Client(name, interfaces, bond, sysid))
    links, link_nodes = [], []
    for i, lnode in enumerate(r.seq(f["links"], "fabric.links") if "links" in f else []):
        path = f"fabric.links[{i}]"
        lf = r.mapping(lnode, path, {"a", "b", "speed_bps"}, {"a", "b"})
        if lf is None or "a" not in lf or "b" not in lf:
            continue
        a, b = _endpoint(r, lf["a"], f"{path}.a"), _endpoint(r, lf["b"], f"{path}.b")
        speed = r.integer(lf["speed_bps"], f"{path}.speed_bps", minimum=1) if "speed_bps" in lf else None
        if a and b:
            links.append(Link(a, b, speed or Link.speed_bps))
            link_nodes.append((path, lf["a"], lf["b"]))
    fabric = Fabric(tuple(devices), tuple(clients), tuple(links))
    _check_links(r, fabric, link_nodes, broken)
    return fabric, dev_nodes, broken


def _check_links(r: YamlReader, fabric: Fabric, link_nodes: list, broken: set[str]) -> None:
    """Each end names a known device's or client's interface, cabled once; the
    problem points at that end's line."""
    known: dict[str, set[str]] = {d.name: set(d.interfaces) for d in fabric.devices}
    known.update({c.name: set(c.interfaces) for c in fabric.clients})
    used: set[tuple[str, str]] = set()
    for link, (path, a_node, b_node) in zip(fabric.links, link_nodes):
        for end, side, node in ((link.a, "a", a_node), (link.b, "b", b_node)):
            dev, intf = end
            if dev in broken:
                continue
            if dev not in known:
                r.problem(f"{path}.{side}", node, f"unknown device or client {dev!r}")
            elif intf not in known[dev]:
                r.problem(f"{path}.{side}", node, f"{dev} has no interface {intf!r} (list it under uplinks, access or lags)")
            if end in used:
                r.problem(f"{path}.{side}", node, f"{dev}:{intf} is cabled twice")
            used.add(end)


HOLD_TIMER_MAX_MS = {"hold_down_ms": 600_000, "hold_up_ms": 3_600_000}


def _read_oper_groups(r: YamlReader, node, fabric: Fabric, broken: set[str] = frozenset()) -> tuple[OperGroup, ...]:
    groups = []
    names = set()
    for i, gnode in enumerate(r.seq(node, "oper_groups") if node is not None else []):
        path = f"oper_groups[{i}]"
        keys = {"name", "device", "watch", "down_links", "required_up_uplinks", "hold_down_ms", "hold_up_ms", "require_bgp",
                "wait_for_evpn"}
        gf = r.mapping(gnode, path, keys, {"name", "device", "watch", "down_links"})
        if gf is None or not {"name", "device", "watch", "down_links"} <= set(gf):
            continue
        name = r.string(gf["name"], f"{path}.name")
        device = r.string(gf["device"], f"{path}.device")
        watch = r.strings(gf["watch"], f"{path}.watch")
        down = r.strings(gf["down_links"], f"{path}.down_links")
        opts = {}
        for key in ("required_up_uplinks", "hold_down_ms", "hold_up_ms"):
            if key in gf:
                opts[key] = r.integer(gf[key], f"{path}.{key}", minimum=0 if key != "required_up_uplinks" else 1)
        for key, most in HOLD_TIMER_MAX_MS.items():        # seconds typed where milliseconds are meant
            if (opts.get(key) or 0) > most:
                r.problem(f"{path}.{key}", gf[key], f"a hold timer is in milliseconds, at most {most} "
                                                    f"({most // 60_000} min), got {opts[key]}")
        for key in ("require_bgp", "wait_for_evpn"):
            if key in gf:
                opts[key] = r.boolean(gf[key], f"{path}.{key}")
        if name in names:
            r.problem(f"{path}.name", gf["name"], f"oper-group {name!r} is defined twice")
        names.add(name)
        try:
            dev = fabric.device(device) if device else None
        except KeyError:
            if device not in broken:
                r.problem(f"{path}.device", gf["device"], f"no device named {device!r} in fabric.devices")
            dev = None
        if dev is not None:
            for j, up in enumerate(watch):
                if up not in dev.uplinks:
                    r.problem(f"{path}.watch[{j}]", gf["watch"], f"{up!r} is not an uplink of {device} (its uplinks: {', '.join(dev.uplinks) or 'none'})")
            for j, link in enumerate(down):
                if link not in dev.interfaces:
                    r.problem(f"{path}.down_links[{j}]", gf["down_links"], f"{link!r} is not an interface of {device}")
            if opts.get("wait_for_evpn"):
                if not dev.router_id:
                    r.problem(f"{path}.wait_for_evpn", gf["wait_for_evpn"],
                              f"waiting for EVPN needs {device}'s router_id (its BGP identifier, as BMP names it)")
                if not any(dev.esi_of(link) for link in down):
                    r.problem(f"{path}.wait_for_evpn", gf["wait_for_evpn"],
                              f"no down-link of {name} is in an ethernet segment (a LAG with an esi)")
        req = opts.get("required_up_uplinks") or 1
        if watch and req > len(watch):
            r.problem(f"{path}.required_up_uplinks", gf.get("required_up_uplinks", gnode),
                      f"requires {req} uplinks up but watches only {len(watch)}")
        if name and device and watch and down:
            groups.append(OperGroup(name, device, watch, down, **{k: v for k, v in opts.items() if v is not None}))
    return tuple(groups)


def compose(text: str, source: str) -> tuple[yaml.SafeLoader, yaml.Node]:
    """The YAML node tree of `text` (for a YamlReader); ConfigError when the
    text is empty or not YAML. The caller disposes of the loader."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        loader.dispose()
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"], source) from None
    if root is None:
        loader.dispose()
        raise ConfigError(["the file is empty"], source)
    return loader, root


def parse_config(text: str, source: str = "configuration") -> Config:
    """Parse and validate YAML text; raise ConfigError listing every problem."""
    loader, root = compose(text, source)
    try:
        r = YamlReader(loader)
        top = r.mapping(root, "", {"kafka", "influxdb", "fabric", "oper_groups", "thresholds", "safety",
                                   "gnmi", "sflow", "remediation", "bmp", "convergence"}, {"fabric"})
        if top is None:
            raise ConfigError(r.problems, source)
        kafka = _read_kafka(r, top.get("kafka"))
        influx = _read_influx(r, top.get("influxdb"))
        fabric, dev_nodes, broken = _read_fabric(r, top["fabric"]) if "fabric" in top else (Fabric(()), {}, set())
        groups = _read_oper_groups(r, top.get("oper_groups"), fabric, broken)
        thresholds = r.section(top.get("thresholds"), "thresholds", Thresholds, {
            "lag_imbalance": r.ratio, "lag_imbalance_windows": r.positive, "utilisation": r.fraction,
            "window_ms": r.positive, "stale_after_ms": r.positive, "elephant_share": r.fraction,
            "elephant_windows": r.positive, "blackholing_min_samples": r.positive})
        safety = r.section(top.get("safety"), "safety", Safety, {
            "act_on_unknown": r.boolean, "protect_last_es_member": r.boolean,
            "max_decisions_per_minute": r.integer})
        gnmi = r.section(top.get("gnmi"), "gnmi", GnmiSettings, {
            "sample_interval_ms": r.positive, "queue_limit": r.positive,
            "reconnect_min_ms": r.positive, "reconnect_max_ms": r.positive})
        if gnmi.reconnect_max_ms < gnmi.reconnect_min_ms:
            r.problem("gnmi.reconnect_max_ms", child(top.get("gnmi"), "reconnect_max_ms") or top.get("gnmi"),
                      f"below reconnect_min_ms ({gnmi.reconnect_max_ms} < {gnmi.reconnect_min_ms})")
        sflow = r.section(top.get("sflow"), "sflow", SflowCollector, {
            "listen": r.endpoint, "queue_limit": r.positive,
            "lacp_bit_order": lambda n, p: r.choice(n, p, LACP_BIT_ORDERS),
            "flow_samples": lambda n, p: r.choice(n, p, FLOW_SAMPLE_MODES), "flow_window_ms": r.positive,
            "flow_table_size": r.positive, "top_flows": r.positive})
        remediation = r.section(top.get("remediation"), "remediation", Remediation, {
            "mode": lambda n, p: r.choice(n, p, REMEDIATION_MODES),
            "max_command_age_ms": r.positive, "retries": r.integer})
        bmp = r.section(top.get("bmp"), "bmp", BmpCollector, {"listen": r.endpoint, "max_message_bytes": r.positive})
        convergence = r.section(top.get("convergence"), "convergence", Convergence, {
            "quiet_ms": r.positive, "max_event_ms": r.positive, "topology": r.string, "families": _families(r)})
        _check_devices(r, fabric, dev_nodes)
        if r.problems:
            raise ConfigError(r.problems, source)
        return Config(kafka, influx, fabric, groups, thresholds, safety, gnmi, sflow, remediation, bmp, convergence,
                      path=source)
    finally:
        loader.dispose()


def _check_devices(r: YamlReader, fabric: Fabric, dev_nodes: dict) -> None:
    """Addresses used twice and LAG members that are uplinks, at the line of the second use."""
    agents: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for d in fabric.devices:
        path, node = dev_nodes.get(d.name, (f"fabric.devices[{d.name}]", None))
        if d.sflow_agent:
            if d.sflow_agent in agents:
                r.problem(f"{path}.sflow_agent", child(node, "sflow_agent"),
                          f"agent address {d.sflow_agent} also used by {agents[d.sflow_agent]}")
            agents[d.sflow_agent] = d.name
        if d.gnmi:
            if d.gnmi.address in addresses:
                r.problem(f"{path}.gnmi.address", child(node, "gnmi", "address"),
                          f"gNMI address {d.gnmi.address} also used by {addresses[d.gnmi.address]}")
            addresses[d.gnmi.address] = d.name
        for i, lag in enumerate(d.lags):
            for m in lag.members:
                if m in d.uplinks:
                    lag_node = child(node, "lags")
                    r.problem(f"{path}.lags[{i}].members", lag_node.value[i] if isinstance(lag_node, yaml.SequenceNode)
                              and i < len(lag_node.value) else node, f"member {m!r} of {lag.name} is also an uplink")


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
    import dataclasses
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
