"""Typed records that mirror the Avro schemas in `schemas/`, and the one place
that converts them to and from the dicts fastavro reads and writes.

A test keeps every dataclass's fields equal, name for name and in order, to
its schema's fields. May import: the standard library only.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_type_hints

U64 = 1 << 64
I63 = 1 << 63

# What a record is, declared once on its type (KIND) and read by routing: the
# telemetry kinds go to the partition of their device's decision domain (so
# one worker sees a whole segment), and a collector never drops a state change
# where it may drop a counters record under pressure.
STATE, COUNTERS, SAMPLES, FLOWS, INDEXES = "state", "counters", "samples", "flows", "indexes"
TELEMETRY = frozenset({STATE, COUNTERS, SAMPLES, FLOWS, INDEXES})
NEVER_DROPPED = frozenset({STATE, INDEXES})       # a state change or a map: the next may be hours away


# ------------------------------------------------------------- telemetry

@dataclass
class InterfaceCounters:
    KIND: ClassVar[str] = COUNTERS
    device: str
    interface: str
    source: str
    device_ts_ns: int
    receive_ts_ns: int
    in_octets: int | None = None
    out_octets: int | None = None
    in_unicast_pkts: int | None = None
    out_unicast_pkts: int | None = None
    in_multicast_pkts: int | None = None
    out_multicast_pkts: int | None = None
    in_broadcast_pkts: int | None = None
    out_broadcast_pkts: int | None = None
    in_discards: int | None = None
    out_discards: int | None = None
    in_errors: int | None = None
    out_errors: int | None = None
    speed_bps: int | None = None
    agent_uptime_ms: int | None = None
    UNSIGNED: ClassVar[tuple[str, ...]] = (
        "in_octets", "out_octets", "in_unicast_pkts", "out_unicast_pkts", "in_multicast_pkts",
        "out_multicast_pkts", "in_broadcast_pkts", "out_broadcast_pkts", "in_discards", "out_discards",
        "in_errors", "out_errors")


@dataclass
class InterfaceState:
    KIND: ClassVar[str] = STATE
    device: str
    interface: str
    source: str
    device_ts_ns: int
    receive_ts_ns: int
    admin_state: str | None = None
    oper_state: str | None = None
    deleted: bool = False


@dataclass
class LagMemberState:
    KIND: ClassVar[str] = STATE
    device: str
    lag: str | None
    member: str
    source: str
    device_ts_ns: int
    receive_ts_ns: int
    oper_state: str | None = None
    actor_system_id: str | None = None
    partner_system_id: str | None = None
    attached_agg_id: int | None = None
    actor_admin_port_state: int | None = None
    actor_oper_port_state: int | None = None
    partner_admin_port_state: int | None = None
    partner_oper_port_state: int | None = None
    port_state_raw: int | None = None
    lacpdus_rx: int | None = None
    lacpdus_tx: int | None = None
    marker_pdus_rx: int | None = None
    marker_pdus_tx: int | None = None
    marker_response_pdus_rx: int | None = None
    marker_response_pdus_tx: int | None = None
    unknown_rx: int | None = None
    illegal_rx: int | None = None
    deleted: bool = False
    port_state_order: str | None = None
    UNSIGNED: ClassVar[tuple[str, ...]] = (
        "lacpdus_rx", "lacpdus_tx", "marker_pdus_rx", "marker_pdus_tx", "marker_response_pdus_rx",
        "marker_response_pdus_tx", "unknown_rx", "illegal_rx")


@dataclass
class BgpSession:
    KIND: ClassVar[str] = STATE
    device: str
    network_instance: str
    peer_address: str
    device_ts_ns: int
    receive_ts_ns: int
    session_state: str
    deleted: bool = False


@dataclass
class IfIndexEntry:
    interface: str
    ifindex: int
    alias: str | None = None


@dataclass
class InterfaceIndexes:
    """A device's interface -> ifIndex map, as it reports it over gNMI (whole, each time)."""
    KIND: ClassVar[str] = INDEXES
    device: str
    source: str
    entries: list[IfIndexEntry]
    device_ts_ns: int
    receive_ts_ns: int


@dataclass
class LldpNeighbor:
    """An LLDP neighbour a device hears on one of its interfaces."""
    KIND: ClassVar[str] = STATE
    device: str
    interface: str
    neighbor_id: str
    device_ts_ns: int
    receive_ts_ns: int
    system_name: str | None = None
    chassis_id: str | None = None
    port_id: str | None = None
    port_id_type: str | None = None
    port_description: str | None = None
    deleted: bool = False


