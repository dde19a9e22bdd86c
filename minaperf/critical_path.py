"""The modelled critical path of a `pulumi up` from an empty project, from a render's records.

A resource starts when all its dependencies are done (a dependency on a component waits for
everything under it) and its provider is ready (the engine registers a provider first, and the
experiment's GCP provider depends on the project's API services), and takes the time assumed
below for its type. Kubernetes workloads and Services marked `pulumi.com/skipAwait` take only
the API call; awaited ones take their rollout. Times that grow with a count read it from the
render: a node pool takes NODE_POOL_SECONDS plus NODE_POOL_SECONDS_PER_NODE per node.
`benchmarks/bench_critical_path.py` prints it; `scripts.campaign plan` models each cell with it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

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
so every node pool of ours starts after it (docs/gcp-deploy.md, "The default-pool detour")."""


def duration(resource: dict[str, Any]) -> float:
    kind = resource["type"]
    if not resource["custom"] or kind.startswith("pulumi:"):
        return 0.0
    inputs = resource.get("inputs") or {}
    if kind == NODE_POOL:
        nodes = int(inputs.get("nodeCount") or inputs.get("initialNodeCount") or 0)
        return NODE_POOL_SECONDS + NODE_POOL_SECONDS_PER_NODE * nodes
    if kind == CLUSTER and inputs.get("removeDefaultNodePool"):
        return ASSUMED_SECONDS[CLUSTER] + DEFAULT_POOL_DETOUR_SECONDS
    if kind.startswith("kubernetes:"):
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        if annotations.get("pulumi.com/skipAwait") == "true":
            return API_CALL_SECONDS
        if kind == "kubernetes:core/v1:Service":
            spec = inputs.get("spec") or {}
            return LOAD_BALANCER_SECONDS if spec.get("type") == "LoadBalancer" else 10.0
        return ASSUMED_SECONDS.get(kind, API_CALL_SECONDS)
    return ASSUMED_SECONDS.get(kind, 5.0)


def provider_urn(reference: str) -> str:
    """A provider reference is `<urn>::<id>`; the URN is the provider resource."""
    return reference.rsplit("::", 1)[0]


def critical_path(
    resources: list[dict[str, Any]],
) -> tuple[float, list[tuple[str, float]], float, dict[str, float]]:
    """(total seconds, [(resource, finish time)] along the longest chain, pools' finish, every
    resource's finish by URN)."""
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])

    @cache
    def finish(urn: str) -> tuple[float, str | None]:
        """When `urn` is done, and the dependency that decided its start."""
        resource = by_urn.get(urn)
        if resource is None:
            return 0.0, None
        if not resource["custom"]:  # a component: done when everything under it is
            parts = [(finish(c)[0], c) for c in children.get(urn, [])]
            return max(parts, default=(0.0, None))
        deps = set(resource.get("dependencies") or [])
        if resource.get("provider"):
            deps.add(provider_urn(resource["provider"]))
        start, via = max(((finish(d)[0], d) for d in deps), default=(0.0, None))
        return start + duration(resource), via

    end_urn = max(by_urn, key=lambda u: finish(u)[0])
    chain: list[tuple[str, float]] = []
    urn: str | None = end_urn
    while urn is not None:
        resource = by_urn[urn]
        if resource["custom"]:
            chain.append(
                (f"{resource['type'].rsplit(':', 1)[-1]} {resource['name']}", finish(urn)[0])
            )
        urn = finish(urn)[1]
    pools = max((finish(r["urn"])[0] for r in resources if r["type"] == NODE_POOL), default=0.0)
    done = {urn: finish(urn)[0] for urn in by_urn}
    return finish(end_urn)[0], list(reversed(chain)), pools, done
