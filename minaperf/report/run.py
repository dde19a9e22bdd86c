"""The run directory's own story: what was scheduled, when each step ran, what failed and stopped.

Reads what `scripts.experiment run` leaves behind (minaperf/orchestrator/rundir.py): `run.json`
(the runner's state), `script.jsonl` (the script with the runner's sentinel), `stdout.jsonl` (the
orchestrator's outputs, one JSON object per line: `time`, `step`, `name`, `value`) and
`orchestrator.log` (stderr; every line starts with a timestamp, and `Performing step <action>
(<n>)` marks the start of step n). The same files also give the report's time window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from minaperf.orchestrator import rundir
from minaperf.orchestrator.process import _BATCH_MARK, _STEP_MARK, is_error_line
from minaperf.orchestrator.script import Step, parse_script
from minaperf.rfc3339 import format_utc, read

LOAD_ACTIONS = frozenset({"payments", "zkapp-txs"})


class RunDirError(ValueError):
    """The run directory is missing or unreadable; the message names the file and the fix."""


def parse_time(value: Any, where: str | None = None) -> datetime | None:
    """An RFC 3339 time as Go prints it (up to 9 fractional digits) or as the runner writes it.

    With `where` (the file and field it came from), a time without a zone is bad input: which
    instant it means is unknown, so RunDirError names it. Without, such a time reads as none."""
    if not isinstance(value, str) or not value:
        return None
    parsed = read(value)
    if parsed is not None and parsed.tzinfo is None:
        if where is not None:
            raise RunDirError(
                f"--run: {where}: time {value[:40]!r} has no zone; write it as RFC 3339 "
                "with 'Z' or an offset"
            )
        return None
    return parsed


def read_text_lenient(path: Path) -> str:
    """A log's text with stray bytes as U+FFFD; RunDirError when it cannot be read."""
    try:
        return rundir.read_capped(path).decode(errors="replace")
    except OSError as error:
        raise RunDirError(f"--run: cannot read {path} ({error.strerror or error})") from None


def read_text(path: Path) -> str:
    """A run file's text; RunDirError when it is not UTF-8 (one line naming the file)."""
    try:
        return rundir.read_capped(path).decode("utf-8")
    except UnicodeDecodeError as error:
        raise RunDirError(
            f"--run: {path} is not UTF-8 text (byte {error.start}); restore the file "
            "`experiment run` wrote"
        ) from None
    except OSError as error:
        raise RunDirError(f"--run: cannot read {path} ({error.strerror or error})") from None


@dataclass
class StepStory:
    index: int
    action: str
    line: int
    params: dict[str, Any]
    started: datetime | None = None
    ended: datetime | None = None
    state: str = "not started"  # not started | completed | failed | running


@dataclass
class LoadSpan:
    """One receipt's share of a load step: `tps` from `start` (issued) to `end` (stopped, or
    its `durationMin` ran out). The orchestrator splits a step's `tps` over the nodes it
    schedules on (o1-labs/mina-perf-testing@7da1f2c orchestrator/src/payments.go:65-86), so each
    receipt carries the step's tps divided by the step's receipts."""

    step: int
    action: str
    tps: float
    start: datetime
    end: datetime
    planned_end: datetime
    state: str  # scheduled | stopped | ended | failed (minaperf/orchestrator/stopping.py)


