"""Ctrl-C and SIGTERM: the one place a handler for them is put in and the previous one restored.

Every command and the orchestrator runner take them through `on_stop_signals`
(tests/test_one_home.py fails on a `signal.signal` call anywhere else).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signals(handle: Callable[[int], object]) -> Iterator[None]:
    """Inside, SIGINT and SIGTERM call `handle(signal number)` (what it raises reaches the code
    inside); on the way out the handlers from before come back, whatever happened."""
    previous = {
        number: signal.signal(number, lambda received, _frame: handle(received))
        for number in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
