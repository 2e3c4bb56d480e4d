"""`fabtel bench decode`: `fabtel sflow decode` on a capture of 100,000
samples (half flow samples with a 128-byte header, half counter samples with
interface, Ethernet and LAG records: `bench sflow`'s load), to /dev/null,
wall time over three runs each; with `--sflowtool PATH` (sflowtool built
from github.com/sflow/sflowtool: no registry serves it), `sflowtool -r` on
the same capture, runs interleaved, and the ratio. Both print every sample.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fabtel.bench.common import BenchError, machine, progress
from fabtel.bench.sflow import SAMPLES_PER_DATAGRAM, _counter_datagrams, _flow_datagrams

SAMPLES = 100_000
RUNS = 3


def write_capture(path: Path, samples: int = SAMPLES) -> int:
    """The capture: flow and counter datagrams alternating. Returns the samples in it."""
    from fabtel.connectors.common.pcap import write_udp_pcap
    half = samples // SAMPLES_PER_DATAGRAM // 2
    mixed = [d for pair in zip(_flow_datagrams(half), _counter_datagrams(half)) for d in pair]
    with open(path, "wb") as f:
        write_udp_pcap(f, mixed)
    return len(mixed) * SAMPLES_PER_DATAGRAM


def _wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed: {out.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


def _printed(argv: list[str], marker: bytes | None) -> int:
    try:
        out = subprocess.run(argv, capture_output=True).stdout
    except OSError as exc:
        raise BenchError(f"cannot run {argv[0]}: {exc.strerror}") from None
    return out.count(b"\n") if marker is None else out.count(marker)


def run(config_path: str, seconds: float, sflowtool: str | None = None) -> dict:
    from fabtel import native
    with tempfile.TemporaryDirectory(prefix="fabtel-bench-decode-") as tmp:
        capture = Path(tmp) / "samples.pcap"
        samples = write_capture(capture)
        ours = [sys.executable, "-m", "fabtel", "sflow", "decode", str(capture)]
        theirs = [sflowtool, "-r", str(capture)] if sflowtool else None
        # each side prints every sample, or the comparison means nothing
        for name, argv, marker in (("fabtel sflow decode", ours, None), ("sflowtool", theirs, b"startSample")):
            if argv and (printed := _printed(argv, marker)) != samples:
                raise BenchError(f"{name} printed {printed} of the capture's {samples} samples")
        walls: dict[str, list[float]] = {"fabtel": [], "sflowtool": []}
        for i in range(RUNS):
            progress(f"run {i + 1} of {RUNS}")
            walls["fabtel"].append(_wall(ours))
            if theirs:
                walls["sflowtool"].append(_wall(theirs))
    result = {"samples": samples, "fabtel_path": "compiled" if native.available() else "python",
              "fabtel_wall_s": round(statistics.median(walls["fabtel"]), 3),
              "fabtel_samples_per_s": round(samples / statistics.median(walls["fabtel"]))}
    if theirs:
        result.update(sflowtool_wall_s=round(statistics.median(walls["sflowtool"]), 3),
                      fabtel_to_sflowtool_wall=round(statistics.median(walls["fabtel"])
                                                     / statistics.median(walls["sflowtool"]), 2))
    return {**result, "runs": RUNS, "machine": machine()}
