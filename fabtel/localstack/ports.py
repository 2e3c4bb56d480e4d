"""Free loopback ports for components started on one machine (demo, lab, tests).

A port is picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
32768-60999 by default): a port found free inside that range can be taken by any
outgoing connection (a Kafka client, say) before the server binds it. Ports are
never handed out twice by one process. Imports only the standard library.
"""
from __future__ import annotations

import itertools
import os
import random
import socket
import threading

_LOW, _HIGH = 20000, 32000
_given: set[int] = set()
_lock = threading.Lock()


def bindable(port: int) -> bool:
    """Whether 127.0.0.1:port is free for TCP and UDP now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def answers(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on host:port now."""
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    """A loopback port, free for TCP and UDP, outside the ephemeral range."""
    start = random.Random(os.getpid() ^ id(_given)).randrange(_LOW, _HIGH)
    with _lock:
        for port in itertools.chain(range(start, _HIGH), range(_LOW, start)):
            if port not in _given and bindable(port):
                _given.add(port)
                return port
    raise RuntimeError(f"no free loopback port between {_LOW} and {_HIGH}")
