"""gNMI streaming telemetry: `normalize` (notifications -> typed records,
pure) and `collector` (one subscription thread per device into Kafka).
Paths per platform live in fabtel.gnmi_paths. May import: fabtel, grpc,
pygnmi's compiled stubs."""
