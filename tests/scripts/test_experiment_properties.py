"""Property tests: mutated scripts, outputs files and run directories never crash the runner.

Every outcome is success, or exit 2 with exactly one `error: …` line (or a `check` report naming
lines); never a traceback, never a write outside the given paths. Derandomised, fixed budget.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts import experiment
from tests.fakes.outputs_fixture import make_outputs

ROOT = Path(__file__).parents[2]
SCRIPT = (ROOT / "stacks" / "scripts" / "small-payments.jsonl").read_bytes()
STATE = {
    "version": 1,
    "script": "s.jsonl",
    "steps": [{"index": 0, "action": "payments", "line": 1}],
    "target": {"kind": "local", "executable": "/bin/false"},
    "started": "2026-01-01T00:00:00Z",
    "finished": None,
    "outcome": "failed",
    "reason": None,
    "pid": None,
    "stepsStarted": [0],
    "receiptsIssued": [{"step": 0, "time": "2026-01-01T00:00:00Z", "address": "a", "handle": "h"}],
    "receiptsStopped": [],
    "stops": [],
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
PROPERTY = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _mutate_bytes(data: bytes, cuts: list[tuple[int, bytes]]) -> bytes:
    for position, insert in cuts:
        at = position % (len(data) + 1)
        data = data[:at] + insert + data[at + len(insert) :]
    return data


def _outcome(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    try:
        code = experiment.main(argv)
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def _one_error_line_or_ok(code: int, err: str) -> None:
    assert "Traceback" not in err
    if code == 0:
        return
    assert code == 2, err
    lines = err.strip().splitlines()
    assert lines, "exit 2 without a message"
    if lines[0].startswith("error: "):
        assert len(lines) == 1, err


@PROPERTY
@given(
    cuts=st.lists(st.tuples(st.integers(0, 5000), st.binary(min_size=1, max_size=6)), max_size=4)
)
def test_check_of_a_mutated_script(capsys: pytest.CaptureFixture[str], cuts) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.jsonl"
        path.write_bytes(_mutate_bytes(SCRIPT, cuts))
        code, err = _outcome(capsys, ["check", str(path)])
        _one_error_line_or_ok(code, err)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["s.jsonl"]


@PROPERTY
@given(key=st.sampled_from(sorted(STATE)), value=JSON)
def test_status_and_stop_of_a_mutated_run_directory(
    capsys: pytest.CaptureFixture[str], key: str, value: object
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        (run / "run.json").write_text(json.dumps({**STATE, key: value}))
        for command in ("status", "stop"):
            code, err = _outcome(capsys, [command, "--run", str(run)])
            if command == "stop":  # no orchestrator-config.json: refused before anything runs
                assert code == 2, err
            _one_error_line_or_ok(code, err)


@PROPERTY
@given(path=st.sampled_from(["workspace", "nodes", "orchestratorKey", "namespace"]), value=JSON)
def test_config_from_mutated_outputs(
    capsys: pytest.CaptureFixture[str], path: str, value: object
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outputs = Path(tmp) / "outputs.json"
        outputs.write_text(json.dumps({**make_outputs(), path: value}))
        code, err = _outcome(capsys, ["--outputs", str(outputs), "config"])
        _one_error_line_or_ok(code, err)


def _bad_out(tmp: Path, kind: str) -> Path:
    path = tmp / "out"
    if kind == "file":
        path.write_text("mine")
    elif kind == "dangling link":
        path.symlink_to(tmp / "nowhere")
    elif kind == "proc":
        return Path("/proc/no-such-dir/run")
    elif kind == "under a file":
        (tmp / "f").write_text("mine")
        return tmp / "f" / "run"
    return path


@pytest.mark.parametrize("kind", ["file", "dangling link", "proc", "under a file"])
@pytest.mark.parametrize("command", ["run", "up"])
def test_a_run_directory_that_cannot_be_one_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, command: str
) -> None:
    """Checked (and made) before the orchestrator or `pulumi up` starts; nothing else written."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(make_outputs()))
    out = _bad_out(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    script = str(ROOT / "stacks" / "scripts" / "small-payments.jsonl")
    argv = {
        "run": ["--outputs", str(outputs), "run", "--script", script, "--out", str(out),
                "--orchestrator", "/bin/true"],
        "up": ["up", "--stack", "dev", "--script", script, "--out", str(out)],
    }[command]  # fmt: skip
    code, err = _outcome(capsys, argv)
    assert code == 2, err
    assert err.startswith("error: --out: ")
    _one_error_line_or_ok(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", ["run", "up"])
def test_an_orchestrator_that_is_a_directory_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(make_outputs()))
    script = str(ROOT / "stacks" / "scripts" / "small-payments.jsonl")
    argv = {
        "run": ["--outputs", str(outputs), "run", "--script", script, "--out",
                str(tmp_path / "o"), "--orchestrator", str(tmp_path)],
        "up": ["up", "--stack", "dev", "--script", script, "--orchestrator", str(tmp_path)],
    }[command]  # fmt: skip
    code, err = _outcome(capsys, argv)
    assert (code, err) == (2, f"error: --orchestrator: {tmp_path} is not an executable file\n")
