"""Run an orchestrator script, judge the outcome from its streams, and stop what it scheduled.

Success rule. The orchestrator exits 0 even when a step fails (perf-services §0.1): a failing step
just ends the run, silently. So a run only counts as successful when ALL of these hold:

1. the process exited 0 (1/2/3/11 are config errors, 2 is also a Go panic);
2. the runner appends a sentinel step (`wait {"sec": 0}`) after the last script step, and the
   orchestrator logged `Performing step wait (<sentinel>)` on stderr. It logs that line right
   before running each non-batched step, and only reaches it if every earlier step returned
   without error, so this catches a failed last step and any early exit;
3. every step whose action always prints an output on success (`payments`/`zkapp-txs` →
   `receipt`, `discovery` → `participant`) printed it on stdout;
4. no log line at ERROR level or above (or a Go panic) appeared on stderr. This is the only
   signal for batched `fund-keys` steps, whose errors the orchestrator discards.

Stop format. The stop script is one `stop` step whose `receipts` param is a literal JSON array of
`{"address","handle"}`. The orchestrator only treats a param as a reference when it decodes as a
JSON *object* (`ResolveParam` unmarshals into the reference struct and passes the raw value through
on failure); an array, even of objects, is passed literally and decoded into the receipts list.
Unlike `{"type":"output",...,"file":...}` references this needs no copy of our saved stdout next to
the orchestrator (in the pod), can stop exactly the receipts seen so far (a reference takes a whole
step's output), and still works when the run's step numbering is unknown. A sentinel step follows
it so a failed stop is visible.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from minaperf.orchestrator.config import (
    CONFIG_FILE_NAME,
    OrchestratorConfig,
    config_text,
    write_secret_file,
)
from minaperf.orchestrator.script import GUARANTEED_OUTPUTS, Script

STATE_FILE = "run.json"
STDOUT_FILE = "stdout.jsonl"
STDERR_FILE = "orchestrator.log"
SCRIPT_FILE = "script.jsonl"
SENTINEL = {"action": "wait", "params": {"sec": 0}}
SENTINEL_COMMENT = "sentinel step added by scripts.experiment: proves the previous step finished"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOP_FAILED = 3
EXIT_INTERRUPTED = 130

_STEP_MARK = re.compile(r"Performing step (\S+) \((\d+)\)")
_BATCH_MARK = re.compile(r"Performing steps (\S+) \((\d+)-(-?\d+)\)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_LINE = re.compile(r"(^|\s)(ERROR|DPANIC|PANIC|FATAL)(\s|$)|^panic:|^Error: |^goroutine \d+")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_error_line(line: str) -> bool:
    return bool(_ERROR_LINE.search(_ANSI.sub("", line).strip()))


# ---------------------------------------------------------------- where the orchestrator runs


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (its dead parent cannot reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Target:
    """Where the orchestrator process runs; the config never travels on a command line."""

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def run_dir(self) -> str:
        """The orchestrator's working directory (holds its config and log file)."""
        raise NotImplementedError

    def install_config(self, text: str) -> None:
        raise NotImplementedError

    def command(self, tag: str) -> list[str]:
        raise NotImplementedError

    def cwd(self) -> str | None:
        return None

    def own_session(self) -> bool:
        """Keep terminal signals away from the child; the runner stops it in order."""
        return True

    def kill_orphan(self, state: dict[str, Any], tag: str) -> str | None:
        """Kill an orchestrator left behind by a dead runner; return what was done."""
        raise NotImplementedError


@dataclass
class LocalTarget(Target):
    """An orchestrator executable on this machine (inside the network, or a test stand-in)."""

    executable: str
    directory: Path

    def describe(self) -> dict[str, Any]:
        return {"kind": "local", "executable": self.executable}

    def run_dir(self) -> str:
        return str(self.directory.resolve())

    def install_config(self, text: str) -> None:
        write_secret_file(self.directory / CONFIG_FILE_NAME, text)

    def command(self, tag: str) -> list[str]:
        return [self.executable, str(self.directory.resolve() / CONFIG_FILE_NAME)]

    def cwd(self) -> str | None:
        return str(self.directory)

    def kill_orphan(self, state: dict[str, Any], tag: str) -> str | None:
        pid = state.get("pid")
        if not isinstance(pid, int):
            return None
        config_path = str(self.directory.resolve() / CONFIG_FILE_NAME)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        if config_path.encode() not in cmdline:
            return None  # the pid was reused by something else
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return None
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        return f"killed orphaned orchestrator pid {pid}"


