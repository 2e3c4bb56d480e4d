"""`fabtel bench bmp [--vs gobmp]`.

One router's BMP session, generated here: an Initiation, the Peer Up of
PEERS peers (4-byte AS, IPv4 unicast), then route-monitoring messages, each a
BGP UPDATE of PREFIXES IPv4 prefixes with ORIGIN, AS_PATH and NEXT_HOP;
every WITHDRAW_EVERY-th withdraws what the same peer announced last. It is sent
over one TCP connection as fast as the collector reads it.

messages_per_cpu_s: BMP messages that reached the broker (fabtel: records on
bmp_messages, one per message) per second of the collector's own CPU time,
from the first byte sent until its output stops growing. With --vs gobmp,
gobmp (github.com/sbezverk/gobmp, built from its pinned module) takes the
same stream in the same run and publishes to the same broker under a topic
prefix of its own; it writes one record per route, not per message, so its
figure is the BMP messages it read per second of its CPU time, and the
routes it published are reported beside it. The ratio is fabtel's over
gobmp's."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid

from fabtel.bench.common import (BenchError, bench_config, config_file, cpu_seconds, machine, progress,
                                 settled_count, topic_count)
from fabtel.connectors.bmp import nlri
from fabtel.connectors.bmp.codec import (encode, encode_open, encode_peer_header, encode_peer_up, encode_update,
                                         tlv)
from fabtel.localstack.supervisor import spawn

PEERS = 4
PREFIXES = 8                  # per UPDATE
WITHDRAW_EVERY = 5
MESSAGES = 100_000            # route-monitoring messages in the default load
ROUTER_AS, PEER_AS = 65000, 65100
SYS_NAME = 2                  # Initiation information TLV (RFC 7854 4.4)


def _prefixes(first: int) -> list[str]:
    return [f"11.{n // 256 % 256}.{n % 256}.0/24" for n in range(first, first + PREFIXES)]


def session(messages: int = MESSAGES, ts_ns: int = 1_700_000_000 * 10**9) -> tuple[bytes, int, int]:
    """The router's whole BMP stream: (bytes, BMP messages in it, routes in its UPDATEs)."""
    caps = nlri.encode_capabilities([(1, 1)], ROUTER_AS)
    headers = [encode_peer_header(f"192.0.2.{p + 1}", PEER_AS + p, f"10.0.0.{p + 1}", ts_ns) for p in range(PEERS)]
    parts = [encode("initiation", tlv(SYS_NAME, b"bench-router"))]
    for p, header in enumerate(headers):
        parts.append(encode_peer_up(header, "192.0.2.100", encode_open(ROUTER_AS, "10.255.0.1", caps),
                                    encode_open(PEER_AS + p, f"10.0.0.{p + 1}",
                                                nlri.encode_capabilities([(1, 1)], PEER_AS + p)), remote_port=40000 + p))
    for i in range(messages):
        p = i % PEERS
        if i % WITHDRAW_EVERY == WITHDRAW_EVERY - 1:     # what the same peer announced last
            update = encode_update(withdrawn=_prefixes((i - PEERS) * PREFIXES))
        else:
            update = encode_update(_prefixes(i * PREFIXES), as_path=[PEER_AS + p, 64512, 64513 + i % 100],
                                   next_hop=f"192.0.2.{p + 1}")
        parts.append(encode("route_monitoring", headers[p] + update))
    return b"".join(parts), len(parts), messages * PREFIXES


def run(config_path: str, messages: int = MESSAGES, vs: str | None = None) -> dict:
    stream, count, routes = session(messages)
    out = {"offered": f"one session of {count} BMP messages ({messages} route monitoring, {PREFIXES} IPv4 prefixes "
                      f"each, every {WITHDRAW_EVERY}th a withdrawal; {len(stream) / 1e6:.1f} MB) over TCP"}
    sides = ("fabtel", "gobmp") if vs else ("fabtel",)
    for name in sides:
        out.update(_one(name, config_path, stream, count, routes))
    if vs:
        out["ratio_fabtel_over_gobmp"] = round(out["fabtel_messages_per_cpu_s"] / out["gobmp_messages_per_cpu_s"], 2)
    out["machine"] = machine()
    return out


def _one(name: str, config_path: str, stream: bytes, count: int, routes: int) -> dict:
    """One collector, in a process of its own, on the stream: its rate per CPU second."""
    from fabtel.bench import peers
    from fabtel.localstack.ports import free_port
    cfg = bench_config(config_path, f"bmp-{name}")
    port = free_port()
    if name == "fabtel":
        argv = [sys.executable, "-m", "fabtel", "--log-level", "WARNING", "collect", "bmp", "--config",
                config_file(cfg, config_path), "--listen", f"127.0.0.1:{port}"]
        topics = [cfg.kafka.topic("bmp_messages")]
    else:
        prefix = f"bench-bmp-{uuid.uuid4().hex[:6]}"
        argv = [str(peers.ensure("gobmp", progress)), "-source-port", str(port), "-kafka-server",
                cfg.kafka.bootstrap_servers, "-kafka-topic-prefix", prefix, "-performance-port", str(free_port()),
                "-logtostderr", "-stderrthreshold", "FATAL"]
        topics = None
    proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = _connect(port, proc, name)
        time.sleep(1)                                           # its producer connected to the broker
        progress(f"{name}: {count} BMP messages over one TCP session")
        c0 = cpu_seconds(proc.pid)
        with conn:
            conn.sendall(stream)
            # gobmp makes a topic as each kind of record first appears
            delivered = settled_count(lambda: sum(topic_count(cfg, t) for t in topics or _topics_with(cfg, prefix)))
            cpu = cpu_seconds(proc.pid) - c0
    finally:
        proc.terminate()
        proc.wait(20)
    if not delivered:
        raise BenchError(f"{name} published nothing for {count} BMP messages")
    progress(f"{name}: {delivered} records in Kafka, {cpu:.2f} s of CPU")
    if name == "fabtel":
        if delivered != count:
            raise BenchError(f"fabtel's collector published {delivered} records for {count} BMP messages")
        return {"fabtel_messages_per_cpu_s": round(count / cpu), "fabtel_records": delivered}
    return {"gobmp_messages_per_cpu_s": round(count / cpu), "gobmp_records": delivered,
            "gobmp_routes_offered": routes}


def _connect(port: int, proc, name: str) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.settimeout(None)               # sendall waits as long as the collector takes to read
            return conn
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{name} did not listen on 127.0.0.1:{port}") from None
            time.sleep(0.1)


def _topics_with(cfg, prefix: str) -> list[str]:
    from fabtel.kafka import admin_client
    admin = admin_client(cfg.kafka)
    return [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix + ".")]
