"""The simulated fabric: `model` (state and traffic, pure), `gnmi_target`
(a real gRPC gNMI target per device), `sflow_agent` (real sFlow over UDP),
`scenario` (scenario files), `generate` (large fabrics), `runner` (the
clock that drives them) and `frr/` (the FRR fat-tree lab). May import
fabtel and connectors.sflow's codec; nothing imports lab but the CLI,
the demo, the benchmarks and the tests.
"""
