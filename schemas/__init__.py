"""The Avro schemas (`*.avsc`) of every record fabtel puts on Kafka.

This package only holds the schema files and loads them by record name; the
dataclasses that mirror them are in `fabtel.records`. Evolution rules are in
schemas/README.md. May import: the standard library and fastavro.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import fastavro

SCHEMA_DIR = Path(__file__).resolve().parent


def _file_of(record_name: str) -> Path:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in record_name).lstrip("_")
    return SCHEMA_DIR / f"{snake}.avsc"


@lru_cache(maxsize=None)
def schema_json(record_name: str) -> dict:
    """The schema of `record_name` (e.g. "InterfaceCounters") as JSON."""
    return json.loads(_file_of(record_name).read_text())


@lru_cache(maxsize=None)
def parsed_schema(record_name: str) -> dict:
    """The schema parsed by fastavro, ready for schemaless reads and writes."""
    return fastavro.parse_schema(schema_json(record_name))


def all_record_names() -> list[str]:
    return sorted(json.loads(p.read_text())["name"] for p in SCHEMA_DIR.glob("*.avsc"))


RELEASED_DIR = SCHEMA_DIR / "released"


@lru_cache(maxsize=None)
def released_versions(record_name: str) -> tuple[tuple[str, dict], ...]:
    """(release, schema) of every released version of `record_name` that
    differs from the current one: readers must still decode what those
    releases wrote (see README.md, "Evolution rules")."""
    out = []
    current = schema_json(record_name)
    for release_dir in sorted(p for p in RELEASED_DIR.iterdir() if p.is_dir()):
        path = release_dir / _file_of(record_name).name
        if path.exists():
            schema = json.loads(path.read_text())
            if schema != current:
                out.append((release_dir.name, schema))
    return tuple(out)
