"""BMP test material shared by the unit and integration tests: messages built
with the codec's encoders, and the malformed cases of tests/cases/bmp/."""
from __future__ import annotations

from pathlib import Path

import yaml

from fabtel.connectors.bmp.codec import encode, encode_peer_header, encode_update, tlv

NS = 1_795_324_000_123_456_000
UPDATE = encode_update(["198.19.3.0/24"], [], [65001], "198.18.0.1")
CASES = yaml.safe_load((Path(__file__).parent / "cases" / "bmp" / "malformed.yaml").read_text())
MALFORMED = {c["reason"]: bytes.fromhex(c["hex"]) for c in CASES["rejected"]}


def mirror(bgp: bytes, peer: str = "198.18.0.1") -> bytes:
    return encode("route_mirroring", encode_peer_header(peer, 65001, "198.19.0.1", NS) + tlv(0, bgp))
