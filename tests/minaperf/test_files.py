"""The one reader of user files: regular files only, size-capped, one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from minaperf.files import (
    FileInputError,
    MissingFileError,
    read_json_file,
    read_regular_file,
    read_text_file,
)
from minaperf.model.config import stderr_line
from minaperf.model.outputs import read_stack_outputs


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_fifo, "is a FIFO (named pipe); pass a regular file"),
        (lambda _: Path("/dev/zero"), "is a character device; pass a regular file"),
        (lambda _: Path("/dev/null"), "is a character device; pass a regular file"),
        (lambda tmp: tmp, "is a directory; pass a regular file"),
        (lambda tmp: tmp / "absent", "does not exist"),
    ],
)
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, make, says: str) -> None:
    """A FIFO without a writer would block a plain open() forever; /dev/zero never ends."""
    path = make(tmp_path)
    with pytest.raises(FileInputError, match=re.escape(f"--x: {path} {says}")):
        read_regular_file(path, limit=1 << 20, what="--x")


def test_a_symlink_to_a_fifo_is_refused_too(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(_fifo(tmp_path))
    with pytest.raises(FileInputError, match="is a FIFO"):
        read_text_file(link, what="--config")


def test_a_missing_file_is_told_apart(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError):
        read_json_file(tmp_path / "none.json", what="--outputs")


def test_the_size_cap_holds_for_the_bytes_read(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    assert read_regular_file(path, limit=101, what="--x") == b"x" * 101
    with pytest.raises(FileInputError, match="is larger than 100 bytes"):
        read_regular_file(path, limit=100, what="--x")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
        (b"1" * 5000, "a number has more than 4300 digits"),
        (b'{"a": ' + b"9" * 4301 + b"}", "a number has more than 4300 digits"),
        (b"{", "is not valid JSON"),
        (b"\xff{}", "is not UTF-8 text (byte 0)"),
    ],
)
def test_json_errors_are_one_line(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    with pytest.raises(FileInputError) as caught:
        read_json_file(path, what="--outputs")
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"--outputs: {path}")
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        ("warning: x\nerror: no stack named 'x'\n  more\n", "error: no stack named 'x'"),
        ("\n\nsomething broke\nsecond\n", "something broke"),
        ("", "(no message)"),
        ("error: a\u2028b\n", "error: a"),
        ("error: a\x1b[2Jb\n", "error: a\\x1b[2Jb"),
    ],
)
def test_a_tools_stderr_is_relayed_as_one_line(stderr: str, line: str) -> None:
    assert stderr_line(stderr) == line


def test_stack_outputs_relay_pulumis_error_as_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def pulumi(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        stderr = "error: no stack named 'x' found\n\nusage: pulumi stack output\n  --json\n"
        return subprocess.CompletedProcess(argv, 255, "", stderr)

    monkeypatch.setattr(subprocess, "run", pulumi)
    with pytest.raises(ValueError, match=r"^`pulumi stack output` failed: error: no stack") as e:
        read_stack_outputs("x", show_secrets=False)
    assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize("stdout", ["[1, 2]", "not json", "[" * 100_000])
def test_stack_outputs_that_are_no_object_are_one_line(
    monkeypatch: pytest.MonkeyPatch, stdout: str
) -> None:
    def pulumi(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, stdout, "")

    monkeypatch.setattr(subprocess, "run", pulumi)
    with pytest.raises(ValueError, match="pulumi stack output"):
        read_stack_outputs("x", show_secrets=False)


READS = re.compile(r"\.read_text\(|\.read_bytes\(|json\.load\(|\bopen\([^)]*[\"']r")
NOT_USER_FILES = {
    "minaperf/files.py": "the one reader itself",
    "minaperf/model/cost.py": "the package's own price table",
    "minaperf/shell/node_script.py": "the package's own assets",
    "components/postgres.py": "the package's own assets",
    "scripts/config_reference.py": "this checkout's docs/config.md",
    "minaperf/orchestrator/targets.py": "/proc of processes the runner started",
    "scripts/experiment_cli/up.py": "/proc children and run.json of the run it started",
    "policy/runner.py": "the CI runner's own rendered inputs",
    "scripts/campaign.py": "/proc of the processes a campaign started",
}


def test_no_other_code_reads_a_users_file() -> None:
    """Every user file goes through minaperf/files.py; a new direct read must say why here."""
    root = Path(__file__).resolve().parents[2]
    readers = {
        path.relative_to(root).as_posix()
        for folder in ("scripts", "minaperf", "components", "policy")
        for path in (root / folder).rglob("*.py")
        if READS.search(path.read_text(encoding="utf-8"))
    }
    assert readers <= set(NOT_USER_FILES), sorted(readers - set(NOT_USER_FILES))
