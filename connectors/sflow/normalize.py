"""Map decoded sFlow samples to the normalized telemetry records the
processors read (interface counters, LAG member state), naming interfaces
through the inventory's ifIndex map, and reading each agent's LACP port
states in the bit order it writes (fabtel.lacp). The one place sFlow meets
the schema. May import: fabtel.config, fabtel.lacp, fabtel.records."""
from __future__ import annotations

from fabtel import lacp
from fabtel.config import Fabric
from fabtel.records import InterfaceCounters, LagMemberState, SflowSample


class Inventory:
    """Agent address -> device name, (device, ifIndex) -> interface, and the
    LACP bit order of each agent (configured per device, by default, or learnt)."""

    def __init__(self, fabric: Fabric, lacp_bit_order: str = lacp.AUTO):
        self.device_of_agent = fabric.device_by_agent()
        self.interface_of: dict[tuple[str, int], str] = {}
        for dev in fabric.devices:
            for name in dev.interfaces:
                self.interface_of[(dev.name, dev.index_of(name))] = name
        self.lacp_orders = lacp.Orders({d.sflow_agent: d.sflow_lacp_bit_order for d in fabric.devices
                                        if d.sflow_agent and d.sflow_lacp_bit_order not in (None, lacp.AUTO)},
                                       default=lacp_bit_order)

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
        wire = (lag.actorAdminPortState, lag.actorOperPortState, lag.partnerAdminPortState, lag.partnerOperPortState)
        order, how = inv.lacp_orders.order_of(sample.agent, wire)
        states = [lacp.to_ieee(x, order) for x in wire]
        out.append(LagMemberState(
            device, inv.interface(device, lag.attachedAggID) if lag.attachedAggID else None, interface, "sflow",
            ts, ts, oper, lag.actorSystemID, lag.partnerSystemID, lag.attachedAggID, *states,
            lag.portStateRaw, lag.LACPDUsRx, lag.LACPDUsTx, lag.markerPDUsRx, lag.markerPDUsTx,
            lag.markerResponsePDUsRx, lag.markerResponsePDUsTx, lag.unknownRx, lag.illegalRx,
            port_state_order=f"{order} ({how})"))
    return out
