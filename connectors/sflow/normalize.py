"""Map decoded sFlow samples to the normalized telemetry records the
processors read (interface counters, LAG member state), naming interfaces
through each device's ifIndex map, and reading each agent's LACP port
states in the bit order it writes (fabtel.lacp). The one place sFlow meets
the schema.

sFlow carries ifIndex numbers, and what a number means is the device's own
scheme (SR Linux's ethernet-1/1 is 16382): the map is the one the device
reports over gNMI (InterfaceIndexes, learnt as it arrives), or the
configuration's `ifindex` entries, which win (a device without gNMI). A
counter sample of a device whose map has not arrived yet is held
(`PendingSamples`) and named once it does; one whose number the map does
not have, or held too long, is kept under its number ("ifIndex16382") and
counted by reason. A platform whose agent writes made-up LACP port states
(SONiC's hsflowd: fabtel.sflow_facts) has its LAG records kept without
them: the member's oper state still counts, its LACP state is not judged.
May import: fabtel.config, fabtel.lacp, fabtel.records, fabtel.sflow_facts."""
from __future__ import annotations

from collections import deque

from fabtel import lacp
from fabtel.config import Fabric
from fabtel.records import InterfaceCounters, InterfaceIndexes, LagMemberState, SflowSample
from fabtel.sflow_facts import PLACEHOLDER, facts

NO_MAP, NOT_IN_MAP = "no ifIndex map for the device", "not in the device's ifIndex map"
WAITING = "waiting for the device's ifIndex map"      # held; named once it comes
MAP_WAIT_NS = 30_000_000_000       # how long a sample (or a flow window) waits for its device's map


class Inventory:
    """Agent address -> device name, (device, ifIndex) -> interface, and the
    LACP bit order of each agent (configured per device, by default, or learnt)."""

    def __init__(self, fabric: Fabric, lacp_bit_order: str = lacp.AUTO):
        self.device_of_agent = fabric.device_by_agent()
        self.configured = {d.name: {i: n for n, i in d.ifindex.items()} for d in fabric.devices if d.ifindex}
        self.reporting = {d.name for d in fabric.devices if d.gnmi}        # whose map comes over gNMI
        self.placeholder_lacp = {d.name: facts(d.platform).agent for d in fabric.devices
                                 if facts(d.platform).lacp_states == PLACEHOLDER}
        self.learned: dict[str, dict[int, str]] = {}
        self.lacp_orders = lacp.Orders({d.sflow_agent: d.sflow_lacp_bit_order for d in fabric.devices
                                        if d.sflow_agent and d.sflow_lacp_bit_order not in (None, lacp.AUTO)},
                                       default=lacp_bit_order)

    def device(self, agent: str) -> str | None:
        return self.device_of_agent.get(agent)

    def learn(self, rec: InterfaceIndexes) -> None:
        """The map the device reported (the whole map, replacing the last)."""
        self.learned[rec.device] = {e.ifindex: e.interface for e in rec.entries}

    def awaits(self, device: str) -> bool:
        """Whether a map for `device` is still to come (it reports one over gNMI; none arrived yet)."""
        return device in self.reporting and device not in self.learned and device not in self.configured

    def resolve(self, device: str, ifindex: int) -> tuple[str | None, str | None]:
        """(interface, None), or (None, why it is not known)."""
        for table in (self.configured.get(device), self.learned.get(device)):
            if table and ifindex in table:
                return table[ifindex], None
        return None, NOT_IN_MAP if device in self.learned or device in self.configured else NO_MAP

    def interface(self, device: str, ifindex: int) -> str:
        """The interface's name, or the number kept as one ("ifIndex16382")."""
        return self.resolve(device, ifindex)[0] or f"ifIndex{ifindex}"


class PendingSamples:
    """Counter samples of devices whose ifIndex map is still to come, held in
    arrival order (at most `per_device` each, `hold_ns` long) so that they are
    named once it comes; released unnamed when it does not."""

    def __init__(self, hold_ns: int = MAP_WAIT_NS, per_device: int = 5000):
        self.hold_ns, self.per_device = hold_ns, per_device
        self.held: dict[str, deque] = {}

    def hold(self, device: str, sample: SflowSample, now_ns: int) -> SflowSample | None:
        """Hold `sample`; the oldest held sample of the device when it overflows."""
        q = self.held.setdefault(device, deque())
        q.append((now_ns, sample))
        return q.popleft()[1] if len(q) > self.per_device else None

    def release(self, device: str) -> list[SflowSample]:
        return [s for _, s in self.held.pop(device, ())]

    def expired(self, now_ns: int) -> list[SflowSample]:
        out = []
        for device, q in list(self.held.items()):
            while q and now_ns - q[0][0] > self.hold_ns:
                out.append(q.popleft()[1])
            if not q:
                del self.held[device]
        return out


