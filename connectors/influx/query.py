"""InfluxQL queries over the v1 `/query` endpoint, which InfluxDB 1.x serves
natively and 2.x/3.x serve through their v1 compatibility API (a DBRP mapping
from the database name to the bucket; token in the Authorization header).
Used to check that the Grafana dashboards' queries work. May import: fabtel.config,
connectors.influx.writer."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from fabtel.connectors.influx.writer import InfluxUnavailable, _message
from fabtel.config import InfluxConfig, resolve_secret


class InfluxQueryError(Exception):
    """The server answered the query with an error (bad syntax, unknown function...)."""


def database_of(cfg: InfluxConfig) -> str:
    """The InfluxQL database: the v1 database, or the v2 bucket (its DBRP mapping's name)."""
    return cfg.database if cfg.api == "v1" else (cfg.bucket or cfg.database)


def influxql(cfg: InfluxConfig, q: str, timeout_s: float = 10.0) -> list[dict]:
    """The `series` of the query's first statement ([] when it returned none)."""
    params = urllib.parse.urlencode({"db": database_of(cfg), "q": q, "epoch": "ms"})
    req = urllib.request.Request(f"{cfg.url.rstrip('/')}/query?{params}")
    token = resolve_secret(cfg.token)
    if token:
        req.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        message = _message(exc.read())
        if exc.code >= 500:
            raise InfluxUnavailable(f"{exc.code}: {message}") from None
        raise InfluxQueryError(message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise InfluxUnavailable(str(getattr(exc, "reason", exc))) from None
    if body.get("error"):
        raise InfluxQueryError(body["error"])
    result = (body.get("results") or [{}])[0]
    if result.get("error"):
        raise InfluxQueryError(result["error"])
    return result.get("series") or []
