"""sFlow v5: `codec` (bytes <-> typed samples, no I/O), `normalize` (samples
-> the normalized telemetry records), `agents` (per-agent sequence and restart
tracking), `collector` (the UDP loop into Kafka) and `decode_cmd`
(`fabtel sflow decode` over capture files). May import: fabtel, connectors.common.
"""
