"""The `convergence` section: when a routing event ends, its topology, the families counted.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fabtel.config.reader import YamlReader


# BMP's address family names (connectors/bmp/nlri.py FAMILIES), or afiN-safiM for any other
FAMILY_NAME = re.compile(r"^(ipv[46]-(unicast|multicast|labeled-unicast)|vpnv[46]|evpn|afi\d+-safi\d+)$")


@dataclass(frozen=True)
class Convergence:
    quiet_ms: int = 3000           # an event ends when no routing message came for this long
    max_event_ms: int = 120000     # ... or after this long in any case
    topology: str | None = None    # links file for the metrics (default: fabric.links)
    families: tuple[str, ...] = ()  # count only UPDATEs with routes of these families (default: every UPDATE)


def _families(r: "YamlReader"):
    def read(node, path):
        names = r.strings(node, path)
        for name in names:
            if not FAMILY_NAME.match(name):
                r.problem(path, node, f"{name!r} is not an address family (ipv4-unicast, ipv6-unicast, evpn, vpnv4, "
                                      "vpnv6, ipv4-labeled-unicast, ..., or afiN-safiM)")
        return names
    return read


def read(r: YamlReader, node) -> Convergence:
    return r.section(node, "convergence", Convergence, {
        "quiet_ms": r.positive, "max_event_ms": r.positive, "topology": r.string, "families": _families(r)})