# ------------------------------------------------------------- sFlow

@dataclass
class SflowIfCounters:
    ifIndex: int
    ifType: int
    ifSpeed: int
    ifDirection: int
    ifStatus: int
    ifInOctets: int
    ifInUcastPkts: int
    ifInMulticastPkts: int
    ifInBroadcastPkts: int
    ifInDiscards: int
    ifInErrors: int
    ifInUnknownProtos: int
    ifOutOctets: int
    ifOutUcastPkts: int
    ifOutMulticastPkts: int
    ifOutBroadcastPkts: int
    ifOutDiscards: int
    ifOutErrors: int
    ifPromiscuousMode: int
    UNSIGNED: ClassVar[tuple[str, ...]] = ("ifSpeed", "ifInOctets", "ifOutOctets")


@dataclass
class SflowEthernetCounters:
    dot3StatsAlignmentErrors: int
    dot3StatsFCSErrors: int
    dot3StatsSingleCollisionFrames: int
    dot3StatsMultipleCollisionFrames: int
    dot3StatsSQETestErrors: int
    dot3StatsDeferredTransmissions: int
    dot3StatsLateCollisions: int
    dot3StatsExcessiveCollisions: int
    dot3StatsInternalMacTransmitErrors: int
    dot3StatsCarrierSenseErrors: int
    dot3StatsFrameTooLongs: int
    dot3StatsInternalMacReceiveErrors: int
    dot3StatsSymbolErrors: int


@dataclass
class SflowLagPortStats:
    actorSystemID: str
    partnerSystemID: str
    attachedAggID: int
    portStateRaw: int
    actorAdminPortState: int
    actorOperPortState: int
    partnerAdminPortState: int
    partnerOperPortState: int
    LACPDUsRx: int
    markerPDUsRx: int
    markerResponsePDUsRx: int
    unknownRx: int
    illegalRx: int
    LACPDUsTx: int
    markerPDUsTx: int
    markerResponsePDUsTx: int


@dataclass
class SflowProcessor:
    cpu_percentage_5s: int
    cpu_percentage_1m: int
    cpu_percentage_5m: int
    total_memory: int
    free_memory: int
    UNSIGNED: ClassVar[tuple[str, ...]] = ("total_memory", "free_memory")


@dataclass
class SflowSampledHeader:
    headerProtocol: int
    sampledPacketSize: int
    strippedBytes: int
    headerLen: int
    headerBytes: bytes
    srcMAC: str | None = None
    dstMAC: str | None = None
    vlan: int | None = None
    etherType: int | None = None
    srcIP: str | None = None
    dstIP: str | None = None
    IPProtocol: int | None = None
    IPTOS: int | None = None
    IPTTL: int | None = None
    srcPort: int | None = None
    dstPort: int | None = None
    TCPFlags: int | None = None
    vni: int | None = None                 # VXLAN: the VNI, and the inner packet's addresses and ports
    innerSrcIP: str | None = None
    innerDstIP: str | None = None
    innerIPProtocol: int | None = None
    innerSrcPort: int | None = None
    innerDstPort: int | None = None


@dataclass
class SflowExtendedSwitch:
    in_vlan: int
    in_priority: int
    out_vlan: int
    out_priority: int


@dataclass
class SflowExtendedRouter:
    nextHop: str
    srcSubnetMask: int
    dstSubnetMask: int


@dataclass
class SflowAsPathSegment:
    type: int
    asns: list[int]


@dataclass
class SflowExtendedGateway:
    bgp_nexthop: str
    my_as: int
    src_as: int
    src_peer_as: int
    dst_as_path: list[SflowAsPathSegment]
    dst_as: int
    dst_peer_as: int
    BGP_communities: list[int]
    BGP_localpref: int


@dataclass
class SflowSample:
    KIND: ClassVar[str] = SAMPLES
    agent: str
    device: str | None
    sub_agent_id: int
    datagram_sequence: int
    uptime_ms: int
    sample_type: str
    sample_sequence: int
    source_id_type: int
    source_id_index: int
    sampling_rate: int | None = None
    sample_pool: int | None = None
    drops: int | None = None
    input: int | None = None
    output: int | None = None
    if_counters: SflowIfCounters | None = None
    ethernet_counters: SflowEthernetCounters | None = None
    lag_port_stats: SflowLagPortStats | None = None
    processor: SflowProcessor | None = None
    sampled_header: SflowSampledHeader | None = None
    receive_ts_ns: int = 0
    input_format: int | None = None
    output_format: int | None = None
    extended_switch: SflowExtendedSwitch | None = None
    extended_router: SflowExtendedRouter | None = None
    extended_gateway: SflowExtendedGateway | None = None


