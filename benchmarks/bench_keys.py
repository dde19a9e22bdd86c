"""Wall time of `derive_key_material` for 10 and 250 nodes (runs on every `pulumi preview`).

Run from the repository root: `python -m benchmarks.bench_keys [--repeat N]`. Prints figures
only; nothing is asserted, because timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `minaperf` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minaperf.keys.material import NodeSpec, derive_key_material

ROLE_CYCLE = ("block-producer", "plain", "block-producer", "plain", "seed")


def nodes_for(count: int) -> list[NodeSpec]:
    """A plausible mix of roles; roles do not change the cost, every node gets two key files."""
    return [NodeSpec(f"node-{i}", ROLE_CYCLE[i % len(ROLE_CYCLE)]) for i in range(count)]


def measure(count: int, funding_accounts: int, repeat: int) -> list[float]:
    seed = os.urandom(32)
    nodes = nodes_for(count)
    timings: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        derive_key_material(seed, nodes, funding_accounts=funding_accounts)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--funding-accounts", type=int, default=10)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), repeat={args.repeat}")
    for count in (10, 250):
        timings = measure(count, args.funding_accounts, args.repeat)
        print(
            f"{count:>4} nodes + {args.funding_accounts} funding accounts: "
            f"median {statistics.median(timings):.3f} s, min {min(timings):.3f} s, "
            f"max {max(timings):.3f} s"
        )


if __name__ == "__main__":
    main()
