"""Flow estimates from flow samples: per device, interface, direction and
window, samples scaled by their sampling rate, with sFlow's error bound
(196 x sqrt(1/n) % at 95 % confidence for n samples), under-sampling from
sample_pool and drops, and the largest flows from a bounded heavy-hitter
table (space-saving), so memory stays fixed whatever the number of flows.
Pure: the collector feeds it decoded samples and sends what `due` returns.
May import: the standard library, fabtel.records, fabtel.sampling, connectors.sflow.codec.

Flows are keyed by 5-tuple, VLAN and, for VXLAN, the inner 5-tuple and VNI.
A sample counts three ways: in the window of the interface it was taken on
(direction "in", its data source, with sample_pool and drops), in the
window of its output interface ("out": a LAG member's or an uplink's egress
seen by ingress sampling), and, when the packet was discarded (output
format 1), in the input interface's "discard" window for its drop code.
"""
from __future__ import annotations

import heapq
import math
from typing import Callable

from fabtel.connectors.sflow.codec import drop_reason
from fabtel.records import FlowEstimate, FlowOutput, FlowWindow, SflowSample
from fabtel.sampling import DISCARD, IN, OUT, error_pct

FlowKey = tuple          # (src ip, dst ip, protocol, src port, dst port, vlan, vni)


def _order(key: FlowKey) -> tuple:
    """A key as the heap orders equal counts: an absent VLAN or VNI as -1
    (None does not compare with an int; the compiled table orders the same)."""
    return tuple(-1 if x is None else x for x in key)


class SpaceSaving:
    """The top flows of a stream in `capacity` counters (Metwally et al.): a
    new flow that finds the table full takes over the smallest counter and
    inherits its count as possible over-count. Any flow with more than
    total/capacity samples is in the table; a counter over-counts by at most
    the count it inherited. Counts are samples; bytes ride along."""
    __slots__ = ("capacity", "entries", "heap", "evicted")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.entries: dict[FlowKey, list] = {}     # key -> [samples, bytes, inherited samples, inherited bytes]
        self.heap: list = []                       # (samples, key order, key), lazily updated
        self.evicted = False

    def add(self, key: FlowKey, nbytes: float) -> None:
        e = self.entries.get(key)
        if e is not None:
            e[0] += 1
            e[1] += nbytes
            return
        if len(self.entries) < self.capacity:
            self.entries[key] = [1, nbytes, 0, 0]
            heapq.heappush(self.heap, (1, _order(key), key))
            return
        victim = self._smallest()
        v = self.entries.pop(victim)
        self.entries[key] = [v[0] + 1, v[1] + nbytes, v[0], v[1]]
        heapq.heappush(self.heap, (v[0] + 1, _order(key), key))
        self.evicted = True

    def _smallest(self) -> FlowKey:
        heap, entries = self.heap, self.entries
        while True:
            count, order, key = heap[0]
            e = entries.get(key)
            if e is None:
                heapq.heappop(heap)
            elif e[0] != count:
                heapq.heapreplace(heap, (e[0], order, key))
            else:
                heapq.heappop(heap)
                return key

    def min_count(self) -> tuple[int, float]:
        """(samples, bytes) of the smallest counter once flows were evicted, else (0, 0)."""
        if not self.evicted or not self.entries:
            return 0, 0.0
        e = min(self.entries.values(), key=lambda x: x[0])
        return e[0], e[1]

    def top(self, n: int) -> list[tuple[FlowKey, list]]:
        return heapq.nlargest(n, self.entries.items(), key=lambda kv: kv[1][1])


class _Window:
    __slots__ = ("samples", "packets", "bytes", "rate", "pool", "drops", "table", "outputs")

    def __init__(self, capacity: int):
        self.samples, self.packets, self.bytes, self.rate = 0, 0.0, 0.0, 0
        self.pool, self.drops = 0, 0
        self.table = SpaceSaving(capacity)
        self.outputs: dict[str | int, list] = {}       # an output's ifIndex, or what it is instead


