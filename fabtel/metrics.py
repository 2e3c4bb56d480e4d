"""Counters and gauges by reason, created at zero, rendered in the Prometheus
text format, and a small HTTP endpoint (`/metrics`, `/healthz`) that listens
on loopback unless configured otherwise.

One namespace (`fabtel_`) with a subsystem per component, as gnmic and
goflow2 do. May import: the standard library only.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class Metrics:
    def __init__(self, subsystem: str):
        self.subsystem = subsystem
        self._values: dict[str, dict[tuple, float]] = {}
        self._meta: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def declare(self, name: str, help_text: str, labels: tuple[str, ...] = (), kind: str = "counter",
                zero_for: list[tuple] | None = None) -> None:
        """Declare a metric; `zero_for` lists label values to create at 0 so
        that dashboards show them before the first event."""
        self._meta[name] = (help_text, kind, labels)
        series = self._values.setdefault(name, {})
        for values in zero_for or ([()] if not labels else []):
            series.setdefault(tuple(values), 0)

    def inc(self, name: str, *labels: str, by: float = 1) -> None:
        with self._lock:
            series = self._values[name]
            series[labels] = series.get(labels, 0) + by

    def set(self, name: str, *labels: str, value: float) -> None:
        with self._lock:
            self._values[name][labels] = value

    def get(self, name: str, *labels: str) -> float:
        return self._values.get(name, {}).get(labels, 0)

    def series(self, name: str) -> dict[tuple, float]:
        with self._lock:
            return dict(self._values.get(name, {}))

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Every series as (name, labels, value): what a stats snapshot carries."""
        with self._lock:
            return [(name, dict(zip(labels, values)), v) for name, (_, _, labels) in self._meta.items()
                    for values, v in sorted(self._values[name].items())]

    def totals(self) -> list[tuple[str, str, float]]:
        """(name, kind, value summed over its labels) of each metric, in declaration order."""
        with self._lock:
            return [(name, kind, sum(self._values[name].values())) for name, (_, kind, _) in self._meta.items()]

    def render(self) -> str:
        out = []
        with self._lock:
            for name, (help_text, kind, labels) in self._meta.items():
                full = f"fabtel_{self.subsystem}_{name}"
                out.append(f"# HELP {full} {help_text}")
                out.append(f"# TYPE {full} {kind}")
                for values, v in sorted(self._values[name].items()):
                    lbl = ",".join(f'{k}="{_esc(x)}"' for k, x in zip(labels, values))
                    out.append(f"{full}{{{lbl}}} {v:g}" if lbl else f"{full} {v:g}")
        return "\n".join(out) + "\n"


def _esc(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _verdict(check) -> tuple[bool, str]:
    """A check answers a bool, or (bool, a body that says why)."""
    answer = check()
    ok, detail = answer if isinstance(answer, tuple) else (answer, "")
    return bool(ok), ("ok\n" if ok else "unhealthy\n") + detail


def serve(listen: str | None, metrics: list[Metrics], healthy: Callable = lambda: True, ready: Callable | None = None):
    """Serve /metrics, /healthz (is the component doing its job), /readyz
    (has it started to: `ready`, else the same as /healthz) and /livez (the
    process answers) on HOST:PORT in a daemon thread (None: off). A check
    returns a bool or (bool, text for the body)."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path.startswith("/metrics"):
                body, code = "".join(m.render() for m in metrics).encode(), 200
            elif self.path.startswith(("/healthz", "/readyz")):
                check = ready if self.path.startswith("/readyz") and ready is not None else healthy
                ok, text = _verdict(check)
                body, code = text.encode(), (200 if ok else 503)
            elif self.path.startswith("/livez"):
                body, code = b"ok\n", 200
            else:
                body, code = b"not found\n", 404
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
