"""The one reader of a run directory: each odd field seen on the cleanup path is named or
skipped, never a crash (issue 25's cases, one per test row)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from minaperf.orchestrator import rundir
from minaperf.report.run import RunDirError, read_run

RECEIPT = {"step": 0, "time": "2026-01-01T00:00:00Z", "address": "10.0.0.1:3086", "handle": "h"}
STATE = {
    "target": {"kind": "local", "executable": "/bin/false"},
    "started": "2026-01-01T00:00:00Z",
    "outcome": "failed",
    "steps": [{"index": 0, "action": "payments", "line": 1}],
    "stepsStarted": [0],
    "receiptsIssued": [RECEIPT],
}
SCRIPT = b'{"action": "payments", "params": {"durationMin": 30, "tps": 1, "minTps": 1}}\n'
NOW = datetime(2026, 1, 1, 0, 10, tzinfo=UTC)


def _run(tmp_path: Path, state: dict, script: bytes = SCRIPT, stdout: bytes = b"") -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.STATE_FILE).write_text(json.dumps(state))
    (run / rundir.SCRIPT_FILE).write_bytes(script)
    (run / rundir.STDOUT_FILE).write_bytes(stdout)
    return run


def _live(run: Path) -> list[bool]:
    state = rundir.RunState.load(run)
    steps = rundir.script_steps(run)
    return [
        rundir.may_be_live(state.data, r, steps, NOW) for r in rundir.all_receipts(run, state.data)
    ]


@pytest.mark.parametrize(
    ("change", "script"),
    [
        ({"receiptsIssued": [{**RECEIPT, "time": "9999-12-31T23:59:59Z"}]}, SCRIPT),
        ({}, SCRIPT.replace(b"30", b"99999999999999")),
        ({"receiptsIssued": [{**RECEIPT, "step": "0"}]}, SCRIPT),
        ({}, "durée".encode("latin-1")),
        ({}, b"\x00\xff\xfe binary"),
    ],
    ids=["year-9999", "huge-duration", "step-not-int", "latin-1-script", "binary-script"],
)
def test_an_unknown_end_means_may_be_live(tmp_path: Path, change: dict, script: bytes) -> None:
    run = _run(tmp_path, {**STATE, **change}, script)
    assert _live(run) == [True]  # unknown end: stop it rather than guess it ended
    assert "not stopped: step" in rundir.status_report(run, now=NOW)
    try:
        script.decode("utf-8")
    except UnicodeDecodeError:  # the report names the file it cannot read: one line, exit 2
        with pytest.raises(RunDirError, match=rf"{rundir.SCRIPT_FILE} is not UTF-8 text"):
            read_run(run)
    else:
        read_run(run)


def test_a_stdout_torn_inside_a_utf8_character_is_read_up_to_it(tmp_path: Path) -> None:
    line = {
        "time": RECEIPT["time"],
        "step": 0,
        "name": "receipt",
        "value": {"address": "b:1", "handle": "g"},
    }
    torn = json.dumps(line).encode() + b'\n{"name": "receipt", "value": "\xe2\x82'
    run = _run(tmp_path, STATE, stdout=torn)
    state = rundir.RunState.load(run)
    assert [r["handle"] for r in rundir.all_receipts(run, state.data)] == ["h", "g"]


def test_odd_entries_are_named_with_their_file_and_skipped(tmp_path: Path) -> None:
    run = _run(
        tmp_path,
        {
            **STATE,
            "receiptStates": {"10.0.0.1:3086 h": {"state": "failed"}, "x": {"reason": "r"}},
            "stops": [{"tag": "stop-1", "ok": True, "receipts": {"address": "a"}}, 3],
            "receiptsIssued": [RECEIPT, {"address": 5, "handle": "h2"}],
        },
    )
    state = rundir.RunState.load(run)
    path = run / rundir.STATE_FILE
    assert state.notes == [
        f"{path}: `receiptsIssued[1]` is not a receipt (address, handle); skipped",
        f"{path}: `stops[0].receipts` is not a list; read as empty",
        f"{path}: `stops[1]` is not a stop run; skipped",
        f"{path}: `receiptStates.x` has no `state` of scheduled, stopped, ended, failed; skipped",
    ]
    report = rundir.status_report(run, now=NOW)
    assert "last stop failed: (no reason recorded)" in report  # a state without its reason
    assert "stop-1: ok (None), 0 receipt(s)" in report


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    run = _run(tmp_path, STATE)
    (run / rundir.STDOUT_FILE).unlink()
    os.mkfifo(run / rundir.STDOUT_FILE)
    assert rundir.read_outputs(run / rundir.STDOUT_FILE) == []
    (run / rundir.STATE_FILE).unlink()
    os.mkfifo(run / rundir.STATE_FILE)
    with pytest.raises(ValueError, match=r"is a FIFO \(named pipe\); pass a regular file"):
        rundir.RunState.load(run)
