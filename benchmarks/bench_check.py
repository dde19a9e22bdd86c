"""Wall time of `experiment check` (parse + lint) on scripts of 10k, 100k and 1M lines.

Run from the repository root: `python -m benchmarks.bench_check`. `check` must be linear in the
script's size: a million lines in seconds (issue 11 §3). Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `minaperf` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minaperf.orchestrator.script import lint_script

STEP = json.dumps({"action": "wait", "params": {"sec": 1}})
COMMENT = json.dumps("a comment between steps")


def script_of(lines: int) -> str:
    return "\n".join(STEP if i % 2 else COMMENT for i in range(lines)) + "\n"


def main() -> None:
    for lines in (10_000, 100_000, 1_000_000):
        text = script_of(lines)
        started = time.perf_counter()
        script = lint_script(text)
        elapsed = time.perf_counter() - started
        print(
            f"check {lines:>9,} lines ({len(text) / 1e6:5.1f} MB): {elapsed:6.2f} s, "
            f"{len(script.steps):,} steps, {len(script.errors)} errors"
        )


if __name__ == "__main__":
    main()
