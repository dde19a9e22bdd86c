"""Property tests: mutated scripts, outputs files and run directories never crash the runner.

Run directories are mutated field by field (every `run.json` field and the fields inside its
receipts, stops and receipt states; the bytes of `stdout.jsonl` and `script.jsonl`) and read by
every command that reads them: `status`, `stop`, teardown's scan and the report's reader.

Every outcome is success, or exit 2 with exactly one `error: …` line (or a `check` report naming
lines); never a traceback, never a write outside the given paths. Derandomised, fixed budget.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minaperf.model.outputs import parse_outputs
from minaperf.orchestrator.config import CONFIG_FILE_NAME
from minaperf.report.run import RunDirError, read_run
from scripts import experiment
from scripts.teardown import outstanding_runs
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


ONLINE_URL = "http://uptime-backend.exp1.svc.cluster.local:8080/v1/online"
RECEIPT = {"step": 0, "time": "2026-01-01T00:00:00Z", "address": "127.0.0.1:1", "handle": "h"}
NESTED = {
    "receiptsIssued": RECEIPT,
    "stops": {"tag": "stop-1", "ok": False, "reason": "r", "receipts": [RECEIPT]},
    "receiptStates": {"state": "failed", "reason": "r", "at": "2026-01-01T00:00:01Z"},
}
ODD = (
    JSON
    | st.sampled_from(["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-01-01T00:00:00"])
    | st.integers(min_value=10**15)
)


def _mutated_state(draw: st.DrawFn) -> dict:
    state = {
        **STATE,
        "target": {"kind": "local", "executable": "/bin/false"},
        "receiptsIssued": [dict(RECEIPT)],
        "stops": [dict(NESTED["stops"])],
        "receiptStates": {"127.0.0.1:1 h": dict(NESTED["receiptStates"])},
    }
    where = draw(st.sampled_from([*sorted(k for k in STATE if k != "target"), *sorted(NESTED)]))
    if where in NESTED and draw(st.booleans()):
        field = draw(st.sampled_from(sorted(NESTED[where])))
        entry = state[where]["127.0.0.1:1 h"] if where == "receiptStates" else state[where][0]
        entry[field] = draw(ODD)
    else:
        state[where] = draw(ODD)
    return state


@st.composite
def run_directories(draw: st.DrawFn) -> dict[str, bytes]:
    """`run.json` with one field mutated, a torn or foreign `stdout.jsonl`, an odd script."""
    receipt_line = json.dumps(
        {"time": draw(ODD), "step": draw(ODD), "name": "receipt", "value": draw(ODD)}
    ).encode()
    script = json.dumps(
        {"action": "payments", "params": {"durationMin": draw(ODD), "tps": 1, "minTps": 1}}
    ).encode()
    return {
        "run.json": json.dumps(_mutated_state(draw)).encode(),
        "stdout.jsonl": receipt_line
        + b"\n"
        + draw(st.sampled_from([b"", b'{"a": \xe2\x82']))
        + draw(st.binary(max_size=8)),
        "script.jsonl": draw(st.sampled_from([script, b"\xe9t\xe9\n", b"\x00\xff" * 4])),
    }


@PROPERTY
@given(files=run_directories())
def test_every_reader_of_a_mutated_run_directory(
    capsys: pytest.CaptureFixture[str], files: dict[str, bytes]
) -> None:
    outputs = parse_outputs(make_outputs(online_url=ONLINE_URL))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "runs" / "r1"
        run.mkdir(parents=True)
        for name, data in files.items():
            (run / name).write_bytes(data)
        (run / CONFIG_FILE_NAME).write_text(json.dumps({"onlineURL": ONLINE_URL}))
        code, err = _outcome(capsys, ["status", "--run", str(run)])
        _one_error_line_or_ok(code, err)
        code, err = _outcome(capsys, ["stop", "--run", str(run)])
        assert "Traceback" not in err
        assert code in (0, 2, 3), err
        if code == 2:
            assert err.startswith(f"error: --run: {run / 'run.json'}"), err
        assert outstanding_runs(run.parent, outputs) in ([], [run])  # teardown goes on
        try:
            read_run(run)
        except RunDirError as error:
            message = str(error)
        else:
            message = "--run: read"
        assert message.startswith("--run: "), message


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


@pytest.mark.parametrize("name", [CONFIG_FILE_NAME, "run.json", "stdout.jsonl", "stop-1.log"])
def test_teardown_never_waits_on_a_fifo_in_a_run_directory(tmp_path: Path, name: str) -> None:
    """A FIFO (or any non-regular file) in a run directory is skipped: teardown goes on."""
    outputs = parse_outputs(make_outputs(online_url=ONLINE_URL))
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    state = {**STATE, "target": {"kind": "local", "executable": "/bin/false"}}
    (run / "run.json").write_text(json.dumps(state))
    (run / CONFIG_FILE_NAME).write_text(json.dumps({"onlineURL": ONLINE_URL}))
    (run / name).unlink(missing_ok=True)
    os.mkfifo(run / name)
    found: list[list[Path]] = []
    worker = threading.Thread(target=lambda: found.append(outstanding_runs(run.parent, outputs)))
    worker.daemon = True  # a reader stuck on the FIFO must not hold the test run open
    worker.start()
    worker.join(timeout=20)
    assert found, f"teardown's scan blocked on a FIFO named {name}"
    assert found[0] in ([], [run])
