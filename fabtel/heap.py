"""The garbage collector of a long-running process, settled once it has
started: everything alive then (modules, clients, the inventory) is frozen
out of the collector's view, and young collections run every
`YOUNG_THRESHOLD` allocations instead of 700. Unsettled, a full collection
scans the whole process: 25-80 ms measured in the worker, the collectors,
the sink and the lab, a stall that lands on whatever record is passing.

May import: the standard library.
"""
from __future__ import annotations

import gc
import os

YOUNG_THRESHOLD = int(os.environ.get("FABTEL_GC_THRESHOLD", "10000"))


def settle() -> None:
    """Freeze what is alive now; later full collections scan only what came after."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, 10)
