"""BMP test material shared by the unit and integration tests: messages built
with the codec's encoders, the malformed cases of tests/cases/bmp/, and
VECTORS: routes of every family, built per their RFCs."""
from __future__ import annotations

from pathlib import Path

import yaml

import struct

from fabtel.connectors.bmp import nlri as N
from fabtel.connectors.bmp.codec import (encode, encode_bgp, encode_mp_update, encode_open, encode_peer_header,
                                         encode_peer_up, encode_update, frame_length, tlv)

NS = 1_795_324_000_123_456_000
UPDATE = encode_update(["198.19.3.0/24"], [], [65001], "198.18.0.1")
CASES = yaml.safe_load((Path(__file__).parent / "cases" / "bmp" / "malformed.yaml").read_text())
MALFORMED = {c["reason"]: bytes.fromhex(c["hex"]) for c in CASES["rejected"]}
CAPTURE = Path(__file__).parent / "cases" / "bmp" / "frr-8.4.4-spine_1_1_1.bmp"


def frames(raw: bytes) -> list[bytes]:
    """A BMP stream cut into its messages."""
    out, i = [], 0
    while i < len(raw):
        n = frame_length(raw[i:i + 6])
        out.append(raw[i:i + n])
        i += n
    return out


def mirror(bgp: bytes, peer: str = "198.18.0.1") -> bytes:
    return encode("route_mirroring", encode_peer_header(peer, 65001, "198.19.0.1", NS) + tlv(0, bgp))


PEER = encode_peer_header("198.18.0.1", 65001, "198.19.0.1", NS)
ESI = "00:11:22:33:44:55:66:77:88:99"
NH4, NH6 = bytes([198, 18, 0, 1]), bytes.fromhex("20010db8000000000000000000000001")
VPN_NH4 = bytes(8) + NH4


def monitored(update: bytes) -> bytes:
    return encode("route_monitoring", PEER + update)


def peer_up(families, add_path: dict | None = None) -> bytes:
    caps = N.encode_capabilities(families, 65001, add_path)
    return encode_peer_up(PEER, "198.18.0.2", encode_open(65002, "198.19.0.2", caps), encode_open(65001, "198.19.0.1", caps))


