"""`fabtel lab frr --fat-tree K_LEAF,K_TOP,R --fail NODE|A--B [--evpn]`: build
the fat-tree (with an EVPN-VXLAN overlay: --evpn), run the pipeline on it (BMP collector -> Kafka -> Faust convergence
processor -> results, InfluxDB sink), fail the element, and report Sibyl's
metrics as the pipeline computed them, beside the same metrics computed
offline (`fabtel convergence analyze`'s code) from the messages the run logged,
in all and per address family (the underlay's IPv4 unicast, the overlay's EVPN).
Everything it created is removed at the end, also after an error.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from fabtel.config import Config, load_config
from fabtel.records import BmpMessage, RoutingEvent
from fabtel.lab.frr.fattree import BMP_COLLECTOR, FatTree, build, parse_spec
from fabtel.lab.frr.netlab import FrrLab
from fabtel.pipeline.convergence import (RoutingMessage, Topology, load_topology, measure, parse_element)
from fabtel.pipeline.convergence_events import update_families

log = logging.getLogger("fabtel.lab.frr")
QUIET_MS = 3000


def say(msg: str) -> None:
    print(f"[frr-lab {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _run_config(base: Config, config_path: str, workdir: Path, topology_file: Path, bmp_port: int, tag: str) -> Path:
    data = yaml.safe_load(Path(config_path).read_text())
    data.setdefault("kafka", {})["topics"] = {k: f"frr-{tag}.{v}" for k, v in base.kafka.topics.items()}
    data["bmp"] = {"listen": f"{BMP_COLLECTOR}:{bmp_port}"}
    data["convergence"] = {"topology": str(topology_file), "quiet_ms": QUIET_MS}
    path = workdir / "fabric.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def logged_messages(records: list[BmpMessage], start_ns: int, end_ns: int) -> list[dict]:
    """The mirrored BGP UPDATEs between start and end as analyze's JSON lines (t in ms)."""
    names = {r.router_bgp_id: r.router for r in records if r.router_bgp_id}
    return [{"t": r.ts_ns / 1e6, "from": names.get(r.peer_bgp_id, r.peer_bgp_id), "to": r.router, "kind": "update",
             "bytes": r.size, "families": sorted(update_families(r))}
            for r in records if r.type == "route_mirroring" and r.bgp_type == "update" and start_ns <= r.ts_ns <= end_ns]


def frr_version() -> str:
    out = subprocess.run(["/usr/lib/frr/bgpd", "--version"], capture_output=True, text=True)
    return (out.stdout.splitlines() or ["unknown"])[0].strip()


