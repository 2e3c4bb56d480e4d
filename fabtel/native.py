"""fabtel's compiled hot paths (fabtel/rust: Rust with PyO3, built by
`pip install` when a Rust toolchain is there), and the switch that turns
them off. The Python code they mirror stays, and is the reference:
FABTEL_NATIVE=off runs it instead, and the differential tests hold the two
equal (tests/unit/test_native.py).

- `SflowDecoder`: an sFlow datagram to its samples' Avro values (the bytes
  fabtel.serde writes for SflowSample) and the flow windows' per-sample work
  (connectors/sflow/flows.py's), one call per datagram.
- `gnmi_response`: a gNMI SubscribeResponse's bytes to its updates' raw
  paths and values, with no protobuf object per update
  (connectors/gnmi/normalize.py's `read`).

`available()` says whether the extension is there and allowed; without it
fabtel runs on the Python path and says so once (`say_once`).
May import: the standard library.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger("fabtel.native")

try:
    from fabtel import _native  # type: ignore[attr-defined]
except ImportError as exc:             # no toolchain at install time: the Python path
    _native = None
    _why = f"the compiled extension is not built ({exc}); ./run setup builds it when cargo is there"
else:
    _why = ""

_said = False


def available() -> bool:
    """The compiled path is there and not turned off (FABTEL_NATIVE=off)."""
    return _native is not None and os.environ.get("FABTEL_NATIVE", "on").lower() not in ("off", "0", "no")


def say_once(component: str) -> None:
    """One line at start-up when a component runs on the Python path."""
    global _said
    if _said or available():
        return
    _said = True
    why = _why or "FABTEL_NATIVE=off"
    log.info("%s: the Python path (%s)", component, why)


def module():
    """The extension module (fabtel._native); only when available()."""
    return _native
