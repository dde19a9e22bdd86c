"""The cyclic garbage collector paused while render works.

A render holds the Pulumi SDK's and both providers' modules (hundreds of thousands of objects) and
builds tens of thousands of short-lived Outputs, so every collection rescans the modules: about a
third of a render's CPU time. What a pause leaves is collected when it ends, and peak memory
barely moves. See docs/verification.md#render-performance.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection inside; the collector is left as it was found (nesting is fine)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
