"""The modelled critical path of a `pulumi up` from an empty project, from a render's graph.

    python -m benchmarks.bench_critical_path [--stack dev | --config stacks/large-200.yaml]

Renders the stack and walks `resources.json` with `minaperf.plan.critical_path`; prints the
longest chain with its times, the total against the goal, and the part after the node pools.
See docs/gcp-deploy.md#time-to-a-running-experiment.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from minaperf.plan.critical_path import (
    CLUSTER,
    DEFAULT_POOL_DETOUR_SECONDS,
    NODE_POOL,
    critical_path,
    duration,
)

ROOT = Path(__file__).resolve().parent.parent

# Issue "Time to a running experiment": dev <= 12.5 min from an empty project.
GOAL_SECONDS = 12.5 * 60
LOG_API = "log-api"
"""components/log_fetcher.py LOG_API: it needs PostgreSQL's Service and credentials only."""


def render(args: list[str], out: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render", *args, "--out", str(out)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no output)"]
        raise SystemExit(f"render failed: {lines[-1]}")
    return json.loads((out / "resources.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_critical_path",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", default=None)
    source.add_argument("--config", default=None)
    args = parser.parse_args()
    render_args = ["--config", args.config] if args.config else ["--stack", args.stack or "dev"]
    with tempfile.TemporaryDirectory() as tmp:
        resources = render(render_args, Path(tmp) / "render")
    path = critical_path(resources, duration)
    by_urn = {r["urn"]: r for r in resources}
    pools = max(
        (
            path.finish[r["urn"]]
            for r in resources
            if r["type"] == NODE_POOL
            or (r["type"] == CLUSTER and (r.get("inputs") or {}).get("nodePools"))
        ),
        default=0.0,
    )
    print(f"modelled critical path ({' '.join(render_args)}), assumed times per type:")
    previous = 0.0
    for urn, done in path.chain:
        resource = by_urn[urn]
        name = f"{resource['type'].rsplit(':', 1)[-1]} {resource['name']}"
        print(f"  {done:7.0f} s  (+{done - previous:4.0f})  {name}")
        previous = done
    for r in resources:
        metadata = (r.get("inputs") or {}).get("metadata") or {}
        if r["type"] == "kubernetes:apps/v1:Deployment" and metadata.get("name") == LOG_API:
            at = path.finish[r["urn"]]
            print(f"log API Deployment created at {at:.0f} s ({at - pools:.0f} s after the pools)")
    detour = sum(
        DEFAULT_POOL_DETOUR_SECONDS
        for r in resources
        if r["type"] == CLUSTER and (r.get("inputs") or {}).get("removeDefaultNodePool")
    )
    total = path.total
    goal = f"goal for dev from an empty project: <= {GOAL_SECONDS / 60:g} min"
    if render_args == ["--stack", "dev"]:
        goal += ", met" if total <= GOAL_SECONDS else ", not met"
    print(
        f"total: {total / 60:.1f} min ({goal}); after the node pools: {total - pools:.0f} s; "
        f"default-pool detour in the cluster step: {detour:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
