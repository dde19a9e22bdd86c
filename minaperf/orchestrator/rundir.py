"""A run directory's files and `run.json`: the one record a dead runner leaves behind.

`run.json` is rewritten atomically on every change, and this module is the one reader of a run
directory for `stop`, `status`, `teardown` and `report`; it reads forgivingly (`RunState.load`),
so cleanup still runs on whatever survived a crash. See docs/runner.md#run-directories.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from minaperf.files import FileInputError, read_regular_file
from minaperf.orchestrator.script import parse_script
from minaperf.rfc3339 import format_utc, read_zoned

STATE_FILE = "run.json"
STDOUT_FILE = "stdout.jsonl"
STDERR_FILE = "orchestrator.log"
SCRIPT_FILE = "script.jsonl"
STEP_TIMES = "stepsStartedAt"
"""`run.json` field: when the runner saw each step begin (`Performing step <action> (<n>)`),
step number (as text) → time; the report ends a receipt stopped by a script `stop` step there."""
FILE_LIMIT = 64 << 20
"""Bytes read from any one run-directory file; a run's own files are far smaller."""
RECEIPT_STATES = ("scheduled", "stopped", "ended", "failed")


def read_capped(path: Path) -> bytes:
    """A run-directory file's bytes through the one reader (minaperf.files: regular files only,
    at most FILE_LIMIT); OSError naming the file for anything else, as a missing file is."""
    try:
        return read_regular_file(path, limit=FILE_LIMIT, what="run directory")
    except FileInputError as error:
        raise OSError(error.reason) from None


def now_iso() -> str:
    return format_utc(datetime.now(UTC), micros=True)


