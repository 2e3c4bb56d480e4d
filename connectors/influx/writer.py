"""Writing line protocol to InfluxDB: the v2 API (`/api/v2/write`, InfluxDB
1.8+, 2.x and 3.x, with influxdb-client's synchronous WriteApi) or the v1
`/write` endpoint for servers older than 1.8 (the local 1.6.7).

A batch InfluxDB rejects as a client error (400: a bad value) is bisected:
the good points are written (rewriting is idempotent) and each bad point is
returned with the server's message. Server errors and outages raise
`InfluxUnavailable`: the caller pauses and retries, losing nothing.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from fabtel.config import InfluxConfig, resolve_secret

log = logging.getLogger("fabtel.influx")


class InfluxUnavailable(Exception):
    """InfluxDB is down, slow or answered 5xx: retry later."""


class InfluxUnreachable(Exception):
    """InfluxDB did not answer within the wait at start, or refused us: the sink stops with this line."""


class InfluxRejected(Exception):
    """InfluxDB refused the points (4xx): `message` is the server's."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message
        super().__init__(f"{status}: {message}")


class Writer:
    def __init__(self, cfg: InfluxConfig, timeout_s: float = 10.0):
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.token = resolve_secret(cfg.token)
        self._client = None

    def describe(self) -> str:
        if self.cfg.api == "v1":
            return f"{self.cfg.url} via the v1 /write API (database {self.cfg.database})"
        return f"{self.cfg.url} via the v2 /api/v2/write API (org {self.cfg.org}, bucket {self.cfg.bucket})"

    def ping(self) -> None:
        """InfluxUnavailable unless the server answers /ping (1.x and 2.x alike)."""
        try:
            with urllib.request.urlopen(f"{self.cfg.url.rstrip('/')}/ping", timeout=self.timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            raise InfluxUnavailable(f"{exc.code} on /ping") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InfluxUnavailable(str(getattr(exc, "reason", exc))) from None

    def ensure_database(self) -> None:
        if self.cfg.api != "v1":
            return
        self._v1("/query", {"q": f'CREATE DATABASE "{self.cfg.database}"'}, b"")

    def write(self, lines: list[str]) -> list[tuple[str, str]]:
        """Write the points; return (line, server message) for each rejected one."""
        if not lines:
            return []
        try:
            self._send("\n".join(lines).encode())
            return []
        except InfluxRejected as exc:
            if exc.status in (401, 403, 404):
                raise InfluxUnavailable(f"InfluxDB refused the write ({exc}); check the url, api and credentials") from None
            if len(lines) == 1:
                return [(lines[0], exc.message)]
            mid = len(lines) // 2
            return self.write(lines[:mid]) + self.write(lines[mid:])

    def _send(self, body: bytes) -> None:
        if self.cfg.api == "v1":
            self._v1("/write", {"db": self.cfg.database, "precision": "ns"}, body)
        else:
            self._v2(body)

    def _v1(self, path: str, params: dict, body: bytes) -> None:
        url = f"{self.cfg.url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=body, method="POST")
        if self.token:
            req.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            message = _message(exc.read())
            if exc.code >= 500 or exc.code == 429:
                raise InfluxUnavailable(f"{exc.code}: {message}") from None
            raise InfluxRejected(exc.code, message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise InfluxUnavailable(str(getattr(exc, "reason", exc))) from None

    def _v2(self, body: bytes) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.rest import ApiException
        if self._client is None:
            self._client = InfluxDBClient(url=self.cfg.url, token=self.token or "", org=self.cfg.org,
                                          timeout=int(self.timeout_s * 1000))
        try:
            self._client.write_api(write_options=SYNCHRONOUS).write(self.cfg.bucket, self.cfg.org, body.decode(),
                                                                    write_precision="ns")
        except ApiException as exc:
            message = _message(exc.body or b"")
            if exc.status is None or exc.status >= 500 or exc.status == 429:
                raise InfluxUnavailable(f"{exc.status}: {message}") from None
            raise InfluxRejected(exc.status, message) from None
        except Exception as exc:  # urllib3 connection errors surface as various types
            raise InfluxUnavailable(f"{type(exc).__name__}: {exc}") from None


def _message(body: bytes | str) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)
        return data.get("error") or data.get("message") or text
    except ValueError:
        return text.strip()
