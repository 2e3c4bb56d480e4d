"""Components say when they cannot do their job: /healthz, /readyz and
/livez as served, and the gNMI collector's health when its devices lack
credentials or do not answer. No broker and no device: the collector gets
stand-in producers, and its devices point at closed ports."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import urllib.error
import urllib.request

from conftest import EXAMPLE, wait_until
from fabtel.config import load_config
from fabtel.connectors.gnmi.collector import GnmiCollector
from fabtel.metrics import Metrics, serve
from fabtel.localstack.ports import free_port


class Producer:
    def send(self, record):
        pass

    def try_send(self, record):
        return True

    def poll(self, timeout=0):
        return 0

    def flush(self, timeout=None):
        return 0


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_health_ready_and_live_are_served_with_their_reasons():
    port = free_port()
    health = {"ok": True}
    server = serve(f"127.0.0.1:{port}", [Metrics("x")], healthy=lambda: (health["ok"], "leaf1: down (UNAVAILABLE)\n"),
                   ready=lambda: False)
    try:
        assert get(port, "/healthz") == (200, "ok\nleaf1: down (UNAVAILABLE)\n")
        assert get(port, "/readyz") == (503, "unhealthy\n")
        health["ok"] = False
        assert get(port, "/healthz") == (503, "unhealthy\nleaf1: down (UNAVAILABLE)\n")
        assert get(port, "/livez") == (200, "ok\n")          # the process answers: no restart would help
    finally:
        server.shutdown()


def collector(devices=("leaf1", "leaf2"), stale_after_ms=None, **gnmi) -> tuple[GnmiCollector, threading.Event]:
    cfg = load_config(EXAMPLE)
    cfg = dataclasses.replace(cfg, gnmi=dataclasses.replace(cfg.gnmi, reconnect_min_ms=50, reconnect_max_ms=200, **gnmi))
    if stale_after_ms:
        cfg = dataclasses.replace(cfg, thresholds=dataclasses.replace(cfg.thresholds, stale_after_ms=stale_after_ms))
    closed = {name: f"127.0.0.1:{free_port()}" for name in devices}       # nothing listens there
    devs = [dataclasses.replace(d, gnmi=dataclasses.replace(d.gnmi, address=closed[d.name]))
            for d in cfg.fabric.devices if d.name in devices]
    c = GnmiCollector(cfg, devs, producer=Producer(), state_producer=Producer())
    stop = threading.Event()
    c.start(stop)
    return c, stop



def test_a_collector_starting_is_healthy_but_not_ready():
    cfg = load_config(EXAMPLE)
    c = GnmiCollector(cfg, [cfg.fabric.device("leaf1")], producer=Producer(), state_producer=Producer())
    assert c.health() == (True, "leaf1: starting (not connected yet)\n") and c.ready()[0] is False


def test_missing_credentials_make_the_collector_unhealthy_and_are_said_once(monkeypatch, caplog):
    monkeypatch.delenv("FABTEL_GNMI_PASSWORD")
    caplog.set_level(logging.INFO, "fabtel.gnmi")
    c, stop = collector()
    try:
        assert wait_until(lambda: all(s.state == "no credentials" for s in c.subscribers))
        time.sleep(0.5)                                    # several retries of the secret
        ok, body = c.health()
        assert not ok and "leaf1: no credentials (environment variable FABTEL_GNMI_PASSWORD is not set)" in body
        assert not c.ready()[0]
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "leaf1" in r.getMessage()]
        assert errors == ["gnmi leaf1: cannot build the connection: environment variable FABTEL_GNMI_PASSWORD is "
                          "not set; trying again every 0.2 s"]
    finally:
        stop.set()
        c.close()


def test_no_device_answering_is_unhealthy_and_each_outage_is_one_warning(caplog):
    caplog.set_level(logging.DEBUG, "fabtel.gnmi")
    c, stop = collector(("leaf1",), stale_after_ms=500)
    threading.Thread(target=c.watch, args=(stop,), daemon=True).start()
    try:
        assert not c.ready()[0]
        assert wait_until(lambda: c.subscribers[0].reconnects >= 3)
        # Stale although it is retried every 200 ms: each attempt is not a notification from the device.
        assert wait_until(lambda: c.metrics.get("stale_devices") == 1, 5)
        ok, body = c.health()
        assert not ok and body.startswith("leaf1: down (UNAVAILABLE") and not c.ready()[0]
        downs = [r for r in caplog.records if "stream down" in r.getMessage()]
        # One outage: its first failure is a WARNING, the retries are DEBUG.
        assert [r.levelno for r in downs][:3] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    finally:
        stop.set()
        c.close()


def test_nothing_answering_at_start_is_said_in_one_line(caplog, monkeypatch):
    caplog.set_level(logging.INFO, "fabtel.gnmi")
    c, stop = collector(("leaf1", "leaf2"))
    try:
        c._say_if_nothing_answers(threading.Event(), grace_s=0.3)
        [line] = [r.getMessage() for r in caplog.records if "none of its" in r.getMessage()]
        assert line.startswith("gnmi collector: none of its 2 devices streams after 0 s: leaf1 down (UNAVAILABLE")
        assert "leaf2 down" in line
    finally:
        stop.set()
        c.close()


def test_grpc_core_logging_is_quiet_unless_debugging():
    from fabtel.shell.cli import grpc_verbosity
    assert grpc_verbosity("INFO", {}) == "NONE" and grpc_verbosity("DEBUG", {}) == "INFO"
    assert grpc_verbosity("INFO", {"GRPC_VERBOSITY": "ERROR"}) == "ERROR"      # the user's own setting wins


def test_the_rates_line_says_what_moved():
    from fabtel.stats import rates_line
    m = Metrics("sink")
    m.declare("records_total", "r")
    m.declare("points_written_total", "p")
    m.declare("rejected_points_total", "x")
    m.declare("paused", "p", kind="gauge")
    m.declare("lag_records", "l", kind="gauge")
    before = m.totals()
    m.inc("records_total", by=6000)
    m.inc("points_written_total", by=30)
    m.set("lag_records", value=1200)
    assert rates_line("sink", before, m.totals(), 60.0) == "sink: records 100/s, points written 0.5/s, lag records 1,200"
    assert rates_line("sink", m.totals(), m.totals(), 60.0) == "sink: lag records 1,200"
    idle = Metrics("bmp")
    idle.declare("messages_total", "m")
    assert rates_line("bmp", idle.totals(), idle.totals(), 60.0) == "bmp: idle for 60 s"
