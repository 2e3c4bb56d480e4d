"""The fat-tree in Linux network namespaces, FRR per node. Needs root, `ip`
(iproute2) and FRR (/usr/lib/frr/zebra, bgpd with bgpd_bmp.so).

Namespaces are named <prefix>-<index>; a state file under the work directory
lists what was created, so `teardown` also removes what a crashed run left.
Every address is from 198.18.0.0/15 and stays inside the lab's namespaces,
except the BMP bridge's (the collector's) in the root namespace.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from fabtel.lab.frr.fattree import BMP_COLLECTOR, BMP_NET, FatTree, Node

log = logging.getLogger("fabtel.lab.frr")

FRR_DIR = Path("/usr/lib/frr")
BRIDGE = "ftbmp"


class LabUnavailable(RuntimeError):
    """This machine cannot run the lab (not root, no namespaces, no FRR): the reason."""


def unavailable_reason() -> str | None:
    """Why the FRR lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "the FRR lab needs root (network namespaces)"
    if not shutil.which("ip"):
        return "the FRR lab needs iproute2's `ip`"
    for daemon in ("zebra", "bgpd"):
        if not (FRR_DIR / daemon).exists():
            return f"the FRR lab needs FRR ({FRR_DIR / daemon} is missing; apt-get install frr)"
    probe = f"ftprobe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"network namespaces are not available here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def ip(*args: str, check: bool = True, timeout_s: float = 30) -> subprocess.CompletedProcess:
    try:
        out = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LabUnavailable(f"ip {' '.join(args)}: no answer within {timeout_s:.0f} s") from None
    if check and out.returncode != 0:
        raise LabUnavailable(f"ip {' '.join(args)}: {out.stderr.strip()}")
    return out


VNI = 100                                   # the one L2 VNI of the EVPN overlay
ACCESS_PORT = "access1"                     # a leaf's port to its client, in the VNI's bridge
VNI_RT = "65000:100"                        # its route target: explicit, as every leaf has its own ASN


def bgp_config(tree: FatTree, node: Node, bmp_port: int, evpn: bool = False) -> str:
    peers = []
    for link in tree.links:
        if node.name == link.a:
            peers.append(link.b_address)
        elif node.name == link.b:
            peers.append(link.a_address)
    lines = ["frr defaults datacenter", f"hostname {node.name}", "!",
             f"router bgp {node.asn}", f" bgp router-id {node.router_id}", " no bgp ebgp-requires-policy",
             " bgp bestpath as-path multipath-relax", " timers bgp 3 9",
             " neighbor fabric peer-group", " neighbor fabric remote-as external",
             " neighbor fabric advertisement-interval 0"]
    lines += [f" neighbor {p} peer-group fabric" for p in peers]
    lines += [" address-family ipv4 unicast"]
    if node.prefix:
        lines.append(f"  network {node.prefix}")
    lines += ["  neighbor fabric activate", " exit-address-family"]
    if evpn:
        # Every node carries EVPN; the spines and ToFs relay it with the leaves' next hops (their VTEPs).
        lines += [" address-family l2vpn evpn", "  neighbor fabric activate"]
        if node.role == "leaf":
            lines += ["  advertise-all-vni", f"  vni {VNI}", f"   route-target import {VNI_RT}",
                      f"   route-target export {VNI_RT}", "  exit-vni"]
        else:
            lines += ["  neighbor fabric attribute-unchanged next-hop"]
        lines += [" exit-address-family"]
    lines += [" bmp targets fabtel", f"  bmp connect {BMP_COLLECTOR} port {bmp_port} min-retry 100 max-retry 1000",
              "  bmp monitor ipv4 unicast pre-policy"]
    if evpn:
        lines += ["  bmp monitor l2vpn evpn pre-policy"]
    lines += ["  bmp mirror", " exit", "!"]
    return "\n".join(lines) + "\n"