# name -> (BMP messages of one session, the routes fabtel must read from the last one, as text)
VECTORS = {
    "ipv4 labeled unicast, one label": ([monitored(encode_mp_update(
        reach=(1, 4, N.encode_labeled("10.3.0.0/16", [16]) + N.encode_labeled("10.4.4.0/24", [1048575])), next_hop=NH4))],
        ["ipv4-labeled-unicast 10.3.0.0/16 label 16", "ipv4-labeled-unicast 10.4.4.0/24 label 1048575"]),
    "ipv6 labeled unicast, a two-label stack": ([monitored(encode_mp_update(
        reach=(2, 4, N.encode_labeled("2001:db8:1::/48", [3000, 17])), next_hop=NH6))],
        ["ipv6-labeled-unicast 2001:db8:1::/48 label 3000/17"]),
    "labeled unicast withdrawn with the compatibility label": ([monitored(encode_mp_update(
        unreach=(1, 4, N.encode_labeled("10.3.0.0/16", [0x80000]))))],
        ["ipv4-labeled-unicast 10.3.0.0/16 label 524288"]),
    "vpnv4, route distinguishers of types 0, 1 and 2": ([monitored(encode_mp_update(
        reach=(1, 128, N.encode_labeled("10.1.0.0/16", [100], "65000:1") + N.encode_labeled("10.2.0.0/24", [200], "192.0.2.1:5")
               + N.encode_labeled("10.2.1.128/25", [201], "4200000001:7")), next_hop=VPN_NH4))],
        ["vpnv4 rd 65000:1 10.1.0.0/16 label 100", "vpnv4 rd 192.0.2.1:5 10.2.0.0/24 label 200",
         "vpnv4 rd 4200000001:7 10.2.1.128/25 label 201"]),
    "vpnv6 announce and withdraw": ([monitored(encode_mp_update(
        reach=(2, 128, N.encode_labeled("2001:db8:aa::/64", [300], "65000:9")),
        unreach=(2, 128, N.encode_labeled("2001:db8:bb::/64", [0x80000], "65000:9")), next_hop=bytes(8) + NH6))],
        ["vpnv6 rd 65000:9 2001:db8:bb::/64 label 524288", "vpnv6 rd 65000:9 2001:db8:aa::/64 label 300"]),
    "evpn types 1 to 5 over MPLS": ([monitored(encode_mp_update(reach=(25, 70,
        N.encode_evpn(1, "198.19.0.1:3", ESI, tag=0xFFFFFFFF, label=0) + N.encode_evpn(1, "198.19.0.1:3", ESI, tag=10, label=5001)
        + N.encode_evpn(2, "65000:2", mac="00:aa:bb:cc:dd:ee", label=10) + N.encode_evpn(2, "65000:2", ESI, 10, 11, "00:aa:bb:cc:dd:ef", "10.0.0.5")
        + N.encode_evpn(3, "65000:2", tag=10, ip="198.19.0.1") + N.encode_evpn(4, "198.19.0.1:0", ESI, ip="198.19.0.1")
        + N.encode_evpn(4, "198.19.0.1:0", ESI, ip="2001:db8::1") + N.encode_evpn(5, "65000:2", prefix="10.9.0.0/16", label=99)
        + N.encode_evpn(5, "65000:2", prefix="2001:db8:9::/48", gateway="2001:db8::fe", label=98)), next_hop=NH4))],
        [f"evpn ethernet-ad rd 198.19.0.1:3 esi {ESI} tag 4294967295 label 0",
         f"evpn ethernet-ad rd 198.19.0.1:3 esi {ESI} tag 10 label 5001",
         "evpn mac-ip rd 65000:2 esi 00:00:00:00:00:00:00:00:00:00 tag 0 mac 00:aa:bb:cc:dd:ee label 10",
         f"evpn mac-ip rd 65000:2 esi {ESI} tag 10 mac 00:aa:bb:cc:dd:ef ip 10.0.0.5 label 11",
         "evpn inclusive-multicast rd 65000:2 tag 10 ip 198.19.0.1",
         f"evpn ethernet-segment rd 198.19.0.1:0 esi {ESI} ip 198.19.0.1",
         f"evpn ethernet-segment rd 198.19.0.1:0 esi {ESI} ip 2001:db8::1",
         "evpn ip-prefix rd 65000:2 esi 00:00:00:00:00:00:00:00:00:00 tag 0 10.9.0.0/16 label 99",
         "evpn ip-prefix rd 65000:2 esi 00:00:00:00:00:00:00:00:00:00 tag 0 ip 2001:db8::fe 2001:db8:9::/48 label 98"]),
    "evpn over VXLAN: the label fields are VNIs": ([monitored(encode_mp_update(reach=(25, 70,
        N.encode_evpn(1, "198.19.0.1:3", ESI, vni=1_000_001) + N.encode_evpn(2, "65000:2", mac="00:aa:bb:cc:dd:ee", vni=10100)
        + N.encode_evpn(5, "65000:2", prefix="10.9.0.0/16", vni=5000)), next_hop=NH4, encapsulation=8))],
        [f"evpn ethernet-ad rd 198.19.0.1:3 esi {ESI} tag 0 label 1000001",
         "evpn mac-ip rd 65000:2 esi 00:00:00:00:00:00:00:00:00:00 tag 0 mac 00:aa:bb:cc:dd:ee label 10100",
         "evpn ip-prefix rd 65000:2 esi 00:00:00:00:00:00:00:00:00:00 tag 0 10.9.0.0/16 label 5000"]),
    "evpn withdrawn (a leaf lost its uplinks)": ([monitored(encode_mp_update(unreach=(25, 70,
        N.encode_evpn(1, "198.19.0.1:3", ESI) + N.encode_evpn(4, "198.19.0.1:0", ESI, ip="198.19.0.1"))))],
        [f"evpn ethernet-ad rd 198.19.0.1:3 esi {ESI} tag 0 label 0", f"evpn ethernet-segment rd 198.19.0.1:0 esi {ESI} ip 198.19.0.1"]),
    "add-path ipv4 unicast, negotiated in Peer Up": ([peer_up([(1, 1)], {(1, 1): 3}), monitored(
        encode_bgp("update", struct.pack("!H", 0) + struct.pack("!H", 14) + b"\x40\x01\x01\x00\x40\x02\x00\x40\x03\x04" + NH4
                   + struct.pack("!I", 1) + N.encode_prefix("198.19.3.0/24") + struct.pack("!I", 2) + N.encode_prefix("198.19.3.0/24")))],
        ["path-id 1 198.19.3.0/24", "path-id 2 198.19.3.0/24"]),
    "add-path evpn, negotiated in Peer Up": ([peer_up([(25, 70), (1, 128)], {(25, 70): 3, (1, 128): 3}), monitored(
        encode_mp_update(reach=(25, 70, N.encode_evpn(4, "198.19.0.1:0", ESI, ip="198.19.0.1", path_id=9)), next_hop=NH4))],
        [f"evpn path-id 9 ethernet-segment rd 198.19.0.1:0 esi {ESI} ip 198.19.0.1"]),
    "add-path vpnv4, negotiated in Peer Up": ([peer_up([(25, 70), (1, 128)], {(25, 70): 3, (1, 128): 3}), monitored(
        encode_mp_update(reach=(1, 128, N.encode_labeled("10.1.0.0/16", [100], "65000:1", path_id=4)), next_hop=VPN_NH4))],
        ["vpnv4 path-id 4 rd 65000:1 10.1.0.0/16 label 100"]),
}
