"""Wall time of one full readiness sweep of `wait` over 250 nodes against the stand-in cluster.

Run from the repository root: `python -m benchmarks.bench_wait_sweep [--nodes N] [--parallel P]`.
Each node is a stand-in daemon (ITN + GraphQL ports on 127.0.0.1); the cluster is
tests/fakes/fake_kubectl.py, so the default mode starts one `kubectl port-forward` per node, as
`wait` does outside the cluster; `--direct` mode is what `wait --direct` does inside it. The goal
(issue 16) is one sweep in at most 10 s. Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `minaperf` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from minaperf.keys.itn import ItnKey
from minaperf.model.outputs import parse_outputs
from minaperf.orchestrator.access import Access, DirectAccess, PortForwardAccess
from minaperf.orchestrator.readiness import check_once, rollout_check
from tests.fakes.outputs_fixture import (
    ORCHESTRATOR_KEY,
    ORCHESTRATOR_PUBLIC_KEY,
    make_outputs,
    node,
)
from tests.fakes.servers import FakeDaemon, FakeUptimeBackend

FAKE_KUBECTL = str(Path(__file__).resolve().parents[1] / "tests" / "fakes" / "fake_kubectl.py")


def sweep_seconds(count: int, parallel: int, direct: bool) -> tuple[float, int]:
    daemons = [FakeDaemon({ORCHESTRATOR_PUBLIC_KEY}) for _ in range(count)]
    uptime = FakeUptimeBackend([{"submitter": f"B62q-n{i}"} for i in range(count)])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pods = Path(tmp) / "pods.json"
            ready = {"conditions": [{"type": "Ready", "status": "True"}], "phase": "Running"}
            items = [{"metadata": {"name": f"n{i}-0"}, "status": ready} for i in range(count)]
            pods.write_text(json.dumps({"items": items}))
            os.environ["FAKE_KUBECTL_PODS"] = str(pods)
            nodes = [
                node(f"n{i}", itn_port=d.itn.port, graphql_port=d.graphql.port)
                for i, d in enumerate(daemons)
            ]
            host = "127.0.0.1" if direct else "uptime-backend.exp1.svc.cluster.local"
            outputs = parse_outputs(
                make_outputs(nodes=nodes, online_url=f"http://{host}:{uptime.port}/v1/online")
            )
            access: Access = (
                DirectAccess() if direct else PortForwardAccess(FAKE_KUBECTL, outputs.namespace)
            )
            key = ItnKey.from_secret_b64(ORCHESTRATOR_KEY)
            limits = httpx.Limits(max_connections=parallel * 2)
            with httpx.Client(timeout=10.0, trust_env=False, limits=limits) as client:
                started = time.perf_counter()
                sweep = check_once(
                    outputs,
                    access,
                    key.authorization_header,
                    kubectl=FAKE_KUBECTL,
                    client=client,
                    checks=[rollout_check(FAKE_KUBECTL, outputs.namespace)],
                    parallelism=parallel,
                )
                elapsed = time.perf_counter() - started
            return elapsed, len(sweep.nodes) - len(sweep.waiting)
    finally:
        for daemon in daemons:
            daemon.close()
        uptime.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_wait_sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--mode", choices=("both", "port-forward", "direct"), default="both")
    args = parser.parse_args()
    modes = {"both": (False, True), "port-forward": (False,), "direct": (True,)}[args.mode]
    for direct in modes:
        mode = "direct" if direct else "port-forward"
        seconds, ready = sweep_seconds(args.nodes, args.parallel, direct)
        print(
            f"one sweep, {args.nodes} nodes, {mode}, parallel {args.parallel}: "
            f"{seconds:.2f} s ({ready}/{args.nodes} ready; goal <= 10 s)"
        )


if __name__ == "__main__":
    main()
