"""Reading a run directory never ends in a traceback: whatever bytes its files hold, `read_run`
returns a story or raises RunDirError (one line naming the file and the fix)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minaperf.report.run import RunDirError, RunStory, read_run
from tests.fakes.consumer_db import write_run_dir

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
FILES = ("script.jsonl", "stdout.jsonl", "orchestrator.log")
TIMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["2026-01-05T10:00:00", "2026-01-05T10:00:00Z", "2026-01-05T10:00:00+02:00"]),
    st.none(),
)


def _run(tmp: Path) -> Path:
    return write_run_dir(
        tmp,
        T0,
        steps=[
            {"action": "payments", "params": {"experimentName": "e", "tps": 1, "durationMin": 2}},
            {"action": "stop", "params": {"receipts": {"type": "output", "step": 0}}},
        ],
        step_starts=[0, 60, 90],
        receipts=[(0, 1, "h1")],
        finished=90,
    )


def _read(run: Path) -> RunStory | str:
    """The story, or the RunDirError's message."""
    try:
        return read_run(run)
    except RunDirError as error:
        return str(error)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(FILES), raw=st.binary(max_size=200))
def test_any_bytes_in_run_files(tmp_path_factory, name: str, raw: bytes) -> None:
    run = _run(tmp_path_factory.mktemp("run"))
    (run / name).write_bytes(raw)
    outcome = _read(run)
    if isinstance(outcome, str):
        assert "\n" not in outcome
        assert outcome.startswith("--run: ")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(started=TIMES, finished=TIMES, step_time=TIMES, receipt_time=TIMES)
def test_any_times_in_run_json(
    tmp_path_factory, started, finished, step_time, receipt_time
) -> None:
    run = _run(tmp_path_factory.mktemp("run"))
    state = json.loads((run / "run.json").read_text())
    state.update(started=started, finished=finished)
    if isinstance(step_time, str):
        state["stepsStartedAt"] = {"1": step_time}
    state["receiptsIssued"][0]["time"] = receipt_time
    (run / "run.json").write_text(json.dumps(state))
    story = _read(run)
    if isinstance(story, str):
        assert "\n" not in story
        return
    assert story.started.tzinfo is not None
    for span in story.load:
        assert span.start <= span.end <= span.planned_end
