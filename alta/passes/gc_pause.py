"""Pause CPython's cyclic garbage collector over allocation-heavy pass work.

Lowering, canonicalising and minimising a large rule program allocate millions of small
tuples, frozensets and rules that live until the pass ends. Each burst of allocations
makes the collector rescan every live object, the whole module included, and on the
paper's SCAN rules that rescanning cost about as much as the work itself. Reference
counting still frees what dies at once; only reference cycles wait for the pass to end.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (a no-op when it is already off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
