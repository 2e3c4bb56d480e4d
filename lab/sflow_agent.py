"""An sFlow agent per lab device: counter samples for every interface at an
interval (generic interface + ethernet counters, plus the LAG record on LAG
members) and flow samples of the traffic arriving on its ports at a sampling
rate (discarded packets with their drop code), sent over UDP with the
codec's encoder, as a switch's agent does, with what its platform's agent
puts there (fabtel.sflow_facts: a SONiC agent's LACP states are placeholders)."""
from __future__ import annotations

import random
import socket
import time

from fabtel.connectors.sflow.codec import build_header, encode_datagram
from fabtel.records import (SflowEthernetCounters, SflowIfCounters, SflowLagPortStats, SflowSample,
                            SflowSampledHeader)
from fabtel.lab.model import PACKET_BYTES, LabFabric, Node
from fabtel.sflow_facts import FACTS, PLACEHOLDER, facts

SAMPLES_PER_DATAGRAM = 5


class SflowAgent:
    def __init__(self, fabric: LabFabric, node: Node, agent_address: str, sampling_rate: int = 1024):
        self.fabric, self.node, self.agent = fabric, node, agent_address
        self.sampling_rate = sampling_rate
        self.sequence = 0
        self.sample_seq: dict[int, int] = {}
        self.boot_ns = time.time_ns()
        self.pool: dict[str, int] = {}         # per port: sample_pool, the packets seen (32 bits, wraps)
        self.carry: dict[str, float] = {}      # per port: the fraction of a packet left over from the last tick
        self.skip: dict[str, int] = {}         # per port: packets until the next sample
        self.rng = random.Random(agent_address)
        self.placeholders = facts(node.platform).lacp_states == PLACEHOLDER if node.platform in FACTS else False

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
                    if self.placeholders:      # hsflowd on SONiC: 2 while the port is up, 0 when down, no partner
                        actor = partner = 2 if port.oper_up else 0
                        peer = "00:00:00:00:00:00"
                    pdus = int((time.time_ns() - self.boot_ns) / 1e9)     # one LACPDU a second (fast timer)
                    s.lag_port_stats = SflowLagPortStats(
                        node.system_id, peer, node.ifindex.get(lag, 0), actor << 24 | actor << 16 | partner << 8 | partner,
                        actor, actor, partner, partner, pdus, 0, 0, 0, 0, pdus, 0, 0)
                out.append(s)
        return out

    def flow_samples(self, arrivals: dict[str, list[tuple]]) -> list[SflowSample]:
        """Flow samples of the packets that arrived on this device's ports in
        the last tick, taken as a switch does: 1 in N at random (a skip drawn
        uniformly from 1 to 2N-1), on ingress, with the cumulative sample_pool;
        a packet the device dropped is sampled with its drop code as output."""
        out, n_rate = [], self.sampling_rate
        for name, port in self.node.ports.items():
            arrived = arrivals.get(port.key)
            if not arrived:
                continue
            idx = self.node.ifindex.get(name, 0)
            packets = [nbytes / PACKET_BYTES for _, nbytes, _, _ in arrived]
            total = sum(packets) + self.carry.get(name, 0.0)
            whole = int(total)
            self.carry[name] = total - whole
            skip = self.skip.get(name) or self.rng.randint(1, 2 * n_rate - 1)
            pos, i, seen = 0, 0, packets[0]
            while skip <= whole - pos:
                pos += skip
                while pos > seen and i + 1 < len(arrived):
                    i += 1
                    seen += packets[i]
                flow, _, out_port, drop = arrived[i]
                src, dst, proto, sport, dport = flow.five_tuple
                hdr = build_header(f"00:c1:c1:00:00:{idx & 0xFF:02x}", "00:c2:c2:00:00:01", src, dst, proto, sport,
                                   dport, payload_len=PACKET_BYTES - 28, snap=128)
                pool = (self.pool.get(name, 0) + pos) & 0xFFFFFFFF
                out.append(SflowSample(
                    self.agent, None, 0, 0, 0, "flow", self._next_seq(idx), 0, idx, n_rate, pool, 0, idx,
                    self.node.ifindex.get(out_port, 0) if drop is None else drop,
                    sampled_header=SflowSampledHeader(1, PACKET_BYTES + 18, 4, len(hdr), hdr),
                    input_format=0, output_format=0 if drop is None else 1))
                skip = self.rng.randint(1, 2 * n_rate - 1)
            self.skip[name] = skip - (whole - pos)
            self.pool[name] = (self.pool.get(name, 0) + whole) & 0xFFFFFFFF
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
