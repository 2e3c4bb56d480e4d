"""A compiled Avro binary reader for the typed records, the counterpart of
avro_writer: for each schema one generated Python function reads the body
straight into the dataclass (no intermediate dict), with unsigned 64-bit
counters restored from two's complement.

Why: fastavro's schemaless_reader costs about 8 us per interface-counters
record and the dict-to-dataclass step another 3 us; the InfluxDB sink and the
Faust worker decode every record. Results equal fastavro's (a test holds them
equal on every record type and on truncated or corrupt bodies, which raise).
Only for our own schemas (single-object encoding names the exact one); a
Confluent-framed value whose registry schema may differ still goes through
fastavro with schema resolution. A flat record (no arrays or nested records)
is read by the optional C module `_avro_flat` when it was built (about 6x
faster; `setup.py` builds it when a C compiler is present).
May import: the standard library and fabtel._avro_flat.
"""
from __future__ import annotations

import struct
from typing import Any, Callable

try:
    from fabtel._avro_flat import read_flat
except ImportError:        # built without a C compiler: the generated Python below does the work
    read_flat = None

_U64 = 1 << 64
_DOUBLE = struct.Struct("<d").unpack_from


class AvroReadError(ValueError):
    pass


def read_long(b: bytes, i: int) -> tuple[int, int]:
    x = b[i]
    if x < 0x80:
        return (x >> 1) ^ -(x & 1), i + 1
    n, shift = x & 0x7F, 7
    while True:
        i += 1
        x = b[i]
        n |= (x & 0x7F) << shift
        if x < 0x80:
            if n >> 64:
                raise AvroReadError("varint beyond 64 bits")
            return (n >> 1) ^ -(n & 1), i + 1
        shift += 7
        if shift > 63:
            raise AvroReadError("varint longer than 10 bytes")


def read_string(b: bytes, i: int) -> tuple[str, int]:
    n, i = read_long(b, i)
    end = i + n
    if n < 0 or end > len(b):
        raise AvroReadError("string past the end")
    return b[i:end].decode(), end


def read_bytes(b: bytes, i: int) -> tuple[bytes, int]:
    n, i = read_long(b, i)
    end = i + n
    if n < 0 or end > len(b):
        raise AvroReadError("bytes past the end")
    return bytes(b[i:end]), end


def read_bool(b: bytes, i: int) -> tuple[bool, int]:
    return b[i] != 0, i + 1          # any non-zero byte is true, as fastavro reads it


def read_double(b: bytes, i: int) -> tuple[float, int]:
    if i + 8 > len(b):
        raise AvroReadError("double past the end")
    return _DOUBLE(b, i)[0], i + 8


_PRIMITIVES = {"int": "read_long", "long": "read_long", "string": "read_string", "bytes": "read_bytes",
               "boolean": "read_bool", "double": "read_double"}


