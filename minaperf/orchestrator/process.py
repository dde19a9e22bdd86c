"""One orchestrator invocation: feed it a script, tee and parse both of its streams live."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from minaperf.orchestrator.targets import LocalTarget, Target

_STEP_MARK = re.compile(r"Performing step (\S+) \((\d+)\)")
_BATCH_MARK = re.compile(r"Performing steps (\S+) \((\d+)-(-?\d+)\)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# go-log's console lines are `time<TAB>LEVEL<TAB>logger<TAB>…`: the level is the second field, so
# a message that merely contains the word ERROR (a script comment, which the orchestrator logs at
# INFO, orchestrator.go:270) is not an error.
_GO_LOG_LEVEL = re.compile(r"^\S+\t(DEBUG|INFO|WARN|ERROR|DPANIC|PANIC|FATAL)\t")
_FAILURE_LEVELS = frozenset({"ERROR", "DPANIC", "PANIC", "FATAL"})
# Lines Go writes without the logger: a panic and its goroutine dump, and main's final
# `Error: …` (itn_orchestrator/main.go:69).
_RAW_FAILURE = re.compile(r"^panic:|^goroutine \d+ \[|^Error: |^fatal error:")


def is_error_line(line: str) -> bool:
    clean = _ANSI.sub("", line).rstrip("\r\n")
    level = _GO_LOG_LEVEL.match(clean)
    if level:
        return level.group(1) in _FAILURE_LEVELS
    return bool(_RAW_FAILURE.match(clean.strip()))


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
        comments: Iterable[str] = (),
    ) -> None:
        self.target = target
        self.tag = tag
        self.script_text = script_text
        self.comments = frozenset(comments)
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
                # orchestrator.go:271 also echoes each comment raw to stderr: not a log line
                if clean.strip() not in self.comments and is_error_line(clean):
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