def run_frr_lab(config_path: str, spec: str, fail: str, report_path: str | None, events_path: str | None,
                evpn: bool = False) -> int:
    from fabtel.localstack.supervisor import Components
    from fabtel.kafka import RecordProducer, create_topics, tail
    from fabtel.localstack.ports import free_port
    from fabtel.localstack.stack import ensure_stack
    tree: FatTree = build(*parse_spec(spec))
    base = load_config(config_path)
    workdir = Path(tempfile.mkdtemp(prefix="fabtel-frr-"))
    topology_file = workdir / "topology.json"
    topology_file.write_text(json.dumps(tree.topology(), indent=1))
    topology: Topology = load_topology(topology_file)
    element = parse_element(fail, topology)
    tag = uuid.uuid4().hex[:6]
    bmp_port = free_port()
    path = _run_config(base, config_path, workdir, topology_file, bmp_port, tag)
    cfg = load_config(path)
    versions = ensure_stack(cfg.kafka, cfg.influxdb.url, say)
    create_topics(cfg.kafka)
    say(f"fat-tree {spec}{' with an EVPN-VXLAN overlay' if evpn else ''}: {len(tree.nodes)} nodes, "
        f"{len(tree.links)} links; logs and FRR files in {workdir}")
    lab = FrrLab(tree, workdir / "nodes", bmp_port, prefix=f"ft{tag[:3]}", evpn=evpn)
    comps = Components(workdir)
    try:
        lab.build()
        comps.start("bmp", "collect", "bmp", "--config", str(path))
        comps.start("process", "process", "--config", str(path), "--app-id", f"fabtel-frr-{tag}",
                    "--data-dir", str(workdir / "faust"))
        comps.start("sink", "sink", "influx", "--config", str(path), "--group", f"fabtel-frr-{tag}-sink")
        comps.wait_for_log("bmp", "listening on")
        comps.wait_for_log("process", "worker ready (app")
        t0 = time.monotonic()
        lab.start()
        _wait(lambda: lab.converged(), 120, "the fabric's first convergence", comps)
        say(f"converged in {time.monotonic() - t0:.1f} s (every leaf reaches every other leaf's prefix)")
        if evpn:
            _wait(lambda: lab.overlay_converged(), 120, "the EVPN overlay's first convergence", comps)
            say(f"overlay up after {time.monotonic() - t0:.1f} s (every leaf floods VNI 100 to every other VTEP)")
        time.sleep(2 * QUIET_MS / 1000 + 1)          # let the start-up's sessions settle into their own event
        producer = RecordProducer(cfg.kafka)
        fail_ns = time.time_ns()
        producer.send(RoutingEvent(element.name, "failure", fail_ns, "lab"))
        producer.flush(10)
        lab.set_links(element.nodes, up=False)
        say(f"failed {element.kind} {element.name}")
        result = _wait_for_result(cfg, element.name, fail_ns, comps)
        dead = set(element.nodes) if element.kind == "node" else set()
        if not lab.converged(without=dead):
            raise RuntimeError("after the failure some live leaves do not reach each other")
        records = [r for r, _ in tail(cfg.kafka, cfg.kafka.topic("bmp_messages"), None, 2, until_end=True)
                   if isinstance(r, BmpMessage)]
    finally:
        comps.stop()
        lab.teardown()
    messages = logged_messages(records, fail_ns - 1_000_000_000, result.converged_ts_ns)
    if events_path:
        Path(events_path).write_text("".join(json.dumps(m) + "\n" for m in messages))
    def offline_of(family: str | None):
        return measure(topology, element, [RoutingMessage(m["t"], m["from"], m["to"], m["kind"], m["bytes"])
                                           for m in messages if family is None or family in m["families"]],
                       result.detectors)
    offline = offline_of(None)
    by_family = {f: offline_of(f) for f in sorted({f for m in messages for f in m["families"]})}
    report = {
        "fat_tree": spec, "nodes": len(tree.nodes), "links": len(tree.links), "event": element.name,
        "kind": "failure", "pipeline": dataclasses.asdict(result),
        "offline": dataclasses.asdict(offline),
        "evpn": evpn, "families": {f: dataclasses.asdict(m) for f, m in by_family.items()},
        "offline_matches_pipeline": (offline.messages, offline.locality, offline.state_rounds, offline.state_changes)
        == (result.messages, result.locality, result.state_rounds, result.state_changes),
        "convergence_ms": round((result.converged_ts_ns - result.detected_ts_ns) / 1e6, 1),
        "versions": {"frr": frr_version(), **versions},
    }
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2) + "\n")
    print(f"fat-tree {spec}, {element.kind} {element.name} failed, detected by {', '.join(result.detectors)}\n"
          f"  messages        {result.messages} ({result.bytes} B)\n"
          f"  locality        {result.locality}  blast radius {result.blast_radius}\n"
          f"  state rounds    {result.state_rounds}  state changes {result.state_changes}\n"
          f"  converged after {report['convergence_ms']} ms\n"
          f"  offline analyze {'agrees' if report['offline_matches_pipeline'] else 'DIFFERS'}")
    for f, m in by_family.items() if len(by_family) > 1 else ():
        print(f"  {f:<15} {m.messages} messages ({m.bytes} B), locality {m.locality}, blast radius {m.blast_radius}, "
              f"{m.state_rounds} state rounds, {m.state_changes} state changes")
    return 0 if report["offline_matches_pipeline"] else 1


def _wait(predicate, timeout: float, what: str, comps) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        comps.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(0.2)


def _wait_for_result(cfg: Config, element: str, after_ns: int, comps, timeout: float = 90):
    from fabtel.kafka import tail
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        comps.check_alive()
        for rec, _ in tail(cfg.kafka, cfg.kafka.topic("convergence"), None, 1, until_end=True):
            if rec is not None and rec.element == element and rec.kind == "failure" and rec.detected_ts_ns >= after_ns - 10**9:
                return rec
        time.sleep(1)
    raise RuntimeError(f"no convergence result for {element} within {timeout:.0f} s (see the process log)")
