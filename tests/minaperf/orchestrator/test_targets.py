"""Where the orchestrator runs: the pod target reached through (the stand-in) `kubectl exec`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minaperf.orchestrator.config import CONFIG_FILE_NAME
from minaperf.orchestrator.process import OrchestratorProcess
from minaperf.orchestrator.targets import PodTarget
from tests.fakes.process_tree import TREE_VARIABLE, assert_none_left, leftovers, tree_marker

FAKE_KUBECTL = str(Path(__file__).parents[2] / "fakes" / "fake_kubectl.py")


def _target(remote: Path) -> PodTarget:
    return PodTarget(FAKE_KUBECTL, "exp1", "workspace-0", "workspace", str(remote), "orch")


def test_kill_orphan_spares_a_process_that_reused_the_pid(tmp_path: Path) -> None:
    """The workspace volume keeps `<tag>.pid` across pod restarts, which reuse PIDs."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "orchestrator.pid").write_text(f"{other.pid}\n")
        said = _target(tmp_path).kill_orphan({}, "orchestrator")
        assert said is not None
        assert "no longer the orchestrator" in said
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_kill_orphan_kills_the_orchestrator_it_started(tmp_path: Path) -> None:
    config = str(tmp_path / CONFIG_FILE_NAME)  # `command` execs `orch <remote>/<config>`
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", config])
    try:
        (tmp_path / "orchestrator.pid").write_text(f"{orphan.pid}\n")
        said = _target(tmp_path).kill_orphan({}, "orchestrator")
        assert said == (f"killed orchestrator in pod workspace-0 ({tmp_path}/orchestrator.pid)")
        assert orphan.wait(10) != 0
    finally:
        orphan.kill()
        orphan.wait()


def test_kill_orphan_without_a_pid_file_does_nothing(tmp_path: Path) -> None:
    assert _target(tmp_path).kill_orphan({}, "orchestrator") is None
    (tmp_path / "orchestrator.pid").write_text("not a pid\n")
    said = _target(tmp_path).kill_orphan({}, "orchestrator")
    assert said is not None
    assert "no longer the orchestrator" in said


def test_exec_needs_the_pod_and_its_container(tmp_path: Path, monkeypatch) -> None:
    """What the API server answers (the stand-in, with the cluster's pods known)."""
    pods = tmp_path / "pods.json"
    pods.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "metadata": {"name": "workspace-0"},
                        "spec": {"containers": [{"name": "workspace"}]},
                    }
                ]
            }
        )
    )
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    assert _target(tmp_path).list_dir(".") is not None
    gone = PodTarget(FAKE_KUBECTL, "exp1", "workspace-1", "workspace", str(tmp_path), "orch")
    with pytest.raises(RuntimeError, match='pods "workspace-1" not found'):
        gone.install_config("{}")
    wrong = PodTarget(FAKE_KUBECTL, "exp1", "workspace-0", "sidecar", str(tmp_path), "orch")
    with pytest.raises(RuntimeError, match="container sidecar is not valid for pod workspace-0"):
        wrong.install_config("{}")


def _sleeping_orchestrator(remote: Path) -> PodTarget:
    """A pod target whose `orchestrator` sleeps, so it runs until something kills it."""
    orch = remote / "orch"
    orch.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    orch.chmod(0o755)
    return PodTarget(FAKE_KUBECTL, "exp1", "workspace-0", "workspace", str(remote), str(orch))


def _remote_pid(remote: Path, tag: str) -> int:
    pid_file = remote / f"{tag}.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "the remote command never started"
        time.sleep(0.05)
    return int(pid_file.read_text())


def _alive(pid: int, marker: dict[str, str]) -> bool:
    return any(line.split()[0] == str(pid) for line in leftovers(marker))


def test_ctrl_c_to_the_exec_client_leaves_the_remote_orchestrator_running(
    tmp_path: Path, monkeypatch
) -> None:
    """As with a real pod (kubernetes/kubernetes#89031): the terminal's SIGINT ends `kubectl
    exec`, the process it started runs on; only `kill_orphan` ends it."""
    marker = tree_marker()
    monkeypatch.setenv(TREE_VARIABLE, marker[TREE_VARIABLE])
    target = _sleeping_orchestrator(tmp_path)
    client = subprocess.Popen(
        target.command("orchestrator"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    remote = _remote_pid(tmp_path, "orchestrator")
    os.killpg(client.pid, signal.SIGINT)
    assert client.wait(10) != 0
    time.sleep(0.3)
    assert _alive(remote, marker)
    said = target.kill_orphan({}, "orchestrator")
    assert said == f"killed orchestrator in pod workspace-0 ({tmp_path}/orchestrator.pid)"
    assert_none_left(marker)


def test_terminating_a_pod_run_ends_the_remote_orchestrator(tmp_path: Path, monkeypatch) -> None:
    """OrchestratorProcess.terminate kills the remote process first, then the client."""
    marker = tree_marker()
    monkeypatch.setenv(TREE_VARIABLE, marker[TREE_VARIABLE])
    run = OrchestratorProcess(
        _sleeping_orchestrator(tmp_path),
        "orchestrator",
        '{"action": "wait", "params": {"sec": 0}}\n',
        tmp_path / "out",
        tmp_path / "err",
        terminal=io.StringIO(),
    )
    run.start()
    remote = _remote_pid(tmp_path, "orchestrator")
    run.terminate()
    assert not _alive(remote, marker)
    assert_none_left(marker)


def test_exec_reports_the_remote_exit_status(tmp_path: Path) -> None:
    """client-go's CodeExitError: `command terminated with exit code N`, and kubectl exits N."""
    failing = PodTarget(FAKE_KUBECTL, "exp1", "workspace-0", "workspace", str(tmp_path), "orch")
    result = subprocess.run(
        failing.command("orchestrator"), capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 127  # `sh` finds no `orch` in the "container"
    assert result.stderr.endswith("command terminated with exit code 127\n")
