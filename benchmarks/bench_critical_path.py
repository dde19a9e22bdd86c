"""The modelled critical path of a `pulumi up` from an empty project, from a render's graph.

    python -m benchmarks.bench_critical_path [--stack dev | --config stacks/large-200.yaml]

Renders the stack, then walks `resources.json`: a resource starts when all its dependencies are
done (a dependency on a component waits for everything under it) and its provider is ready (the
engine registers a provider first, and the experiment's GCP provider depends on the project's
API services), and takes the time assumed below for its type. Kubernetes workloads and Services
marked `pulumi.com/skipAwait` take only the API call; awaited ones take their rollout. Times that
grow with a count read it from the render: a node pool takes NODE_POOL_SECONDS plus
NODE_POOL_SECONDS_PER_NODE per node, so a large stack is modelled with its own pools; a cluster's
own `nodePools` come up in its create, after the control plane, the larger one deciding. Prints the
longest chain with its times, the total against the goal (issue "Time to a running experiment":
dev <= 12.5 min from an empty project), and the part after the node pools.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from minaperf.critical_path import critical_path

ROOT = Path(__file__).resolve().parent.parent

API_CALL_SECONDS = 2.0
"""Creating a Kubernetes object the provider does not wait on."""
ASSUMED_SECONDS: dict[str, float] = {
    # GCP, typical create times
    "gcp:compute/network:Network": 30,
    "gcp:compute/subnetwork:Subnetwork": 20,
    "gcp:compute/router:Router": 15,
    "gcp:compute/routerNat:RouterNat": 30,
    "gcp:compute/firewall:Firewall": 10,
    "gcp:compute/address:Address": 5,
    "gcp:compute/disk:Disk": 10,
    "gcp:compute/instanceTemplate:InstanceTemplate": 5,
    "gcp:compute/instanceGroupManager:InstanceGroupManager": 15,
    "gcp:serviceaccount/account:Account": 5,
    "gcp:projects/iAMMember:IAMMember": 10,
    "gcp:projects/service:Service": 60,
    "gcp:artifactregistry/repository:Repository": 10,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": 10,
    "gcp:container/cluster:Cluster": 300,
    "gcp:kms/cryptoKey:CryptoKey": 5,
    "gcp:kms/keyRing:KeyRing": 5,
    # Kubernetes objects that are awaited (no skipAwait)
    "kubernetes:apps/v1:StatefulSet": 120,
    "kubernetes:apps/v1:Deployment": 90,
    "kubernetes:batch/v1:Job": 60,
}
LOAD_BALANCER_SECONDS = 60.0
"""An awaited `type: LoadBalancer` Service: until the address is allocated."""
NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL_SECONDS = 234.0
NODE_POOL_SECONDS_PER_NODE = 2.0
"""A node pool's VMs are created together; a larger pool takes a little longer to have all of
them registered (assumed, not measured; a 3-node pool takes the 240 s this model always used)."""
DEFAULT_POOL_DETOUR_SECONDS = 120.0
"""`remove_default_node_pool`: the cluster's create also brings up the default pool's node and
then deletes that pool (a node-pool operation of its own) before `pulumi up` sees the cluster,
so every separate node pool starts after it. A cluster created with its own `nodePools` makes
no default pool (docs/gcp-deploy.md, "The node pools are the cluster's")."""
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


def pool_seconds(pool: Mapping[str, Any]) -> float:
    """A node pool's create, from its inputs (a NodePool's or one of a cluster's `nodePools`)."""
    nodes = int(pool.get("nodeCount") or pool.get("initialNodeCount") or 0)
    return NODE_POOL_SECONDS + NODE_POOL_SECONDS_PER_NODE * nodes


def duration(resource: Mapping[str, Any]) -> float:
    kind = resource["type"]
    if not resource["custom"] or kind.startswith("pulumi:"):
        return 0.0
    inputs = resource.get("inputs") or {}
    if kind == NODE_POOL:
        return pool_seconds(inputs)
    if kind == CLUSTER:
        # The cluster's own pools (`nodePools`) come up in its create, after the control plane
        # and together; the default pool's detour is there only when it is removed.
        own_pools = max(map(pool_seconds, inputs.get("nodePools") or ()), default=0.0)
        detour = DEFAULT_POOL_DETOUR_SECONDS if inputs.get("removeDefaultNodePool") else 0.0
        return ASSUMED_SECONDS[CLUSTER] + own_pools + detour
    if kind.startswith("kubernetes:"):
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        if annotations.get("pulumi.com/skipAwait") == "true":
            return API_CALL_SECONDS
        if kind == "kubernetes:core/v1:Service":
            spec = inputs.get("spec") or {}
            return LOAD_BALANCER_SECONDS if spec.get("type") == "LoadBalancer" else 10.0
        return ASSUMED_SECONDS.get(kind, API_CALL_SECONDS)
    return ASSUMED_SECONDS.get(kind, 5.0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_critical_path")
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
