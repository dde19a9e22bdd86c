"""minaperf/assets/snark-worker-supervisor.sh with a stub `mina` that exits or runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.minaperf.shell.shell_sandbox import ASSETS, Sandbox, shellcheck

SCRIPT = ASSETS / "snark-worker-supervisor.sh"

MINA_STUB = """
import signal, sys, time
from pathlib import Path
mode = os.environ.get("STUB_MODE", "run")
if mode == "exit":
    time.sleep(float(os.environ.get("STUB_RUN_SECONDS", "0.2")))
    sys.exit(int(os.environ.get("STUB_EXIT_CODE", "3")))
def _term(signum, frame):
    Path(STATE, f"terminated-{os.getpid()}").write_text("")
    sys.exit(0)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, _term)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
"""


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # still a process; a zombie of an exited parent counts as gone
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox(tmp_path / "sb")
    sandbox.stub("mina", MINA_STUB)
    sandbox.stub("nproc", "print(os.environ.get('STUB_NPROC', '8'))")
    return sandbox


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:  # never leave a supervisor behind, even when a test fails
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)


def base_env(sb: Sandbox, **extra: str) -> dict[str, str]:
    env = {
        "COORDINATOR_ADDRESS": "coordinator.exp.svc.cluster.local:8301",
        "WORKER_PROCESSES": "2",
        "WORKER_THREADS": "4",
        "PROOF_LEVEL": "full",
        "WORKER_STATE_DIR": str(sb.root / "workers"),
        "RESTART_BACKOFF_SECONDS": "1",
        "RESTART_BACKOFF_MAX_SECONDS": "1",
        "STOP_GRACE_SECONDS": "5",
        "POLL_INTERVAL": "0.1",
    }
    env.update(extra)
    return env


def start(
    sb: Sandbox, procs: list[subprocess.Popen[str]], env: dict[str, str]
) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        ["bash", str(SCRIPT)],
        env=sb.env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=sb.root,
    )
    procs.append(p)
    return p


def expected_argv(sb: Sandbox, n: int, level: str = "full") -> list[str]:
    return [
        "internal", "snark-worker",
        "--daemon-address", "coordinator.exp.svc.cluster.local:8301",
        "--proof-level", level,
        "--shutdown-on-disconnect", "false",
        "--config-directory", str(sb.root / "workers" / str(n)),
    ]  # fmt: skip


def test_shellcheck() -> None:
    result = shellcheck(SCRIPT)
    assert result.returncode == 0, result.stdout


def test_restarts_workers_that_exit_and_stops_cleanly(
    sb: Sandbox, procs: list[subprocess.Popen[str]]
) -> None:
    env = base_env(sb, STUB_MODE="exit", STUB_RUN_SECONDS="0.2", STUB_EXIT_CODE="3")
    sup = start(sb, procs, env)

    def starts_per_worker() -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in sb.calls("mina"):
            d = c.argv[c.argv.index("--config-directory") + 1]
            counts[d] = counts.get(d, 0) + 1
        return counts

    wait_for(
        lambda: len(starts_per_worker()) == 2 and min(starts_per_worker().values()) >= 3,
        timeout=10,
        what="each worker to be started three times",
    )
    sup.send_signal(signal.SIGTERM)
    _, stderr = sup.communicate(timeout=10)
    assert sup.returncode == 0, stderr

    calls = sb.calls("mina")
    assert {tuple(c.argv) for c in calls} == {
        tuple(expected_argv(sb, 1)),
        tuple(expected_argv(sb, 2)),
    }
    assert all(c.env["RAYON_NUM_THREADS"] == "4" for c in calls)
    for n in (1, 2):
        assert (sb.root / "workers" / str(n)).is_dir()
        exits = re.findall(rf"worker {n} \(pid \d+\) exited with code 3", stderr)
        assert len(exits) >= 2, stderr
    assert "all workers stopped" in stderr
    # never more than the configured number of workers at a time: every start of worker n
    # came after the previous one of worker n exited (each stub pid exited before a restart)
    for c in calls:
        assert pid_gone(c.pid)


def test_backoff_grows_for_a_crash_looping_worker(
    sb: Sandbox, procs: list[subprocess.Popen[str]]
) -> None:
    env = base_env(
        sb,
        WORKER_PROCESSES="1",
        STUB_MODE="exit",
        STUB_RUN_SECONDS="0.05",
        STUB_EXIT_CODE="9",
        RESTART_BACKOFF_MAX_SECONDS="8",
    )
    sup = start(sb, procs, env)
    wait_for(lambda: len(sb.calls("mina")) >= 2, timeout=6, what="one restart")
    second = sb.calls("mina")[1].pid
    wait_for(lambda: pid_gone(second), timeout=5, what="the restarted worker to exit")
    time.sleep(0.4)  # a few poll intervals, so the supervisor notices and logs the exit
    sup.send_signal(signal.SIGTERM)
    _, stderr = sup.communicate(timeout=10)
    assert sup.returncode == 0
    delays = re.findall(r"exited with code 9 after \d+s; restarting in (\d+)s", stderr)
    assert delays[:2] == ["1", "2"], stderr


def test_sigterm_stops_running_workers(sb: Sandbox, procs: list[subprocess.Popen[str]]) -> None:
    env = base_env(sb, WORKER_PROCESSES="3", STUB_MODE="run")
    sup = start(sb, procs, env)
    wait_for(lambda: len(sb.calls("mina")) == 3, timeout=10, what="three workers")
    time.sleep(0.3)  # a few poll cycles: nothing is restarted while workers run
    assert len(sb.calls("mina")) == 3
    began = time.monotonic()
    sup.send_signal(signal.SIGTERM)
    _, stderr = sup.communicate(timeout=10)
    assert sup.returncode == 0, stderr
    assert time.monotonic() - began < 3
    pids = [c.pid for c in sb.calls("mina")]
    assert sorted(p.name for p in sb.state.glob("terminated-*")) == sorted(
        f"terminated-{pid}" for pid in pids
    )
    assert all(pid_gone(pid) for pid in pids)
    assert "exited with code" not in stderr  # a requested stop is not a crash


def test_workers_ignoring_sigterm_are_killed_after_grace(
    sb: Sandbox, procs: list[subprocess.Popen[str]]
) -> None:
    env = base_env(sb, WORKER_PROCESSES="2", STUB_MODE="stubborn", STOP_GRACE_SECONDS="1")
    sup = start(sb, procs, env)
    wait_for(lambda: len(sb.calls("mina")) == 2, timeout=10, what="two workers")
    time.sleep(0.2)  # let the stubs install their SIGTERM handler
    sup.send_signal(signal.SIGTERM)
    _, stderr = sup.communicate(timeout=10)
    assert sup.returncode == 0
    assert "sending SIGKILL" in stderr
    assert all(pid_gone(c.pid) for c in sb.calls("mina"))


@pytest.mark.parametrize(("nproc", "processes", "threads"), [("16", "3", "5"), ("2", "4", "1")])
def test_default_threads_from_nproc(
    sb: Sandbox, procs: list[subprocess.Popen[str]], nproc: str, processes: str, threads: str
) -> None:
    env = base_env(sb, WORKER_PROCESSES=processes, STUB_MODE="run", STUB_NPROC=nproc)
    del env["WORKER_THREADS"]
    sup = start(sb, procs, env)
    n = int(processes)
    wait_for(lambda: len(sb.calls("mina")) == n, timeout=10, what=f"{n} workers")
    sup.send_signal(signal.SIGTERM)
    sup.communicate(timeout=10)
    assert sup.returncode == 0
    assert {c.env["RAYON_NUM_THREADS"] for c in sb.calls("mina")} == {threads}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("COORDINATOR_ADDRESS", ""),
        ("COORDINATOR_ADDRESS", "no-port"),
        ("WORKER_PROCESSES", "0"),
        ("WORKER_PROCESSES", "257"),
        ("WORKER_PROCESSES", "two"),
        ("WORKER_THREADS", "0"),
        ("PROOF_LEVEL", "fast"),
    ],
)
def test_configuration_errors(sb: Sandbox, key: str, value: str) -> None:
    env = base_env(sb, STUB_MODE="run")
    env[key] = value
    proc = sb.run(["bash", str(SCRIPT)], env, timeout=10)
    assert proc.returncode == 64
    assert key in proc.stderr
    assert sb.calls("mina") == []