@dataclass
class RunStory:
    directory: Path
    outcome: str
    reason: str | None
    started: datetime
    finished: datetime | None
    exit_status: int | None
    steps: list[StepStory]
    load: list[LoadSpan]
    step_tps: dict[int, float]
    experiment_names: tuple[str, ...]
    receipts_issued: int
    receipts_stopped: int
    stops: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)

    @property
    def window_end(self) -> datetime:
        """When the run's effect ended: the last of its finish and its scheduled load."""
        ends = [self.finished or self.started, *(span.end for span in self.load)]
        return max(ends)

    @property
    def load_span(self) -> tuple[datetime, datetime] | None:
        """From the first receipt's start to the last receipt's end (stop or planned end)."""
        if not self.load:
            return None
        return min(s.start for s in self.load), max(s.end for s in self.load)

    def scheduled_per_minute(self, start: datetime, minutes: int) -> list[float]:
        """Transactions scheduled in each minute from `start`: tps x seconds of overlap."""
        out = []
        for m in range(minutes):
            lo, hi = start + timedelta(minutes=m), start + timedelta(minutes=m + 1)
            total = 0.0
            for span in self.load:
                overlap = (min(hi, span.end) - max(lo, span.start)).total_seconds()
                if overlap > 0:
                    total += span.tps * overlap
            out.append(total)
        return out

    def as_json(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return format_utc(t) if t else None

        return {
            "directory": str(self.directory),
            "outcome": self.outcome,
            "reason": self.reason,
            "started": iso(self.started),
            "finished": iso(self.finished),
            "exitStatus": self.exit_status,
            "steps": [
                {
                    "index": s.index,
                    "action": s.action,
                    "line": s.line,
                    "started": iso(s.started),
                    "ended": iso(s.ended),
                    "state": s.state,
                }
                for s in self.steps
            ],
            "load": [
                {
                    "step": span.step,
                    "action": span.action,
                    "tps": span.tps,
                    "start": iso(span.start),
                    "end": iso(span.end),
                    "plannedEnd": iso(span.planned_end),
                    "state": span.state,
                }
                for span in self.load
            ],
            "experimentNames": list(self.experiment_names),
            "receiptsIssued": self.receipts_issued,
            "receiptsStopped": self.receipts_stopped,
            "stops": [
                {k: stop.get(k) for k in ("tag", "started", "finished", "ok", "reason")}
                | {"receipts": len(stop.get("receipts") or [])}
                for stop in self.stops
            ],
            "errors": self.errors,
        }


def _step_starts(log_path: Path) -> tuple[dict[int, datetime], list[str]]:
    """Start time of each step and the error lines, from the orchestrator's stderr log."""
    starts: dict[int, datetime] = {}
    errors: list[str] = []
    if not log_path.is_file():
        return starts, errors
    # stderr carries whatever the orchestrator and its libraries print: a stray byte is kept
    # as U+FFFD rather than failing the report (script.jsonl / stdout.jsonl must be UTF-8)
    for raw in read_text_lenient(log_path).splitlines():
        stamp = parse_time(raw.split("\t", 1)[0].strip())
        if is_error_line(raw):
            errors.append(raw.strip()[:300])
        if stamp is None:
            continue
        if mark := _STEP_MARK.search(raw):
            starts.setdefault(int(mark.group(2)), stamp)
        elif mark := _BATCH_MARK.search(raw):
            first, last = int(mark.group(2)), int(mark.group(3))
            for index in range(first, max(first, last) + 1):
                starts.setdefault(index, stamp)
    return starts, errors


def _step_states(
    steps: list[StepStory],
    started_set: set[int],
    starts: dict[int, datetime],
    finished: datetime | None,
    outcome: str,
) -> None:
    """Each step that ran: its end (the next start) and whether it completed, runs or failed."""
    total = len(steps)
    sentinel_started = total in started_set or total in starts
    for position, step in enumerate(steps):
        ran = step.index in started_set or step.started is not None
        if not ran:
            continue
        following = [s.started for s in steps[position + 1 :] if s.started is not None]
        step.ended = following[0] if following else (starts.get(total) or finished)
        later_ran = any(s.index in started_set for s in steps[position + 1 :])
        if later_ran or sentinel_started:
            step.state = "completed"
        elif outcome == "running":
            step.state = "running"
        else:
            step.state = "failed"


def _load_spans(
    steps: list[StepStory],
    issued: list[dict[str, Any]],
    by_index: dict[int, Step],
    state: dict[str, Any],
    state_file: Path,
    stop_time: dict[tuple[str, str], datetime],
    script_stop: dict[tuple[str, str], datetime],
) -> tuple[list[LoadSpan], dict[int, float], set[str]]:
    """Each load receipt's span (start to its planned, stopped or script-stopped end), each load
    step's rate, and the experiment names the load steps gave."""
    load: list[LoadSpan] = []
    step_tps: dict[int, float] = {}
    names: set[str] = set()
    for step in steps:
        tps, duration = step.params.get("tps"), step.params.get("durationMin")
        mine = [r for r in issued if r.get("step") == step.index]
        if step.action not in LOAD_ACTIONS or not mine:
            continue
        if isinstance(step.params.get("experimentName"), str):
            names.add(step.params["experimentName"])
        if isinstance(tps, bool) or not isinstance(tps, int | float):
            continue
        if isinstance(duration, bool) or not isinstance(duration, int):
            continue
        step_tps[step.index] = float(tps)
        for receipt in mine:
            start = parse_time(receipt.get("time"), f"receipt {receipt.get('handle')} `time`")
            planned_end = rundir.receipt_end(receipt, by_index)  # None when out of range
            if start is None or planned_end is None:
                continue
            fate = rundir.receipt_state(state, receipt)
            key = rundir.receipt_key(receipt)
            ends = [planned_end]
            if fate["state"] == "stopped":
                recorded = state.get("receiptStates", {}).get(" ".join(key))
                at = recorded.get("at") if isinstance(recorded, dict) else None
                where = f"{state_file} `receiptStates` of {' '.join(key)}"
                stopped_at = parse_time(at, where) or stop_time.get(key)
                ends += [stopped_at] if stopped_at is not None else []
            if key in script_stop:
                ends.append(script_stop[key])
                fate = {"state": "stopped"}
            end = max(start, min(ends))
            load.append(
                LoadSpan(
                    step=step.index,
                    action=step.action,
                    tps=float(tps) / len(mine),
                    start=start,
                    end=end,
                    planned_end=planned_end,
                    state=str(fate["state"]),
                )
            )
    return load, step_tps, names


def read_run(directory: Path) -> RunStory:
    """The story of one run directory; RunDirError when it is not one."""
    if not directory.is_dir():
        raise RunDirError(f"--run: {directory} is not a directory; pass a run directory")
    try:
        state = rundir.RunState.load(directory).data  # shape-checked like `experiment status`
    except (OSError, ValueError) as error:
        raise RunDirError(str(error).splitlines()[0]) from error
    state_file = directory / rundir.STATE_FILE
    started = parse_time(state.get("started"), f"{state_file} `started`")
    if started is None:
        raise RunDirError(f"--run: {state_file} has no valid `started` time")
    finished = parse_time(state.get("finished"), f"{state_file} `finished`")

    script_path = directory / rundir.SCRIPT_FILE
    script = parse_script(read_text(script_path)) if script_path.is_file() else None
    stdout_path = directory / rundir.STDOUT_FILE
    if stdout_path.is_file():
        read_text(stdout_path)  # bad bytes end here as one line, not inside the readers below
    outputs = rundir.read_outputs(stdout_path)
    declared: list[Any] = state["steps"] if isinstance(state.get("steps"), list) else []
    by_index = {s.index: s for s in script.steps} if script else {}
    starts, errors = _step_starts(directory / rundir.STDERR_FILE)
    for index, at in state.get(rundir.STEP_TIMES, {}).items():  # the runner's own clock
        when = parse_time(at, f"{state_file} `{rundir.STEP_TIMES}.{index}`")
        if when is not None:
            starts.setdefault(int(index), when)
    started_set = {i for i in state.get("stepsStarted", []) if isinstance(i, int)}
    outcome = str(state.get("outcome") or "unknown")
    steps: list[StepStory] = []
    for entry in declared:
        index = int(entry.get("index", len(steps)))
        parsed = by_index.get(index)
        steps.append(
            StepStory(
                index=index,
                action=str(entry.get("action") or (parsed.action if parsed else "?")),
                line=int(entry.get("line") or (parsed.line if parsed else 0)),
                params=dict(parsed.params) if parsed else {},
                started=starts.get(index),
            )
        )
    _step_states(steps, started_set, starts, finished, outcome)

    issued = rundir.all_receipts(directory, state)
    stops = [s for s in state.get("stops", []) if isinstance(s, dict)]
    stop_time: dict[tuple[str, str], datetime] = {}  # run.json before per-receipt states
    for number, stop in enumerate(stops):
        where = f"{state_file} `stops[{number}]`"
        when = parse_time(stop.get("finished"), where) or parse_time(stop.get("started"), where)
        if stop.get("ok") and when is not None:
            for receipt in stop.get("receipts") or []:
                stop_time.setdefault(rundir.receipt_key(receipt), when)
    # The script's own `stop` steps end their receipts' load when they begin, once the step
    # finished (the next step began), as the runner counts them stopped (runner.py).
    script_stop: dict[tuple[str, str], datetime] = {}
    for index, keys in rundir.script_stops(script.steps if script else [], outputs).items():
        when = starts.get(index)
        if when is not None and (index + 1 in started_set or index + 1 in starts):
            for key in keys:
                script_stop[key] = min(script_stop.get(key, when), when)

    load, step_tps, names = _load_spans(
        steps, issued, by_index, state, state_file, stop_time, script_stop
    )
    stopped_count = sum(
        1
        for r in issued
        if rundir.receipt_state(state, r)["state"] == "stopped"
        or rundir.receipt_key(r) in script_stop
    )
    return RunStory(
        directory=directory,
        outcome=outcome,
        reason=state.get("reason"),
        started=started,
        finished=finished,
        exit_status=state.get("exitStatus"),
        steps=steps,
        load=load,
        step_tps=step_tps,
        experiment_names=tuple(sorted(names)),
        receipts_issued=len(issued),
        receipts_stopped=stopped_count,
        stops=stops,
        errors=errors[:20],
    )
