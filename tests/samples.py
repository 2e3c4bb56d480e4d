"""One fully populated record of every type, for round-trip tests."""
from __future__ import annotations

from fabtel import records as r

NS = 1_700_000_000_000_000_000


def every_record() -> list:
    if_c = r.SflowIfCounters(1001, 6, 10_000_000_000, 1, 3, 2**40 + 7, 5, 6, 7, 8, 9, 10, 2**33, 12, 13, 14, 15, 16, 0)
    eth = r.SflowEthernetCounters(*range(1, 14))
    lag = r.SflowLagPortStats("00:11:22:33:44:55", "66:77:88:99:aa:bb", 100001, 0x3D3D3D3D, 61, 61, 61, 61,
                              *range(100, 108))
    proc = r.SflowProcessor(1000, 2000, 3000, 2**34, 2**33)
    hdr = r.SflowSampledHeader(1, 1514, 4, 14, b"\x00" * 14, "00:00:00:00:00:01", "00:00:00:00:00:02",
                               10, 0x0800, "198.18.1.1", "198.18.2.2", 6, 0, 64, 1234, 80, 0x18)
    return [
        r.InterfaceCounters("leaf1", "ethernet-1/1", "gnmi", NS, NS + 5, *range(1, 12), 2**64 - 1, 10**10, 12345),
        r.InterfaceState("leaf1", "ethernet-1/49", "gnmi", NS, NS + 5, "disable", "down"),
        r.LagMemberState("leaf1", "lag1", "ethernet-1/1", "sflow", NS, NS + 5, "up", "00:11:22:33:44:55",
                         "66:77:88:99:aa:bb", 100001, 61, 61, 61, 13, 0x3D3D3D0D, *range(1, 9), False,
                         "mib-bits (detected)"),
        r.BgpSession("leaf1", "default", "198.18.100.1", NS, NS + 5, "established"),
        r.SflowSample("198.18.0.11", "leaf1", 0, 42, 3_600_000, "counters", 7, 0, 1001,
                      if_counters=if_c, ethernet_counters=eth, lag_port_stats=lag, processor=proc, receive_ts_ns=NS),
        r.SflowSample("2001:db8::1", None, 1, 43, 3_600_100, "flow", 8, 0, 1001, 1024, 2048, 0, 1001, 259,
                      sampled_header=hdr, receive_ts_ns=NS, input_format=0, output_format=1,
                      extended_switch=r.SflowExtendedSwitch(10, 3, 20, 5),
                      extended_router=r.SflowExtendedRouter("198.18.0.1", 24, 16),
                      extended_gateway=r.SflowExtendedGateway(
                          "2001:db8::fe", 65001, 65010, 65002, [r.SflowAsPathSegment(2, [65002, 4_200_000_000])],
                          4_200_000_000, 65002, [65001 << 16 | 100], 150)),
        r.LagBalance("esi:01:11:11:11:11:11:11:00:00:01", ["leaf1", "leaf2"], NS, 5000,
                     [r.LagMemberLoad("leaf1", "ethernet-1/1", 1e6, 10**10, 1e-4, True, None, "00:c1:c1:00:00:01"),
                      r.LagMemberLoad("leaf2", "ethernet-1/1", 0.0, None, None, False, "partner not collecting", None)],
                     2.0, 1e-4, True, "member leaf2:ethernet-1/1 unhealthy"),
        r.UplinkHealth("leaf1", 0, 2, 0, 0, 4e5, False, "isolated", "no uplink up", NS, NS),
        r.OperGroupDecision("d-1", "og-leaf1", "leaf1", "disable", ["ethernet-1/1"], False, "0 of 2 uplinks up",
                            [r.Evidence("ethernet-1/49", "oper_state", "down", NS)], NS, NS + 10),
        r.RemediationCommand("c-1", "d-1", "leaf1", "ethernet-1/1", "disable", "srlinux",
                             "/interface[name=ethernet-1/1]/admin-state", '"disable"', NS, NS + 20),
        r.RemediationResult("c-1", "d-1", "leaf1", "ethernet-1/1", "disable", "applied", "", 1, NS, NS + 30),
        r.DeadLetter("test", "fabtel.x", 1, 17, b"leaf1", "bad", b"\x00\x01", NS),
        r.ComponentStats("gnmi", "pod-0/7", [r.MetricSample("updates_total", [r.MetricLabel("device", "leaf1")], 12.0),
                                             r.MetricSample("devices", [], 3.0)], NS),
        r.BmpMessage("leaf_1_0_1", "198.19.255.1", "route_mirroring", NS, NS + 5, 27, "198.18.0.1", 65001,
                     "198.19.0.1", "198.19.0.9", False, "update", ["198.19.1.1/32"], ["198.19.2.1/32"], [65001, 65100], "198.18.0.1"),
        r.BmpMessage("spine_1_1_1", "198.19.255.2", "peer_down", NS, NS, 48, "198.18.0.0", 65001, "198.19.0.2",
                     peer_down_reason=5),
        r.RoutingEvent("leaf_1_0_1", "failure", NS, "lab"),
        r.ConvergenceResult("e1", "leaf_1_0_1", "failure", ["spine_1_1_1"], 6, 162, [0, 2, 2, 2], 18, 4, 7, NS, NS + 9, NS + 10),
        r.CollectorTarget("leaf1", "srlinux", "198.18.0.11:57400", None, False, False, "/etc/fabtel/tls/ca.crt", None,
                          None, None, "FABTEL_GNMI_USER", None, "FABTEL_GNMI_PASSWORD", None, "198.18.0.11", NS),
        r.FlowWindow("leaf1", "ethernet-1/1", "in", None, None, NS - 5 * 10**9, NS, 400, 1000, 400000.0, 4e8, 6.4e8,
                     9.8, 400210, 0, 1000.5, False, 256, 0.0,
                     [r.FlowEstimate("198.18.0.1", "198.18.200.1", 17, 10000, 5201, 10, 300, 3e8, 4.8e8, 11.3, 0.0, 0.75)],
                     [r.FlowOutput("ethernet-1/49", 200, 2e8), r.FlowOutput("(discard: net unreachable)", 200, 2e8)]),
        r.FlowReport("lag", "esi:01:11:11:11:11:11:11:00:00:01", ["leaf1", "leaf2"], NS,
                     [r.FlowMember("leaf1", "ethernet-1/1", 6.4e8, 9.8, 400, 6.5e8, 10**10, [])],
                     [r.FlowElephant("leaf1", "ethernet-1/1", r.FlowEstimate("198.18.0.1", "198.18.200.1", 17, 10000,
                                     5201, None, 300, 3e8, 4.8e8, 11.3, 0.0, 0.75), 0.048, 2)],
                     None, None, [], "leaf1:ethernet-1/1 elephant"),
        r.InterfaceIndexes("leaf1", "gnmi", [r.IfIndexEntry("ethernet-1/1", 16382), r.IfIndexEntry("ethernet-1/49", 1589246),
                                             r.IfIndexEntry("Ethernet0", 1, "etp1")], NS, NS + 3),
        r.LldpNeighbor("leaf1", "ethernet-1/49", "0e:5a:1b:22:9c:00", NS, NS + 2, "spine1", "0e:5a:1b:22:9c:00",
                       "ethernet-1/1", "INTERFACE_NAME", None),
        r.RemediationOutcome("d1", "og-leaf1", "leaf1", ["ethernet-1/1"], "verified", "the client's traffic moved",
                             NS, NS + 1_500_000_000, 1500.0, 1.8e9, 1.79e9, 9e8, None, 0.56),
        r.GroupClear("leaf1+leaf2", "og-leaf1", "alice", NS),
        r.CablingCheck("leaf1", "ethernet-1/49", "miswired", "spine1:ethernet-1/1", "spine1:ethernet-1/2",
                       "leaf1:ethernet-1/49 is cabled to spine1:ethernet-1/2, not to spine1:ethernet-1/1 as intended", NS),
        r.DomainTick("leaf1+leaf2", NS),
        r.SegmentPresence("leaf1+leaf2", "leaf1", "01:11:11:11:11:11:11:00:00:01", ["spine1", "spine2"],
                          ["type-1 rd 198.19.0.11:1 at spine1", "type-4 rd 198.19.0.11:0 at spine1"], NS),
    ]
