"""What every command's function shares: the one-line usage error (exit 2)
and the configuration of `--config` with the endpoint flags and environment
applied.

May import: the standard library, fabtel.config.
"""
from __future__ import annotations

import os

from fabtel.config import ENDPOINT_ENV, load_config, with_endpoints


class UsageError(Exception):
    """A one-line reason to exit 2."""


def load_with_endpoints(args):
    """The configuration of `--config`, with the endpoints of the flags or of
    FABTEL_KAFKA_BOOTSTRAP / FABTEL_INFLUX_URL / FABTEL_REGISTRY_URL."""
    return with_endpoints(load_config(args.config), getattr(args, "bootstrap_servers", None),
                          getattr(args, "influx_url", None), getattr(args, "registry_url", None))


def endpoints_to_environment(args, environ=os.environ) -> None:
    """The endpoint flags as the environment that `fabtel stack up` prints,
    for a command that loads the configuration by its path and starts
    components of its own (the benchmarks): they all see the flags."""
    flags = {"bootstrap_servers": "bootstrap_servers", "influx_url": "influx_url", "registry_url": "schema_registry_url"}
    for flag, key in flags.items():
        value = getattr(args, flag, None)
        if value:
            environ[ENDPOINT_ENV[key]] = value