class FlowAggregator:
    """Windows of every interface of every agent, closed on the collector's clock."""

    def __init__(self, window_ms: int, table_size: int, top_n: int,
                 interface_name: Callable[[str, int], str]):
        self.window_ns = window_ms * 1_000_000
        self.table_size, self.top_n = table_size, top_n
        # Windows and outputs are kept by ifIndex and named when the window
        # closes, so a sample that came before its device's ifIndex map is
        # named all the same once the map arrives within the window.
        self.interface_name = interface_name
        self.windows: dict[int, dict[tuple, _Window]] = {}     # window start -> (device, ifIndex, direction, code) -> window
        self.last_pool: dict[tuple[str, int], tuple[int, int]] = {}   # (device, source) -> (sample_pool, drops)

    def _window(self, start: int, key: tuple) -> _Window:
        by_key = self.windows.get(start)
        if by_key is None:
            by_key = self.windows[start] = {}
        w = by_key.get(key)
        if w is None:
            w = by_key[key] = _Window(self.table_size)
        return w

    def add_sample(self, device: str, s: SflowSample, ts_ns: int) -> None:
        """One decoded flow sample (connectors/sflow/codec.py)."""
        h = s.sampled_header
        if h is None:                   # no frame length to scale: nothing to estimate from
            return
        if h.vni is not None and h.innerSrcIP is not None:      # a tunnelled flow: the inner packet, and its VNI
            key = (h.innerSrcIP, h.innerDstIP, h.innerIPProtocol, h.innerSrcPort or 0, h.innerDstPort or 0, h.vlan,
                   h.vni)
        elif h.srcIP is not None:
            key = (h.srcIP, h.dstIP, h.IPProtocol, h.srcPort or 0, h.dstPort or 0, h.vlan, None)
        else:
            key = None                  # not IP (ARP, LLDP, a header too short): counted in the rate, in no flow
        source = s.source_id_index if s.source_id_type == 0 else s.input
        self.add(device, source, s.sampling_rate, s.sample_pool, s.drops, s.output_format or 0, s.output,
                 h.sampledPacketSize, key, ts_ns)

    def add(self, device: str, source: int, rate: int, pool: int, drops: int, out_format: int, output: int,
            frame_len: int, key: FlowKey | None, ts_ns: int) -> None:
        start = ts_ns - ts_ns % self.window_ns
        scaled = rate * frame_len
        w = self._window(start, (device, source, IN, None))
        self._count(w, rate, scaled, key)
        last = self.last_pool.get((device, source))
        if last is not None:
            grown = (pool - last[0]) & 0xFFFFFFFF            # a 32-bit counter: wraps
            if grown < 1 << 31:                              # else it went back: the agent restarted
                w.pool += grown
                w.drops += (drops - last[1]) & 0xFFFFFFFF
        self.last_pool[(device, source)] = (pool, drops)
        if out_format == 1:
            where: str | int = f"(discard: {drop_reason(output)})"
            self._count(self._window(start, (device, source, DISCARD, output)), rate, scaled, key)
        elif out_format == 0 and output not in (0, 0x3FFFFFFF):
            where = output                                   # an ifIndex, named with the window
            self._count(self._window(start, (device, output, OUT, None)), rate, scaled, key)
        else:
            where = "(unknown)" if out_format == 0 else "(multiple)"
        o = w.outputs.get(where)
        if o is None:
            o = w.outputs[where] = [0, 0.0]
        o[0] += 1
        o[1] += scaled

    @staticmethod
    def _count(w: _Window, rate: int, scaled: float, key: FlowKey | None) -> None:
        w.samples += 1
        w.packets += rate
        w.bytes += scaled
        w.rate = rate
        if key is not None:
            w.table.add(key, scaled)

    def closed(self, now_ns: int, every: bool = False) -> list[tuple[tuple, "_Window", int, int]]:
        """(key, window, start, end) of the windows that ended by now_ns (with
        `every`, at shutdown, the rest too: one not ended yet ends now); forgets them."""
        out = []
        for start in sorted(s for s in self.windows if s + self.window_ns <= now_ns):
            out += [(key, w, start, start + self.window_ns) for key, w in self.windows.pop(start).items()]
        if every:
            for start in sorted(self.windows):
                out += [(key, w, start, max(now_ns, start + 1)) for key, w in self.windows.pop(start).items()]
        return out

    def due(self, now_ns: int) -> list[FlowWindow]:
        """The windows that ended by now_ns, as records; forgets them."""
        return [self._record(*c) for c in self.closed(now_ns)]

    def flush(self, now_ns: int) -> list[FlowWindow]:
        """Every window (at shutdown), as records."""
        return [self._record(*c) for c in self.closed(now_ns, every=True)]

    def _record(self, key: tuple, w, start: int, end: int) -> FlowWindow:
        return window_record(key, w, start, end, self.interface_name, self.table_size, self.top_n)


