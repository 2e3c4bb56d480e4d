"""gNMI streaming telemetry: `normalize` (notifications -> typed records,
pure), `client` (the one gNMI client: channel, credentials, encoding,
Get/Set/Subscribe) and `collector` (one subscription thread per device into
Kafka). What each platform's paths mean lives in fabtel.platforms.
May import: fabtel, grpc, pygnmi's compiled stubs."""
