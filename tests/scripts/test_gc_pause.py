"""`cyclic_gc_paused`: render pauses the cyclic collector and leaves it as it found it."""

from __future__ import annotations

import gc

import pytest

from scripts.gc_pause import cyclic_gc_paused


def test_the_collector_is_off_inside_and_back_on_after() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failure_inside_still_restores_it() -> None:
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_found_off_stays_off() -> None:
    gc.disable()
    try:
        with cyclic_gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_program_run_leaves_the_collector_on(dev: object) -> None:
    """The session's renders ran through `run_program`; the suite keeps collecting."""
    del dev
    assert gc.isenabled()
