"""The gNMI path grammar: parsing `/a[k=v]/b` text, converting to and from the
proto `Path`, wildcard matching. Which paths a platform uses is in
fabtel.platforms.

Shared by the platforms, the lab's targets, the gNMI client and collector.
May import: the standard library (the proto helpers take pygnmi's gnmi_pb2).
"""
from __future__ import annotations

import re
from typing import Iterable

Elem = tuple[str, tuple[tuple[str, str], ...]]     # (name, sorted key items)
PathT = tuple[Elem, ...]

_ELEM = re.compile(r"([^/\[\]]+)((?:\[[^=\]]+=(?:[^\]\\]|\\.)*\])*)")
_KEY = re.compile(r"\[([^=\]]+)=((?:[^\]\\]|\\.)*)\]")


class PathError(ValueError):
    """A path string that cannot be parsed."""


def parse(text: str) -> PathT:
    """'/interface[name=ethernet-1/1]/oper-state' -> elems. Key values may
    contain '/' (interface names do); a ']' inside a value is escaped '\\]'."""
    text = text.strip()
    if origin_of(text):
        text = "/" + text.split(":", 1)[1].lstrip("/")      # drop an origin prefix "openconfig:/..."
    out: list[Elem] = []
    pos = 1 if text.startswith("/") else 0
    while pos < len(text):
        m = _ELEM.match(text, pos)
        if not m or m.end() == pos:
            raise PathError(f"cannot parse path {text!r} at character {pos}")
        keys = tuple(sorted((k, v.replace("\\]", "]")) for k, v in _KEY.findall(m.group(2))))
        out.append((m.group(1), keys))
        pos = m.end()
        if pos < len(text):
            if text[pos] != "/":
                raise PathError(f"cannot parse path {text!r} at character {pos}")
            pos += 1
    return tuple(out)


def origin_of(text: str) -> str:
    """The origin a path's text names ("sonic-db:/APPL_DB/..." -> "sonic-db"), or ""."""
    head = text.strip().split("/")[0]
    return head.split(":", 1)[0] if ":" in head else ""


def render(path: PathT) -> str:
    return "/" + "/".join(name + "".join(f"[{k}={v}]" for k, v in keys) for name, keys in path)


def from_proto(prefix, path) -> PathT:
    elems = []
    for p in (prefix, path):
        if p is None:
            continue
        for e in p.elem:
            elems.append((e.name, tuple(sorted(e.key.items()))))
    return tuple(elems)


def to_proto(path: PathT, gnmi_pb2, origin: str = ""):
    return gnmi_pb2.Path(origin=origin, elem=[gnmi_pb2.PathElem(name=n, key=dict(k)) for n, k in path])


def matches(pattern: PathT, path: PathT) -> bool:
    """True when `path` lies under `pattern`; '*' matches any name or key value,
    and a key the pattern does not name matches any value."""
    if len(pattern) > len(path):
        return False
    for (pname, pkeys), (name, keys) in zip(pattern, path):
        if pname != "*" and pname != name:
            return False
        kd = dict(keys)
        for k, v in pkeys:
            if v != "*" and kd.get(k) != v:
                return False
    return True


def names(path: PathT) -> tuple[str, ...]:
    return tuple(n for n, _ in path)


def in_schema(pattern: PathT, known: Iterable[tuple[str, ...]]) -> bool:
    """True when the pattern's element names lead to at least one known leaf
    (a '*' on either side matches any name: SONiC's native tables are keyed by elements)."""
    pn = names(pattern)
    for leaf in known:
        if len(pn) <= len(leaf) and all(a == "*" or b == "*" or a == b for a, b in zip(pn, leaf)):
            return True
    return False


def key(path: PathT, elem: str, key_name: str) -> str | None:
    for name, keys in path:
        if name == elem:
            return dict(keys).get(key_name)
    return None
