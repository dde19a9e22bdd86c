"""`python -m scripts.teardown`: stop what the runner left scheduled, then destroy."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
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
def world(tmp_path: Path) -> dict:
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
    return {"tmp": tmp_path, "env": env}


def leave_a_run_behind(world: dict, name: str) -> Path:
    """Start a run, and kill the runner once load is scheduled (the orchestrator hangs on)."""
    script = world["tmp"] / f"{name}.jsonl"
    script.write_text(payments_script())
    out = world["tmp"] / "runs" / name
    outputs = str(world["tmp"] / "outputs.json")
    runner = subprocess.Popen(
        [sys.executable, "-m", "scripts.experiment", "--outputs", outputs,
         "run", "--script", str(script), "--out", str(out), "--orchestrator", FAKE_ORCHESTRATOR],
        cwd=ROOT, env={**world["env"], "HANG_AT_STEP": "2"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for_receipts(out, 3)
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=10)
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
    assert [record["receipts"] for record in recorded] == [issued(run)]
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
    assert "could not stop" in result.stderr
    assert [c for c in pulumi_calls(world) if c["argv"][0] == "destroy"] == []


def test_nothing_outstanding_goes_straight_to_destroy(world: dict) -> None:
    result = teardown(world)
    assert result.returncode == 0, result.stderr
    assert stops(world) == []
    assert [c["argv"][0] for c in pulumi_calls(world)] == ["stack", "destroy"]
