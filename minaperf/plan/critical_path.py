"""The longest chain of a `pulumi up` through a render's resource graph, for given durations.

`critical_path` walks `resources.json` the way the engine orders creates; `duration` gives the
times this project assumes per resource type (not measured). `benchmarks/bench_critical_path.py`
prints the chain and `scripts.campaign plan` models each cell with it.
See docs/gcp-deploy.md#time-to-a-running-experiment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Record = Mapping[str, Any]

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


def pool_seconds(pool: Mapping[str, Any]) -> float:
    """A node pool's create, from its inputs (a NodePool's or one of a cluster's `nodePools`)."""
    nodes = int(pool.get("nodeCount") or pool.get("initialNodeCount") or 0)
    return NODE_POOL_SECONDS + NODE_POOL_SECONDS_PER_NODE * nodes


def duration(resource: Mapping[str, Any]) -> float:
    """Assumed seconds to create `resource`: none for a component, the API call alone for a
    Kubernetes object marked `pulumi.com/skipAwait`, the rollout for an awaited one, and for a
    node pool a time that grows with its count as the render gives it."""
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


@dataclass(frozen=True)
class CriticalPath:
    total: float
    """When the last resource is done, in seconds from the start."""
    chain: tuple[tuple[str, float], ...]
    """The custom resources (URN, finish) of the longest chain, first to last."""
    finish: Mapping[str, float]
    """Every resource's finish by URN."""


def provider_urn(reference: str) -> str:
    """The provider resource a `provider` reference (`<urn>::<id>`) names."""
    return reference.rsplit("::", 1)[0]


def waits_for(resource: Record) -> set[str]:
    """The URNs a custom resource waits for before the engine creates it: its `dependencies`,
    its `propertyDependencies`, and its provider (a resource with dependencies of its own)."""
    urns: set[str] = set(resource.get("dependencies") or ())
    for dependencies in (resource.get("propertyDependencies") or {}).values():
        urns.update(dependencies)
    if resource.get("provider"):
        urns.add(provider_urn(resource["provider"]))
    return urns


def critical_path(resources: Sequence[Record], duration: Callable[[Record], float]) -> CriticalPath:
    """Finish times of every resource and the chain that decides the last one.

    A custom resource starts once everything it `waits_for` is done; a dependency on a
    component waits for every resource under it, and a component itself takes no time.
    A URN nothing in `resources` defines (a default provider the render does not record)
    is done at 0. Ties go to the greater URN, so the chain is the same on every run. Raises
    ValueError on a cycle (a resource waiting on a component that holds it, for example).
    """
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])
    done: dict[str, tuple[float, str | None]] = {}
    walking: set[str] = set()

    def finish(urn: str) -> tuple[float, str | None]:
        """When `urn` is done, and the URN that decided it."""
        if urn in done:
            return done[urn]
        resource = by_urn.get(urn)
        if resource is None:
            return 0.0, None
        if urn in walking:
            raise ValueError(f"dependency cycle through {urn}")
        walking.add(urn)
        if resource["custom"]:
            waited = waits_for(resource)
            own = duration(resource)
        else:
            waited = set(children.get(urn, ()))
            own = 0.0
        start, via = max(((finish(u)[0], u) for u in waited), default=(0.0, None))
        walking.discard(urn)
        done[urn] = (start + own, via)
        return done[urn]

    for urn in by_urn:
        finish(urn)
    if not by_urn:
        return CriticalPath(0.0, (), {})
    last = max(by_urn, key=lambda u: (done[u][0], u))
    chain: list[tuple[str, float]] = []
    step: str | None = last
    while step is not None and step in by_urn:
        if by_urn[step]["custom"]:
            chain.append((step, done[step][0]))
        step = done[step][1]
    return CriticalPath(
        total=done[last][0],
        chain=tuple(reversed(chain)),
        finish={u: t for u, (t, _) in done.items()},
    )
