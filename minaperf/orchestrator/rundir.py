"""A run directory's files and `run.json`: the one record a dead runner leaves behind.

Every change to `run.json` is written atomically, so whatever killed the runner, the directory
tells the truth about what was started, which receipts were issued and what was stopped.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from minaperf.orchestrator.script import parse_script

STATE_FILE = "run.json"
STDOUT_FILE = "stdout.jsonl"
STDERR_FILE = "orchestrator.log"
SCRIPT_FILE = "script.jsonl"
STEP_TIMES = "stepsStartedAt"
"""`run.json` field: when the runner saw each step begin (`Performing step <action> (<n>)`),
step number (as text) → time; the report ends a receipt stopped by a script `stop` step there."""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RunState:
    """`run.json`, rewritten atomically on every change so a killed runner leaves the truth."""

    def __init__(self, directory: Path, data: dict[str, Any]) -> None:
        self.directory = directory
        self.data = data
        self.lock = threading.RLock()

    @classmethod
    def load(cls, directory: Path) -> RunState:
        """Read and shape-check `run.json`; anything else is a ValueError naming the field."""
        path = directory / STATE_FILE
        if not path.is_file():
            raise ValueError(f"--run: {directory} has no {STATE_FILE}; pass a run directory")
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, RecursionError) as error:
            raise ValueError(f"--run: {path} is not a run state file ({error})") from None
        except ValueError as error:
            raise ValueError(f"--run: {path} is not JSON ({error})") from None
        problem = state_shape_problem(data)
        if problem:
            raise ValueError(f"--run: {path}: {problem} (not written by `experiment run`?)")
        return cls(directory, data)

    def save(self) -> None:
        with self.lock:
            tmp = self.directory / (STATE_FILE + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            os.replace(tmp, self.directory / STATE_FILE)

    def update(self, **changes: Any) -> None:
        with self.lock:
            self.data.update(changes)
            self.save()


_LIST_OF_OBJECTS = ("steps", "receiptsIssued", "receiptsStopped", "stops")
_TARGET_FIELDS = {
    "local": ("executable",),
    "pod": ("namespace", "pod", "container", "remoteDir", "orchestratorExec"),
}


def state_shape_problem(data: Any) -> str | None:
    """What is wrong with the shape of a loaded `run.json`, or None (every field we read)."""
    if not isinstance(data, dict):
        return "must be a JSON object"
    for key in _LIST_OF_OBJECTS:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            return f"`{key}` must be a list of objects"
    started = data.get("stepsStarted", [])
    if not isinstance(started, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in started
    ):
        return "`stepsStarted` must be a list of step numbers"
    for key in ("outcome", "reason", "script", "started", "finished"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"`{key}` must be a string"
    if not isinstance(data.get("receiptStates", {}), dict):
        return "`receiptStates` must be an object"
    step_times = data.get(STEP_TIMES, {})
    if not isinstance(step_times, dict) or not all(
        isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in step_times.items()
    ):
        return f"`{STEP_TIMES}` must map step numbers to times"
    pid = data.get("pid")
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        return "`pid` must be a process id"
    target = data.get("target")
    if not isinstance(target, dict) or target.get("kind") not in _TARGET_FIELDS:
        return '`target` must be an object with `kind` "local" or "pod"'
    for field in _TARGET_FIELDS[target["kind"]]:
        if not isinstance(target.get(field), str):
            return f"`target.{field}` must be a string"
    return None


def receipt_key(receipt: dict[str, Any]) -> tuple[str, str]:
    return str(receipt.get("address")), str(receipt.get("handle"))


def read_outputs(path: Path) -> list[dict[str, Any]]:
    """Output lines from a saved stdout; a torn last line (killed writer) is skipped."""
    if not path.is_file():
        return []
    lines: list[dict[str, Any]] = []
    for raw in path.read_text().splitlines():
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


def receipts_from_outputs(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    receipts = []
    for line in outputs:
        value = line.get("value")
        if line.get("name") == "receipt" and isinstance(value, dict):
            receipts.append(
                {
                    "step": line.get("step"),
                    "time": line.get("time"),
                    "address": value.get("address"),
                    "handle": value.get("handle"),
                }
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


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        text = value.replace("Z", "+00:00")
        if "." in text:  # Go prints up to 9 fractional digits; Python takes 6
            head, _, tail = text.partition(".")
            digits = re.match(r"\d+", tail)
            frac = digits.group(0) if digits else ""
            text = f"{head}.{frac[:6].ljust(6, '0')}{tail[len(frac) :]}"
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def script_steps(run_dir: Path) -> dict[int, Any]:
    """The saved script's steps by index (empty when the copy is missing or unreadable)."""
    path = run_dir / SCRIPT_FILE
    try:
        return {s.index: s for s in parse_script(path.read_text()).steps} if path.is_file() else {}
    except (OSError, UnicodeDecodeError):
        return {}


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
    issued_at = _parse_time(receipt.get("time"))
    if isinstance(duration, bool) or not isinstance(duration, int) or issued_at is None:
        return None
    return issued_at + timedelta(minutes=duration)


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
    recorded = data.get("receiptStates", {}).get(" ".join(key))
    if isinstance(recorded, dict) and isinstance(recorded.get("state"), str):
        return recorded
    return {"state": "scheduled", "reason": None}


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
            when = f"STILL RUNNING until {end:%Y-%m-%dT%H:%M:%SZ}"
        else:
            when = f"ended by itself at {end:%Y-%m-%dT%H:%M:%SZ}"
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
