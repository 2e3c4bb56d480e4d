"""The independent Java readers of tests/java (Apache Kafka's client, Apache
Avro), built with Maven once per source change into ~/.cache/fabtel/java-tools
(never into the checkout), and run from there."""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

SOURCES = Path(__file__).parent / "java"


def _home() -> Path:
    digest = hashlib.sha256()
    for f in sorted(p for p in SOURCES.rglob("*") if p.is_file() and "target" not in p.parts):
        digest.update(f.relative_to(SOURCES).as_posix().encode() + f.read_bytes())
    base = Path(os.environ.get("FABTEL_CACHE") or Path.home() / ".cache" / "fabtel")
    return base / "java-tools" / digest.hexdigest()[:16]


def classpath() -> str:
    home = _home()
    classes, deps = home / "target" / "classes", home / "deps"
    if not (classes / "net" / "fabtel" / "tools" / "Reader.class").exists():
        out = subprocess.run(["mvn", "-q", "-B", "-f", str(SOURCES / "pom.xml"), f"-Dfabtel.build={home / 'target'}",
                              "compile", "dependency:copy-dependencies", f"-DoutputDirectory={deps}"],
                             capture_output=True, text=True, timeout=1200)
        if out.returncode != 0:
            raise RuntimeError(f"building tests/java failed: {(out.stdout + out.stderr)[-2000:]}")
    return f"{classes}:{deps}/*"


def run(main: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-cp", classpath(), f"net.fabtel.tools.{main}", *args],
                          capture_output=True, text=True, timeout=timeout)
