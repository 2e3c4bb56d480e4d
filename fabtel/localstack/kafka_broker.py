"""Apache Kafka for the local stack: the broker's jars fetched once from Maven
Central into fabtel's cache, each node's configuration, the formatting of its
log directory (with SCRAM users when a SASL listener is wanted), and the JVM
command that runs it in KRaft combined mode (broker and controller).

One node is a standalone controller quorum (`--standalone`); three nodes are
a static quorum of three voters, with replication 3 and min.insync.replicas 2
for everything. May import: the standard library, fabtel.localstack.ports.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fabtel.localstack.ports import answers, free_port

POM = Path(__file__).resolve().with_name("kafka-broker.pom.xml")
KAFKA_VERSION = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text()).group(1)
HEAP = "-Xmx768m"        # bounded: tests start brokers often on a 2-core machine


class BrokerError(Exception):
    """One line: why the broker cannot be fetched, formatted or started."""


def cache_dir() -> Path:
    return Path(os.environ.get("FABTEL_CACHE") or Path.home() / ".cache" / "fabtel")


def libs_dir() -> Path:
    return cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"


def require_java_and_maven(what: str, alternative: str = "") -> None:
    """BrokerError naming the missing tool and its Debian package."""
    for tool, package in (("java", "openjdk-17-jre-headless"), ("mvn", "maven")):
        if not shutil.which(tool):
            raise BrokerError(f"{tool} is not installed: {what} needs Java 17 and Maven to fetch it "
                              f"(apt-get install {package}){alternative}")


def ensure_jars(progress=None) -> Path:
    """The broker's jars, fetched with Maven the first time (about 45 MB)."""
    libs = libs_dir()
    if (libs / ".complete").exists():
        return libs
    require_java_and_maven("Apache Kafka", ", or use --broker tansu")
    if progress:
        progress(f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {libs.parent} (once)")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    out = subprocess.run(["mvn", "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
                          f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
        tail = " | ".join((out.stdout + out.stderr).strip().splitlines()[-3:])
        raise BrokerError(f"cannot fetch Apache Kafka {KAFKA_VERSION} with Maven (exit {out.returncode}): {tail}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    (libs / ".complete").write_text(KAFKA_VERSION + "\n")
    return libs


@dataclass
class SaslListener:
    """An extra SASL_SSL listener: the broker's certificate chain and key
    (PEM), and the SCRAM users created when the log directory is formatted."""
    port: int
    cert_file: str
    key_file: str
    users: dict[str, str] = field(default_factory=dict)
    mechanisms: tuple[str, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256")


@dataclass
class Node:
    node_id: int
    host: str
    port: int                  # PLAINTEXT, for clients
    controller_port: int
    data_dir: Path
    sasl: SaslListener | None = None

    @property
    def properties_file(self) -> Path:
        return self.data_dir.parent / f"kafka-{self.node_id}.properties"


def properties(node: Node, cluster: list[Node]) -> str:
    """The node's server.properties."""
    replicas = min(3, len(cluster))
    isr = 2 if replicas >= 3 else 1
    listeners = [f"PLAINTEXT://{node.host}:{node.port}", f"CONTROLLER://{node.host}:{node.controller_port}"]
    advertised = [f"PLAINTEXT://{node.host}:{node.port}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={node.data_dir}",
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={isr}",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={isr}",
        "group.initial.rebalance.delay.ms=0",
        # A restarted node serves no group until it has loaded __consumer_offsets, one partition after
        # another: 50 by default, a few seconds on a busy machine; a local stack needs few.
        "offsets.topic.num.partitions=4",
        "num.partitions=1",
        # A restarted node re-registers only once the controller expired its
        # old session (9 s by default): a local stack restarts faster with 3 s.
        "broker.session.timeout.ms=3000",
        "broker.heartbeat.interval.ms=1000",
        # KIP-848 groups: fabtel sets each group's session timeout (kafka.session_timeout_ms,
        # 6 s) and heartbeat; the broker's lower bounds (45 s and 5 s by default) would refuse them.
        "group.consumer.min.session.timeout.ms=1000",
        "group.consumer.min.heartbeat.interval.ms=100",
    ]
    if len(cluster) == 1:
        lines.append(f"controller.quorum.bootstrap.servers={node.host}:{node.controller_port}")
    else:
        lines.append("controller.quorum.voters=" + ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in cluster))
    if node.sasl:
        s = node.sasl
        listeners.append(f"SASL_SSL://{node.host}:{s.port}")
        advertised.append(f"SASL_SSL://{node.host}:{s.port}")
        protocols.append("SASL_SSL:SASL_SSL")
        pem = node.data_dir.parent / f"kafka-{node.node_id}-keystore.pem"
        pem.write_text(Path(s.key_file).read_text() + Path(s.cert_file).read_text())
        pem.chmod(0o600)
        lines += [f"sasl.enabled.mechanisms={','.join(s.mechanisms)}",
                  "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                  f"listener.name.sasl_ssl.ssl.keystore.location={pem}"]
        for mech in s.mechanisms:
            lines.append(f"listener.name.sasl_ssl.{mech.lower()}.sasl.jaas.config="
                         "org.apache.kafka.common.security.scram.ScramLoginModule required;")
    lines += ["listeners=" + ",".join(listeners), "advertised.listeners=" + ",".join(advertised),
              "listener.security.protocol.map=" + ",".join(protocols)]
    return "\n".join(lines) + "\n"


LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{ISO8601} %p %c{1}: %m%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = {level}
logger.state.name = state.change.logger
logger.state.level = warn
"""


def prepare(node: Node, cluster: list[Node], cluster_id: str, libs: Path) -> None:
    """Write the node's configuration and format its log directory once (a
    formatted directory keeps its topics and records across restarts)."""
    node.data_dir.mkdir(parents=True, exist_ok=True)
    node.properties_file.write_text(properties(node, cluster))
    log4j = node.data_dir.parent / "kafka-log4j2.properties"
    log4j.write_text(LOG4J.replace("{level}", "info"))
    if (node.data_dir / "meta.properties").exists():
        return
    argv = format_command(node, cluster, cluster_id, libs)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        tail = " | ".join((out.stdout + out.stderr).strip().splitlines()[-2:])
        raise BrokerError(f"cannot format {node.data_dir} for Kafka node {node.node_id}: {tail}")


def format_command(node: Node, cluster: list[Node], cluster_id: str, libs: Path) -> list[str]:
    """kafka-storage format for the node: a lone node as its own controller
    quorum; with SCRAM users when SASL is on."""
    argv = ["java", "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format", "-t", cluster_id,
            "-c", str(node.properties_file)]
    if len(cluster) == 1:
        # A lone replica's partitions keep it in their ISR while it is down, so
        # its return is a clean election; with eligible leader replicas (KIP-966)
        # it is an unclean one whose recovery holds the group coordinator for
        # seconds on a busy machine. ELR guards min.insync.replicas > 1 only.
        argv += ["--standalone", "--feature", "eligible.leader.replicas.version=0"]
    if node.sasl:
        for user, password in node.sasl.users.items():
            for mech in node.sasl.mechanisms:
                argv += ["--add-scram", f"{mech}=[name={user},password={password}]"]
    return argv


def command(node: Node, libs: Path) -> list[str]:
    log4j = node.data_dir.parent / "kafka-log4j2.properties"
    archive = class_archive()
    sharing = [f"-XX:SharedArchiveFile={archive}"] if archive and archive.exists() else []
    return ["java", "-Xms256m", HEAP, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", *sharing,
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*",
            "kafka.Kafka", str(node.properties_file)]


def class_archive() -> Path | None:
    """The broker's class-data-sharing archive (AppCDS), one per Kafka version
    and JVM binary: a node started with it loads its classes mapped instead of
    parsed, and needs about 40 % less CPU to answer (5.0-5.7 -> 3.0-3.4 CPU-s
    here). That matters when a broker restarts on a busy machine. The JVM
    checks the archive against its own build and the classpath and ignores it
    (with a warning in the node's log) when they differ."""
    java = shutil.which("java")
    if not java:
        return None
    real = Path(java).resolve()
    tag = hashlib.sha1(f"{real}:{real.stat().st_mtime_ns}".encode()).hexdigest()[:10]
    return cache_dir() / f"kafka-{KAFKA_VERSION}" / f"classes-{tag}.jsa"


def ensure_class_archive(libs: Path, progress=None, exercise=None) -> Path | None:
    """Build the class archive once: a throwaway node in a temporary
    directory is started with -XX:ArchiveClassesAtExit, given some work once
    it answers (`exercise(bootstrap)`: topics, records, a group, so that the
    classes a restarted node needs to lead its partitions are archived too),
    stopped with SIGTERM (the JVM writes the archive as it exits), and the
    archive renamed into the cache. Without it the broker runs as before, so
    a failure here is one line and not an error."""
    archive = class_archive()
    if archive is None or archive.exists():
        return archive
    if progress:
        progress(f"building the broker's class archive into {archive.parent} (once)")
    t0 = time.monotonic()
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="fabtel-kafka-cds-") as tmp:
        node = Node(1, "127.0.0.1", free_port(), free_port(), Path(tmp) / "data")
        try:
            prepare(node, [node], new_cluster_id(), libs)
        except BrokerError as exc:
            if progress:
                progress(f"class archive not built, the broker runs without it: {exc}")
            return None
        argv = command(node, libs)
        argv.insert(1, f"-XX:ArchiveClassesAtExit={partial}")
        with open(Path(tmp) / "node.log", "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline and not answers(node.host, node.port):
                time.sleep(0.2)
            if exercise and proc.poll() is None:
                try:
                    exercise(f"{node.host}:{node.port}")
                except Exception as exc:  # the archive is still worth having without it
                    if progress:
                        progress(f"class archive: the node's exercise failed ({exc}); archiving what it loaded")
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.returncode not in (0, 143, -signal.SIGTERM) or not partial.exists():
        partial.unlink(missing_ok=True)
        if progress:
            progress(f"class archive not built (the node exited {proc.returncode}); the broker runs without it")
        return None
    partial.rename(archive)
    if progress:
        progress(f"class archive built in {time.monotonic() - t0:.0f} s")
    return archive


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.
    Never one that starts with "-" (one in 64 would): kafka-storage would take
    it for an option, which is why Kafka's own Uuid.randomUuid() redraws too."""
    import base64
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def failure_reason(log_text: str) -> str:
    """The line of a broker's log that says why it stopped, if any."""
    for line in reversed(log_text.splitlines()):
        if re.search(r"\b(ERROR|FATAL)\b|Exception:|Error:", line):
            return line.strip()[:300]
    lines = log_text.strip().splitlines()
    return lines[-1][:300] if lines else "no output"
