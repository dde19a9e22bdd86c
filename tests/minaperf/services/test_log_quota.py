"""log-quota.sh on a real directory tree, under dash/coreutils and under busybox."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ASSETS

SCRIPT = ASSETS / "log-quota.sh"
NOW = 1_750_000_000


def _file(path: Path, size: int, age: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age, NOW - age))
    return path


def _tree(root: Path) -> dict[str, list[tuple[Path, int, int]]]:
    """Three nodes: two over quota with nested dirs and spaces in names, one under quota."""
    spec = {
        "aaaaaaaa-10.0.0.1-11111": [
            ("internal-trace.jsonl", 300, 10),  # newest
            ("consumer-stdout.log", 400, 500),
            ("consumer stderr.log", 250, 400),
            ("rotated/internal-trace.jsonl.1", 500, 900),  # oldest
            ("rotated/internal-trace.jsonl.2", 200, 700),
        ],
        "bbbbbbbb-10.0.0.2-11111": [
            ("big-newest.jsonl", 1500, 5),  # newest and alone above the quota
            ("old.log", 100, 1000),
        ],
        "cccccccc-10.0.0.3-11111": [
            ("a.jsonl", 300, 50),
            ("b.log", 300, 5000),
        ],
    }
    out: dict[str, list[tuple[Path, int, int]]] = {}
    for node, files in spec.items():
        out[node] = [(_file(root / node / rel, size, age), size, age) for rel, size, age in files]
    _file(root / "not-a-node.txt", 5000, 99999)
    return out


def _run(root: Path, quota: int, shell: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "OUTPUT_DIR": str(root), "QUOTA_BYTES": str(quota)}
    return subprocess.run(
        [*shell, str(SCRIPT), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _node_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


SHELLS = ["dash", "busybox"]


@pytest.fixture(params=SHELLS)
def shell(
    request: pytest.FixtureRequest, busybox_bin_or_none: Path | None
) -> tuple[list[str], str]:
    if request.param == "dash":
        return (["sh"], "/usr/bin:/bin")
    if busybox_bin_or_none is None:
        pytest.skip("busybox not installed")
    return ([str(shutil.which("busybox")), "sh"], str(busybox_bin_or_none))


@pytest.fixture(scope="session")
def busybox_bin_or_none(request: pytest.FixtureRequest) -> Path | None:
    if shutil.which("busybox") is None:
        return None
    return request.getfixturevalue("busybox_bin")


def test_prunes_each_node_oldest_first_keeping_newest(
    tmp_path: Path, shell: tuple[list[str], str]
) -> None:
    quota = 1000
    tree = _tree(tmp_path)
    r = _run(tmp_path, quota, *shell)
    assert r.returncode == 0, r.stderr

    a = tree["aaaaaaaa-10.0.0.1-11111"]
    # total 1650 > 1000: remove .1 (500, oldest) -> 1150, then .2 (200) -> 950 <= 1000. Stop.
    kept_a = {p.name for p, _, _ in a if p.exists()}
    assert kept_a == {"internal-trace.jsonl", "consumer-stdout.log", "consumer stderr.log"}
    assert _node_bytes(tmp_path / "aaaaaaaa-10.0.0.1-11111") == 950
    assert (
        "log-quota: node=aaaaaaaa-10.0.0.1-11111 removed_files=2 removed_bytes=700 "
        "remaining_bytes=950 quota=1000"
    ) in r.stdout

    b = tree["bbbbbbbb-10.0.0.2-11111"]
    assert b[0][0].exists()  # newest never removed, even alone above quota
    assert not b[1][0].exists()
    assert "WARNING: node=bbbbbbbb-10.0.0.2-11111 newest file alone exceeds the quota" in r.stdout

    c = tree["cccccccc-10.0.0.3-11111"]
    assert all(p.exists() for p, _, _ in c)  # under quota: untouched
    assert all(int(p.stat().st_mtime) == NOW - age for p, _, age in c)
    assert "cccccccc" not in r.stdout
    assert (tmp_path / "not-a-node.txt").exists()  # files outside node dirs are not ours


def test_every_node_ends_within_quota_and_second_pass_is_a_no_op(
    tmp_path: Path, shell: tuple[list[str], str]
) -> None:
    for n in range(4):
        for i in range(12):
            _file(
                tmp_path / f"node-{n}" / f"sub{i % 3}" / f"f{i:02d}.log", 97 * (i + n + 1), 1000 - i
            )
    before = {p: p.stat().st_mtime for p in tmp_path.rglob("*") if p.is_file()}
    r = _run(tmp_path, 2000, *shell)
    assert r.returncode == 0, r.stderr
    for n in range(4):
        node = tmp_path / f"node-{n}"
        assert _node_bytes(node) <= 2000
        left = sorted(p for p in node.rglob("*") if p.is_file())
        gone = [p for p in before if p.is_relative_to(node) and not p.exists()]
        assert (node / "sub2" / "f11.log") in left  # the newest
        # everything removed is older than everything kept
        assert max(before[p] for p in gone) < min(before[p] for p in left)
    again = _run(tmp_path, 2000, *shell)
    assert again.returncode == 0
    assert again.stdout == ""


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    for quota in ("0", "10k", ""):
        r = (
            _run(tmp_path, 0, ["sh"], "/usr/bin:/bin")
            if quota == "0"
            else subprocess.run(
                ["sh", str(SCRIPT), "--once"],
                env={"PATH": "/usr/bin:/bin", "OUTPUT_DIR": str(tmp_path), "QUOTA_BYTES": quota},
                capture_output=True,
                text=True,
                check=False,
            )
        )
        assert r.returncode == 2, quota
    r = subprocess.run(["sh", str(SCRIPT), "--bogus"], capture_output=True, text=True, check=False)
    assert r.returncode == 2


def test_loop_mode_prunes_periodically_and_stops_on_term(tmp_path: Path) -> None:
    _file(tmp_path / "n1" / "old.log", 800, 100)
    _file(tmp_path / "n1" / "new.log", 100, 1)
    env = {
        "PATH": "/usr/bin:/bin",
        "OUTPUT_DIR": str(tmp_path),
        "QUOTA_BYTES": "500",
        "INTERVAL": "1",
    }
    proc = subprocess.Popen(["sh", str(SCRIPT)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while (tmp_path / "n1" / "old.log").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (tmp_path / "n1" / "old.log").exists()
        _file(tmp_path / "n1" / "newer.log", 600, 0)  # new.log is now the oldest
        while (tmp_path / "n1" / "new.log").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not (tmp_path / "n1" / "new.log").exists()
        assert (tmp_path / "n1" / "newer.log").exists()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "removed_files=1 removed_bytes=800" in out
