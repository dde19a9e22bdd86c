"""The `pulumi` CLI as `experiment up` drives it: every command in a session of its own.

A terminal sends Ctrl-C to its whole foreground process group. A `pulumi` started in our group
(as the Automation API's own runner starts it) would get it too, and cancel a `destroy` that must
finish. Started in its own session, it gets only what `up` sends: one SIGINT to cancel an `up`,
nothing while destroying. The CLI version is checked once, against what `up` needs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from typing import IO

from pulumi import automation as auto
from pulumi.automation.errors import create_command_error

MIN_VERSION = (3, 202, 0)
"""`pulumi config set-all --json` (pulumi/pulumi#19427) first shipped in v3.202.0 (2025-10-10)."""


class CliVersionError(Exception):
    """The installed `pulumi` cannot run what `up` asks of it."""


def version_problem(version: object | None) -> str | None:
    """Why this CLI version cannot serve `up` (one line), or None."""
    wanted = ".".join(map(str, MIN_VERSION))
    if version is None:
        return f"cannot read the pulumi CLI version (`pulumi version`); install v{wanted} or later"
    parts = tuple(getattr(version, name) for name in ("major", "minor", "patch"))
    if parts < MIN_VERSION:
        return (
            f"pulumi CLI v{version} is too old: `experiment up` needs v{wanted} or later "
            "(`config set-all --json`); update it (https://www.pulumi.com/docs/install/)"
        )
    if parts[0] != MIN_VERSION[0]:
        return f"pulumi CLI v{version} is not major version {MIN_VERSION[0]}, which `up` drives"
    return None


class SessionCommand(auto.PulumiCommand):
    """`pulumi` commands run in their own session; `interrupt` sends the one SIGINT `up` means."""

    def __init__(self) -> None:
        # The SDK's own check has an opt-out variable and a lower minimum; ours has neither.
        super().__init__(skip_version_check=True)
        problem = version_problem(self.version)
        if problem:
            raise CliVersionError(problem)
        self._running: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def interrupt(self) -> None:
        """Ask the running command to cancel, as one Ctrl-C on its terminal would."""
        with self._lock:
            process = self._running
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGINT)

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: auto.OnOutput | None = None,
        on_error: auto.OnOutput | None = None,
    ) -> auto.CommandResult:
        flags = [] if "--non-interactive" in args else ["--non-interactive"]  # never prompt
        argv = [self.command, *flags, *args]
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        with self._lock:
            process = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
            self._running = process
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=_drain, args=(process.stdout, on_output, out), daemon=True),
            threading.Thread(target=_drain, args=(process.stderr, on_error, err), daemon=True),
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        code = process.wait()
        with self._lock:
            self._running = None
        result = auto.CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=code)
        if code != 0:
            raise create_command_error(result)
        return result


def _drain(stream: IO[str] | None, callback: auto.OnOutput | None, lines: list[str]) -> None:
    if stream is None:
        return
    with stream:
        for raw in stream:
            line = raw.rstrip("\r\n")
            if callback is not None:
                callback(line)
            lines.append(line)