class Naming:
    """What the pipeline's normalizer does with each record of its input: a
    device's map is learnt and releases the samples that waited for it; a
    counter sample of a device whose map is to come waits; the rest become
    InterfaceCounters and LagMemberState at once. `count(metric, device,
    reason)` hears of each number left unnamed (and why) and of each held
    sample named once its map came ("resolved")."""

    def __init__(self, inventory: Inventory, count, pending: PendingSamples | None = None):
        self.inventory, self.count = inventory, count
        self.pending = pending or PendingSamples()

    def learn(self, rec: InterfaceIndexes, now_ns: int) -> list:
        self.inventory.learn(rec)
        out = []
        for sample in self.pending.release(rec.device):
            if self.inventory.resolve(rec.device, _numbers(sample)[0])[0] is not None:
                self.count("resolved", rec.device, WAITING)
            out += self._named(sample)
        return out + self.expire(now_ns)

    def sample(self, sample: SflowSample, now_ns: int) -> list:
        device = sample.device or sample.agent
        if sample.sample_type == "counters" and self.inventory.awaits(device):
            self.count("unresolved", device, WAITING)
            sample = self.pending.hold(device, sample, now_ns)       # the oldest, when too many wait
        return (self._named(sample) if sample is not None else []) + self.expire(now_ns)

    def expire(self, now_ns: int) -> list:
        """The samples that waited too long, under their numbers."""
        return [rec for sample in self.pending.expired(now_ns) for rec in self._named(sample)]

    def _named(self, sample: SflowSample) -> list:
        for device, reason in unresolved(sample, self.inventory):
            self.count("unresolved", device, reason)
        return normalize(sample, self.inventory)


def unresolved(sample: SflowSample, inv: Inventory) -> list[tuple[str, str]]:
    """(device, reason) for each ifIndex of a counter sample its device's map does not name."""
    if sample.sample_type != "counters":
        return []
    device = sample.device or sample.agent
    return [(device, why) for n in _numbers(sample) if (why := inv.resolve(device, n)[1]) is not None]


def _numbers(sample: SflowSample) -> list[int]:
    """The ifIndex numbers a counter sample names: its interface's, then its LAG's."""
    c, lag = sample.if_counters, sample.lag_port_stats
    numbers = [c.ifIndex if c is not None else sample.source_id_index]
    if lag is not None and lag.attachedAggID:
        numbers.append(lag.attachedAggID)
    return numbers


def normalize(sample: SflowSample, inv: Inventory) -> list:
    """InterfaceCounters and LagMemberState records carried by one counter sample."""
    if sample.sample_type != "counters":
        return []
    device = sample.device or sample.agent
    ts = sample.receive_ts_ns
    out: list = []
    c = sample.if_counters
    ifindex = c.ifIndex if c is not None else sample.source_id_index
    interface = inv.interface(device, ifindex)
    if c is not None:
        out.append(InterfaceCounters(
            device, interface, "sflow", ts, ts, c.ifInOctets, c.ifOutOctets, c.ifInUcastPkts, c.ifOutUcastPkts,
            c.ifInMulticastPkts, c.ifOutMulticastPkts, c.ifInBroadcastPkts, c.ifOutBroadcastPkts,
            c.ifInDiscards, c.ifOutDiscards, c.ifInErrors, c.ifOutErrors, c.ifSpeed, sample.uptime_ms))
    lag = sample.lag_port_stats
    if lag is not None:
        oper = None if c is None else ("up" if c.ifStatus & 2 else "down")
        wire = (lag.actorAdminPortState, lag.actorOperPortState, lag.partnerAdminPortState, lag.partnerOperPortState)
        if device in inv.placeholder_lacp:
            states, port_order = [None] * 4, f"none ({inv.placeholder_lacp[device]} writes placeholders)"
        else:
            order, how = inv.lacp_orders.order_of(sample.agent, wire)
            states, port_order = [lacp.to_ieee(x, order) for x in wire], f"{order} ({how})"
        out.append(LagMemberState(
            device, inv.interface(device, lag.attachedAggID) if lag.attachedAggID else None, interface, "sflow",
            ts, ts, oper, lag.actorSystemID, lag.partnerSystemID, lag.attachedAggID, *states,
            lag.portStateRaw, lag.LACPDUsRx, lag.LACPDUsTx, lag.markerPDUsRx, lag.markerPDUsTx,
            lag.markerResponsePDUsRx, lag.markerResponsePDUsTx, lag.unknownRx, lag.illegalRx,
            port_state_order=port_order))
    return out
