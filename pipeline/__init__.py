"""Stream processors. The judgements are pure modules over typed records:
`counters` (rates, wrap, restarts), `lag_balance` (LAG balance and LACP
health), `uplink_health`, `oper_group` (the decision state machine),
`fabric_view` and `domain` (what one partition knows), `convergence`
(Sibyl's metrics) and `convergence_events` (BMP records into events). `app` is the Faust
plumbing that feeds them. May import fabtel and the connectors' pure
normalizers (connectors.sflow.normalize); never a connector's I/O loop."""
