"""`render --out`: what it replaces, what it never replaces, and that nothing is left beside it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from minaperf.model.stack_file import UsageError
from scripts import render as render_cli
from scripts.render import MARKER, _check_target, write_output_directory
from tests.conftest import render


def _write(out: Path) -> None:
    run = render("dev").run
    write_output_directory(run, out, show_secrets=False, mock_values=[], stack="dev")


def _beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_the_marker_lists_what_render_wrote_and_a_rerender_replaces_it(tmp_path: Path) -> None:
    out = tmp_path / "r"
    _write(out)
    marker = json.loads((out / MARKER).read_text())
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(marker["files"]) == written - {MARKER}
    assert _check_target(out, force=False) == out
    _write(out)
    assert _beside(out) == []


@pytest.mark.parametrize("name", ["notes.txt", "manifests/mine.yaml"])
def test_a_file_the_user_added_is_named_and_kept_without_force(tmp_path: Path, name: str) -> None:
    out = tmp_path / "r"
    _write(out)
    (out / name).write_text("mine")
    with pytest.raises(UsageError, match=f"holds files render did not write \\({name}\\)"):
        _check_target(out, force=False)
    assert (out / name).read_text() == "mine"
    assert _check_target(out, force=True) == out


def test_a_symlink_to_a_render_replaces_the_render_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "renders" / "dev"
    _write(target)
    (target / "resources.json").write_text("[]\n")  # stale content to be replaced
    link = tmp_path / "current"
    link.symlink_to(target)
    out = _check_target(link, force=False)
    assert out == target.resolve()
    _write(out)
    assert link.is_symlink()
    assert json.loads((link / "resources.json").read_text()) != []
    assert _beside(target) == []


@pytest.mark.parametrize("which", ["/", ".", "home", "repo", "parent of cwd", "git tree"])
def test_force_never_replaces_a_directory_that_holds_more_than_a_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    work = tmp_path / "a" / "work"
    work.mkdir(parents=True)
    (work / "file").write_text("x")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "file").write_text("x")
    (tmp_path / "tree" / ".git").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    out = {
        "/": Path("/"),
        ".": Path("."),
        "home": tmp_path / "home",
        "repo": render_cli.ROOT,
        "parent of cwd": tmp_path / "a",
        "git tree": tmp_path / "tree",
    }[which]
    with pytest.raises(UsageError, match="render replaces --out whole; choose a new one"):
        _check_target(out, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "home", "tree"]


def test_a_signal_during_the_swap_waits_until_it_is_done(tmp_path: Path) -> None:
    """Ctrl-C while the old render is being swapped out is held until the new one is in and the
    old one is gone: never the old render beside --out, never half of one."""
    out = tmp_path / "r"
    _write(out)
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "resources.json").write_text("[]\n")
    original = Path.rename
    interrupted = []

    def rename(self: Path, target: Path) -> Path:
        if self == out:  # the old render moves aside: Ctrl-C arrives now
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "rename", rename)
        try:
            render_cli._install(staging, out)
        except KeyboardInterrupt:
            interrupted.append(True)
    assert interrupted == [True]  # delivered, after the swap
    assert (out / "resources.json").read_text() == "[]\n"
    assert _beside(out) == []
