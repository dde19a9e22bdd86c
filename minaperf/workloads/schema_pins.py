"""The pinned upstream database schema (data only; no upstream SQL lives in this repository).

The log consumer's schema belongs to o1-labs/mina-perf-testing (perf-services §3). At deploy
time an init container downloads each file below from `schema_base_url()` and refuses any whose
SHA-256 differs from its pin; the initdb hook checks again and applies them in lexical order.
See docs/upstream-facts.md#perf-services-3-the-postgresql-schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Pin: commit 7da1f2c (2026-03-18, "Merge pull request #17 … monitor-restarts-sql"), the
# reference's MPT pin, directory `load-tests-cluster/init-sql/` (fetched by
# `assets/pg-fetch-schema.sh`, applied by `assets/pg-init.sh`). The sums were computed from that
# commit's blobs of the four files; the files were also applied, each in one transaction, to a
# PostgreSQL 15 server without error. To move the pin: change SCHEMA_COMMIT, recompute every
# sum from the new commit's files (`sha256sum`), and re-check that they apply in order on an
# empty database.
SCHEMA_REPOSITORY = "o1-labs/mina-perf-testing"
SCHEMA_COMMIT = "7da1f2cbff669178a4723619bf6ce52ae0737a2a"
SCHEMA_DIRECTORY = "load-tests-cluster/init-sql"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_NAME = re.compile(r"[A-Za-z0-9._-]+")
_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class SchemaFile:
    """One pinned file: its name inside the schema directory and its SHA-256 (lower-case hex)."""

    name: str
    sha256: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name) or self.name in {".", ".."}:
            raise ValueError(f"schema file name {self.name!r}: only [A-Za-z0-9._-] allowed")
        if not _HEX64.fullmatch(self.sha256):
            raise ValueError(
                f"schema file {self.name}: sha256 must be 64 lower-case hex digits, "
                f"got {self.sha256!r}"
            )


SCHEMA_FILES: tuple[SchemaFile, ...] = (
    SchemaFile(
        "001-init-schema.sql",
        "f6eadf95911a88c29f50d1942ae2c970538103c0eabbf184748b13e20e901dab",
    ),
    SchemaFile(
        "002-init-triggeres.sql",
        "c5a84e2fd8b70dc2f7d6d000b0b259a258bfbd7c4bda1f06a6e25f3aaa0caa89",
    ),
    SchemaFile(
        "003-enhanced-sw-monitoring.sql",
        "069650a1f098691f011e16d9d98360bb05f554e15937ecf35ec48dd6fa129584",
    ),
    SchemaFile(
        "004-node-restarts.sql",
        "04acae061960105f3d036071e69be040106af0c1dcfc1ca7691507b988ca611d",
    ),
)


def schema_base_url(
    repository: str = SCHEMA_REPOSITORY,
    commit: str = SCHEMA_COMMIT,
    directory: str = SCHEMA_DIRECTORY,
) -> str:
    """Raw-file URL of the schema directory at the pinned commit (`$SCHEMA_BASE_URL`).

    A full 40-digit commit id is required: a branch or tag could move under the pin.
    """
    if not _REPO.fullmatch(repository):
        raise ValueError(f"repository must be 'owner/name', got {repository!r}")
    if not _COMMIT.fullmatch(commit):
        raise ValueError(f"commit must be a full 40-digit lower-case hex id, got {commit!r}")
    parts = directory.strip("/").split("/")
    if any(not _NAME.fullmatch(p) or p in {".", ".."} for p in parts):
        raise ValueError(f"unsafe schema directory {directory!r}")
    return f"https://raw.githubusercontent.com/{repository}/{commit}/{'/'.join(parts)}"


def sha256sums(files: Iterable[SchemaFile] = SCHEMA_FILES) -> str:
    """The pin list in `sha256sum -c` format (`$SCHEMA_SHA256_FILE`), in lexical order."""
    entries = sorted(files, key=lambda f: f.name.encode())
    names = [f.name for f in entries]
    if not entries:
        raise ValueError("no schema files pinned")
    if len(set(names)) != len(names):
        raise ValueError(f"schema file listed twice: {names}")
    return "".join(f"{f.sha256}  {f.name}\n" for f in entries)
