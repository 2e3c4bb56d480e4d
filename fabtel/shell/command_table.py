"""The table of `fabtel` subcommands, which the command line (cli) reads and
the component commands (commands) fill: the registering decorator, the
parsers components add, the one-line usage error, and loading the
configuration with the endpoint flags and environment applied.

May import: the standard library, fabtel.config.
"""
from __future__ import annotations

import argparse
from typing import Callable

from fabtel.config import load_config, with_endpoints

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}
EXTRA_PARSERS: list[Callable] = []          # components add their own subcommands' parsers here


class UsageError(Exception):
    """A one-line reason to exit 2."""


def command(name: str):
    def register(fn):
        COMMANDS[name] = fn
        return fn
    return register


def load_with_endpoints(args):
    """The configuration of `--config`, with the endpoints of the flags or of
    FABTEL_KAFKA_BOOTSTRAP / FABTEL_INFLUX_URL / FABTEL_REGISTRY_URL."""
    return with_endpoints(load_config(args.config), getattr(args, "bootstrap_servers", None),
                          getattr(args, "influx_url", None), getattr(args, "registry_url", None))
