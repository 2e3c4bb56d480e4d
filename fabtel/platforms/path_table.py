"""Each platform's path table: the schema paths of its vendor's published
models at a pinned release (fabtel/platforms/paths/PLATFORM.tsv, made by
tools/path-tables.sh with pyang; the models themselves are not committed).
Every path a platform subscribes to, sets or renders in the lab must be in
its table, with a value its type allows: the tests hold the modules to it,
and the lab's targets answer NOT_FOUND outside it, as a device does.

A row: the path with its list keys in brackets (`/interface[name]/ifindex`;
`*` stands for a key of SONiC's native tables, which have no list keys), the
type (an enumeration with its values, an identityref with its base, a
typedef resolved to its base type), config or state, the module and the file.
May import: the standard library, fabtel.gnmi_paths.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from fabtel import gnmi_paths as gp

_INT_RANGES = {"uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
               "int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1),
               "int64": (-2**63, 2**63 - 1)}


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    config: bool
    module: str
    file: str

    @property
    def keys(self) -> tuple[tuple[str, ...], ...]:
        """Each element's list key names."""
        return tuple(tuple(re.findall(r"\[([^\]]+)\]", e)) for e in _elements(self.path))


def _elements(path: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in path.strip("/"):
        if ch == "/" and not depth:
            out.append(cur)
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        cur += ch
    return out + [cur] if cur else out


def _names(path: str) -> tuple[str, ...]:
    return tuple(e.split("[", 1)[0] for e in _elements(path))


class PathTable:
    def __init__(self, platform: str, text: str):
        self.platform = platform
        self.header = [line[2:] for line in text.splitlines() if line.startswith("# ")]
        self.rows: dict[tuple[str, ...], Row] = {}
        self.wild: list[tuple[tuple[str, ...], Row]] = []          # rows with a '*' element (native tables)
        for line in text.splitlines():
            if not line or line.startswith("#") or line.startswith("path\t"):
                continue
            path, kind, config, module, file = line.split("\t")
            row = Row(path, kind, config == "config", module, file)
            names = _names(path)
            (self.wild.append((names, row)) if "*" in names else self.rows.__setitem__(names, row))

    @property
    def source(self) -> str:
        return next((h[len("source: "):] for h in self.header if h.startswith("source: ")), "")

    def lookup(self, path: gp.PathT | str) -> Row | None:
        """The row of a path (its element names, and key names the row has), or None."""
        if isinstance(path, str):
            path = gp.parse(path)
        names = gp.names(path)
        row = self.rows.get(names)
        if row is None:
            row = next((r for n, r in self.wild if len(n) == len(names) and
                        all(a == "*" or b == "*" or a == b for a, b in zip(n, names))), None)
        if row is None:
            return None
        for (_, keys), allowed in zip(path, row.keys):
            if any(k not in allowed for k, _ in keys):
                return None
        return row

    def problem(self, path: gp.PathT, value: object) -> str | None:
        """Why `value` at `path` is not what the model allows, or None."""
        row = self.lookup(path)
        if row is None:
            return f"{gp.render(path)} is not in {self.platform}'s models ({self.source})"
        return type_problem(row.type, value, gp.render(path))


def type_problem(kind: str, value: object, where: str) -> str | None:
    name = kind.split("(", 1)[0]
    inner = kind[len(name) + 1:-1] if "(" in kind else ""
    if name in ("container", "list"):
        return f"{where} is a {name}, not a leaf"
    if name == "enumeration":
        ok = isinstance(value, str) and value in inner.split("|")
    elif name == "identityref":
        ok = isinstance(value, str) or type(value).__name__ == "Identity"
    elif name in _INT_RANGES:
        lo, hi = _INT_RANGES[name]
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    elif name == "boolean":
        ok = isinstance(value, bool)
    elif name == "union":
        ok = any(type_problem(t, value, where) is None for t in inner.split(","))
    elif name in ("string", "leafref", "binary", "decimal64", "empty", "?"):
        ok = not isinstance(value, (dict, list))
    else:
        ok = True
    return None if ok else f"{where}: {value!r} is not a {kind}"


@functools.lru_cache(maxsize=None)
def path_table(platform: str) -> PathTable:
    text = resources.files("fabtel.platforms").joinpath("paths", f"{platform}.tsv").read_text()
    return PathTable(platform, text)
