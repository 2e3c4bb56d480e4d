"""fabtel's core: configuration, typed records and their Avro serde, Kafka
plumbing, the local stack and the command line. Connectors, processors and
the lab import from here; this package imports none of them at module level.
"""
__version__ = "0.1.0"