# ------------------------------------------------------------- processor outputs

@dataclass
class LagMemberLoad:
    device: str
    interface: str
    rate_bps: float
    speed_bps: int | None = None
    utilisation: float | None = None
    lacp_healthy: bool | None = None
    health_reason: str | None = None
    partner_system_id: str | None = None
    port_state_order: str | None = None


@dataclass
class LagBalance:
    lag_id: str
    devices: list[str]
    window_end_ns: int
    window_ms: int
    members: list[LagMemberLoad]
    imbalance: float | None
    spread: float | None
    partner_consistent: bool
    alert: str | None = None
    busiest_member: str | None = None       # device:interface
    busiest_share: float | None = None      # of the group's traffic
    explanation: str | None = None          # the flows behind the busiest member, from flow samples
    elephant_flows: list[str] = field(default_factory=list)    # the busiest member's elephants, src:port>dst:port/proto


@dataclass
class UplinkHealth:
    device: str
    uplinks_up: int
    uplinks_total: int
    bgp_established: int
    capacity_bps: int
    load_bps: float
    carries_load: bool
    state: str
    reason: str
    evaluated_ts_ns: int
    telemetry_ts_ns: int


@dataclass
class Evidence:
    interface: str
    kind: str
    value: str
    device_ts_ns: int


@dataclass
class OperGroupDecision:
    decision_id: str
    oper_group: str
    device: str
    action: str
    down_links: list[str]
    suppressed: bool
    reason: str
    evidence: list[Evidence]
    trigger_ts_ns: int
    decided_ts_ns: int


@dataclass
class RemediationCommand:
    command_id: str
    decision_id: str
    device: str
    interface: str
    action: str
    platform: str
    path: str
    value: str
    trigger_ts_ns: int
    issued_ts_ns: int
    propose_only: bool = False          # the what-if found an overload and the group says propose


@dataclass
class RemediationOutcome:
    """What a remediation did to the traffic, watched after it took effect."""
    decision_id: str
    oper_group: str
    device: str
    down_links: list[str]
    outcome: str                        # verified, not_verified, worse
    reason: str
    effect_ts_ns: int
    decided_ts_ns: int
    took_ms: float
    before_bps: float | None = None
    after_bps: float | None = None
    blackholed_before_bps: float | None = None
    blackholed_after_bps: float | None = None
    peer_uplink_utilisation: float | None = None
    rolled_back: bool = False


@dataclass
class GroupClear:
    """A person's word that a held oper-group may act again."""
    domain: str
    oper_group: str
    by: str
    ts_ns: int


@dataclass
class RemediationResult:
    command_id: str
    decision_id: str
    device: str
    interface: str
    action: str
    outcome: str
    detail: str
    attempts: int
    trigger_ts_ns: int
    result_ts_ns: int


@dataclass
class CablingCheck:
    """One port's cabling as LLDP hears it against the intended cabling."""
    device: str
    interface: str
    verdict: str
    intended: str | None
    seen: str | None
    detail: str
    ts_ns: int


@dataclass
class DeadLetter:
    component: str
    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    reason: str
    payload: bytes
    ts_ns: int


@dataclass
class CollectorTarget:
    """A device as the gNMI collectors take it from the targets topic (no secrets)."""
    device: str
    platform: str
    address: str
    target: str | None
    insecure: bool
    skip_verify: bool
    tls_ca: str | None
    tls_cert: str | None
    tls_key: str | None
    username: str | None
    username_env: str | None
    username_file: str | None
    password_env: str | None
    password_file: str | None
    sflow_agent: str | None
    ts_ns: int


@dataclass
class MetricLabel:
    name: str
    value: str


@dataclass
class MetricSample:
    name: str
    labels: list[MetricLabel]
    value: float


@dataclass
class ComponentStats:
    component: str
    instance: str
    samples: list[MetricSample]
    ts_ns: int


@dataclass
class BmpRoute:
    family: str
    action: str
    prefix: str | None = None
    rd: str | None = None
    labels: list[int] = field(default_factory=list)
    path_id: int | None = None
    route_type: int | None = None
    esi: str | None = None
    ethernet_tag: int | None = None
    mac: str | None = None
    ip: str | None = None
    length: int | None = None