class FrrLab:
    def __init__(self, tree: FatTree, workdir: Path, bmp_port: int, prefix: str = "ft", evpn: bool = False):
        self.tree = tree
        self.evpn = evpn
        self.workdir = Path(workdir)
        self.bmp_port = bmp_port
        self.prefix = prefix
        self.state_file = self.workdir / "lab-state.json"

    def ns(self, node: str) -> str:
        return f"{self.prefix}-{self.tree.nodes[node].index}"

    # ------------------------------------------------------------ build and run

    def build(self) -> None:
        reason = unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        teardown_leftovers(self.state_file)
        self.workdir.mkdir(parents=True, exist_ok=True)
        for d in (self.workdir, *self.workdir.parents):    # the daemons run as frr and must reach their files
            if d.stat().st_mode & 0o005 != 0o005:
                d.chmod(d.stat().st_mode | 0o005)
        namespaces = [self.ns(n) for n in self.tree.nodes]
        self.state_file.write_text(json.dumps({"namespaces": namespaces, "bridge": BRIDGE, "pids": []}))
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{BMP_COLLECTOR}/{BMP_NET.prefixlen}", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        for node in self.tree.nodes.values():
            ns = self.ns(node.name)
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            host_end = f"{self.prefix}b{node.index}"
            ip("link", "add", host_end, "type", "veth", "peer", "name", "bmp0", "netns", ns)
            ip("link", "set", host_end, "master", BRIDGE, "up")
            ip("-n", ns, "addr", "add", f"{node.bmp_address}/{BMP_NET.prefixlen}", "dev", "bmp0")
            ip("-n", ns, "link", "set", "bmp0", "up")
            if node.prefix:
                ip("-n", ns, "addr", "add", f"{self.vtep(node)}/24", "dev", "lo")
            if self.evpn and node.role == "leaf":
                self._overlay(ns, node)
        for link in self.tree.links:
            a, b = self.ns(link.a), self.ns(link.b)
            ip("link", "add", link.a_port, "netns", a, "type", "veth", "peer", "name", link.b_port, "netns", b)
            ip("-n", a, "addr", "add", f"{link.a_address}/31", "dev", link.a_port)
            ip("-n", b, "addr", "add", f"{link.b_address}/31", "dev", link.b_port)
            ip("-n", a, "link", "set", link.a_port, "up")
            ip("-n", b, "link", "set", link.b_port, "up")

    @staticmethod
    def vtep(node: Node) -> str:
        """A leaf's first address of its prefix: on its loopback, announced, its VXLAN tunnel end."""
        return node.prefix.split("/")[0].rsplit(".", 1)[0] + ".1"

    def _overlay(self, ns: str, node: Node) -> None:
        """A leaf's EVPN side: VXLAN VNI 100 in a bridge with an access port to a
        client. No Ethernet segment: FRR puts those only on bonds, and kernels
        without the bonding driver (as in some containers) cannot make one."""
        ip("-n", ns, "link", "add", "br100", "type", "bridge")
        ip("-n", ns, "link", "add", "vxlan100", "type", "vxlan", "id", str(VNI), "local", self.vtep(node),
           "dstport", "4789", "nolearning")
        ip("-n", ns, "link", "add", ACCESS_PORT, "type", "veth", "peer", "name", "client1")
        for dev in ("vxlan100", ACCESS_PORT):
            ip("-n", ns, "link", "set", dev, "master", "br100")
        for dev in ("br100", "vxlan100", ACCESS_PORT, "client1"):
            ip("-n", ns, "link", "set", dev, "up")

    def start(self) -> None:
        pids = []
        for node in self.tree.nodes.values():
            ns, d = self.ns(node.name), self.workdir / node.name
            d.mkdir(parents=True, exist_ok=True)
            (d / "zebra.conf").write_text(f"hostname {node.name}\n")
            (d / "bgpd.conf").write_text(bgp_config(self.tree, node, self.bmp_port, self.evpn))
            shutil.chown(d, "frr", "frr")       # the daemons drop to the frr user
            common = ["-d", "--vty_socket", str(d), "-z", str(d / "zserv.api")]
            for daemon, extra in (("zebra", []), ("bgpd", ["-M", "bmp"])):
                cmd = ["ip", "netns", "exec", ns, str(FRR_DIR / daemon), *common, *extra,
                       "-f", str(d / f"{daemon}.conf"), "-i", str(d / f"{daemon}.pid"),
                       "--log", f"file:{d / daemon}.log"]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                if out.returncode != 0:
                    raise LabUnavailable(f"{daemon} of {node.name} did not start: {(out.stderr or out.stdout).strip()[-300:]}")
                pidfile = d / f"{daemon}.pid"
                _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, f"{daemon} of {node.name}")
                pids.append(int(pidfile.read_text()))
                if daemon == "zebra":
                    _wait_for(lambda: (d / "zserv.api").exists(), 10, f"zebra of {node.name}")
            state = json.loads(self.state_file.read_text())
            state["pids"] = pids
            self.state_file.write_text(json.dumps(state))

    # ------------------------------------------------------------ observe and act

    def routes(self, node: str) -> set[str]:
        out = ip("-n", self.ns(node), "-4", "route", "show", "proto", "bgp", check=False).stdout
        return {line.split()[0] for line in out.splitlines() if line and line[0].isdigit()}

    def converged(self, without: set[str] = frozenset()) -> bool:
        """Every live leaf has a route to every other live leaf's prefix."""
        leaves = [n for n in self.tree.leaves if n.name not in without]
        return all({o.prefix for o in leaves if o is not leaf} <= self.routes(leaf.name) for leaf in leaves)

    def overlay_converged(self, without: set[str] = frozenset()) -> bool:
        """Every live leaf's VXLAN floods to every other live leaf's VTEP (from their EVPN type-3 routes)."""
        leaves = [n for n in self.tree.leaves if n.name not in without]
        for leaf in leaves:
            fdb = subprocess.run(["bridge", "-n", self.ns(leaf.name), "fdb", "show", "dev", "vxlan100"],
                                 capture_output=True, text=True, timeout=30).stdout
            if not all(f"dst {self.vtep(o)} " in fdb + " " for o in leaves if o is not leaf):
                return False
        return True

    def set_links(self, element: tuple[str, ...], up: bool) -> None:
        """A node: all its fabric ports; a link A--B: both ends."""
        state = "up" if up else "down"
        if len(element) == 1:
            node = self.tree.nodes[element[0]]
            for port in node.ports:
                ip("-n", self.ns(node.name), "link", "set", port, state)
        else:
            link = self.tree.link_between(*element)
            ip("-n", self.ns(link.a), "link", "set", link.a_port, state)
            ip("-n", self.ns(link.b), "link", "set", link.b_port, state)

    def teardown(self) -> None:
        teardown_leftovers(self.state_file)


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LabUnavailable(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.05)


def teardown_leftovers(state_file: Path) -> None:
    """Stop the daemons and remove the namespaces and bridge a run (maybe a crashed one) created."""
    if not state_file.exists():
        return
    state = json.loads(state_file.read_text())
    for pid in state.get("pids", []):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    for pid in state.get("pids", []):
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    for ns in state.get("namespaces", []):
        ip("netns", "del", ns, check=False)
    ip("link", "del", state.get("bridge", BRIDGE), check=False)
    state_file.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
