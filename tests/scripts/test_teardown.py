"""`python -m scripts.teardown`: stop what the runner left scheduled, then destroy."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fakes.outputs_fixture import make_outputs
from tests.scripts.test_experiment_cli import (
    FAKE_ORCHESTRATOR,
    issued,
    payments_script,
    wait_for_receipts,
)

PULUMI_STUB = """#!{python}
import json, sys, time
from pathlib import Path
log = Path({log!r})
with log.open("a") as handle:
    handle.write(json.dumps({{"argv": sys.argv[1:], "at": time.time()}}) + "\\n")
if sys.argv[1:3] == ["stack", "output"]:
    print(Path({outputs!r}).read_text())
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    outputs = make_outputs(work_dir=str(tmp_path / "pod"))
    outputs["postgres"]["dataDisk"] = "projects/p-123456/zones/us-central1-a/disks/exp1-postgres"
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "pulumi"
    stub.write_text(
        PULUMI_STUB.format(
            python=sys.executable,
            log=str(tmp_path / "pulumi.jsonl"),
            outputs=str(tmp_path / "outputs.json"),
        )
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "FAKE_PARTICIPANTS": "10.0.0.1:3086,10.0.0.2:3086,10.0.0.3:3086",
        "STOP_RECORD_FILE": str(tmp_path / "stops.jsonl"),
    }
    for name in ("FAIL_AT_STEP", "CRASH_AT_STEP", "HANG_AT_STEP", "FAKE_STOP_FAIL"):
        env.pop(name, None)
    world: dict = {"tmp": tmp_path, "env": env}
    yield world
    for pid in world.get("orphans", []):  # orchestrators a test left hanging on purpose
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def leave_a_run_behind(world: dict, name: str, extra: dict | None = None) -> Path:
    """Start a run, and kill the runner once load is scheduled (the orchestrator hangs on)."""
    script = world["tmp"] / f"{name}.jsonl"
    script.write_text(payments_script())
    out = world["tmp"] / "runs" / name
    outputs = str(world["tmp"] / "outputs.json")
    runner = subprocess.Popen(
        [sys.executable, "-m", "scripts.experiment", "--outputs", outputs,
         "run", "--script", str(script), "--out", str(out), "--orchestrator", FAKE_ORCHESTRATOR],
        cwd=ROOT, env={**world["env"], "HANG_AT_STEP": "2", **(extra or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_receipts(out, 3)
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=10)
    world.setdefault("orphans", []).append(json.loads((out / "run.json").read_text())["pid"])
    return out


def teardown(
    world: dict, *args: str, extra: dict | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.teardown", "--stack", "exp1",
         "--runs", str(world["tmp"] / "runs"), "--yes", *args],
        cwd=ROOT, env={**world["env"], **(extra or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def pulumi_calls(world: dict) -> list[dict]:
    path = world["tmp"] / "pulumi.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def stops(world: dict) -> list[dict]:
    path = world["tmp"] / "stops.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_teardown_stops_left_over_load_before_destroying(world: dict) -> None:
    run = leave_a_run_behind(world, "r1")
    other = world["tmp"] / "runs" / "other-stack"
    other.mkdir()
    (other / "run.json").write_text(
        json.dumps({"receiptsIssued": [{"address": "x", "handle": "h"}]})
    )
    (other / "orchestrator-config.json").write_text(json.dumps({"onlineURL": "http://elsewhere"}))

    result = teardown(world)
    assert result.returncode == 0, result.stderr
    recorded = stops(world)
    assert [r for record in recorded for r in record["receipts"]] == issued(run)
    destroy = [call for call in pulumi_calls(world) if call["argv"][0] == "destroy"]
    assert destroy
    assert destroy[0]["argv"] == ["destroy", "--stack", "exp1", "--yes"]
    stop_time = (world["tmp"] / "stops.jsonl").stat().st_mtime
    assert stop_time <= destroy[0]["at"], "the load is stopped before the nodes go away"
    assert "projects/p-123456/zones/us-central1-a/disks/exp1-postgres" in result.stdout


def test_a_failed_stop_blocks_the_destroy(world: dict) -> None:
    leave_a_run_behind(world, "r1")
    result = teardown(world, extra={"FAKE_STOP_FAIL": "1"})
    assert result.returncode == 3
    assert "load may still be running from" in result.stderr
    assert "--force" in result.stderr
    assert [c for c in pulumi_calls(world) if c["argv"][0] == "destroy"] == []


def test_nothing_outstanding_goes_straight_to_destroy(world: dict) -> None:
    result = teardown(world)
    assert result.returncode == 0, result.stderr
    assert stops(world) == []
    assert [c["argv"][0] for c in pulumi_calls(world)] == ["stack", "destroy"]


def test_receipts_only_in_stdout_are_stopped_too(world: dict) -> None:
    """Killed between printing a receipt and saving run.json: stdout.jsonl is the truth."""
    run = leave_a_run_behind(world, "r1")
    state = json.loads((run / "run.json").read_text())
    state["receiptsIssued"] = []
    (run / "run.json").write_text(json.dumps(state))
    result = teardown(world)
    assert result.returncode == 0, result.stderr
    assert [r for record in stops(world) for r in record["receipts"]] == issued(run)


def test_load_that_ended_by_itself_does_not_block(world: dict) -> None:
    """A normal run without its own stop step: once durationMin is over nothing is live."""
    run = leave_a_run_behind(world, "r1", extra={"FAKE_CLOCK_OFFSET_SEC": "-600"})
    result = teardown(world)
    assert result.returncode == 0, result.stderr
    assert stops(world) == []
    assert run.exists()


def test_unreachable_cluster_is_one_line_and_force_proceeds(world: dict) -> None:
    run = leave_a_run_behind(world, "r1")
    state = json.loads((run / "run.json").read_text())
    state["target"] = {
        "kind": "pod", "namespace": "exp1", "pod": "orchestrator-0", "container": "orchestrator",
        "remoteDir": "/work/runs/r1", "orchestratorExec": "/usr/local/bin/orchestrator",
    }  # fmt: skip
    (run / "run.json").write_text(json.dumps(state))
    fake = {"FAKE_KUBECTL_UNREACHABLE": "1"}
    kubectl = ["--kubectl", str(ROOT / "tests" / "fakes" / "fake_kubectl.py")]
    blocked = teardown(world, *kubectl, extra=fake)
    assert blocked.returncode == 3
    assert "Traceback" not in blocked.stderr
    assert "cannot reach the workspace pod orchestrator-0: couldn't get current server" in (
        blocked.stderr
    )
    assert [c for c in pulumi_calls(world) if c["argv"][0] == "destroy"] == []
    forced = teardown(world, *kubectl, "--force", extra=fake)
    assert forced.returncode == 0, forced.stderr
    assert [c["argv"][0] for c in pulumi_calls(world)][-1] == "destroy"


def test_teardown_suggests_only_options_it_has(world: dict) -> None:
    bare = {**world["env"], "PATH": "/nonexistent"}
    result = subprocess.run(
        [sys.executable, "-m", "scripts.teardown", "--stack", "exp1"],
        cwd=ROOT, env=bare, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--outputs" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    typo = teardown(world, "--forc")
    assert typo.returncode == 2
    assert typo.stderr.startswith("error: unrecognized arguments: --forc")
