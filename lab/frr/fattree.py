"""Sibyl's fat-tree (the RIFT/VFTGen parameters) with RFC 7938 numbering. Pure.

K_LEAF, K_TOP, R: every pod has K_TOP leaves and K_LEAF spines, each leaf
linked to every spine of its pod; there are 2*K_TOP/R pods and K_LEAF/R planes
of K_TOP ToFs each; spine n of a pod belongs to plane n // R + 1 and is linked
to every ToF of that plane, so each ToF has R links into each pod. 1,1,1 is the
chain leaf_1_0_1 - spine_1_1_1 - tof_1_2_1 - spine_2_1_1 - leaf_2_0_1.

ASNs (RFC 7938, private 4-byte): one per leaf, one per pod for its spines, one
for all ToFs. Addresses from 198.18.0.0/15 (benchmarking): a /31 per link from
198.18.0.0/17, the BMP network 198.18.128.0/17, one /24 per leaf from
198.19.0.0/16 as the prefix it announces.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

LINK_NET = ipaddress.IPv4Network("198.18.0.0/17")
BMP_NET = ipaddress.IPv4Network("198.18.128.0/17")
BMP_COLLECTOR = str(BMP_NET.broadcast_address - 1)          # 198.18.255.254, on the root namespace's bridge
LEAF_PREFIXES = ipaddress.IPv4Network("198.19.0.0/16")
ASN_LEAF, ASN_SPINE, ASN_TOF = 4_200_000_000, 4_200_100_000, 4_200_200_000


class FatTreeError(ValueError):
    pass


@dataclass
class Node:
    name: str
    role: str                    # leaf, spine, tof
    index: int                   # 0-based, for namespace names and addresses
    asn: int
    router_id: str
    prefix: str | None = None    # what a leaf announces
    ports: list[str] = field(default_factory=list)

    @property
    def bmp_address(self) -> str:
        return str(BMP_NET.network_address + self.index + 1)


@dataclass(frozen=True)
class Link:
    index: int
    a: str
    b: str
    a_port: str
    b_port: str

    @property
    def a_address(self) -> str:
        return str(LINK_NET.network_address + 2 * self.index)

    @property
    def b_address(self) -> str:
        return str(LINK_NET.network_address + 2 * self.index + 1)


@dataclass
class FatTree:
    k_leaf: int
    k_top: int
    redundancy: int
    nodes: dict[str, Node]
    links: list[Link]

    @property
    def spec(self) -> str:
        return f"{self.k_leaf},{self.k_top},{self.redundancy}"

    @property
    def leaves(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == "leaf"]

    def link_between(self, a: str, b: str) -> Link:
        for link in self.links:
            if {link.a, link.b} == {a, b}:
                return link
        raise FatTreeError(f"{a} and {b} are not linked")

    def topology(self) -> dict:
        """The links file `fabtel convergence analyze --topology` and the processor read."""
        return {"fat_tree": self.spec,
                "nodes": [{"name": n.name, "role": n.role, "asn": n.asn, "router_id": n.router_id, "prefix": n.prefix}
                          for n in self.nodes.values()],
                "links": [{"a": f"{x.a}:{x.a_port}", "b": f"{x.b}:{x.b_port}", "a_address": x.a_address,
                           "b_address": x.b_address} for x in self.links]}


def parse_spec(text: str) -> tuple[int, int, int]:
    try:
        k_leaf, k_top, r = (int(x) for x in text.split(","))
    except ValueError:
        raise FatTreeError(f"--fat-tree takes K_LEAF,K_TOP,R (three integers), got {text!r}") from None
    if min(k_leaf, k_top, r) < 1:
        raise FatTreeError(f"{text}: every parameter must be at least 1")
    if k_leaf % r or (2 * k_top) % r:
        raise FatTreeError(f"{text}: R must divide K_LEAF and 2*K_TOP")
    return k_leaf, k_top, r


def build(k_leaf: int, k_top: int, r: int) -> FatTree:
    pods, planes = 2 * k_top // r, k_leaf // r
    nodes: dict[str, Node] = {}
    links: list[Link] = []

    def add(name: str, role: str, asn: int, prefix: str | None = None) -> Node:
        i = len(nodes)
        nodes[name] = Node(name, role, i, asn, _router_id(i), prefix)
        return nodes[name]

    def link(a: Node, b: Node) -> None:
        a.ports.append(f"eth{len(a.ports) + 1}")
        b.ports.append(f"eth{len(b.ports) + 1}")
        links.append(Link(len(links), a.name, b.name, a.ports[-1], b.ports[-1]))

    leaf_count = 0
    for pod in range(1, pods + 1):
        for n in range(1, k_top + 1):
            prefix = str(list(LEAF_PREFIXES.subnets(new_prefix=24))[leaf_count + 1])
            add(f"leaf_{pod}_0_{n}", "leaf", ASN_LEAF + leaf_count + 1, prefix)
            leaf_count += 1
        for n in range(1, k_leaf + 1):
            add(f"spine_{pod}_1_{n}", "spine", ASN_SPINE + pod)
    for plane in range(1, planes + 1):
        for n in range(1, k_top + 1):
            add(f"tof_{plane}_2_{n}", "tof", ASN_TOF)
    for pod in range(1, pods + 1):
        for leaf in range(1, k_top + 1):
            for spine in range(1, k_leaf + 1):
                link(nodes[f"leaf_{pod}_0_{leaf}"], nodes[f"spine_{pod}_1_{spine}"])
        for spine in range(1, k_leaf + 1):
            plane = (spine - 1) // r + 1
            for n in range(1, k_top + 1):
                link(nodes[f"spine_{pod}_1_{spine}"], nodes[f"tof_{plane}_2_{n}"])
    if len(nodes) > 250:
        raise FatTreeError(f"{k_leaf},{k_top},{r}: {len(nodes)} nodes; the lab takes at most 250")
    return FatTree(k_leaf, k_top, r, nodes, links)


def _router_id(i: int) -> str:
    return f"198.19.0.{i + 1}"
