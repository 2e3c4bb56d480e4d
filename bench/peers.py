"""Independent peers that fabtel is checked and measured against, built from
pinned versions on the Go module proxy into fabtel's cache (never into the
checkout; nothing of theirs is committed): gnmic, goflow2, gobmp,
lemming (OpenConfig's reference device), InfluxDB 1.8 (the v2 write API) and
Alertmanager (notification routing). `./run setup` builds them once (python -m
fabtel.bench.peers); the tests and `fabtel bench ... --vs PEER` find them here.

Each is built as `go install MODULE@VERSION` would, from a throw-away module
that requires it: the proxy here serves the pinned versions but not the
version lists that `go install` also asks for, and a few modules need a
`replace` for a dependency the proxy only serves under its repository's
name. May import: the standard library.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Peer:
    name: str
    module: str
    version: str
    package: str
    replace: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


PEERS = {p.name: p for p in (
    Peer("gnmic", "github.com/openconfig/gnmic", "v0.37.0", "github.com/openconfig/gnmic",
         replace=("inet.af/netaddr => github.com/inetaf/netaddr v0.0.0-20230525184311-b8eac61e914a",)),
    Peer("goflow2", "github.com/netsampler/goflow2/v2", "v2.2.6", "github.com/netsampler/goflow2/v2/cmd/goflow2"),
    Peer("gobmp", "github.com/sbezverk/gobmp", "v1.1.0", "github.com/sbezverk/gobmp/cmd/gobmp"),
    # OpenConfig's reference device: its gNMI serves the OpenConfig schema (Set, Subscribe) over a dataplane.
    # Several of its pinned dependencies are not in the checksum database the proxy answers for.
    Peer("lemming", "github.com/openconfig/lemming", "v0.5.0", "github.com/openconfig/lemming/cmd/lemming",
         env={"GOSUMDB": "off"}),
    # InfluxDB 1.8, the oldest server with the v2 write API (/api/v2/write) production uses
    Peer("influxd", "github.com/influxdata/influxdb", "v1.8.10", "github.com/influxdata/influxdb/cmd/influxd",
         env={"GOSUMDB": "off"}),
    # Prometheus Alertmanager: the routing tree Grafana's notification policies are built on
    Peer("alertmanager", "github.com/prometheus/alertmanager", "v0.28.1",
         "github.com/prometheus/alertmanager/cmd/alertmanager"),
)}


class PeerError(Exception):
    """A peer could not be built; one line says why."""


def cache_dir() -> Path:
    return Path(os.environ.get("FABTEL_CACHE") or Path.home() / ".cache" / "fabtel") / "peers"


def path(name: str) -> Path:
    p = PEERS[name]
    return cache_dir() / f"{p.name}-{p.version}" / p.name


def ensure(name: str, progress=None) -> Path:
    """The peer's binary, built the first time (minutes for gnmic). While
    another process builds it (`./run tests` builds every peer in the
    background), this waits for that build instead of starting its own."""
    binary = path(name)
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.parent / ".build-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return binary if binary.exists() else _build(name, binary, progress)


def _build(name: str, binary: Path, progress) -> Path:
    p = PEERS[name]
    go = shutil.which("go")
    if not go:
        raise PeerError(f"{name}: Go is not installed (apt-get install golang, or the Go toolchain)")
    work = binary.parent / "src"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "go.mod").write_text(f"module fabtel.local/peers/{name}\n\ngo 1.22\n\n"
                                 + "".join(f"replace {r}\n" for r in p.replace))
    (work / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{p.package}"\n')
    env = {**os.environ, "GOFLAGS": "-mod=mod", **p.env}
    if progress:
        progress(f"building {name} {p.version} with Go into {binary.parent} (once)")
    t0 = time.monotonic()
    partial = binary.with_name(binary.name + ".partial")     # in place only once whole: others test exists()
    for argv in (["go", "get", f"{p.module}@{p.version}"], ["go", "build", "-o", str(partial), p.package]):
        out = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            tail = " | ".join(out.stderr.strip().splitlines()[-3:])
            raise PeerError(f"{name}: `{' '.join(argv)}` failed: {tail}")
    partial.replace(binary)
    if progress:
        progress(f"built {name} in {time.monotonic() - t0:.0f} s")
    return binary


def main() -> int:
    failed = False
    for name in (sys.argv[1:] or PEERS):
        try:
            print(ensure(name, progress=lambda m: print(f"peers: {m}", file=sys.stderr, flush=True)))
        except PeerError as exc:
            print(f"peers: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
