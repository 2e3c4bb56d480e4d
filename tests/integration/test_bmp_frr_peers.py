"""The FRR lab's BMP streams, underlay and EVPN overlay, read by three
decoders: fabtel, tshark and gobmp. The lab (FRR 8.4 in network namespaces,
eBGP IPv4 unicast and L2VPN EVPN with a VXLAN VNI on every leaf) runs with a
recorder in place of the collector; a leaf fails; then each router's raw
stream goes to each decoder. Per router: no message rejected, tshark reads
the same routes in every message, gobmp the same route-monitoring routes
and peer events. Skipped where the lab cannot run."""
from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import pytest

import bmp_gobmp
import bmp_tshark
from pcap import write_tcp_stream
from fabtel.connectors.bmp.codec import decode, frame_length
from fabtel.connectors.bmp.collector import Session
from fabtel.lab.frr.fattree import BMP_COLLECTOR, build
from fabtel.lab.frr.netlab import FrrLab, unavailable_reason

REASON = unavailable_reason()
pytestmark = [pytest.mark.peers, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


class Recorder:
    """Accepts the routers' BMP sessions and keeps each one's bytes."""

    def __init__(self):
        self.streams: dict[str, bytearray] = {}
        self.server = socket.create_server((BMP_COLLECTOR, 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, (address, _) = self.server.accept()
            except OSError:
                return
            buf = self.streams.setdefault(address, bytearray())
            threading.Thread(target=self._read, args=(conn, buf), daemon=True).start()

    @staticmethod
    def _read(conn, buf):
        with conn:
            while data := conn.recv(65536):
                buf += data

    def close(self):
        self.server.close()


def frames(raw: bytes) -> list[bytes]:
    out, i = [], 0
    while i + 6 <= len(raw):
        n = frame_length(raw[i:i + 6])
        if i + n > len(raw):
            break                                  # the last message may be cut by the teardown
        out.append(raw[i:i + n])
        i += n
    return out


@pytest.fixture(scope="module")
def lab_streams(tmp_path_factory):
    work = tmp_path_factory.mktemp("frr-evpn")
    tree = build(2, 2, 2)
    lab = FrrLab(tree, work / "nodes", 0, prefix=f"ftp{__import__('os').getpid() % 1000}", evpn=True)
    try:
        lab.build()
        recorder = Recorder()
        lab.bmp_port = recorder.port
        lab.start()
        deadline = time.monotonic() + 120
        while not lab.converged():
            assert time.monotonic() < deadline, "the EVPN fat-tree did not converge"
            time.sleep(0.3)
        time.sleep(6)                              # EVPN routes follow the underlay
        lab.set_links(("leaf_1_0_1",), up=False)
        time.sleep(8)
    finally:
        lab.teardown()
    recorder.close()
    names = {n.bmp_address: n.name for n in tree.nodes.values()}
    return {names[a]: frames(bytes(s)) for a, s in recorder.streams.items()}, work


def fabtel_view(messages: list[bytes]):
    session, out = Session("lab"), []
    for raw in messages:
        msg = decode(raw, session.peers)            # raises BmpError on any rejected message
        session.remember(msg)
        out.append(msg)
    return out


def test_every_router_streamed_underlay_and_evpn_and_the_failure_withdrew_evpn(lab_streams):
    streams, _ = lab_streams
    assert len(streams) == 10
    families, withdrawn = Counter(), Counter()
    for name, messages in streams.items():
        for msg in fabtel_view(messages):
            if msg.bgp:
                assert msg.bgp.problems == [], f"{name}: {msg.bgp.problems}"
                for r in msg.bgp.routes:
                    families[r.family] += 1
                    if r.action == "withdraw" and msg.type == "route_mirroring":
                        withdrawn[(r.family, r.route_type)] += 1
    assert families["ipv4-unicast"] > 0 and families["evpn"] > 0
    # leaf_1_0_1's MAC/IP (type 2) and inclusive multicast (type 3) routes are withdrawn across the fabric
    assert withdrawn[("evpn", 2)] > 0 and withdrawn[("evpn", 3)] > 0 and withdrawn[("ipv4-unicast", None)] > 0


def test_tshark_reads_every_lab_message_as_fabtel_does(lab_streams):
    streams, work = lab_streams
    compared = 0
    for name, messages in streams.items():
        ours = fabtel_view(messages)
        theirs = bmp_tshark.messages(write_tcp_stream(work / f"{name}.pcap", messages, 11019), 11019)
        assert [t["type"] for t in theirs] == [
            {"route_monitoring": 0, "statistics": 1, "peer_down": 2, "peer_up": 3, "initiation": 4, "termination": 5,
             "route_mirroring": 6}[m.type] for m in ours], name
        for k, (mine, tshark) in enumerate(zip(ours, theirs)):
            assert not tshark["malformed"] and not tshark["expert"], f"{name} message {k}: tshark flags it"
            assert bmp_tshark.mine(mine, tshark) == sorted(tshark["routes"], key=repr), f"{name} message {k}"
            compared += len(tshark["routes"])
    assert compared > 100


def test_gobmp_reads_the_route_monitoring_as_fabtel_does(lab_streams):
    streams, work = lab_streams
    evpn = 0
    for name, messages in streams.items():
        ours = fabtel_view(messages)
        theirs = bmp_gobmp.read(b"".join(messages), work)
        routes = Counter(bmp_gobmp.route_key(r.family, r.action, r) for m in ours if m.type == "route_monitoring"
                         for r in m.bgp.routes)
        assert routes == theirs["routes"], name
        assert Counter({"add": sum(m.type == "peer_up" for m in ours),
                        "down": sum(m.type == "peer_down" for m in ours)}) == theirs["peers"], name
        evpn += sum(n for k, n in routes.items() if k[0] == "evpn")
    assert evpn > 0
