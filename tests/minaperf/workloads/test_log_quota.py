"""log-quota.sh against processes that hold files the way the fetcher and consumer do, under
dash/coreutils and under busybox (the sidecar's image).

The stand-ins (tests/fakes/itc_standin.py) copy ITC@46be56f: the fetcher holds the trace file
open without O_APPEND (utils.rs:20-24) and the consumer logs with O_APPEND (worker.rs:36-46);
the consumer tails the trace file and reopens it when it disappears
(trace_file_processor.ml:72-78,172-180).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ASSETS

SCRIPT = ASSETS / "log-quota.sh"
REPO = ASSETS.parents[1]
NOW = 1_750_000_000


def _file(path: Path, size: int, age: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age, NOW - age))
    return path


def _run(
    root: Path, quota: int, shell: list[str], path: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shell, str(SCRIPT), "--once"],
        # The sidecar's root filesystem is read-only: scratch outside OUTPUT_DIR must fail.
        env={
            "PATH": path,
            "OUTPUT_DIR": str(root),
            "QUOTA_BYTES": str(quota),
            "TMPDIR": "/nonexistent",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _node_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def _fake_proc(base: Path, open_paths: list[Path]) -> Path:
    """A /proc look-alike: one process whose fds point at `open_paths` (deterministic cases)."""
    fd_dir = base / "4242" / "fd"
    fd_dir.mkdir(parents=True)
    for i, p in enumerate(open_paths, start=3):
        (fd_dir / str(i)).symlink_to(p)
    return base


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


class StandIn:
    def __init__(self, mode: str, node_dir: Path, *extra: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.itc_standin",
                mode,
                str(node_dir),
                *map(str, extra),
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def standins() -> Iterator[list[StandIn]]:
    made: list[StandIn] = []
    yield made
    for s in made:
        s.stop()


def _progress(progress: Path, want_lines: int) -> tuple[int, int]:
    deadline = time.monotonic() + 20
    lines = reopens = -1
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            lines, reopens = map(int, progress.read_text().split())
        if lines >= want_lines:
            break
        time.sleep(0.05)
    return lines, reopens


def test_live_worker_files_survive_logs_truncate_in_place_stale_files_go(
    tmp_path: Path, shell: tuple[list[str], str], standins: list[StandIn]
) -> None:
    out = tmp_path / "output"
    live = out / "aaaaaaaa-bp-1-0.bp-3086"
    stale = out / "aaaaaaaa-10.0.0.9-3086"  # the node's earlier address: nobody holds it
    stale_files = [
        _file(stale / "internal-trace.jsonl", 9000, 900),  # oldest
        _file(stale / "verifier-internal-trace.jsonl", 4000, 800),
        _file(stale / "consumer-stdout.log", 3000, 700),
        _file(stale / "prover-internal-trace.jsonl", 2000, 600),  # newest
    ]
    fetcher = StandIn("fetcher", live)
    standins.append(fetcher)
    fetcher.send("trace 2000")
    fetcher.send("log 30000")
    progress = tmp_path / "consumer-progress"
    consumer = StandIn("consumer", live, progress)
    standins.append(consumer)
    assert _progress(progress, 2000) == (2000, 0)
    trace = live / "internal-trace.jsonl"
    before = trace.stat()

    r = _run(out, 8000, *shell, LOG_MAX_BYTES="8000")
    assert r.returncode == 0, r.stderr

    # The open trace file is neither deleted nor truncated, although it alone is over quota.
    after = trace.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)
    assert before.st_size > 8000
    assert f"WARNING: node={live.name} open files hold" in r.stdout
    # The consumer log was truncated in place; the O_APPEND writer continues at the new end.
    assert (live / "consumer-stdout.log").stat().st_size == 0
    fetcher.send("log 100")
    assert (live / "consumer-stdout.log").read_bytes() == b"d" * 100
    # Tracing goes on: new lines reach the tailing consumer, which never had to reopen.
    fetcher.send("trace 25")
    assert _progress(progress, 2025) == (2025, 0)
    assert trace.stat().st_size > before.st_size
    # The stale directory: its consumer log (3000 <= 8000) is kept; closed files go oldest
    # first until it is within quota: 18000 -> 9000 (trace gone) -> 5000 (verifier gone).
    assert [p.exists() for p in stale_files] == [False, False, True, True]
    assert _node_bytes(stale) == 5000
    assert (
        f"node={stale.name} removed_files=2 removed_bytes=13000 truncated_bytes=0 "
        "remaining_bytes=5000 quota=8000"
    ) in r.stdout
    # Usage is surfaced: one status file for `wait`/`status`, one summary log line.
    status = (out / "quota-status.txt").read_text().splitlines()
    assert f"node={stale.name} used_bytes=5000 open_bytes=0 files=2" in status
    live_line = next(line for line in status if line.startswith(f"node={live.name} "))
    assert f"open_bytes={before.st_size}" in live_line
    summary = status[-1]
    assert summary.startswith("summary nodes=2 ")
    assert "reclaimed_bytes=13000 truncated_bytes=30000 " in summary
    assert "volume_size_bytes=" in summary
    assert "volume_used_pct=" in summary
    assert f"log-quota: {summary.removeprefix('summary ')}" in r.stdout


def test_closed_files_pruned_oldest_first_open_ones_skipped(
    tmp_path: Path, shell: tuple[list[str], str]
) -> None:
    out = tmp_path / "out"
    node = out / "cccccccc-10.0.0.3-3086"
    files = [
        _file(node / "rotated" / "a b.jsonl", 500, 900),  # oldest, but held open
        _file(node / "rotated" / "old.jsonl", 400, 800),
        _file(node / "x.jsonl", 300, 700),
        _file(node / "y.jsonl", 300, 100),
    ]
    small = out / "dddddddd-10.0.0.4-3086"
    kept = [_file(small / "a.jsonl", 100, 5000)]
    _file(out / "not-a-node.txt", 5000, 99999)
    proc = _fake_proc(tmp_path / "proc", [files[0]])

    r = _run(out, 1000, *shell, PROC_DIR=str(proc))
    assert r.returncode == 0, r.stderr
    # 1500 -> open 500 skipped -> old 400 gone (1100) -> x 300 gone (800 <= 1000).
    assert [p.exists() for p in files] == [True, False, False, True]
    assert all(int(p.stat().st_mtime) == NOW - 5000 for p in kept)  # under quota: untouched
    assert "dddddddd" not in r.stdout.replace("node=dddddddd", "")  # no per-node line
    assert (out / "not-a-node.txt").exists()
    again = _run(out, 1000, *shell, PROC_DIR=str(proc))
    assert "removed_files" not in again.stdout


def test_deletes_nothing_when_no_open_file_is_visible(
    tmp_path: Path, shell: tuple[list[str], str]
) -> None:
    out = tmp_path / "out"
    files = [_file(out / "n1" / f"f{i}.jsonl", 400, 100 + i) for i in range(5)]
    empty_proc = tmp_path / "proc"
    empty_proc.mkdir()
    r = _run(out, 500, *shell, PROC_DIR=str(empty_proc))
    assert r.returncode == 0, r.stderr
    assert all(p.exists() for p in files)
    assert "no open file under" in r.stdout
    assert "deleting nothing" in r.stdout


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    for name, value in (("QUOTA_BYTES", "0"), ("QUOTA_BYTES", "10k"), ("LOG_MAX_BYTES", "-1")):
        env = {"PATH": "/usr/bin:/bin", "OUTPUT_DIR": str(tmp_path), "QUOTA_BYTES": "100"}
        env[name] = value
        r = subprocess.run(
            ["sh", str(SCRIPT), "--once"], env=env, capture_output=True, text=True, check=False
        )
        assert r.returncode == 2, (name, value)
        assert name in r.stderr
    r = subprocess.run(["sh", str(SCRIPT), "--bogus"], capture_output=True, text=True, check=False)
    assert r.returncode == 2


def test_loop_mode_truncates_periodically_and_stops_on_term(
    tmp_path: Path, standins: list[StandIn]
) -> None:
    node = tmp_path / "n1"
    fetcher = StandIn("fetcher", node)
    standins.append(fetcher)
    fetcher.send("log 900")
    env = {
        "PATH": "/usr/bin:/bin",
        "OUTPUT_DIR": str(tmp_path),
        "QUOTA_BYTES": "100000",
        "LOG_MAX_BYTES": "500",
        "INTERVAL": "1",
    }
    proc = subprocess.Popen(["sh", str(SCRIPT)], env=env, stdout=subprocess.PIPE, text=True)
    log = node / "consumer-stdout.log"
    try:
        deadline = time.monotonic() + 20
        while log.stat().st_size and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.stat().st_size == 0
        fetcher.send("log 700")
        status = tmp_path / "quota-status.txt"

        # Wait for the end of the pass (its status file, moved into place when the pass ends;
        # absent until the first pass has ended), not only for the truncation.
        def pass_reported() -> bool:
            return status.exists() and "truncated_bytes=700 " in status.read_text()

        while not pass_reported() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.stat().st_size == 0
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert "truncated_bytes=900" in out
    assert "truncated_bytes=700" in out


def test_standin_consumer_stops_reading_when_its_trace_file_is_deleted(
    tmp_path: Path, standins: list[StandIn]
) -> None:
    """What the quota must never do, shown on the stand-ins: after the file is unlinked the
    fetcher keeps writing into the deleted inode and the consumer, reopening by path, sees none
    of it (ITC utils.rs:20-24, trace_file_processor.ml:72-78,172-180)."""
    node = tmp_path / "n1"
    fetcher = StandIn("fetcher", node)
    standins.append(fetcher)
    fetcher.send("trace 10")
    progress = tmp_path / "progress"
    standins.append(StandIn("consumer", node, progress))
    assert _progress(progress, 10) == (10, 0)
    (node / "internal-trace.jsonl").unlink()
    deadline = time.monotonic() + 20
    while _progress(progress, 0)[1] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    fetcher.send("trace 10")  # into the deleted inode: nobody will ever read it
    time.sleep(1)
    assert _progress(progress, 0) == (10, 1)
    assert not (node / "internal-trace.jsonl").exists()