def window_record(key: tuple, w, start: int, end: int, interface_name: Callable[[str, int], str], table_size: int,
                  top_n: int) -> FlowWindow:
    """A window as its record: the estimate scaled (by the pool where samples were lost), its top flows, its
    outputs named. `w` is a _Window, or a window the compiled aggregator handed over (fabtel.native)."""
    device, ifindex, direction, code = key
    interface = interface_name(device, ifindex)
    seconds = (end - start) / 1e9
    scale, effective, under = 1.0, None, w.drops > 0
    if direction == IN and w.pool:
        effective = w.pool / w.samples
        expected = w.pool / w.rate if w.rate else 0.0
        # Fewer samples than the pool says were taken (beyond chance: 3 sigma): lost in transit.
        if w.samples < expected - 3 * math.sqrt(expected):
            under = True
        if under:
            scale = w.pool / w.packets
    total = w.bytes * scale
    _, min_bytes = w.table.min_count()
    top = []
    for fk, (n, nbytes, _, inherited_bytes) in w.table.top(top_n):
        b = nbytes * scale
        top.append(FlowEstimate(fk[0], fk[1], fk[2], fk[3], fk[4], fk[5], n, b, b * 8 / seconds, error_pct(n),
                                inherited_bytes * scale, b / total if total else 0.0, fk[6]))
    named = {(interface_name(device, where) if isinstance(where, int) else where): v
             for where, v in w.outputs.items()}
    outputs = [FlowOutput(name, n, b * scale) for name, (n, b) in sorted(named.items())]
    return FlowWindow(device, interface, direction, code, drop_reason(code) if code is not None else None,
                      start, end, w.samples, w.rate, w.packets * scale, total, total * 8 / seconds,
                      error_pct(w.samples), w.pool if direction == IN else None, w.drops, effective, under,
                      table_size, min_bytes * scale, top, outputs)


class HandedOver:
    """A window as the compiled aggregator hands it over (SflowDecoder.take_windows), with the
    attributes window_record reads."""
    __slots__ = ("start", "key", "samples", "packets", "bytes", "rate", "pool", "drops", "outputs", "table")

    def __init__(self, t: tuple):
        (self.start, self.key, self.samples, self.packets, self.bytes, self.rate, self.pool, self.drops, outputs,
         top, minimum) = t
        self.outputs = {where: [n, b] for where, n, b in outputs}
        self.table = _HandedTable(top, minimum)


class _HandedTable:
    __slots__ = ("_top", "_min")

    def __init__(self, top: list, minimum: tuple):
        self._top, self._min = [(key, [n, b, n0, b0]) for key, n, b, n0, b0 in top], minimum

    def min_count(self) -> tuple:
        return self._min

    def top(self, n: int) -> list:
        return self._top[:n]
