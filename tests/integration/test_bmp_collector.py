"""The BMP collector against the real broker: malformed messages are
dead-lettered and the session goes on; broken framing ends only that session."""
from __future__ import annotations

import socket
import threading

from conftest import free_port, wait_until
from fabtel.connectors.bmp.codec import encode, tlv
from fabtel.connectors.bmp.collector import BmpCollector
from fabtel.kafka import tail
from bmp_cases import MALFORMED, NS, UPDATE, mirror


def test_the_collector_dead_letters_malformed_messages_and_keeps_the_session(config):
    collector = BmpCollector(config)
    stop, ready = threading.Event(), threading.Event()
    port = free_port()
    thread = threading.Thread(target=collector.run, args=(f"127.0.0.1:{port}", stop, ready), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(encode("initiation", tlv(1, b"FRRouting test") + tlv(2, b"leaf_9_0_9")))
            s.sendall(MALFORMED["bad BGP marker"])
            s.sendall(mirror(UPDATE))
            assert wait_until(lambda: collector.metrics.get("messages_total", "route_mirroring") == 1, 10)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"\x07\x00\x00\x00\x10\x04" + b"\x00" * 10)      # version 7: the framing is lost
            assert wait_until(lambda: collector.metrics.get("framing_errors_total") == 1, 10)
            assert s.recv(10) == b""                                      # that session is closed
    finally:
        stop.set()
        thread.join(15)
    assert collector.metrics.get("malformed_total", "bad BGP marker") == 1
    records = [r for r, _ in tail(config.kafka, config.kafka.topic("bmp_messages"), None, 3, until_end=True)]
    assert [(r.router, r.type) for r in records] == [("leaf_9_0_9", "initiation"), ("leaf_9_0_9", "route_mirroring")]
    assert records[1].announced == ["198.19.3.0/24"] and records[1].ts_ns == NS
    letters = [r for r, _ in tail(config.kafka, config.kafka.topic("dead_letters"), None, 3, until_end=True)]
    reasons = sorted(d.reason for d in letters)
    assert reasons[0].startswith("broken BMP framing: unsupported BMP version")
    assert reasons[1].startswith("malformed BMP message: bad BGP marker") and all(d.component == "bmp-collector" for d in letters)
