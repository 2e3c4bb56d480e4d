"""Optional dependencies: what needs which extra of the fabtel package, said
in one line when it is missing (`pip install 'fabtel[EXTRA]'`).

May import: the standard library.
"""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(Exception):
    """A feature's optional dependency is not installed: one line naming the extra."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """`module`, imported; MissingExtra naming `extra` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(f"{feature} needs the {extra} extra: pip install 'fabtel[{extra}]' "
                           f"({exc.name or module} is not installed)") from None
