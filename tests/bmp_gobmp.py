"""gobmp (github.com/sbezverk/gobmp, built from its pinned Go module) as an
independent BMP decoder: replay a router's raw BMP stream into it and read
what it dumps, in the canonical form fabtel's records are compared with.

gobmp reports route-monitoring messages (not route mirroring), per route,
and peers up and down. Its `is_eor` entries are not End-of-RIB markers: it
"suspects" one after every UPDATE without announcements (each withdrawal). Label fields are not compared (gobmp reads VXLAN EVPN labels as 0), nor
the Ethernet tag of MAC/IP routes (gobmp leaves it out)."""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

from fabtel.bench.peers import ensure as ensure_peer
from fabtel.localstack.ports import free_port

UNICAST = {74: "ipv4-unicast", 75: "ipv6-unicast"}
EVPN = 14


def route_key(family: str, action: str, r) -> tuple:
    """From a fabtel Route/BmpRoute: the fields gobmp reports."""
    return (family, action, r.route_type, r.rd, r.esi, None if r.route_type == 2 else r.ethernet_tag, r.mac, r.ip,
            r.prefix)


def read(stream: bytes, workdir: Path) -> dict:
    """Replay one router's BMP stream into gobmp: its routes (Counter of keys) and peer events."""
    binary = ensure_peer("gobmp")
    out = workdir / f"gobmp-{time.monotonic_ns()}.json"
    port = free_port()
    proc = subprocess.Popen([str(binary), "-source-port", str(port), "-dump", "file", "-msg-file", str(out),
                             "-performance-port", str(free_port()), "-logtostderr"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gobmp did not start listening")
                time.sleep(0.1)
        with conn:
            conn.sendall(stream)
            before = -1
            while True:                                   # until its dump stops growing
                time.sleep(0.5)
                size = out.stat().st_size if out.exists() else 0
                if size == before:
                    break
                before = size
    finally:
        proc.terminate()
        proc.wait(10)
    routes, peers = Counter(), Counter()
    for line in out.read_text().splitlines():
        d = json.loads(line)
        kind, m = d["msg_type"], d["msg_data"]
        action = "announce" if m.get("action") == "add" else "withdraw"
        if kind == 10:
            peers[m["action"]] += 1
        elif kind in UNICAST and m.get("is_eor"):
            continue
        elif kind in UNICAST:
            routes[(UNICAST[kind], action, None, None, None, None, None, None, f"{m['prefix']}/{m['prefix_len']}")] += 1
        elif kind == EVPN:
            tag = m.get("eth_tag")
            routes[("evpn", action, m["route_type"], m.get("vpn_rd"), m.get("eth_segment_id"),
                    int.from_bytes(base64.b64decode(tag), "big") if tag is not None else None, m.get("mac"),
                    m.get("ip_address"), None)] += 1
    return {"routes": routes, "peers": peers}
