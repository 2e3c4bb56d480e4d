"""An HTTP proxy in front of InfluxDB that counts every point the server
accepted: a point written twice is one row in InfluxDB (the same series and
time overwrite each other), so a test that must see double writes counts
them here, on the wire. Requests go through unchanged; when InfluxDB does not
answer, the proxy answers 503, as a server that is down for maintenance."""
from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def point_key(line: str) -> tuple[str, str]:
    """(measurement and tags, timestamp) of a line-protocol point: what InfluxDB keys a point by."""
    series = line.split(" ", 1)[0]
    return series, line.rsplit(" ", 1)[1]


class WriteCounter:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.accepted: Counter = Counter()          # point_key -> times the server accepted it
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _forward(self, body: bytes | None):
                req = urllib.request.Request(counter.upstream + self.path, data=body, method=self.command,
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() in ("authorization", "content-type")})
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        status, payload = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, payload = exc.code, exc.read()
                except (urllib.error.URLError, OSError):
                    status, payload = 503, b'{"error": "influxdb is not answering"}'
                if self.path.startswith("/write") and 200 <= status < 300 and body:
                    with counter.lock:
                        counter.accepted.update(point_key(line) for line in body.decode().splitlines() if line)
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "WriteCounter":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def written(self, measurement: str) -> Counter:
        """How many times each point of `measurement` was accepted."""
        with self.lock:
            return Counter({k: n for k, n in self.accepted.items() if k[0].split(",", 1)[0] == measurement})
