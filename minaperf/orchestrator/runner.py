"""Run an orchestrator script, judge the outcome from its streams, and stop what it scheduled.

The orchestrator exits 0 even when a step fails, so a run's success is judged from what it
printed (`judge`, `unfunded_step`); after a failure or an interrupt every receipt that may still
be live is stopped (`stopping`). See docs/runner.md#running-the-orchestrator.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from minaperf.orchestrator.config import (
    CONFIG_FILE_NAME,
    OrchestratorConfig,
    config_text,
    write_secret_file,
)
from minaperf.orchestrator.process import OrchestratorProcess, StreamResult
from minaperf.orchestrator.rundir import (
    SCRIPT_FILE,
    STDERR_FILE,
    STDOUT_FILE,
    STEP_TIMES,
    RunState,
    now_iso,
    receipt_key,
    script_stops,
)
from minaperf.orchestrator.script import GUARANTEED_OUTPUTS, Script
from minaperf.orchestrator.stopping import SENTINEL, SENTINEL_COMMENT, stop_outstanding
from minaperf.orchestrator.targets import Target
from minaperf.signals import on_stop_signals

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STOP_FAILED = 3
EXIT_INTERRUPTED = 130
FAILED_TO_START = "failed to start"


def unfunded_step(script: Script, result: StreamResult, target: Target) -> str | None:
    """Why a `fund-keys` step the run got past did not fund anything, or None.

    A failed fund-keys leaves no ERROR line: batched steps run in handlePrevAction, whose error
    RunActions drops (orchestrator.go:275-277), and its retries log at WARN (misc.go:234-236).
    What it leaves is a missing file: it writes `<prefix>-<i>-<n>` key files (fund.go:55-62), so
    the runner looks for them, in the directory of `prefix` (relative to the run directory).
    """
    reached = max(result.markers, default=-1)
    for step in script.steps:
        prefix = step.params.get("prefix")
        if step.action != "fund-keys" or step.index > reached or not isinstance(prefix, str):
            continue
        folder, _, stem = prefix.rpartition("/")
        names = target.list_dir(folder or ".")
        keys = [n for n in names or [] if n.startswith(f"{stem}-") and not n.endswith(".pub")]
        if not keys:
            return (
                f"step {step.index} (fund-keys, line {step.line}) funded nothing: no key files "
                f"{prefix}-* (a failed fund-keys logs no ERROR; see its WARN lines)"
            )
    return None


def judge(script: Script, result: StreamResult) -> tuple[bool, str]:
    """Apply the success rule; return (ok, first reason it failed).

    The orchestrator exits 0 even when a step fails (perf-services §0.1): a failing step just
    ends the run, silently. So a run only counts as successful when ALL of these hold:

    1. the process exited 0 (1/2/3/11 are config errors, 2 is also a Go panic);
    2. the runner appends a sentinel step (`wait {"sec": 0}`) after the last script step, and the
       orchestrator logged `Performing step wait (<sentinel>)` on stderr. It logs that line right
       before running each non-batched step, and only reaches it if every earlier step returned
       without error, so this catches a failed last step and any early exit;
    3. every step whose action always prints an output on success (`payments`/`zkapp-txs` →
       `receipt`, `discovery` → `participant`) printed it on stdout;
    4. no failure line appeared on stderr (`process.is_error_line`): a go-log line whose level
       field is ERROR, DPANIC, PANIC or FATAL (the word elsewhere in a message does not count),
       or a line Go writes itself: `panic:`, a `goroutine N [` dump, a runtime `fatal error:`,
       or main's final `Error: …` (itn_orchestrator/main.go:69). The orchestrator's own code
       logs what it survives at WARN (payments.go:76, zkapp.go:137, …) and returns what it does
       not; an ERROR line comes from elsewhere (a library it links, the Go runtime) and means
       the run cannot be trusted even when every step finished
       (test: `test_an_error_line_fails_an_otherwise_clean_run`).

    A failed batched `fund-keys` step leaves none of these signals: see `unfunded_step`.
    """
    if result.interrupted:
        return False, "interrupted"
    if result.exit_status != 0:
        detail = f": {result.error_lines[0]}" if result.error_lines else ""
        return False, f"orchestrator exited {result.exit_status}{detail}"
    sentinel = len(script.steps)
    if sentinel not in result.markers:
        # Not the batch marker: its range always starts at main's step 0 (main.go:35).
        last = max(result.markers, default=-1)
        if last >= 0 and last < len(script.steps):
            failed = script.steps[last]
            return False, (
                f"step {last} ({failed.action}, line {failed.line}) did not finish; "
                f"the orchestrator ended early (steps {last + 1}..{sentinel - 1} never ran)"
            )
        return False, "the orchestrator ended before reporting any step"
    produced = {(o.get("step"), o.get("name")) for o in result.outputs}
    for step in script.steps:
        name = GUARANTEED_OUTPUTS.get(step.action)
        if name and (step.index, name) not in produced:
            return False, f"step {step.index} ({step.action}, line {step.line}) printed no `{name}`"
    if result.error_lines:
        return False, f"error logged: {result.error_lines[0]}"
    return True, "all steps finished"


def script_with_sentinel(text: str) -> str:
    return text.rstrip() + "\n" + json.dumps(SENTINEL_COMMENT) + "\n" + json.dumps(SENTINEL) + "\n"


class SignalLatch:
    """SIGINT/SIGTERM set a flag; the main loop then stops the experiment in order."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._handlers = contextlib.ExitStack()

    def __enter__(self) -> SignalLatch:
        self._handlers.enter_context(on_stop_signals(self._handle))
        return self

    def _handle(self, signum: int) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        self._handlers.close()