@dataclass
class PodTarget(Target):
    """The orchestrator in the workspace pod, reached through `kubectl exec -i`."""

    kubectl: str
    namespace: str
    pod: str
    container: str
    remote_dir: str
    orchestrator_exec: str

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "pod",
            "namespace": self.namespace,
            "pod": self.pod,
            "container": self.container,
            "remoteDir": self.remote_dir,
            "orchestratorExec": self.orchestrator_exec,
        }

    def run_dir(self) -> str:
        return self.remote_dir

    def _exec(self, script: str, *args: str) -> list[str]:
        return [
            self.kubectl,
            "exec",
            "-i",
            "-n",
            self.namespace,
            self.pod,
            "-c",
            self.container,
            "--",
            "sh",
            "-c",
            script,
            "sh",
            *args,
        ]

    def install_config(self, text: str) -> None:
        """The config (with the key) goes through stdin into a 0600 file; never into argv."""
        command = self._exec(
            'umask 077 && mkdir -p "$1" && cat > "$1/$2.tmp" && mv "$1/$2.tmp" "$1/$2"',
            self.remote_dir,
            CONFIG_FILE_NAME,
        )
        result = subprocess.run(command, input=text, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"could not write the config into the pod: {result.stderr.strip()}")

    def command(self, tag: str) -> list[str]:
        return self._exec(
            'cd "$1" && echo $$ > "$1/$3.pid" && exec "$2" "$1/$4"',
            self.remote_dir,
            self.orchestrator_exec,
            tag,
            CONFIG_FILE_NAME,
        )

    def kill_orphan(self, state: dict[str, Any], tag: str) -> str | None:
        command = self._exec(
            'test -f "$1/$2.pid" && kill "$(cat "$1/$2.pid")" 2>/dev/null && echo killed; true',
            self.remote_dir,
            tag,
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
        if "killed" in result.stdout:
            return f"killed orchestrator in pod {self.pod} ({self.remote_dir}/{tag}.pid)"
        return None


def target_from_state(state: dict[str, Any], run_dir: Path, kubectl: str) -> Target:
    desc = state["target"]
    if desc["kind"] == "local":
        return LocalTarget(desc["executable"], run_dir)
    return PodTarget(
        kubectl,
        desc["namespace"],
        desc["pod"],
        desc["container"],
        desc["remoteDir"],
        desc["orchestratorExec"],
    )


def remote_run_dir(work_dir: str, run_dir: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", run_dir.resolve().name) or "run"
    return str(PurePosixPath(work_dir) / "runs" / f"{stamp}-{name}")


# ---------------------------------------------------------------- state file


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


# ---------------------------------------------------------------- one orchestrator process


@dataclass
class StreamResult:
    exit_status: int | None
    markers: set[int]
    batch_max: int
    error_lines: list[str]
    outputs: list[dict[str, Any]]
    interrupted: bool


class OrchestratorProcess:
    """Runs one orchestrator invocation, teeing and parsing both streams as they arrive."""

    def __init__(
        self,
        target: Target,
        tag: str,
        script_text: str,
        stdout_path: Path,
        stderr_path: Path,
        *,
        terminal: TextIO,
        on_output: Callable[[dict[str, Any]], None] | None = None,
        on_step: Callable[[int, str], None] | None = None,
    ) -> None:
        self.target = target
        self.tag = tag
        self.script_text = script_text
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.terminal = terminal
        self.on_output = on_output
        self.on_step = on_step
        self.markers: set[int] = set()
        self.batch_max = -1
        self.error_lines: list[str] = []
        self.outputs: list[dict[str, Any]] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> int:
        self.process = subprocess.Popen(
            self.target.command(self.tag),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.target.cwd(),
            start_new_session=self.target.own_session(),
        )
        for target in (self._feed_stdin, self._read_stdout, self._read_stderr):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.process.pid

    def _feed_stdin(self) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(self.script_text.encode())
            self.process.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def _read_stdout(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        with self.stdout_path.open("ab") as sink:
            for raw in self.process.stdout:
                sink.write(raw)
                sink.flush()
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    self.outputs.append(value)
                    if self.on_output:
                        self.on_output(value)

    def _read_stderr(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        with self.stderr_path.open("ab") as sink:
            for raw in self.process.stderr:
                sink.write(raw)
                sink.flush()
                line = raw.decode(errors="replace").rstrip("\n")
                print(f"  | {line}", file=self.terminal, flush=True)
                clean = _ANSI.sub("", line)
                if is_error_line(clean):
                    self.error_lines.append(clean.strip())
                batch = _BATCH_MARK.search(clean)
                if batch:
                    self.batch_max = max(self.batch_max, int(batch.group(2)))
                mark = _STEP_MARK.search(clean)
                if mark:
                    self.markers.add(int(mark.group(2)))
                    if self.on_step:
                        self.on_step(int(mark.group(2)), mark.group(1))

    def terminate(self) -> None:
        """Stop the orchestrator itself (not the load it scheduled)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        if isinstance(self.target, LocalTarget):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
        else:
            self.target.kill_orphan({}, self.tag)
            process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            if isinstance(self.target, LocalTarget):
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()

    def wait(self, should_stop: Callable[[], bool] = lambda: False) -> StreamResult:
        assert self.process is not None
        interrupted = False
        while self.process.poll() is None:
            if should_stop():
                interrupted = True
                self.terminate()
                break
            time.sleep(0.05)
        self.process.wait()
        for thread in self._threads:
            thread.join(10)
        return StreamResult(
            self.process.returncode,
            set(self.markers),
            self.batch_max,
            list(self.error_lines),
            list(self.outputs),
            interrupted,
        )


# ---------------------------------------------------------------- judging


def judge(script: Script, result: StreamResult) -> tuple[bool, str]:
    """Apply the success rule (module docstring); return (ok, first reason it failed)."""
    if result.interrupted:
        return False, "interrupted"
    if result.exit_status != 0:
        detail = f": {result.error_lines[0]}" if result.error_lines else ""
        return False, f"orchestrator exited {result.exit_status}{detail}"
    sentinel = len(script.steps)
    if sentinel not in result.markers:
        last = max(result.markers | {result.batch_max}, default=-1)
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


def stop_script(receipts: list[dict[str, Any]]) -> str:
    literal = [{"address": r["address"], "handle": r["handle"]} for r in receipts]
    lines = [
        json.dumps(f"stop {len(literal)} scheduled transaction receipt(s)"),
        json.dumps({"action": "stop", "params": {"receipts": literal}}),
        json.dumps(SENTINEL_COMMENT),
        json.dumps(SENTINEL),
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- run / stop / status


class SignalLatch:
    """SIGINT/SIGTERM set a flag; the main loop then stops the experiment in order."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> SignalLatch:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def completed_steps(state: dict[str, Any]) -> int:
    """Steps known to have finished: every step before the highest one the orchestrator began."""
    markers = state.get("stepsStarted") or []
    return max(markers, default=-1) if markers else 0


def _stopped_by_script(script: Script, outputs: list[dict[str, Any]], started: set[int]):
    """Receipts the script's own `stop` steps stopped (those steps finished)."""
    stopped: list[tuple[str, str]] = []
    issued: dict[int, list[tuple[str, str]]] = {}
    for receipt in receipts_from_outputs(outputs):
        issued.setdefault(int(receipt["step"]), []).append(receipt_key(receipt))
    for step in script.steps:
        if step.action != "stop" or (step.index + 1) not in started:
            continue
        value = step.params.get("receipts")
        if isinstance(value, list):
            stopped.extend(receipt_key(r) for r in value if isinstance(r, dict))
        elif (
            isinstance(value, dict) and not value.get("file") and isinstance(value.get("step"), int)
        ):
            ref = value["step"] + step.index if value["step"] < 0 else value["step"]
            stopped.extend(issued.get(ref, []))
    return stopped


class ExperimentRunner:
    def __init__(self, run_dir: Path, target: Target, *, terminal: TextIO = sys.stderr) -> None:
        self.run_dir = run_dir
        self.target = target
        self.terminal = terminal

    def say(self, message: str) -> None:
        print(f"[experiment] {message}", file=self.terminal, flush=True)

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
        state = RunState(
            self.run_dir,
            {
                "version": 1,
                "script": script_path,
                "scriptCopy": SCRIPT_FILE,
                "steps": [
                    {"index": s.index, "action": s.action, "line": s.line} for s in script.steps
                ],
                "target": self.target.describe(),
                "started": now_iso(),
                "finished": None,
                "exitStatus": None,
                "outcome": "running",
                "reason": None,
                "pid": None,
                "stepsStarted": [],
                "receiptsIssued": [],
                "receiptsStopped": [],
                "stops": [],
            },
        )
        state.save()
        self.target.install_config(rendered)
        total = len(script.steps)

        def on_step(index: int, action: str) -> None:
            with state.lock:
                started = state.data["stepsStarted"]
                if index not in started:
                    started.append(index)
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
        )
        with SignalLatch() as latch:
            pid = process.start()
            state.update(pid=pid)
            self.say(f"orchestrator started ({total} steps); output in {self.run_dir}")
            result = process.wait(lambda: latch.received is not None)
            ok, reason = judge(script, result)
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
            stop_ok = self.stop(state)
        if not stop_ok:
            return EXIT_STOP_FAILED
        return EXIT_INTERRUPTED if result.interrupted else EXIT_FAILED

    def stop(self, state: RunState) -> bool:
        """Stop every receipt issued and not yet stopped; True when nothing is left scheduled."""
        issued = receipts_from_outputs(read_outputs(self.run_dir / STDOUT_FILE))
        known = {receipt_key(r) for r in state.data.get("receiptsIssued", [])}
        for receipt in issued:  # the state file may lag the saved stdout if we were killed
            if receipt_key(receipt) not in known:
                state.data["receiptsIssued"].append(receipt)
                known.add(receipt_key(receipt))
        stopped = {receipt_key(r) for r in state.data.get("receiptsStopped", [])}
        pending = [r for r in state.data["receiptsIssued"] if receipt_key(r) not in stopped]
        seen: set[tuple[str, str]] = set()
        pending = [r for r in pending if not (receipt_key(r) in seen or seen.add(receipt_key(r)))]
        if not pending:
            self.say("nothing to stop: no scheduled transactions outstanding")
            state.save()
            return True
        number = len(state.data.get("stops", [])) + 1
        tag = f"stop-{number}"
        text = stop_script(pending)
        (self.run_dir / f"{tag}.script.jsonl").write_text(text)
        self.say(f"stopping {len(pending)} receipt(s) with a `stop` run ({tag})")
        process = OrchestratorProcess(
            self.target,
            tag,
            text,
            self.run_dir / f"{tag}.stdout.jsonl",
            self.run_dir / f"{tag}.log",
            terminal=self.terminal,
        )
        record: dict[str, Any] = {
            "tag": tag,
            "started": now_iso(),
            "receipts": [{"address": r["address"], "handle": r["handle"]} for r in pending],
        }
        try:
            process.start()
            result = process.wait()
            ok = result.exit_status == 0 and 1 in result.markers and not result.error_lines
            if ok:
                reason = "stopped"
            elif result.exit_status != 0:
                reason = f"stop run exited {result.exit_status}"
            elif result.error_lines:
                reason = f"stop reported: {result.error_lines[0]}"
            else:
                reason = "the stop step did not finish (no sentinel)"
            record.update(exitStatus=result.exit_status, ok=ok, reason=reason)
        except (OSError, RuntimeError) as error:
            ok = False
            record.update(exitStatus=None, ok=False, reason=f"could not start: {error}")
        record["finished"] = now_iso()
        with state.lock:
            state.data.setdefault("stops", []).append(record)
            if ok:
                state.data.setdefault("receiptsStopped", []).extend(record["receipts"])
            state.save()
        if ok:
            self.say(f"stop succeeded for {len(pending)} receipt(s)")
        else:
            self.say(
                f"STOP FAILED ({record['reason']}); still scheduled: "
                + ", ".join(f"{r['address']}/{r['handle']}" for r in pending)
                + f". Retry with `python -m scripts.experiment stop --run {self.run_dir}`"
            )
        return ok


def stop_saved_run(
    run_dir: Path, *, kubectl: str, orchestrator: str | None, terminal: TextIO
) -> int:
    """`stop --run`: kill a leftover orchestrator, then stop what its saved stdout issued."""
    state = RunState.load(run_dir)
    if not (run_dir / CONFIG_FILE_NAME).is_file():
        raise ValueError(f"--run: {run_dir} has no {CONFIG_FILE_NAME}; cannot authenticate a stop")
    if orchestrator:
        state.data["target"] = {"kind": "local", "executable": orchestrator}
    target = target_from_state(state.data, run_dir, kubectl)
    runner = ExperimentRunner(run_dir, target, terminal=terminal)
    killed = target.kill_orphan(state.data, "orchestrator")
    if killed:
        runner.say(killed)
    if state.data.get("outcome") == "running":
        state.data.update(outcome="runner-died", finished=now_iso(), reason="runner died")
    if isinstance(target, PodTarget):
        target.install_config((run_dir / CONFIG_FILE_NAME).read_text())
    return EXIT_OK if runner.stop(state) else EXIT_STOP_FAILED


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
    from minaperf.orchestrator.script import parse_script

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
