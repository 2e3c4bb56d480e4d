"""`fabtel alerts receive`: a small webhook receiver for Grafana's (or
Alertmanager's) notifications, one log line per alert, so that an alert can
be seen arriving: the dev overlay runs it as Grafana's contact point, and the
tests route alerts to it. Both senders post the same JSON shape (a list of
`alerts`, each with `status`, `labels` and `annotations`).

May import: the standard library.
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("fabtel.alerts")
MAX_BODY = 1 << 20


def alert_lines(payload: dict) -> list[str]:
    """One line per alert of a webhook notification: status, name, labels, summary."""
    out = []
    for alert in payload.get("alerts") or []:
        labels = dict(alert.get("labels") or {})
        name = labels.pop("alertname", "?")
        summary = (alert.get("annotations") or {}).get("summary", "")
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if not k.startswith("__"))
        out.append(f"alert {alert.get('status', '?')}: {name} {{{shown}}}" + (f": {summary}" if summary else ""))
    return out


class AlertReceiver:
    """Serves POST /alerts (any path) on `listen`; `received` keeps every
    payload (for tests), each alert also logged in one line."""

    def __init__(self, listen: str):
        host, _, port = listen.rpartition(":")
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(200 if self.path == "/healthz" else 404, b"ok\n" if self.path == "/healthz" else b"")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._answer(413, b"too large\n")
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                except ValueError as exc:
                    log.warning("alerts: a notification that is not JSON (%s), from %s", exc, self.client_address[0])
                    return self._answer(400, b"not JSON\n")
                if not isinstance(payload, dict):
                    return self._answer(400, b"not a notification\n")
                receiver.received.append(payload)
                for line in alert_lines(payload):
                    log.info("%s", line)
                self._answer(200, b"ok\n")

            def _answer(self, status: int, body: bytes):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        self.address = f"{self.server.server_address[0]}:{self.server.server_address[1]}"

    def run(self, stop: threading.Event) -> None:
        thread = threading.Thread(target=self.server.serve_forever, name="alerts", daemon=True)
        thread.start()
        log.info("alerts: receiving notifications on http://%s/alerts", self.address)
        stop.wait()
        self.server.shutdown()
        self.server.server_close()
