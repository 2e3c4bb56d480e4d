"""Kafka message values: typed records <-> Avro bytes that name their schema.

Two framings, chosen by configuration:
- no schema registry: Avro single-object encoding (spec: `C3 01`, the 8-byte
  little-endian CRC-64-AVRO fingerprint of the schema's canonical form, then
  the binary body). fabtel 0.1.0 wrote the fingerprint byte-reversed; such
  values are still read (counted as `legacy_fingerprint_order`) for one
  release;
- with `kafka.schema_registry_url`: the Confluent wire format (`00`, the 4-byte
  big-endian schema id from the registry, then the body). `mock://` URLs use
  confluent-kafka's in-process mock registry (tests).

A value that does not decode raises `CorruptMessage` with the reason; callers
send it to the dead-letter topic. Values written with the current schema are
read by the compiled reader (fabtel.avro_reader); values written with a
released earlier version (schemas/released/) or framed for a registry are
resolved to the current schema by fastavro.
May import: fabtel.records, fabtel.avro_reader, fabtel.avro_writer, fabtel.extras, schemas.
"""
from __future__ import annotations

import dataclasses
import io
from collections import Counter
from dataclasses import dataclass
import json
import struct
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from fabtel import schemas
from fabtel import records
from fabtel.avro_reader import compile_reader
from fabtel.avro_writer import compile_writer
from fabtel.extras import require

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = 0


_WRITERS: dict = {}


class RegistryUnavailable(Exception):
    """The schema registry did not register a schema: one line says why."""


class CorruptMessage(Exception):
    """A Kafka value that is not a record we can read; `reason` says why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def fingerprint_of(schema: dict | str) -> bytes:
    """The 8 bytes the Avro spec puts after `C3 01`: the CRC-64-AVRO of the
    parsing canonical form, little-endian. fastavro's hex string already
    lists those bytes in order (the spec's test vector: "int" ->
    8f5c393f1ad57572)."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(fastavro.parse_schema(schema)), "CRC-64-AVRO"))


def schema_fingerprint(record_name: str) -> bytes:
    return fingerprint_of(schemas.schema_json(record_name))


@dataclass(frozen=True)
class _Writer:
    """A schema a single-object value may have been written with."""
    record_name: str
    parsed: Any
    current: bool
    legacy_order: bool = False


