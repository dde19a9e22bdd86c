"""Where the orchestrator process runs: a local executable, or the workspace pod via `kubectl exec`.

The config (which holds the key) never travels on a command line: locally it is a 0600 file,
in the pod it goes through stdin into a 0600 file.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from minaperf.orchestrator.access import kubectl_error_line
from minaperf.orchestrator.config import CONFIG_FILE_NAME, write_secret_file


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

    def list_dir(self, path: str) -> list[str] | None:
        """File names in `path` (relative to the run directory), or None when it is missing."""
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

    def list_dir(self, path: str) -> list[str] | None:
        directory = self.directory / path
        return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else None

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
        try:
            result = subprocess.run(
                command,
                input=text,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
                start_new_session=True,  # cleanup: out of the terminal's Ctrl-C
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeError(f"cannot reach the workspace pod {self.pod}: {error}") from error
        if result.returncode != 0:
            raise RuntimeError(
                f"cannot reach the workspace pod {self.pod}: {kubectl_error_line(result.stderr)}"
            )

    def command(self, tag: str) -> list[str]:
        return self._exec(
            'cd "$1" && echo $$ > "$1/$3.pid" && exec "$2" "$1/$4"',
            self.remote_dir,
            self.orchestrator_exec,
            tag,
            CONFIG_FILE_NAME,
        )

    def kill_orphan(self, state: dict[str, Any], tag: str) -> str | None:
        """Kill the process `<tag>.pid` names only while it is still that orchestrator: its
        command line ends in this run's config path (`command` execs `orchestrator <config>`).
        The workspace volume keeps the file across pod restarts, which reuse PIDs."""
        command = self._exec(
            'f="$1/$2.pid"; test -f "$f" || exit 0; pid=$(cat "$f"); '
            'case "$pid" in ""|*[!0-9]*) echo stale; exit 0;; esac; '
            'tr "\\000" "\\n" < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$1/$3" '
            '|| { echo stale; exit 0; }; kill "$pid" 2>/dev/null && echo killed; true',
            self.remote_dir,
            tag,
            CONFIG_FILE_NAME,
        )
        result = self._ask(command)
        if result is None:
            return None  # the pod is out of reach; the stop that follows says so in one line
        if "killed" in result.stdout:
            return f"killed orchestrator in pod {self.pod} ({self.remote_dir}/{tag}.pid)"
        if "stale" in result.stdout:
            return (
                f"{self.remote_dir}/{tag}.pid names a process that is no longer the "
                "orchestrator (the pod restarted?); not killed"
            )
        return None

    def list_dir(self, path: str) -> list[str] | None:
        command = self._exec('cd "$1" && test -d "$2" && ls -1A "$2"', self.remote_dir, path)
        result = self._ask(command)
        if result is None or result.returncode != 0:
            return None
        return sorted(result.stdout.split())

    @staticmethod
    def _ask(command: list[str]) -> subprocess.CompletedProcess[str] | None:
        """One short `kubectl exec`, out of the terminal's Ctrl-C; None when it cannot run."""
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
                start_new_session=True,
            )
        except (OSError, subprocess.TimeoutExpired):
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
