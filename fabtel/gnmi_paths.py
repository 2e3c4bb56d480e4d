"""gNMI paths as fabtel uses them: parsing `/a[k=v]/b` text, converting to and
from the proto `Path`, wildcard matching, and the per-platform paths of the
leaves we read and write (SR Linux native and OpenConfig).

Shared by the lab's targets, the gNMI collector and the remediation executor.
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
    if ":" in text.split("/")[0] and not text.startswith("/"):
        text = "/" + text.split(":", 1)[1]       # drop an origin prefix "openconfig:/..."
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


def to_proto(path: PathT, gnmi_pb2):
    return gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name=n, key=dict(k)) for n, k in path])


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
    """True when the pattern's element names lead to at least one known leaf."""
    pn = names(pattern)
    for leaf in known:
        if len(pn) <= len(leaf) and all(a == "*" or a == b for a, b in zip(pn, leaf)):
            return True
    return False


def key(path: PathT, elem: str, key_name: str) -> str | None:
    for name, keys in path:
        if name == elem:
            return dict(keys).get(key_name)
    return None


# ----------------------------------------------------------------- platforms

SRL_COUNTERS = {   # SR Linux statistics leaf -> normalized counter
    "in-octets": "in_octets", "out-octets": "out_octets",
    "in-unicast-packets": "in_unicast_pkts", "out-unicast-packets": "out_unicast_pkts",
    "in-multicast-packets": "in_multicast_pkts", "out-multicast-packets": "out_multicast_pkts",
    "in-broadcast-packets": "in_broadcast_pkts", "out-broadcast-packets": "out_broadcast_pkts",
    "in-discarded-packets": "in_discards", "out-discarded-packets": "out_discards",
    "in-error-packets": "in_errors", "out-error-packets": "out_errors",
}
OC_COUNTERS = {
    "in-octets": "in_octets", "out-octets": "out_octets",
    "in-unicast-pkts": "in_unicast_pkts", "out-unicast-pkts": "out_unicast_pkts",
    "in-multicast-pkts": "in_multicast_pkts", "out-multicast-pkts": "out_multicast_pkts",
    "in-broadcast-pkts": "in_broadcast_pkts", "out-broadcast-pkts": "out_broadcast_pkts",
    "in-discards": "in_discards", "out-discards": "out_discards",
    "in-errors": "in_errors", "out-errors": "out_errors",
}

# What the collector subscribes to, per platform: (path, mode), mode on_change or sample.
SUBSCRIPTIONS = {
    "srlinux": [
        ("/interface[name=*]/admin-state", "on_change"),
        ("/interface[name=*]/oper-state", "on_change"),
        ("/interface[name=*]/lag/member[name=*]", "on_change"),
        ("/network-instance[name=*]/protocols/bgp/neighbor[peer-address=*]/session-state", "on_change"),
        ("/interface[name=*]/statistics", "sample"),
        ("/interface[name=*]/ethernet/port-speed", "sample"),
    ],
    "openconfig": [
        ("/interfaces/interface[name=*]/state/admin-status", "on_change"),
        ("/interfaces/interface[name=*]/state/oper-status", "on_change"),
        ("/lacp/interfaces/interface[name=*]/members/member[interface=*]/state", "on_change"),
        ("/network-instances/network-instance[name=*]/protocols/protocol[identifier=BGP][name=BGP]/bgp/neighbors/neighbor[neighbor-address=*]/state/session-state", "on_change"),
        ("/interfaces/interface[name=*]/state/counters", "sample"),
        ("/interfaces/interface[name=*]/ethernet/state/port-speed", "sample"),
    ],
}


def admin_state_path(platform: str, interface: str) -> tuple[str, object, object]:
    """(path, value to disable, value to enable) for an interface's admin state."""
    if platform == "openconfig":
        return f"/interfaces/interface[name={interface}]/config/enabled", False, True
    return f"/interface[name={interface}]/admin-state", "disable", "enable"


SPEEDS = {"1G": 10**9, "10G": 10**10, "25G": 25 * 10**9, "40G": 40 * 10**9, "50G": 50 * 10**9,
          "100G": 10**11, "400G": 4 * 10**11, "800G": 8 * 10**11}


def speed_bps(text: str) -> int | None:
    """'25G' (SR Linux) or 'SPEED_25GB' (OpenConfig) -> bits per second."""
    t = text.upper().replace("SPEED_", "").replace("GB", "G")
    return SPEEDS.get(t)


def speed_text(bps: int, platform: str) -> str:
    g = f"{bps // 10**9}G"
    return f"SPEED_{g}B" if platform == "openconfig" else g
