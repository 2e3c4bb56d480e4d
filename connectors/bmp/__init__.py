"""BMP (RFC 7854) connector: routers running BGP (FRR's `bgpd -M bmp`) stream
their BGP messages to the collector, which produces one BmpMessage record per
BMP message, keyed by router, to Kafka.

- codec.py: BMP and BGP message decoding and encoding (pure, no I/O); the
  same decoding compiled (fabtel.native) for the collector.
- collector.py: the TCP server, per-session state (the router's sysName),
  Kafka production, malformed messages counted and dead-lettered.

May import: fabtel (config, kafka, metrics, native, records, stats).
"""
