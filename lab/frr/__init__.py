"""The FRR fat-tree lab: Sibyl's three-level fat-tree in Linux network
namespaces joined by veth pairs, FRR (zebra + bgpd) per node with eBGP as in
RFC 7938, BMP from every bgpd to fabtel's collector.

- fattree.py: the topology, ASNs and addresses (pure).
- netlab.py: namespaces, veths, FRR daemons, convergence checks, failures,
  teardown (also of what a crashed run left).
- run.py: `fabtel lab frr`: the lab through the whole pipeline, measured.

May import: fabtel, pipeline.convergence, connectors.bmp (run.py only).
"""