class RecordCodec:
    """Encodes and decodes the records of `fabtel.records`."""

    def __init__(self, schema_registry_url: str | None = None):
        self._by_fingerprint: dict[bytes, _Writer] = {}
        self._header: dict[str, bytes] = {}
        self.counts: Counter = Counter()        # notable reads, by reason (legacy_fingerprint_order)
        self._registry = None
        self._mock_registry = bool(schema_registry_url and schema_registry_url.startswith("mock://"))
        self._by_id: dict[int, tuple[str, Any]] = {}
        if schema_registry_url:
            registry = require("confluent_kafka.schema_registry", "registry", "kafka.schema_registry_url")
            self._registry = registry.SchemaRegistryClient.new_client({"url": schema_registry_url})
        for name in records.BY_NAME:
            for _, schema in schemas.released_versions(name):
                fp = fingerprint_of(schema)
                parsed = fastavro.parse_schema(schema)
                self._by_fingerprint[fp] = _Writer(name, parsed, False)
                self._by_fingerprint[fp[::-1]] = _Writer(name, parsed, False, legacy_order=True)
            fp = schema_fingerprint(name)
            self._by_fingerprint[fp] = _Writer(name, schemas.parsed_schema(name), True)
            self._header[name] = SINGLE_OBJECT_MAGIC + fp

    # ----------------------------------------------------------------- encode

    def header_for(self, record_name: str, topic: str | None = None) -> bytes:
        if self._registry is None:
            return self._header[record_name]
        key = f"{topic}:{record_name}"
        header = self._header.get(key)
        if header is None:
            from confluent_kafka.schema_registry import Schema
            subject = f"{topic}-value" if topic else record_name
            self._full_compatibility(subject)
            schema_id = self._register(subject, Schema(json.dumps(schemas.schema_json(record_name)), "AVRO"))
            header = self._header[key] = struct.pack(">bI", CONFLUENT_MAGIC, schema_id)
            self._by_id[schema_id] = (record_name, schemas.parsed_schema(record_name))
        return header

    def _register(self, subject: str, schema) -> int:
        """The schema's id under `subject`, registering it if needed. Several
        processes (or a collector's threads) may register the same subject at
        once: Apicurio answers the loser 409 "already exists"; the schema is
        then there to look up."""
        import time
        last: Exception | None = None
        for attempt in range(4):
            try:
                return self._registry.register_schema(subject, schema)
            except Exception as exc:  # SchemaRegistryError, or the registry unreachable
                last = exc
            try:
                return self._registry.lookup_schema(subject, schema).schema_id
            except Exception:  # not there yet: register again
                time.sleep(0.1 * (attempt + 1))
        raise RegistryUnavailable(f"schema registry: cannot register {subject}: {last}") from None

    def _full_compatibility(self, subject: str) -> None:
        """New subjects get FULL compatibility (schemas/README.md's rule), so the
        registry itself refuses a schema that breaks old or new readers."""
        if self._mock_registry:                  # confluent-kafka's in-process mock has no compatibility API
            return
        try:
            self._registry.get_compatibility(subject)
        except Exception:  # no subject-level setting yet
            try:
                self._registry.set_compatibility(subject, "FULL")
            except Exception as exc:  # another process set it first (409), or the registry refuses it
                try:
                    self._registry.get_compatibility(subject)
                except Exception:
                    import logging
                    logging.getLogger("fabtel.serde").warning("schema registry: cannot set FULL on %s: %s", subject, exc)

    def encode(self, record: Any, topic: str | None = None, single_object: bool = False) -> bytes:
        """The record's bytes: framed for the registry when there is one, else
        (or with `single_object`, for a process's own topics, which no other
        reader shares) Avro's single-object encoding."""
        name = type(record).__name__
        writer = _WRITERS.get(name)
        if writer is None:
            writer = _WRITERS[name] = compile_writer(schemas.schema_json(name))
        return (self._header[name] if single_object else self.header_for(name, topic)) + writer(record)

    # ----------------------------------------------------------------- decode

    def record_name_of(self, data: bytes) -> tuple[str, Any, int]:
        """(record name, parsed writer schema, body offset) for a value; the
        writer schema is None when it is the current one."""
        if data is None or len(data) == 0:
            raise CorruptMessage("empty message value")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise CorruptMessage("truncated single-object header")
            writer = self._by_fingerprint.get(bytes(data[2:10]))
            if writer is None:
                raise CorruptMessage(f"unknown schema fingerprint {bytes(data[2:10]).hex()}")
            if writer.legacy_order:
                self.counts["legacy_fingerprint_order"] += 1
            return writer.record_name, None if writer.current else writer.parsed, 10
        if data[0] == CONFLUENT_MAGIC and len(data) >= 5:
            (schema_id,) = struct.unpack_from(">I", data, 1)
            found = self._by_id.get(schema_id)
            if found is None:
                found = self._lookup_id(schema_id)
            return found[0], found[1], 5
        raise CorruptMessage(f"no Avro schema marker (first bytes {bytes(data[:4]).hex()})")

    def _lookup_id(self, schema_id: int) -> tuple[str, Any]:
        if self._registry is None:
            raise CorruptMessage(f"Confluent-framed message (schema id {schema_id}) but no schema registry is configured")
        try:
            schema = self._registry.get_schema(schema_id)
        except Exception as exc:  # the registry's errors vary by client version
            raise CorruptMessage(f"schema id {schema_id} not found in the registry: {exc}") from None
        parsed = fastavro.parse_schema(json.loads(schema.schema_str))
        name = parsed["name"].rsplit(".", 1)[-1]
        if name not in records.BY_NAME:
            raise CorruptMessage(f"schema id {schema_id} is {name}, not a fabtel record")
        self._by_id[schema_id] = (name, parsed)
        return name, parsed

    def decode(self, data: bytes, expect: str | tuple[str, ...] | None = None) -> Any:
        """The typed record in `data` (of one of the `expect`ed types); CorruptMessage if it cannot be read."""
        name, schema, offset = self.record_name_of(data)
        if expect is not None and name not in ((expect,) if isinstance(expect, str) else expect):
            raise CorruptMessage(f"expected a {' or '.join((expect,) if isinstance(expect, str) else expect)} "
                                 f"record, got {name}")
        if schema is None:          # written with exactly our schema: the compiled reader applies
            try:
                record, end = _reader(name)(data, offset)
            except (IndexError, ValueError, TypeError, struct.error) as exc:   # incl. UnicodeDecodeError
                raise CorruptMessage(f"{name} body does not decode: {type(exc).__name__}: {exc}") from None
            if end != len(data):
                raise CorruptMessage(f"{name} body has {len(data) - end} trailing bytes")
            return record
        buf = io.BytesIO(data)
        buf.seek(offset)
        try:
            value = fastavro.schemaless_reader(buf, schema, schemas.parsed_schema(name))
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, IndexError...
            raise CorruptMessage(f"{name} body does not decode: {type(exc).__name__}: {exc}") from None
        if buf.tell() != len(data):
            raise CorruptMessage(f"{name} body has {len(data) - buf.tell()} trailing bytes")
        try:
            return records.from_avro(name, value)
        except (TypeError, ValueError) as exc:
            raise CorruptMessage(f"{name} does not match its record type: {exc}") from None


_READERS: dict[str, Any] = {}


def _reader(name: str):
    reader = _READERS.get(name)
    if reader is None:
        classes = {cls.__name__: cls for cls in vars(records).values()
                   if isinstance(cls, type) and dataclasses.is_dataclass(cls)}
        reader = _READERS[name] = compile_reader(schemas.schema_json(name), classes)
    return reader