def _stopped_by_script(script: Script, outputs: list[dict[str, Any]], started: set[int]):
    """Receipts the script's own `stop` steps stopped (those steps finished)."""
    by_step = script_stops(script.steps, outputs)
    return [key for index, keys in by_step.items() if index + 1 in started for key in keys]


def initial_state(script: Script, script_path: str, target: dict[str, Any]) -> dict[str, Any]:
    """`run.json` as a run starts: the script's steps, nothing started, issued or stopped."""
    return {
        "version": 1,
        "script": script_path,
        "scriptCopy": SCRIPT_FILE,
        "steps": [{"index": s.index, "action": s.action, "line": s.line} for s in script.steps],
        "target": target,
        "started": now_iso(),
        "finished": None,
        "exitStatus": None,
        "outcome": "running",
        "reason": None,
        "pid": None,
        "stepsStarted": [],
        STEP_TIMES: {},
        "receiptsIssued": [],
        "receiptsStopped": [],
        "stops": [],
    }


class ExperimentRunner:
    def __init__(self, run_dir: Path, target: Target, *, terminal: TextIO = sys.stderr) -> None:
        self.run_dir = run_dir
        self.target = target
        self.terminal = terminal

    def say(self, message: str) -> None:
        print(f"[experiment] {message}", file=self.terminal, flush=True)

    def _failed_to_start(self, state: RunState, error: Exception) -> int:
        """Nothing ran, so nothing is scheduled; the directory may be reused as `--out`."""
        state.update(outcome=FAILED_TO_START, finished=now_iso(), reason=str(error))
        self.say(f"run {FAILED_TO_START}: {error}")
        return EXIT_FAILED

    def run(
        self,
        script: Script,
        script_text: str,
        script_path: str,
        config: OrchestratorConfig,
    ) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        text = script_with_sentinel(script_text)
        (self.run_dir / SCRIPT_FILE).write_text(text)
        for name in (STDOUT_FILE, STDERR_FILE):
            (self.run_dir / name).write_bytes(b"")
        rendered = config_text(config, show_secrets=True)
        write_secret_file(self.run_dir / CONFIG_FILE_NAME, rendered)
        state = RunState(self.run_dir, initial_state(script, script_path, self.target.describe()))
        state.save()
        try:
            self.target.install_config(rendered)
        except (OSError, RuntimeError) as error:
            return self._failed_to_start(state, error)
        total = len(script.steps)

        def on_step(index: int, action: str) -> None:
            with state.lock:
                started = state.data["stepsStarted"]
                if index not in started:
                    started.append(index)
                    state.data.setdefault(STEP_TIMES, {})[str(index)] = now_iso()
                    state.save()
            if index < total:
                self.say(f"step {index}/{total - 1}: {action} (line {script.steps[index].line})")

        def on_output(line: dict[str, Any]) -> None:
            value = line.get("value")
            if line.get("name") == "receipt" and isinstance(value, dict):
                with state.lock:
                    state.data["receiptsIssued"].append(
                        {
                            "step": line.get("step"),
                            "time": line.get("time"),
                            "address": value.get("address"),
                            "handle": value.get("handle"),
                        }
                    )
                    state.save()
                self.say(f"step {line.get('step')}: receipt from {value.get('address')}")

        process = OrchestratorProcess(
            self.target,
            "orchestrator",
            text,
            self.run_dir / STDOUT_FILE,
            self.run_dir / STDERR_FILE,
            terminal=self.terminal,
            on_output=on_output,
            on_step=on_step,
            comments=[text for _, text in script.comments],
        )
        with SignalLatch() as latch:
            try:
                pid = process.start()
            except OSError as error:
                return self._failed_to_start(state, error)
            state.update(pid=pid)
            self.say(f"orchestrator started ({total} steps); output in {self.run_dir}")
            result = process.wait(lambda: latch.received is not None)
            ok, reason = judge(script, result)
            unfunded = None if result.interrupted else unfunded_step(script, result, self.target)
            if unfunded:
                ok, reason = False, unfunded
            if latch.received is not None:
                reason = f"interrupted by {signal.Signals(latch.received).name}"
            outcome = "succeeded" if ok else ("interrupted" if result.interrupted else "failed")
            stopped = _stopped_by_script(script, result.outputs, result.markers)
            with state.lock:
                issued_keys = {receipt_key(r) for r in state.data["receiptsIssued"]}
                state.data["receiptsStopped"] = [
                    {"address": a, "handle": h} for a, h in stopped if (a, h) in issued_keys
                ]
            state.update(
                finished=now_iso(), exitStatus=result.exit_status, outcome=outcome, reason=reason
            )
            self.say(f"run {outcome}: {reason}")
            if ok:
                return EXIT_OK
            stop_ok = stop_outstanding(self.run_dir, self.target, state, self.say, self.terminal)
        if not stop_ok:
            return EXIT_STOP_FAILED
        return EXIT_INTERRUPTED if result.interrupted else EXIT_FAILED
