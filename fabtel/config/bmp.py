"""The `bmp` section: where routers' BMP sessions arrive, and how large a message may be.

May import: the standard library, fabtel.config.reader.
"""
from __future__ import annotations

from dataclasses import dataclass

from fabtel.config.reader import YamlReader


@dataclass(frozen=True)
class BmpCollector:
    listen: str = "127.0.0.1:11019"
    max_message_bytes: int = 1 << 20


def read(r: YamlReader, node) -> BmpCollector:
    return r.section(node, "bmp", BmpCollector, {"listen": r.endpoint, "max_message_bytes": r.positive})