class RunState:
    """`run.json`, rewritten atomically on every change so a killed runner leaves the truth."""

    def __init__(self, directory: Path, data: dict[str, Any], notes: list[str] | None = None):
        self.directory = directory
        self.data = data
        self.notes = notes or []
        """What `load` dropped from `run.json`, each naming the file and the field."""
        self.lock = threading.RLock()

    @classmethod
    def load(cls, directory: Path) -> RunState:
        """Read `run.json` and check it field by field: what nothing can be done without (not a
        JSON object, no usable `target`) is a ValueError naming the file; any other field or list
        entry of the wrong type is dropped and named in `notes`, so cleanup still runs on what is
        sound."""
        path = directory / STATE_FILE
        if not path.exists():
            raise ValueError(f"--run: {directory} has no {STATE_FILE}; pass a run directory")
        try:
            data = json.loads(read_capped(path).decode("utf-8"))
        except (UnicodeDecodeError, RecursionError) as error:
            raise ValueError(f"--run: {path} is not a run state file ({error})") from None
        except OSError as error:
            raise ValueError(f"--run: {path}: {error}") from None
        except ValueError as error:
            raise ValueError(f"--run: {path} is not JSON ({error})") from None
        problem = _fatal_problem(data)
        if problem:
            raise ValueError(f"--run: {path}: {problem} (not written by `experiment run`?)")
        notes: list[str] = []
        clean = _clean_state(data, lambda field, why: notes.append(f"{path}: `{field}` {why}"))
        return cls(directory, clean, notes)

    def save(self) -> None:
        with self.lock:
            tmp = self.directory / (STATE_FILE + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            os.replace(tmp, self.directory / STATE_FILE)

    def update(self, **changes: Any) -> None:
        with self.lock:
            self.data.update(changes)
            self.save()


_TARGET_FIELDS = {
    "local": ("executable",),
    "pod": ("namespace", "pod", "container", "remoteDir", "orchestratorExec"),
}
_STRINGS = ("outcome", "reason", "script", "started", "finished")
_INTEGERS = ("pid", "exitStatus")
Note = Callable[[str, str], None]


def _fatal_problem(data: Any) -> str | None:
    """What makes a loaded `run.json` unusable (nothing could be stopped from it), or None."""
    if not isinstance(data, dict):
        return "must be a JSON object"
    target = data.get("target")
    if not isinstance(target, dict) or target.get("kind") not in _TARGET_FIELDS:
        return '`target` must be an object with `kind` "local" or "pod"'
    for field in _TARGET_FIELDS[target["kind"]]:
        if not isinstance(target.get(field), str):
            return f"`target.{field}` must be a string"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(value: Any) -> dict[str, str] | None:
    """`{"address", "handle"}`, both strings, or None."""
    if not isinstance(value, dict):
        return None
    address, handle = value.get("address"), value.get("handle")
    if not isinstance(address, str) or not isinstance(handle, str):
        return None
    return {"address": address, "handle": handle}


def _receipt(value: Any) -> dict[str, Any] | None:
    pair = _pair(value)
    if pair is None:
        return None
    assert isinstance(value, dict)
    step, time = value.get("step"), value.get("time")
    return {**pair, "step": step if _is_int(step) else None, "time": time}


def _fate(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("state") not in RECEIPT_STATES:
        return None
    reason, at = value.get("reason"), value.get("at")
    return {
        "state": value["state"],
        "reason": reason if isinstance(reason, str) else "(no reason recorded)",
        "at": at if isinstance(at, str) else None,
    }


def _step(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    index, action, line = value.get("index"), value.get("action"), value.get("line")
    if not _is_int(index) or not isinstance(action, str):
        return None
    return {"index": index, "action": action, "line": line if _is_int(line) else 0}


def _stop(value: Any, where: str, note: Note) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    stop = dict(value)  # fields other helpers add ride along untouched
    receipts = value.get("receipts", [])
    if not isinstance(receipts, list):
        note(f"{where}.receipts", "is not a list; read as empty")
        receipts = []
    stop["receipts"] = [pair for pair in map(_pair, receipts) if pair is not None]
    stop["ok"] = value.get("ok") is True
    for field in ("tag", "reason", "started", "finished"):
        if not isinstance(value.get(field), str):
            stop[field] = None
    if not _is_int(value.get("exitStatus")):
        stop["exitStatus"] = None
    return stop


def _entries(
    data: dict[str, Any], key: str, shape: Callable[[Any], Any], note: Note, what: str
) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        note(key, f"is not a list of {what}; read as empty")
        return []
    kept = []
    for position, entry in enumerate(value):
        shaped = shape(entry)
        if shaped is None:
            note(f"{key}[{position}]", f"is not {what}; skipped")
        else:
            kept.append(shaped)
    return kept


def _clean_state(data: dict[str, Any], note: Note) -> dict[str, Any]:
    """`run.json` with every field we read of the right type; what is not is dropped and named."""
    clean = dict(data)  # unknown fields ride along untouched
    for key in _STRINGS:
        if data.get(key) is not None and not isinstance(data[key], str):
            note(key, "is not a string; ignored")
            clean[key] = None
    for key in _INTEGERS:
        if data.get(key) is not None and not _is_int(data[key]):
            note(key, "is not an integer; ignored")
            clean[key] = None
    clean["steps"] = _entries(data, "steps", _step, note, "a step (index, action)")
    clean["stepsStarted"] = _entries(
        data, "stepsStarted", lambda v: v if _is_int(v) else None, note, "a step number"
    )
    clean["receiptsIssued"] = _entries(
        data, "receiptsIssued", _receipt, note, "a receipt (address, handle)"
    )
    clean["receiptsStopped"] = _entries(
        data, "receiptsStopped", _pair, note, "a receipt (address, handle)"
    )
    stops = data.get("stops", [])
    if not isinstance(stops, list):
        note("stops", "is not a list of stop runs; read as empty")
        stops = []
    clean["stops"] = []
    for position, value in enumerate(stops):
        stop = _stop(value, f"stops[{position}]", note)
        if stop is None:
            note(f"stops[{position}]", "is not a stop run; skipped")
        else:
            clean["stops"].append(stop)
    times = data.get(STEP_TIMES, {})
    if not isinstance(times, dict):
        note(STEP_TIMES, "is not an object of step numbers to times; read as empty")
        times = {}
    clean[STEP_TIMES] = {}
    for key, value in times.items():
        if isinstance(key, str) and key.isdigit() and isinstance(value, str):
            clean[STEP_TIMES][key] = value
        else:
            note(f"{STEP_TIMES}.{key}", "is not a step number with a time; skipped")
    fates = data.get("receiptStates", {})
    if not isinstance(fates, dict):
        note("receiptStates", "is not an object; read as empty")
        fates = {}
    clean["receiptStates"] = {}
    for key, value in fates.items():
        fate = _fate(value)
        if fate is None:
            note(f"receiptStates.{key}", f"has no `state` of {', '.join(RECEIPT_STATES)}; skipped")
        else:
            clean["receiptStates"][key] = fate
    return clean


def receipt_key(receipt: dict[str, Any]) -> tuple[str, str]:
    return str(receipt.get("address")), str(receipt.get("handle"))


def read_outputs(path: Path) -> list[dict[str, Any]]:
    """Output lines from a saved stdout; a torn last line (killed writer), a line cut inside a
    UTF-8 character or one that is not a JSON object is skipped, and so is an unreadable file."""
    try:
        data = read_capped(path)
    except OSError:
        return []
    lines: list[dict[str, Any]] = []
    for raw in data.splitlines():
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


def receipts_from_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `receipt` outputs that name an address and a handle (strings), as `run.json` keeps
    them; the step is None unless it is an integer."""
    receipts = []
    for line in outputs:
        pair = _pair(line.get("value")) if line.get("name") == "receipt" else None
        if pair is not None:
            step = line.get("step")
            receipts.append(
                {**pair, "step": step if _is_int(step) else None, "time": line.get("time")}
            )
    return receipts


def script_stops(
    steps: Iterable[Any], outputs: list[dict[str, Any]]
) -> dict[int, list[tuple[str, str]]]:
    """Receipts each `stop` step of the script names, by the stop step's index: a literal list,
    or another step's `receipt` outputs (`{"type": "output", "step": n}`, n < 0 relative)."""
    issued: dict[int, list[tuple[str, str]]] = {}
    for receipt in receipts_from_outputs(outputs):
        if isinstance(receipt["step"], int):
            issued.setdefault(receipt["step"], []).append(receipt_key(receipt))
    stops: dict[int, list[tuple[str, str]]] = {}
    for step in steps:
        if step.action != "stop":
            continue
        value = step.params.get("receipts")
        if isinstance(value, list):
            stops[step.index] = [receipt_key(r) for r in value if isinstance(r, dict)]
        elif (
            isinstance(value, dict) and not value.get("file") and isinstance(value.get("step"), int)
        ):
            ref = value["step"] + step.index if value["step"] < 0 else value["step"]
            stops[step.index] = list(issued.get(ref, []))
    return stops


def script_steps(run_dir: Path) -> dict[int, Any]:
    """The saved script's steps by index (empty when the copy is missing, not a regular file,
    too large, or not UTF-8: a binary or latin-1 copy is no script of ours)."""
    try:
        text = read_capped(run_dir / SCRIPT_FILE).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {s.index: s for s in parse_script(text).steps}


def receipt_end(receipt: dict[str, Any], steps: dict[int, Any]) -> datetime | None:
    """When the daemon forgets this schedule by itself: issued time + the step's `durationMin`.

    The daemon removes a schedule's handle from its table once `durationMin` has passed
    (MinaProtocol/mina src/lib/mina_graphql/mina_graphql.ml, schedule_payments / the zkApp
    scheduler: `Uuid.Table.remove scheduler_tbl uuid` when `now () >= tm_end`), so after that the
    load is over and a stop would only get "Could not find scheduled transactions with handle".
    """
    index = receipt.get("step")
    step = steps.get(index) if isinstance(index, int) else None
    duration = step.params.get("durationMin") if step else None
    # Go's RFC 3339 and the runner's own times carry an offset; one without is not ours, and
    # could not be compared with the clock.
    issued_at = read_zoned(receipt.get("time"))
    if isinstance(duration, bool) or not isinstance(duration, int) or issued_at is None:
        return None
    try:
        return issued_at + timedelta(minutes=duration)
    except OverflowError:  # year 9999, or a duration past datetime's range: unknown
        return None


def all_receipts(run_dir: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every receipt the run issued: `run.json`'s, plus any only in `stdout.jsonl` (the state
    file lags the saved stdout when the runner was killed), each once."""
    seen: set[tuple[str, str]] = set()
    merged = []
    saved = receipts_from_outputs(read_outputs(run_dir / STDOUT_FILE))
    for receipt in [*data.get("receiptsIssued", []), *saved]:
        key = receipt_key(receipt)
        if key not in seen:
            seen.add(key)
            merged.append(receipt)
    return merged


def receipt_state(data: dict[str, Any], receipt: dict[str, Any]) -> dict[str, Any]:
    """`{"state": scheduled|stopped|ended|failed, "reason": …}` as recorded in `run.json`."""
    key = receipt_key(receipt)
    if key in {receipt_key(r) for r in data.get("receiptsStopped", [])}:
        return {"state": "stopped", "reason": "stopped"}
    recorded = _fate(data.get("receiptStates", {}).get(" ".join(key)))
    return recorded or {"state": "scheduled", "reason": None}


def may_be_live(
    data: dict[str, Any], receipt: dict[str, Any], steps: dict[int, Any], now: datetime
) -> bool:
    """True unless the receipt is known stopped or ended, or its duration has run out."""
    if receipt_state(data, receipt)["state"] in ("stopped", "ended"):
        return False
    end = receipt_end(receipt, steps)
    return end is None or end > now


def status_report(run_dir: Path, *, now: datetime | None = None) -> str:
    """Human summary of a saved run: what ran, what may still be sending, what was stopped."""

    state = RunState.load(run_dir)
    data = state.data
    now = now or datetime.now(UTC)
    saved = script_steps(run_dir)
    user_steps = [saved[i] for i in sorted(saved)][: len(data.get("steps", []))]
    started = sorted(set(data.get("stepsStarted", [])))
    last = max((i for i in started if i < len(user_steps)), default=None)
    finished_all = len(user_steps) in started
    lines = [
        f"run {run_dir}: {data.get('outcome')} ({data.get('reason') or '-'})",
        f"  script {data.get('script')}, started {data.get('started')}, "
        f"finished {data.get('finished') or '-'}, exit {data.get('exitStatus')}",
    ]
    if last is None:
        lines.append(f"  steps: none started of {len(user_steps)}")
    else:
        done = len(user_steps) if finished_all else last
        lines.append(
            f"  steps: {done}/{len(user_steps)} completed; last started: {last} "
            f"({user_steps[last].action})"
        )
    lines.extend(f"  note: {note}" for note in state.notes)
    issued = all_receipts(run_dir, data)
    steps = {s.index: s for s in user_steps}
    pending = [r for r in issued if receipt_state(data, r)["state"] != "stopped"]
    lines.append(f"  receipts: {len(issued)} issued, {len(issued) - len(pending)} stopped")
    for receipt in pending:
        recorded = receipt_state(data, receipt)
        end = receipt_end(receipt, steps)
        if recorded["state"] == "ended":
            when = f"ended ({recorded['reason']})"
        elif end is None:
            when = "duration unknown (may still be running)"
        elif end > now:
            when = f"STILL RUNNING until {format_utc(end)}"
        else:
            when = f"ended by itself at {format_utc(end)}"
        if recorded["state"] == "failed":
            when += f"; last stop failed: {recorded['reason']}"
        step = steps.get(receipt["step"]) if isinstance(receipt.get("step"), int) else None
        duration = step.params.get("durationMin") if step else None
        lines.append(
            f"    not stopped: step {receipt.get('step')} {receipt.get('address')} "
            f"{receipt.get('handle')} durationMin={duration} issued {receipt.get('time')} → {when}"
        )
    for stop in data.get("stops", []):
        lines.append(
            f"  {stop.get('tag')}: {'ok' if stop.get('ok') else 'FAILED'} "
            f"({stop.get('reason')}), {len(stop.get('receipts', []))} receipt(s)"
        )
    return "\n".join(lines)
