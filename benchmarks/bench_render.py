"""Render wall time beside the bare import time of the SDK and provider modules it uses.

    python -m benchmarks.bench_render [--repeat N]

Each figure is the median over N runs of a fresh interpreter, as a user would run it; the import
is also timed the way render runs it (collector paused, no teardown), render's own floor.
See docs/verification.md#render-performance.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORTS = """
import pulumi, pulumi.dynamic, pulumi_random
import pulumi_gcp as gcp, pulumi_kubernetes as k8s
gcp.compute.Instance, gcp.container.Cluster, gcp.serviceaccount.Account, gcp.projects.IAMMember
k8s.core.v1.Service, k8s.apps.v1.StatefulSet, k8s.batch.v1.Job, k8s.Provider
"""


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "bare import (SDK + providers used)": [sys.executable, "-c", IMPORTS],
            # Render pauses the cyclic garbage collector (scripts/gc_pause.py), its SDK import
            # included, and ends without the interpreter's teardown (scripts/render.py
            # `_exit_now`); this is that floor.
            "bare import as render runs it": [
                sys.executable,
                "-c",
                "import gc, os\ngc.disable()\n" + IMPORTS + "os._exit(0)\n",
            ],
            "render dev stack (10 nodes)": [
                sys.executable,
                "-m",
                "scripts.render",
                "--stack",
                "dev",
                "--out",
                f"{tmp}/dev",
            ],
            "render 200-node stack": [
                sys.executable,
                "-m",
                "scripts.render",
                "--config",
                "stacks/large-200.yaml",
                "--out",
                f"{tmp}/large",
            ],
        }
        _time(cases["bare import (SDK + providers used)"])  # warm the page cache and .pyc files
        medians = {}
        for label, command in cases.items():
            runs = [_time(command) for _ in range(args.repeat)]
            medians[label] = statistics.median(runs)
            print(
                f"{label:40s} median {medians[label]:6.2f} s  (runs: "
                + ", ".join(f"{run:.2f}" for run in runs)
                + ")"
            )
    base = medians["bare import (SDK + providers used)"]
    floor = medians["bare import as render runs it"]
    # Targets (issue "Foundation"): dev within 1.5x of the bare import, 200 nodes within 3x.
    for label, case, target in (
        ("dev render", "render dev stack (10 nodes)", 1.5),
        ("200-node render", "render 200-node stack", 3.0),
    ):
        ratio, own = medians[case] / base, medians[case] / floor
        print(
            f"{label:15s} / import = {ratio:.2f}x (target <= {target:g}x); {own:.2f}x of its floor"
        )
    print(f"load average (1 min)     = {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