@dataclass
class BmpMessage:
    router: str
    router_address: str
    type: str
    ts_ns: int
    receive_ts_ns: int
    size: int
    peer_address: str | None = None
    peer_as: int | None = None
    peer_bgp_id: str | None = None
    router_bgp_id: str | None = None
    post_policy: bool = False
    bgp_type: str | None = None
    announced: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    as_path: list[int] = field(default_factory=list)
    next_hop: str | None = None
    peer_down_reason: int | None = None
    info: str | None = None
    routes: list[BmpRoute] = field(default_factory=list)
    end_of_rib: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class ConvergenceResult:
    event_id: str
    element: str
    kind: str
    detectors: list[str]
    messages: int
    bytes: int
    locality: list[int]
    blast_radius: int
    state_rounds: int
    state_changes: int
    detected_ts_ns: int
    converged_ts_ns: int
    closed_ts_ns: int
    families: list[str] = field(default_factory=list)


@dataclass
class RoutingEvent:
    element: str
    kind: str
    ts_ns: int
    source: str


# ------------------------------------------------------------- flows

@dataclass
class FlowEstimate:
    """One flow's share of a window, scaled from its samples."""
    src_ip: str
    dst_ip: str
    protocol: int
    src_port: int
    dst_port: int
    vlan: int | None
    samples: int
    bytes: float
    bps: float
    error_pct: float
    overcount_bytes: float = 0.0
    share: float = 0.0
    vni: int | None = None

    def text(self) -> str:
        """As the alerts say it: 10.0.1.5:443 \u2192 10.0.2.9:51514 tcp."""
        vlan = f" vlan {self.vlan}" if self.vlan is not None else ""
        vni = f" vni {self.vni}" if self.vni is not None else ""
        return f"{self.src_ip}:{self.src_port} \u2192 {self.dst_ip}:{self.dst_port} {self._proto()}{vlan}{vni}"

    def tag(self) -> str:
        """As a compact, stable name (an InfluxDB tag): 10.0.1.5:443>10.0.2.9:51514/tcp."""
        vlan = f"/vlan{self.vlan}" if self.vlan is not None else ""
        vni = f"/vni{self.vni}" if self.vni is not None else ""
        return f"{self.src_ip}:{self.src_port}>{self.dst_ip}:{self.dst_port}/{self._proto()}{vlan}{vni}"

    def _proto(self) -> str:
        return {6: "tcp", 17: "udp"}.get(self.protocol, str(self.protocol))


@dataclass
class FlowWindow:
    KIND: ClassVar[str] = FLOWS
    device: str
    interface: str
    direction: str                  # in (the data source), out (by output interface) or discard
    discard_code: int | None
    discard_reason: str | None
    window_start_ns: int
    window_end_ns: int
    samples: int
    sampling_rate: int
    packets: float
    bytes: float
    bps: float
    error_pct: float
    sample_pool_packets: int | None
    drops: int
    effective_sampling_rate: float | None
    undersampled: bool
    table_capacity: int
    table_error_bytes: float
    top_flows: list[FlowEstimate]
    outputs: list[FlowOutput] = field(default_factory=list)


@dataclass
class FlowOutput:
    interface: str
    samples: int
    bytes: float


@dataclass
class FlowMember:
    device: str
    interface: str
    estimated_bps: float
    error_pct: float
    samples: int
    counter_bps: float | None
    speed_bps: int | None
    top_flows: list[FlowEstimate]


@dataclass
class FlowElephant:
    device: str
    interface: str
    flow: FlowEstimate
    capacity_share: float
    windows: int


@dataclass
class FlowReport:
    kind: str                       # lag, ecmp, blackholing or hash_polarization
    group: str
    devices: list[str]
    window_end_ns: int
    members: list[FlowMember]
    elephants: list[FlowElephant]
    blackholed_bps: float | None
    blackholed_error_pct: float | None
    stages: list[str]
    verdict: str | None


# ------------------------------------------------------------- the Faust worker's own

@dataclass
class DomainTick:
    """A timer for one decision domain, through its partition of the worker's ticks topic."""
    domain: str
    ts_ns: int


@dataclass
class SegmentPresence:
    """Where a leaf's EVPN routes for one Ethernet segment are, for its domain's oper-groups."""
    domain: str
    device: str
    esi: str
    routers: list[str]
    routes: list[str]
    ts_ns: int


