"""What every command's function shares: the one-line usage error (exit 2)
and the configuration of `--config` with the endpoint flags and environment
applied.

May import: the standard library, fabtel.config.
"""
from __future__ import annotations

from fabtel.config import load_config, with_endpoints


class UsageError(Exception):
    """A one-line reason to exit 2."""


def load_with_endpoints(args):
    """The configuration of `--config`, with the endpoints of the flags or of
    FABTEL_KAFKA_BOOTSTRAP / FABTEL_INFLUX_URL / FABTEL_REGISTRY_URL."""
    return with_endpoints(load_config(args.config), getattr(args, "bootstrap_servers", None),
                          getattr(args, "influx_url", None), getattr(args, "registry_url", None))
