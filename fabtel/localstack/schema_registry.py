"""Apicurio Registry for the local stack (`fabtel stack up --registry`): a
Confluent-compatible schema registry (its API under /apis/ccompat/v7), the
distribution fetched once from Maven Central into fabtel's cache (never into
the checkout) and run with Java 17, storage in memory. May import: the
standard library, fabtel.localstack.kafka_broker.
"""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from fabtel.localstack.kafka_broker import BrokerError, cache_dir, require_java_and_maven

APICURIO_VERSION = "2.6.13.Final"       # 3.x needs Java 21; this one runs on the stack's Java 17
ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all"
CCOMPAT = "/apis/ccompat/v7"
HEAP = "-Xmx384m"


def home() -> Path:
    return cache_dir() / f"apicurio-registry-{APICURIO_VERSION}"


def ensure(progress=None) -> Path:
    """The registry's runnable jar, fetched with Maven the first time (about 140 MB)."""
    target = home()
    jar = target / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
    if (target / ".complete").exists():
        return jar
    require_java_and_maven("the schema registry")
    if progress:
        progress(f"fetching Apicurio Registry {APICURIO_VERSION} from Maven Central into {target} (once)")
    download = target.with_name(target.name + ".download")
    shutil.rmtree(download, ignore_errors=True)
    out = subprocess.run(["mvn", "-B", "-q", "dependency:copy", f"-Dartifact={ARTIFACT}", f"-DoutputDirectory={download}"],
                         capture_output=True, text=True, timeout=1200, cwd=cache_dir())
    archives = list(download.glob("*.tar.gz"))
    if out.returncode != 0 or not archives:
        tail = " | ".join((out.stdout + out.stderr).strip().splitlines()[-3:])
        raise BrokerError(f"cannot fetch Apicurio Registry {APICURIO_VERSION} with Maven (exit {out.returncode}): {tail}")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archives[0]) as tar:
        tar.extractall(target, filter="data")
    shutil.rmtree(download, ignore_errors=True)
    (target / ".complete").write_text(APICURIO_VERSION + "\n")
    return jar


def command(jar: Path, host: str, port: int) -> list[str]:
    """The JVM command: HTTP on host:port only, in-memory storage, no telemetry."""
    return ["java", HEAP, "-XX:+UseSerialGC", f"-Dquarkus.http.host={host}", f"-Dquarkus.http.port={port}",
            "-jar", str(jar)]


def url(host: str, port: int) -> str:
    """The Confluent-compatible API, what kafka.schema_registry_url takes."""
    return f"http://{host}:{port}{CCOMPAT}"
