"""Where the orchestrator runs: the pod target reached through (the stand-in) `kubectl exec`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from minaperf.orchestrator.config import CONFIG_FILE_NAME
from minaperf.orchestrator.targets import PodTarget

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
