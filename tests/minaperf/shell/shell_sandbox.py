"""A sandbox for running our shell scripts against stub executables.

Each stub is a small Python program placed first on PATH. Before doing anything else it appends
one JSON line to the sandbox's call log: its name, argv (without argv[0]), environment and
working directory. The stub's own behaviour is Python code given by the test; it can read the
parsed `argv` list and `os.environ`, and use `STATE` (a per-sandbox directory) to keep state
between calls (a fake systemd, a fake package database, ...).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
ASSETS = REPO_ROOT / "minaperf" / "assets"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"

_STUB_HEADER = """\
#!{python} -IS
import json, os, sys, fcntl
argv = sys.argv[1:]
STATE = {state!r}
_rec = {{"name": {name!r}, "argv": argv, "env": dict(os.environ)}}
_rec.update(cwd=os.getcwd(), pid=os.getpid())
with open({log!r}, "a", encoding="utf-8") as _f:
    fcntl.flock(_f, fcntl.LOCK_EX)
    _f.write(json.dumps(_rec) + "\\n")
"""

# Commands the scripts may use that are not stubbed: linked from the host into the sandbox bin.
_HOST_TOOLS = (
    "sh",
    "bash",
    "dash",
    "env",
    "cat",
    "cp",
    "mv",
    "rm",
    "mkdir",
    "chmod",
    "stat",
    "cmp",
    "tr",
    "sed",
    "grep",
    "printf",
    "sleep",
    "mktemp",
    "ln",
    "ls",
    "sort",
    "head",
    "tail",
    "basename",
    "dirname",
    "readlink",
    "timeout",
    "date",
    "touch",
    "kill",
    "true",
    "false",
    "wc",
    "cut",
    "seq",
    "tee",
    "sha256sum",
    "find",
)


@dataclass(frozen=True)
class Call:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    pid: int


class Sandbox:
    """A temporary directory with `bin/` (stubs + selected host tools) and a call log."""

    def __init__(self, root: Path, *, host_tools: Iterable[str] = _HOST_TOOLS) -> None:
        self.root = root
        self.bin = root / "bin"
        self.state = root / "state"
        self.log = root / "calls.jsonl"
        for d in (self.bin, self.state):
            d.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        for tool in host_tools:
            found = shutil.which(tool)
            if found is not None and not (self.bin / tool).exists():
                (self.bin / tool).symlink_to(found)

    def stub(self, name: str, body: str = "") -> Path:
        """Install `name` as a recording stub whose behaviour is the Python code `body`."""
        path = self.bin / name
        if path.is_symlink() or path.exists():
            path.unlink()
        header = _STUB_HEADER.format(
            python=sys.executable, state=str(self.state), name=name, log=str(self.log)
        )
        path.write_text(header + textwrap.dedent(body))
        path.chmod(0o755)
        return path

    def remove(self, name: str) -> None:
        path = self.bin / name
        if path.is_symlink() or path.exists():
            path.unlink()

    def calls(self, name: str | None = None) -> list[Call]:
        out = []
        for line in self.log.read_text().splitlines():
            rec: dict[str, Any] = json.loads(line)
            if name is None or rec["name"] == name:
                out.append(Call(rec["name"], rec["argv"], rec["env"], rec["cwd"], rec["pid"]))
        return out

    def clear_calls(self) -> None:
        self.log.write_text("")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A minimal environment: only the sandbox bin on PATH, plus `extra`."""
        env = {"PATH": str(self.bin), "HOME": str(self.root), "LC_ALL": "C"}
        if extra:
            env.update(extra)
        return env

    def run(
        self,
        argv: list[str],
        env: Mapping[str, str] | None = None,
        *,
        timeout: float = 30,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or self.root,
            check=False,
        )


def shellcheck(path: Path, *, shell: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(SHELLCHECK), "-S", "style"]
    if shell:
        argv += ["--shell", shell]
    argv.append(str(path))
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def all_argv_text(calls: Iterable[Call]) -> str:
    return "\n".join("\0".join([c.name, *c.argv]) for c in calls)
