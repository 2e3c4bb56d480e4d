"""Subcommands of the components (connectors, pipeline, lab, bench),
registered into `fabtel.cli`. Each imports its component lazily."""
from __future__ import annotations

from fabtel.cli import EXTRA_PARSERS, command  # noqa: F401
