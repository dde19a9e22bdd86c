"""Campaign report time: 20 cells (default) of 250 plain nodes each x 3 repeats.

    python -m benchmarks.bench_campaign_report [--cells 20] [--repeats 3] [--repeat 3]

Writes a campaign directory as `scripts.campaign run` leaves it (every run's summary.json as a
250-node report leaves it), then times `scripts.campaign report DIR` in-process.
See docs/campaigns.md#report.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from minaperf.experiment import campaign as lib
from minaperf.report.summary import HEADLINES
from scripts import campaign as command


def summary(rng: random.Random) -> dict[str, Any]:
    """One run's summary.json with every headline figure set."""
    out: dict[str, Any] = {"complete": True}
    for section, key, _, _ in HEADLINES:
        out.setdefault(section, {})[key] = rng.uniform(1, 250)
    return out


def write_campaign(directory: Path, cells: int, repeats: int) -> Path:
    """The campaign directory: 250 plain nodes in every cell, the worker servers varied."""
    file = directory / "bench.yaml"
    document = {
        "name": "bench",
        "base": {"config": {"mina-itn:nodes": {"plainNodes": 250}}},
        "matrix": {"workerPool.servers": list(range(1, cells + 1))},
        "scripts": ["s.jsonl"],
        "repeats": repeats,
        "baseline": {"cell": 0},
        "thresholds": {"version": 1, "limits": {"achieved TPS": "-5 %"}},
        "budgetUsd": 1000,
    }
    file.write_text(yaml.safe_dump(document))
    out = directory / "out"
    progress = lib.new_progress(lib.parse_campaign(document), str(file))
    rng = random.Random(7)
    for run in progress.runs:
        run.steps = {"up": "ok", "report": "ok", "destroy": "ok"}
        run.attempt = 1
        run.run_dir = f"runs/{run.stack}/attempt-1"
        report = out / run.run_dir / "report"
        report.mkdir(parents=True)
        (report / "summary.json").write_text(json.dumps(summary(rng)))
    (out / "campaign.json").write_text(progress.model_dump_json(by_alias=True))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_campaign_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        out = write_campaign(Path(tmp), args.cells, args.repeats)
        # Timed: reading and checking the files, the means, spread and verdicts, the page (one
        # SVG per figure) and its writes. The per-run aggregation over PostgreSQL is the run's
        # own report (benchmarks/bench_report.py).
        for _ in range(args.repeat):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = command.main(["report", str(out)])
            times.append(time.perf_counter() - started)
            if code not in (0, 1):
                raise SystemExit(f"campaign report exited {code}")
        size = (out / "campaign.html").stat().st_size
    print(
        f"{args.cells} cells of 250 plain nodes x {args.repeats} repeats; "
        f"page {size / 1024:.0f} KiB, {len(HEADLINES)} plots"
    )
    print(
        f"python -m scripts.campaign report: median {statistics.median(times):.2f} s "
        f"over {args.repeat} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
