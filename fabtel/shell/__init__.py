"""The application shell: the command line (`cli`, `commands`), the local
stack (`stack`), the demo, the dashboards check, the Kubernetes topic
manifests (`deploy`) and loopback ports. It wires the core, the connectors,
the pipeline, the lab and the benchmarks together; nothing but the tests
imports it. May import: everything in fabtel.
"""