class _Gen:
    def __init__(self, classes: dict[str, type]):
        self.lines: list[str] = []
        self.counter = 0
        self.classes = classes
        self.namespace: dict[str, Any] = {}
        self.named: dict[str, dict] = {}      # records defined so far: a later field may name one

    def var(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def value(self, schema: Any, target: str, indent: int) -> None:
        """Emit code that reads a value of `schema` at `i` into `target` and advances `i`."""
        if isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        elif isinstance(schema, dict) and schema.get("type") == "record":
            self.named[schema["name"]] = schema
        if isinstance(schema, dict) and schema.get("type") not in ("record", "array"):
            schema = schema["type"]
        if isinstance(schema, list):
            branch = [s for s in schema if s != "null"][0]
            u = self.var()
            self.emit(indent, f"{u} = b[i]")                 # a union index is one byte, 0 or 2, unless odd-encoded
            self.emit(indent, f"if {u} == 0 or {u} == 2:")
            self.emit(indent + 1, f"{u} >>= 1")
            self.emit(indent + 1, "i += 1")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"{u}, i = read_long(b, i)")
            self.emit(indent, f"if {u} == 0:")
            self.emit(indent + 1, f"{target} = None")
            self.emit(indent, f"elif {u} == 1:")
            self.value(branch, target, indent + 1)
            self.emit(indent, "else:")
            self.emit(indent + 1, f"raise AvroReadError('union branch ' + str({u}))")
        elif schema in ("int", "long"):
            x = self.var()
            self.emit(indent, f"{x} = b[i]")                 # one-byte varints inline, longer ones by call
            self.emit(indent, f"if {x} < 0x80:")
            self.emit(indent + 1, f"{target} = ({x} >> 1) ^ -({x} & 1)")
            self.emit(indent + 1, "i += 1")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"{target}, i = read_long(b, i)")
        elif schema == "string":
            x = self.var()
            self.emit(indent, f"{x} = b[i]")                 # short strings inline
            self.emit(indent, f"if {x} < 0x80 and not {x} & 1 and i + 1 + ({x} >> 1) <= len(b):")
            self.emit(indent + 1, f"{target} = b[i + 1:i + 1 + ({x} >> 1)].decode()")
            self.emit(indent + 1, f"i += 1 + ({x} >> 1)")
            self.emit(indent, "else:")
            self.emit(indent + 1, f"{target}, i = read_string(b, i)")
        elif isinstance(schema, str) and schema in _PRIMITIVES:
            self.emit(indent, f"{target}, i = {_PRIMITIVES[schema]}(b, i)")
        elif schema == "null":
            self.emit(indent, f"{target} = None")
        elif isinstance(schema, dict) and schema["type"] == "record":
            cls = self.classes[schema["name"].rsplit(".", 1)[-1]]
            self.namespace[cls.__name__] = cls
            unsigned = set(getattr(cls, "UNSIGNED", ()))
            names = []
            for f in schema["fields"]:
                v = self.var()
                self.value(f["type"], v, indent)
                if f["name"] in unsigned:
                    self.emit(indent, f"if {v} is not None and {v} < 0:")
                    self.emit(indent + 1, f"{v} += {_U64}")
                names.append(v)
            self.emit(indent, f"{target} = {cls.__name__}({', '.join(names)})")
        elif isinstance(schema, dict) and schema["type"] == "array":
            n, item = self.var(), self.var()
            self.emit(indent, f"{target} = []")
            self.emit(indent, "while True:")
            self.emit(indent + 1, f"{n}, i = read_long(b, i)")
            self.emit(indent + 1, f"if {n} == 0:")
            self.emit(indent + 2, "break")
            self.emit(indent + 1, f"if {n} < 0:")
            self.emit(indent + 2, f"{n} = -{n}")
            self.emit(indent + 2, "_, i = read_long(b, i)")
            self.emit(indent + 1, f"for _ in range({n}):")
            self.value(schema["items"], item, indent + 2)
            self.emit(indent + 2, f"{target}.append({item})")
        else:
            raise TypeError(f"unsupported Avro type {schema!r}")


_FLAT_CODES = {"int": "l", "long": "l", "string": "s", "bytes": "y", "boolean": "b", "double": "d", "null": "n"}


def flat_codes(schema: dict, unsigned: set[str]) -> bytes | None:
    """The field codes of `read_flat` for a record of primitive fields and
    [null, primitive] unions; None for anything else."""
    codes = []
    for f in schema["fields"]:
        t = f["type"]
        if isinstance(t, dict):
            t = t.get("type")
        prefix = ""
        if isinstance(t, list):
            if len(t) != 2 or t[0] != "null":
                return None
            prefix, t = "?", t[1]
        if not isinstance(t, str) or t not in _FLAT_CODES:
            return None
        code = _FLAT_CODES[t]
        if code == "l" and f["name"] in unsigned:
            code = "u"
        codes.append(prefix + code)
    return "".join(codes).encode()


def compile_reader(schema: dict, classes: dict[str, type], native: bool = True) -> Callable[[bytes, int], tuple[Any, int]]:
    """A function (data, offset) -> (record, end offset) for the dataclass mirroring `schema`;
    `classes` maps record names (nested ones too) to dataclasses. `native`:
    use the C reader for a flat record when it is available."""
    cls = classes[schema["name"].rsplit(".", 1)[-1]]
    codes = flat_codes(schema, set(getattr(cls, "UNSIGNED", ()))) if native and read_flat else None
    if codes is not None:
        def read(b, i, _read_flat=read_flat, _codes=codes, _cls=cls):
            fields, end = _read_flat(b, i, _codes)
            return _cls(*fields), end
        return read
    gen = _Gen(classes)
    gen.emit(0, "def read(b, i):")
    gen.value(schema, "rec", 1)
    gen.emit(1, "return rec, i")
    namespace = {"read_long": read_long, "read_string": read_string, "read_bytes": read_bytes,
                 "read_bool": read_bool, "read_double": read_double, "AvroReadError": AvroReadError}
    namespace.update(gen.namespace)
    exec(compile("\n".join(gen.lines), f"<avro reader {schema['name']}>", "exec"), namespace)  # noqa: S102
    return namespace["read"]
