"""Map decoded sFlow samples to the normalized telemetry records the
processors read (interface counters, LAG member state), naming interfaces
through the inventory's ifIndex map. The one place sFlow meets the schema."""
from __future__ import annotations

from fabtel.config import Fabric
from fabtel.records import InterfaceCounters, LagMemberState, SflowSample


class Inventory:
    """Agent address -> device name, and (device, ifIndex) -> interface."""

    def __init__(self, fabric: Fabric):
        self.device_of_agent = fabric.device_by_agent()
        self.interface_of: dict[tuple[str, int], str] = {}
        for dev in fabric.devices:
            for name in dev.interfaces:
                self.interface_of[(dev.name, dev.index_of(name))] = name

    def device(self, agent: str) -> str | None:
        return self.device_of_agent.get(agent)

    def interface(self, device: str, ifindex: int) -> str:
        return self.interface_of.get((device, ifindex)) or f"ifIndex{ifindex}"


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
        out.append(LagMemberState(
            device, inv.interface(device, lag.attachedAggID) if lag.attachedAggID else None, interface, "sflow",
            ts, ts, oper, lag.actorSystemID, lag.partnerSystemID, lag.attachedAggID,
            lag.actorAdminPortState, lag.actorOperPortState, lag.partnerAdminPortState, lag.partnerOperPortState,
            lag.portStateRaw, lag.LACPDUsRx, lag.LACPDUsTx, lag.markerPDUsRx, lag.markerPDUsTx,
            lag.markerResponsePDUsRx, lag.markerResponsePDUsTx, lag.unknownRx, lag.illegalRx))
    return out
