"""A compiled Avro binary writer for the typed records: for each schema it
generates one Python function that reads the dataclass's attributes and
emits the Avro body, with table-driven zigzag varints.

Why: fastavro's writer takes a dict and resolves unions per value, about
0.3-0.7 us per field; the sFlow collector writes ~60 fields per counter
sample and must sustain 50,000 samples/s on one core. Bytes are identical
to fastavro's (a test holds them equal on every record type); reading stays
with fastavro. Supports the types our schemas use: null, boolean, int,
long, double, string, bytes, record, array, and unions of null with one type.
May import: the standard library only.
"""
from __future__ import annotations

import struct
from typing import Any, Callable


def _varint_slow(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [_varint_slow(i) for i in range(1 << 14)]
_CONT = [bytes([(i & 0x7F) | 0x80, ((i >> 7) & 0x7F) | 0x80]) for i in range(1 << 14)]
_U64 = 1 << 64
_I63 = 1 << 63


def _varint(n: int) -> bytes:
    if n < 16384:
        return _SMALL[n]
    if n < 268435456:
        return _CONT[n & 16383] + _SMALL[n >> 14]
    if n < 4398046511104:
        return _CONT[n & 16383] + _CONT[(n >> 14) & 16383] + _SMALL[n >> 28]
    return _CONT[n & 16383] + _CONT[(n >> 14) & 16383] + _CONT[(n >> 28) & 16383] + _varint(n >> 42)


def zigzag(v: int) -> bytes:
    """An Avro int/long. Values >= 2^63 are unsigned 64-bit counters carried
    by two's complement (see schemas/README.md)."""
    if v >= 0:
        if v < 8192:
            return _SMALL[v << 1]
        if v >= _I63:
            v -= _U64
            return _varint(((-v) << 1) - 1)
        return _varint(v << 1)
    return _varint(((-v) << 1) - 1)


_DOUBLE = struct.Struct("<d").pack


def _string(s: str) -> bytes:
    b = s.encode()
    return zigzag(len(b)) + b


def _bytes(b: bytes) -> bytes:
    return zigzag(len(b)) + b


class _Gen:
    def __init__(self):
        self.lines: list[str] = []
        self.counter = 0
        self.named: dict[str, dict] = {}      # records defined so far: a later field may name one

    def var(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def value(self, schema: Any, expr: str, indent: int) -> None:
        """Emit code appending the encoding of `expr` (of type `schema`) to `out`."""
        if isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        elif isinstance(schema, dict) and schema.get("type") == "record":
            self.named[schema["name"]] = schema
        if isinstance(schema, dict) and schema.get("type") not in ("record", "array"):
            schema = schema["type"]
        if isinstance(schema, list):
            branches = [s for s in schema if s != "null"]
            if len(schema) != 2 or schema[0] != "null" or len(branches) != 1:
                raise TypeError(f"unsupported union {schema}")
            v = self.var()
            self.emit(indent, f"{v} = {expr}")
            self.emit(indent, f"if {v} is None:")
            self.emit(indent + 1, "out.append(b'\\x00')")
            self.emit(indent, "else:")
            self.emit(indent + 1, "out.append(b'\\x02')")
            self.value(branches[0], v, indent + 1)
            return
        if schema in ("int", "long"):
            self.emit(indent, f"out.append(zigzag({expr}))")
        elif schema == "string":
            self.emit(indent, f"out.append(_string({expr}))")
        elif schema == "bytes":
            self.emit(indent, f"out.append(_bytes({expr}))")
        elif schema == "boolean":
            self.emit(indent, f"out.append(b'\\x01' if {expr} else b'\\x00')")
        elif schema == "double":
            self.emit(indent, f"out.append(_DOUBLE({expr}))")
        elif schema == "null":
            pass
        elif isinstance(schema, dict) and schema["type"] == "record":
            v = self.var()
            self.emit(indent, f"{v} = {expr}")
            for f in schema["fields"]:
                self.value(f["type"], f"{v}.{f['name']}", indent)
        elif isinstance(schema, dict) and schema["type"] == "array":
            v, item = self.var(), self.var()
            self.emit(indent, f"{v} = {expr}")
            self.emit(indent, f"if {v}:")
            self.emit(indent + 1, f"out.append(zigzag(len({v})))")
            self.emit(indent + 1, f"for {item} in {v}:")
            self.value(schema["items"], item, indent + 2)
            self.emit(indent, "out.append(b'\\x00')")
        else:
            raise TypeError(f"unsupported Avro type {schema!r}")


def compile_writer(schema: dict) -> Callable[[Any], bytes]:
    """A function that turns a dataclass mirroring `schema` into its Avro body."""
    gen = _Gen()
    gen.emit(0, "def write(rec):")
    gen.emit(1, "out = []")
    for f in schema["fields"]:
        gen.value(f["type"], f"rec.{f['name']}", 1)
    gen.emit(1, "return b''.join(out)")
    namespace = {"zigzag": zigzag, "_string": _string, "_bytes": _bytes, "_DOUBLE": _DOUBLE}
    exec(compile("\n".join(gen.lines), f"<avro writer {schema['name']}>", "exec"), namespace)  # noqa: S102
    return namespace["write"]
