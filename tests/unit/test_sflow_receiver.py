"""The collector's UDP side without a broker: the kernel's drop counter for
a real socket, the one line a minute while it rises, and the sum of the
workers' metrics the parent serves."""
from __future__ import annotations

import logging
import socket

from fabtel.connectors.sflow.collector import collector_metrics
from fabtel.connectors.sflow.receiver import DropWatch, kernel_drops, merge, open_socket, retire


def _flooded(n: int) -> tuple[socket.socket, int]:
    """A socket with the smallest buffer, sent `n` datagrams and read none: what it kept."""
    sock = open_socket("127.0.0.1:0", 1)               # the kernel rounds it up to its minimum
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        send.sendto(i.to_bytes(4, "big") * 100, sock.getsockname())
    send.close()
    sock.setblocking(False)
    kept = 0
    while True:
        try:
            sock.recv(65535)
        except BlockingIOError:
            return sock, kept
        kept += 1


def test_the_kernel_drops_are_what_the_socket_did_not_keep():
    sock, kept = _flooded(500)
    try:
        assert 0 < kept < 500
        assert kernel_drops(sock) == 500 - kept
    finally:
        sock.close()
    quiet = open_socket("[::1]:0", 1 << 20)
    try:
        assert kernel_drops(quiet) == 0                 # an IPv6 socket is found in udp6
    finally:
        quiet.close()


def test_the_receive_buffer_is_what_the_configuration_asks(caplog):
    """As root, past net.core.rmem_max; otherwise what the kernel grants, and one warning that says why."""
    import os
    with caplog.at_level(logging.WARNING, logger="fabtel.sflow"):
        sock = open_socket("127.0.0.1:0", 16 << 20)
    try:
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    finally:
        sock.close()
    if os.geteuid() == 0:
        assert granted >= 16 << 20 and not caplog.records
    else:
        assert granted < 16 << 20 and "net.core.rmem_max caps it" in caplog.records[0].getMessage()


def test_drops_are_a_metric_and_one_line_a_minute_while_they_rise(caplog):
    now = [1000.0]
    metrics = collector_metrics()
    watch = DropWatch(metrics, clock=lambda: now[0])
    sock, kept = _flooded(300)
    try:
        with caplog.at_level(logging.WARNING, logger="fabtel.sflow"):
            watch.check(sock)                              # at once: the metric, not yet a line
            assert metrics.get("kernel_drops_total") == 300 - kept
            assert not caplog.records
            now[0] += 61
            watch.check(sock)
            watch.check(sock)                              # the same minute: no second line
            now[0] += 61
            watch.check(sock)                              # no new drops: quiet
        [line] = [r.getMessage() for r in caplog.records]
        assert f"the kernel dropped {300 - kept} datagrams in the last 61 s" in line and "--workers" in line
    finally:
        sock.close()


def test_the_parent_serves_the_sum_of_its_workers():
    merged = collector_metrics(["198.18.0.11"])
    one, two = collector_metrics(["198.18.0.11"]), collector_metrics(["198.18.0.11"])
    one.inc("datagrams_total", by=5)
    one.inc("samples_total", "flow", by=25)
    two.inc("datagrams_total", by=3)
    two.inc("rejected_total", "wrong version")
    two.set("kernel_drops_total", value=7)
    merge(merged, {0: one.samples(), 1: two.samples()})
    assert merged.get("datagrams_total") == 8
    assert merged.get("samples_total", "flow") == 25
    assert merged.get("rejected_total", "wrong version") == 1
    assert merged.get("kernel_drops_total") == 7
    # worker 1 died and started again: its counters stay in the sum (no counter reset), its gauges do not
    two.set("interface_index_maps", value=4)
    retired = retire(merged, [], two.samples())
    merge(merged, {0: one.samples(), 1: collector_metrics(["198.18.0.11"]).samples()}, retired)
    assert merged.get("datagrams_total") == 8 and merged.get("kernel_drops_total") == 7
    assert merged.get("interface_index_maps") == 0
    # the same worker dying again: one sample per series, the counts added
    retired = retire(merged, retired, two.samples())
    assert len(retired) == len({(n, tuple(lbl.items())) for n, lbl, _ in retired})
    merge(merged, {0: one.samples()}, retired)
    assert merged.get("datagrams_total") == 5 + 3 + 3
