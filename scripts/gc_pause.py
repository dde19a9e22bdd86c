"""The cyclic garbage collector paused while render works.

A render process holds the Pulumi SDK and both providers' modules (hundreds of thousands of
objects) and then builds tens of thousands of short-lived Outputs, futures and records; every
collection those allocations trigger rescans the modules too. Measured with
`python -m benchmarks.bench_render`: collections were about a third of a render's CPU time, the
SDK import included. What a paused stretch leaves is collected when the pause ends; a render
exits soon after, and its peak memory barely moves (large-200: 260 MB, 250 MB collecting).
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
