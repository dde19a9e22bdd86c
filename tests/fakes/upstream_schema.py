"""The pinned upstream schema (minaperf/workloads/schema_pins.py), found or fetched, every sha256
checked.

No upstream SQL lives in this repository. The tests that apply the schema take it from, in order:
1. the directory named by $MINAPERF_UPSTREAM_SCHEMA_DIR;
2. `../shared/vectors/mina-perf-testing-init-sql/` beside the repository (this project's CI);
3. the pinned commit on GitHub (`schema_base_url()`), when the network reaches it.
Each file must match its pin; a mismatch is an error, never a skip. With none of the three, the
test is skipped with a reason that says how to provide the files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

import httpx
import pytest

from minaperf.workloads.schema_pins import (
    SCHEMA_COMMIT,
    SCHEMA_DIRECTORY,
    SCHEMA_FILES,
    SCHEMA_REPOSITORY,
    schema_base_url,
)

PINS = sorted(SCHEMA_FILES, key=lambda pin: pin.name.encode())
"""In the order the initdb hook applies them (minaperf/assets/pg-init.sh: lexical)."""
ENV = "MINAPERF_UPSTREAM_SCHEMA_DIR"
BESIDE = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "mina-perf-testing-init-sql"
HOW = (
    f"set {ENV} to a directory holding {', '.join(f.name for f in PINS)} from "
    f"{SCHEMA_REPOSITORY}@{SCHEMA_COMMIT} {SCHEMA_DIRECTORY}/, or run with network access to "
    "raw.githubusercontent.com"
)


def _check(name: str, data: bytes, want: str, where: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise RuntimeError(f"{where}/{name}: sha256 {got}, the pin says {want}")


def _checked(directory: Path) -> list[Path]:
    files = []
    for pin in PINS:
        path = directory / pin.name
        if not path.is_file():
            raise RuntimeError(f"{directory} has no {pin.name}: {HOW}")
        _check(pin.name, path.read_bytes(), pin.sha256, str(directory))
        files.append(path)
    return files


def _download() -> list[Path] | None:
    """The pinned files fetched into a fresh directory, or None when GitHub is out of reach."""
    base = schema_base_url()
    target = Path(tempfile.mkdtemp(prefix="minaperf-upstream-schema-"))
    try:
        with httpx.Client(timeout=10.0) as client:
            for pin in PINS:
                response = client.get(f"{base}/{pin.name}")
                response.raise_for_status()
                _check(pin.name, response.content, pin.sha256, base)
                (target / pin.name).write_bytes(response.content)
    except httpx.TransportError:
        return None
    return [target / pin.name for pin in PINS]


@cache
def _locate() -> list[Path] | str:
    """The files in apply order, or the reason there are none."""
    chosen = os.environ.get(ENV)
    if chosen:
        return _checked(Path(chosen))
    if BESIDE.is_dir():
        return _checked(BESIDE)
    downloaded = _download()
    if downloaded is not None:
        return downloaded
    return f"the pinned upstream schema is not here and GitHub is out of reach: {HOW}"


def schema_files() -> list[Path]:
    """The pinned files in the order they are applied; skips the test when there are none."""
    found = _locate()
    if isinstance(found, str):
        pytest.skip(found)
    return found
