"""sFlow datagrams the tests build: every record type, both sample forms,
IPv4 and IPv6 agents, 64-bit counters above 2^32, healthy and unhealthy LAG
port states."""
from __future__ import annotations

from pathlib import Path

from fabtel.connectors.sflow.codec import build_header, encode_datagram
from fabtel.records import (SflowAsPathSegment, SflowEthernetCounters, SflowExtendedGateway, SflowExtendedRouter,
                            SflowExtendedSwitch, SflowIfCounters, SflowLagPortStats, SflowProcessor, SflowSample,
                            SflowSampledHeader)

HEALTHY = 61      # activity, aggregation, synchronization, collecting, distributing
SYNC_ONLY = 13    # activity, aggregation, synchronization: not collecting or distributing
DEFAULTED = 0x45  # activity, aggregation, defaulted
EXPIRED = 0x8D    # activity, aggregation, synchronization, expired
# A real switch's healthy fast-LACP member in IEEE8023-LAG-MIB bit order (activity = 0x80): actor and partner
# oper 252, admin 226 and 2 (shared field notes). In 802.1AX order 252 would read "expired, distributing".
MIB_HEALTHY, MIB_ADMIN_ACTOR, MIB_ADMIN_PARTNER = 252, 226, 2
MIB_SYNC_LOST = 236      # the same member without synchronization, MIB order (0x37 in 802.1AX order)
# ifIndex numbers as an SR Linux leaf gives them (fabtel.platforms.srlinux): ethernet-1/1 is 16382 on a real
# 7220 IXR-D2; lag1's number is the lab's (SR Linux's documentation gives none).
SRL_ETHERNET_1_1, SRL_ETHERNET_1_49, SRL_LAG1 = 16382, 1589246, 0x50000001


def counters(seq: int, ifindex: int, octets: int, lag_states=(HEALTHY,) * 4, with_lag=True,
             lag_ifindex: int = SRL_LAG1) -> SflowSample:
    s = SflowSample("", None, 0, 0, 0, "counters", seq, 0, ifindex)
    s.if_counters = SflowIfCounters(ifindex, 6, 25_000_000_000, 1, 3, octets, 1000 + seq, 20, 3, 1, 2, 0,
                                    (octets * 3 + 17) % 2**64, 2000 + seq, 21, 4, 5, 6, 0)
    s.ethernet_counters = SflowEthernetCounters(*range(seq, seq + 13))
    if with_lag:
        aa, ao, pa, po = lag_states
        s.lag_port_stats = SflowLagPortStats("0c:00:00:00:01:01", "00:c1:c1:00:00:01", lag_ifindex,
                                             aa << 24 | ao << 16 | pa << 8 | po, aa, ao, pa, po,
                                             500 + seq, 1, 2, 3, 4, 600 + seq, 5, 6)
    s.processor = SflowProcessor(1234, 2345, 3456, 16 * 2**30, 5 * 2**30)
    return s


def flow(seq: int, v6: bool, tcp: bool, vlan: int | None = None) -> SflowSample:
    src, dst = ("2001:db8::c1", "2001:db8::c2") if v6 else ("198.18.10.1", "198.18.20.2")
    hdr = build_header("00:c1:c1:00:00:01", "00:c2:c2:00:00:01", src, dst, 6 if tcp else 17, 40000 + seq, 443,
                       vlan=vlan, ttl=63, tos=0x28, tcp_flags=0x18, payload_len=1200, snap=128)
    return SflowSample("", None, 0, 0, 0, "flow", seq, 0, 1001, 4096, 4096 * seq, 0, 1001, 1049,
                       sampled_header=SflowSampledHeader(1, 1514, 4, len(hdr), hdr))


def raw_ip_flow(seq: int, v6: bool) -> SflowSample:
    """A flow sample whose header has no link layer (header protocol 11 or 12), as hsflowd sends."""
    src, dst = ("2001:db8::a", "2001:db8::b") if v6 else ("198.18.30.1", "198.18.40.2")
    hdr = build_header("00:00:00:00:00:01", "00:00:00:00:00:02", src, dst, 17, 5000 + seq, 53, snap=128)[14:]
    return SflowSample("", None, 0, 0, 0, "flow", seq, 0, 3, 512, 512 * seq, 2, 3, 7,
                       sampled_header=SflowSampledHeader(12 if v6 else 11, 120, 0, len(hdr), hdr))


def discard_flow(seq: int, reason: int = 259) -> SflowSample:
    """A packet the switch dropped: output format 1 with the drop code (259: no route, say)."""
    s = flow(seq, v6=False, tcp=True)
    s.output, s.output_format = reason, 1
    return s


def gateway_flow(seq: int) -> SflowSample:
    """Sent to several ports (output format 2, 3 of them), with extended switch, router and gateway records."""
    s = flow(seq, v6=False, tcp=False, vlan=20)
    s.output, s.output_format = 3, 2
    s.extended_switch = SflowExtendedSwitch(20, 3, 30, 5)
    s.extended_router = SflowExtendedRouter("198.18.0.1", 24, 16)
    s.extended_gateway = SflowExtendedGateway("198.18.0.254", 65001, 65010, 65002,
                                              [SflowAsPathSegment(2, [65002, 65003]), SflowAsPathSegment(1, [65100, 65101])],
                                              65101, 65002, [65001 << 16 | 100, 65001 << 16 | 200], 150)
    return s


def every_case() -> list[bytes]:
    return [
        encode_datagram("198.18.0.11", 0, 100, 3_600_000, [
            counters(1, 1001, 2**32 + 12345),
            counters(2, 1002, 7, lag_states=(HEALTHY, HEALTHY, HEALTHY, SYNC_ONLY)),
            flow(3, v6=False, tcp=True, vlan=10)]),
        encode_datagram("2001:db8::11", 2, 101, 3_601_000, [
            counters(4, 1001, 2**40, lag_states=(HEALTHY, DEFAULTED, HEALTHY, EXPIRED)),
            flow(5, v6=True, tcp=False)], expanded=True),
        encode_datagram("198.18.0.12", 1, 102, 3_602_000, [
            counters(6, 2001, 2**63 + 5, with_lag=False), flow(7, v6=True, tcp=True)]),
        encode_datagram("198.18.0.13", 0, 103, 3_603_000, [
            counters(8, 1003, 10**9, lag_states=(MIB_ADMIN_ACTOR, MIB_HEALTHY, MIB_ADMIN_PARTNER, MIB_HEALTHY)),
            discard_flow(9), gateway_flow(10), raw_ip_flow(11, v6=False), raw_ip_flow(12, v6=True)]),
    ]


BAD_CASES = sorted((Path(__file__).parent / "cases" / "sflow_bad").glob("*.yaml"))


def bad_datagram(case: Path) -> tuple[bytes, str]:
    """A case of tests/cases/sflow_bad: a corpus datagram patched, cut or
    extended as the case says, and the reason the decoder must give."""
    import struct

    import yaml
    spec = yaml.safe_load(case.read_text())
    data = bytearray(every_case()[spec.get("base", 0)])
    for patch in spec.get("patch", []):
        struct.pack_into(">I", data, patch["offset"], patch["u32"])
    if "truncate" in spec:
        data = data[:spec["truncate"]]
    data += bytes.fromhex(spec.get("append_hex", ""))
    return bytes(data), spec["reason"]
