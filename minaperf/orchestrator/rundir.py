"""A run directory's files and `run.json`: the one record a dead runner leaves behind.

Every change to `run.json` is written atomically, so whatever killed the runner, the directory
tells the truth about what was started, which receipts were issued and what was stopped.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from minaperf.orchestrator.script import Script, parse_script

STATE_FILE = "run.json"
STDOUT_FILE = "stdout.jsonl"
STDERR_FILE = "orchestrator.log"
SCRIPT_FILE = "script.jsonl"


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
        path = directory / STATE_FILE
        if not path.is_file():
            raise ValueError(f"--run: {directory} has no {STATE_FILE}; pass a run directory")
        return cls(directory, json.loads(path.read_text()))

    def save(self) -> None:
        with self.lock:
            tmp = self.directory / (STATE_FILE + ".tmp")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            os.replace(tmp, self.directory / STATE_FILE)

    def update(self, **changes: Any) -> None:
        with self.lock:
            self.data.update(changes)
            self.save()


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


def status_report(run_dir: Path, *, now: datetime | None = None) -> str:
    """Human summary of a saved run: what ran, what may still be sending, what was stopped."""

    state = RunState.load(run_dir)
    data = state.data
    now = now or datetime.now(UTC)
    script = (
        parse_script((run_dir / SCRIPT_FILE).read_text())
        if (run_dir / SCRIPT_FILE).is_file()
        else Script()
    )
    user_steps = [s for s in script.steps][: len(data.get("steps", []))]
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
    issued = receipts_from_outputs(read_outputs(run_dir / STDOUT_FILE))
    stopped = {receipt_key(r) for r in data.get("receiptsStopped", [])}
    by_index = {s.index: s for s in user_steps}
    pending = [r for r in issued if receipt_key(r) not in stopped]
    lines.append(f"  receipts: {len(issued)} issued, {len(issued) - len(pending)} stopped")
    for receipt in pending:
        step = by_index.get(receipt["step"]) if isinstance(receipt["step"], int) else None
        duration = step.params.get("durationMin") if step else None
        issued_at = _parse_time(receipt.get("time"))
        if isinstance(duration, int) and issued_at is not None:
            ends = issued_at + timedelta(minutes=duration)
            when = (
                f"STILL RUNNING until {ends:%Y-%m-%dT%H:%M:%SZ}"
                if ends > now
                else f"ended by itself at {ends:%Y-%m-%dT%H:%M:%SZ}"
            )
        else:
            when = "duration unknown (may still be running)"
        lines.append(
            f"    not stopped: step {receipt['step']} {receipt['address']} {receipt['handle']} "
            f"durationMin={duration} issued {receipt.get('time')} → {when}"
        )
    for stop in data.get("stops", []):
        lines.append(
            f"  {stop.get('tag')}: {'ok' if stop.get('ok') else 'FAILED'} "
            f"({stop.get('reason')}), {len(stop.get('receipts', []))} receipt(s)"
        )
    return "\n".join(lines)
