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
