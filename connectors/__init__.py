"""Sources and sinks, one package per protocol, each with its codec apart
from its I/O loop: `sflow/`, `gnmi/`, `influx/`, `remediation/`, `bmp/`.
Code shared by two connectors lives in `common/`. Connectors import `fabtel`
(config, records, serde, kafka) and never each other or `pipeline`.
"""
