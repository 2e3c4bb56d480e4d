"""An sFlow agent per lab device: counter samples for every interface at an
interval (generic interface + ethernet counters, plus the LAG record on LAG
members) and flow samples of the traffic at a sampling rate, sent over UDP
with the codec's encoder, as a switch's agent does."""
from __future__ import annotations

import socket
import time

from fabtel.connectors.sflow.codec import build_header, encode_datagram
from fabtel.records import (SflowEthernetCounters, SflowIfCounters, SflowLagPortStats, SflowSample,
                            SflowSampledHeader)
from fabtel.lab.model import PACKET_BYTES, LabFabric, Node

SAMPLES_PER_DATAGRAM = 5


class SflowAgent:
    def __init__(self, fabric: LabFabric, node: Node, agent_address: str, sampling_rate: int = 1024):
        self.fabric, self.node, self.agent = fabric, node, agent_address
        self.sampling_rate = sampling_rate
        self.sequence = 0
        self.sample_seq: dict[int, int] = {}
        self.boot_ns = time.time_ns()
        self.pool: dict[str, float] = {}       # per port: packets seen since the last flow sample

    def _next_seq(self, ifindex: int) -> int:
        self.sample_seq[ifindex] = self.sample_seq.get(ifindex, 0) + 1
        return self.sample_seq[ifindex]

    def counter_samples(self) -> list[SflowSample]:
        node, out = self.node, []
        with self.fabric.lock:
            for name, port in node.ports.items():
                idx = node.ifindex.get(name, 0)
                c = port.counters
                s = SflowSample(self.agent, None, 0, 0, 0, "counters", self._next_seq(idx), 0, idx)
                status = (1 if port.admin_up else 0) | (2 if port.oper_up else 0)
                s.if_counters = SflowIfCounters(
                    idx, 6, port.speed_bps, 1, status, c["in_octets"], c["in_unicast_pkts"], c["in_multicast_pkts"],
                    c["in_broadcast_pkts"], c["in_discards"], c["in_errors"], 0, c["out_octets"],
                    c["out_unicast_pkts"], c["out_multicast_pkts"], c["out_broadcast_pkts"], c["out_discards"],
                    c["out_errors"], 0)
                s.ethernet_counters = SflowEthernetCounters(*([0] * 13))
                lag = node.lag_of(name)
                if lag:
                    actor, partner = self.fabric.lacp_states(node.name, name)
                    peer = self.fabric.nodes[port.peer.node].system_id if port.peer and port.oper_up else "00:00:00:00:00:00"
                    pdus = int((time.time_ns() - self.boot_ns) / 1e9)     # one LACPDU a second (fast timer)
                    s.lag_port_stats = SflowLagPortStats(
                        node.system_id, peer, node.ifindex.get(lag, 0), actor << 24 | actor << 16 | partner << 8 | partner,
                        actor, actor, partner, partner, pdus, 0, 0, 0, 0, pdus, 0, 0)
                out.append(s)
        return out

    def flow_samples(self, delta_bytes: dict[str, float], flows_on: dict[str, list]) -> list[SflowSample]:
        """Flow samples for the packets each port sent since the last call."""
        out = []
        for key, nbytes in delta_bytes.items():
            node_name, _, name = key.partition(":")
            if node_name != self.node.name:
                continue
            pkts = self.pool.get(key, 0.0) + nbytes / PACKET_BYTES
            n = int(pkts // self.sampling_rate)
            self.pool[key] = pkts - n * self.sampling_rate
            flows = flows_on.get(key) or []
            idx = self.node.ifindex.get(name, 0)
            for i in range(min(n, 10)):
                if not flows:
                    break
                f = flows[(self.sequence + i) % len(flows)]
                src, dst, proto, sport, dport = f.five_tuple
                hdr = build_header("00:c1:c1:00:00:01", "00:c2:c2:00:00:01", src, dst, proto, sport, dport,
                                   payload_len=PACKET_BYTES - 28, snap=128)
                out.append(SflowSample(self.agent, None, 0, 0, 0, "flow", self._next_seq(idx), 0, idx,
                                       self.sampling_rate, int(pkts), 0, 0, idx,
                                       sampled_header=SflowSampledHeader(1, PACKET_BYTES + 18, 4, len(hdr), hdr)))
        return out

    def datagrams(self, samples: list[SflowSample]) -> list[bytes]:
        out = []
        uptime = int((time.time_ns() - self.boot_ns) / 1e6)
        for i in range(0, len(samples), SAMPLES_PER_DATAGRAM):
            self.sequence += 1
            out.append(encode_datagram(self.agent, 0, self.sequence, uptime, samples[i:i + SAMPLES_PER_DATAGRAM]))
        return out


class SflowSender:
    """The UDP socket the agents send from (loopback unless configured)."""

    def __init__(self, target: str):
        host, _, port = target.rpartition(":")
        self.addr = (host or "127.0.0.1", int(port))
        self.sock = socket.socket(socket.AF_INET6 if ":" in self.addr[0] else socket.AF_INET, socket.SOCK_DGRAM)
        self.sent = 0

    def send(self, datagrams: list[bytes]) -> None:
        for d in datagrams:
            try:
                self.sock.sendto(d, self.addr)
                self.sent += 1
            except OSError:
                pass    # nobody listening: UDP drops it, as on a real network
