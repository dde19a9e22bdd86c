"""Campaign report time: 20 cells (default) x 3 repeats, each run's summary.json as a 250-node
experiment's report leaves it (every headline figure set).

    python -m benchmarks.bench_campaign_report [--cells 20] [--repeats 3] [--repeat 3]

Times `minaperf.campaign_report.build` (means, spread, verdicts) and `page` (one SVG per
figure), which is what `python -m scripts.campaign report DIR` spends beyond reading the files.
The per-run aggregation over PostgreSQL is the run's own report (benchmarks/bench_report.py).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from minaperf import campaign as lib
from minaperf import campaign_report
from minaperf.report.summary import HEADLINES


def summary(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"complete": True}
    for section, key, _, _ in HEADLINES:
        out.setdefault(section, {})[key] = rng.uniform(1, 250)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_campaign_report")
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    campaign = lib.parse_campaign(
        {
            "name": "bench",
            "base": "base.yaml",
            "matrix": {"nodes.plainNodes": [250 + i for i in range(args.cells)]},
            "scripts": ["s.jsonl"],
            "repeats": args.repeats,
            "baseline": {"cell": 0},
            "thresholds": {"version": 1, "limits": {"achieved TPS": "-5 %"}},
            "budgetUsd": 1000,
        }
    )
    progress = lib.new_progress(campaign, "bench.yaml")
    rng = random.Random(7)
    summaries = {}
    for run in progress.runs:
        run.steps = {"up": "ok", "report": "ok", "destroy": "ok"}
        run.run_dir = f"runs/{run.stack}/attempt-1"
        summaries[run.stack] = summary(rng)
    builds, pages = [], []
    text = ""
    for _ in range(args.repeat):
        started = time.perf_counter()
        result = campaign_report.build(campaign, progress, summaries)
        built = time.perf_counter()
        text = campaign_report.page(result)
        pages.append(time.perf_counter() - built)
        builds.append(built - started)
    print(f"{args.cells} cells x {args.repeats} repeats; page {len(text) / 1024:.0f} KiB")
    print(f"build: median {statistics.median(builds) * 1000:.1f} ms")
    print(f"page:  median {statistics.median(pages):.2f} s ({len(HEADLINES)} plots)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
