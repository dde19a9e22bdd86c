"""Signals as a terminal sends them, and the processes a command leaves behind.

A command under test starts in a session of its own (`start_new_session=True`), so that
`os.killpg(pid, SIGINT)` reaches it and every child still in its group, as Ctrl-C on a terminal
does, without reaching pytest. Children that moved to sessions of their own (the orchestrator,
`pulumi`) are not in that group; every process the command starts inherits `TREE_VARIABLE` in its
environment, so `leftovers` finds them wherever they went.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

TREE_VARIABLE = "MINAPERF_TEST_TREE"


def tree_marker() -> dict[str, str]:
    """An environment entry that marks every process of one command tree."""
    return {TREE_VARIABLE: uuid.uuid4().hex}


def leftovers(marker: dict[str, str]) -> list[str]:
    """`pid cmdline` of every live process carrying `marker` in its environment."""
    wanted = f"{TREE_VARIABLE}={marker[TREE_VARIABLE]}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if wanted in environ and stat.rpartition(")")[2].split()[0] != "Z":
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


def assert_none_left(marker: dict[str, str], timeout: float = 10.0) -> None:
    """No process of the tree is alive (a process just signalled gets `timeout` to exit)."""
    deadline = time.monotonic() + timeout
    while (alive := leftovers(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"left behind: {alive}"