TOP_LEVEL: tuple[type, ...] = (
    InterfaceCounters, InterfaceState, LagMemberState, BgpSession, SflowSample, LagBalance,
    UplinkHealth, OperGroupDecision, RemediationCommand, RemediationResult, DeadLetter, ComponentStats,
    BmpMessage, ConvergenceResult, RoutingEvent, CollectorTarget, FlowWindow, FlowReport, DomainTick,
    SegmentPresence, InterfaceIndexes, LldpNeighbor, CablingCheck, RemediationOutcome, GroupClear)
BY_NAME: dict[str, type] = {cls.__name__: cls for cls in TOP_LEVEL}


_KIND_OF: dict[type, str | None] = {}


def kind_of(record: Any) -> str | None:
    """The record's declared kind (STATE, COUNTERS, SAMPLES, FLOWS), None for the rest."""
    cls = type(record)
    try:
        return _KIND_OF[cls]
    except KeyError:     # once per class: getattr's miss raises and drops an AttributeError on every call
        kind = _KIND_OF[cls] = getattr(cls, "KIND", None)
        return kind


def record_key(record: Any) -> bytes:
    """The Kafka key: the device, so one device's records stay ordered (an
    unknown sFlow agent's samples: its address)."""
    key = (getattr(record, "device", None) or getattr(record, "agent", None) or getattr(record, "lag_id", None)
           or getattr(record, "router", None)
           or getattr(record, "group", None)
           or getattr(record, "element", None) or getattr(record, "component", ""))
    return key.encode()


# ------------------------------------------------------------- conversion

class _Converter:
    """Converts one dataclass to and from an Avro dict, recursing into the
    fields that hold records, and mapping unsigned 64-bit counters to Avro's
    signed long by two's complement."""

    def __init__(self, cls: type):
        self.cls = cls
        hints = get_type_hints(cls)
        self.names = [f.name for f in dataclasses.fields(cls)]
        self.unsigned = tuple(getattr(cls, "UNSIGNED", ()))
        self.nested: dict[str, type] = {}
        self.lists: dict[str, type] = {}
        for name in self.names:
            hint = hints[name]
            args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
            if dataclasses.is_dataclass(hint):
                self.nested[name] = hint
            elif getattr(hint, "__origin__", None) is list and dataclasses.is_dataclass(args[0]):
                self.lists[name] = args[0]
            elif len(args) == 1 and dataclasses.is_dataclass(args[0]):
                self.nested[name] = args[0]
        self.plain = not (self.unsigned or self.nested or self.lists)

    def to_dict(self, rec: Any) -> dict:
        d = dict(rec.__dict__)
        if self.plain:
            return d
        for name in self.unsigned:
            v = d[name]
            if v is not None and v >= I63:
                d[name] = v - U64
        for name in self.nested:
            v = d[name]
            if v is not None:
                d[name] = _converter(type(v)).to_dict(v)
        for name, cls in self.lists.items():
            conv = _converter(cls)
            d[name] = [conv.to_dict(v) for v in d[name]]
        return d

    def from_dict(self, d: dict) -> Any:
        values = {name: d.get(name) for name in self.names}
        for name in self.unsigned:
            v = values[name]
            if v is not None and v < 0:
                values[name] = v + U64
        for name, cls in self.nested.items():
            if values[name] is not None:
                values[name] = _converter(cls).from_dict(values[name])
        for name, cls in self.lists.items():
            conv = _converter(cls)
            values[name] = [conv.from_dict(v) for v in values[name] or ()]
        return self.cls(**values)


_CONVERTERS: dict[type, _Converter] = {}


def _converter(cls: type) -> _Converter:
    conv = _CONVERTERS.get(cls)
    if conv is None:
        conv = _CONVERTERS[cls] = _Converter(cls)
    return conv


def to_avro(record: Any) -> dict:
    """A record as the dict its Avro schema describes."""
    return _converter(type(record)).to_dict(record)


def from_avro(record_name: str, data: dict) -> Any:
    """The typed record for a dict read with the schema named `record_name`."""
    return _converter(BY_NAME[record_name]).from_dict(data)


def to_json(record: Any) -> dict:
    """A JSON-friendly dict (bytes as hex), for `topics tail` and reports."""
    def clean(v):
        if isinstance(v, bytes):
            return v.hex()
        if dataclasses.is_dataclass(v):
            return {k: clean(x) for k, x in v.__dict__.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    return clean(record)
