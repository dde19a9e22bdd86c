"""How big an experiment is: node pool sizes from resource requests."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from minaperf.config import ConfigError, ExperimentConfig, GkePlatform, cpu_millis, memory_bytes
from minaperf.machines import machine_shape
from minaperf.services import fetcher_resources, fetcher_shards

ALLOCATABLE_FRACTION = 0.85
"""Share of a machine's CPU and memory left to pods after GKE's system reservations."""


@dataclass(frozen=True)
class PoolDemand:
    """Summed resource requests that must fit on one node pool."""

    cpu_millis: int
    memory_bytes: int
    largest_cpu_millis: int
    largest_memory_bytes: int


def pool_size(machine_type: str, demand: PoolDemand) -> int:
    """Machines needed for `demand`, with the largest single pod fitting on one machine."""
    shape = machine_shape(machine_type)
    cpu = shape.vcpus * 1000 * ALLOCATABLE_FRACTION
    memory = shape.memory_gib * 1024**3 * ALLOCATABLE_FRACTION
    if demand.largest_cpu_millis > cpu or demand.largest_memory_bytes > memory:
        raise ValueError(
            f"{machine_type} cannot hold the largest pod "
            f"({demand.largest_cpu_millis}m CPU, {demand.largest_memory_bytes / 1024**3:.1f} GiB); "
            "choose a larger machine type for the pool"
        )
    return max(1, math.ceil(demand.cpu_millis / cpu), math.ceil(demand.memory_bytes / memory))


def mina_pool_demand(config: ExperimentConfig) -> PoolDemand:
    counts = config.nodes
    roles = [
        (config.resources.seed, counts.seeds),
        (config.resources.block_producer, counts.block_producers),
        (config.resources.plain, counts.plain_nodes),
        (config.resources.snark_coordinator, counts.snark_coordinators),
    ]
    present = [resources for resources, count in roles if count]
    return PoolDemand(
        cpu_millis=sum(cpu_millis(r.cpu_request) * count for r, count in roles),
        memory_bytes=sum(memory_bytes(r.memory_request) * count for r, count in roles),
        largest_cpu_millis=max(cpu_millis(r.cpu_request) for r in present),
        largest_memory_bytes=max(memory_bytes(r.memory_request) for r in present),
    )


def validate_pools(config: ExperimentConfig) -> None:
    """Refuse pools whose machines cannot hold the experiment (raises ConfigError).

    Runs at config time, so a render or `pulumi up` stops before anything is created, instead of
    leaving a pod Pending forever on a pool that is too small.
    """
    platform = config.platform
    if not isinstance(platform, GkePlatform):
        return
    sizes: dict[str, int] = {}
    for name, pool, demand in (
        ("mina", platform.pools.mina, mina_pool_demand(config)),
        ("services", platform.pools.services, services_pool_demand(config)),
    ):
        try:
            needed = pool_size(pool.machine_type, demand)
        except ValueError as error:
            raise ConfigError(f"platform.pools.{name}.machineType", str(error)) from None
        sizes[name] = pool.count or needed
        if pool.count is not None and pool.count < needed:
            raise ConfigError(
                f"platform.pools.{name}.count",
                f"{pool.count} x {pool.machine_type} cannot hold the requests of this experiment "
                f"({demand.cpu_millis / 1000:g} CPU, {demand.memory_bytes / 1024**3:.0f} GiB); "
                f"use at least {needed}, or leave count unset to size the pool automatically",
            )

    _check_pods_range(platform, sum(sizes.values()))


def _check_pods_range(platform: GkePlatform, nodes: int) -> None:
    """GKE gives every node a /24 of the pods range (110 max pods per node, the default we keep;
    cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr), plus one surge node per
    pool during an upgrade (the node pool default maxSurge 1)."""
    from minaperf.config import MAX_PODS_PER_NODE, ConfigError

    pods = ipaddress.ip_network(platform.network.pods_cidr)
    per_node = 2 ** (32 - pod_range_prefix(MAX_PODS_PER_NODE))
    needed = nodes + 2
    capacity = pods.num_addresses // per_node
    if capacity < needed:
        smallest = 32 - math.ceil(math.log2(needed * per_node))
        raise ConfigError(
            "platform.network.podsCidr",
            f"{pods} holds pod addresses for {capacity} node(s), but the pools need {needed} "
            f"({nodes} nodes + 1 upgrade surge per pool, {MAX_PODS_PER_NODE} pods each = a "
            f"/{pod_range_prefix(MAX_PODS_PER_NODE)} per node); use a /{smallest} or larger",
        )


def pod_range_prefix(max_pods: int) -> int:
    """Prefix of the per-node pod range GKE assigns: twice max pods, rounded up to a power of 2."""
    return 32 - math.ceil(math.log2(2 * max_pods))


def mina_pool_size(config: ExperimentConfig, platform: GkePlatform) -> int:
    pool = platform.pools.mina
    return pool.count or pool_size(pool.machine_type, mina_pool_demand(config))


ORCHESTRATOR_CPU = "4"
ORCHESTRATOR_MEMORY = "8Gi"
"""The orchestrator workspace: ~4 CPU in the seed issue."""
ORCHESTRATOR_WORK_VOLUME = "10Gi"
"""The workspace's claim (runs, generated scripts), on the default storage class."""
SMALL_SERVICES_CPU_MILLIS = 1000
SMALL_SERVICES_MEMORY = 2 * 1024**3
"""Uptime backend, log API and sidecars together, with headroom."""


def services_pool_demand(config: ExperimentConfig) -> PoolDemand:
    """What the `services` pool carries: PostgreSQL, the orchestrator, the log fetcher shards
    (0.5 CPU per node in all) and the small services."""
    postgres = config.postgres.resources
    parts = [
        (cpu_millis(postgres.cpu_request), memory_bytes(postgres.memory_request)),
        (cpu_millis(ORCHESTRATOR_CPU), memory_bytes(ORCHESTRATOR_MEMORY)),
        (SMALL_SERVICES_CPU_MILLIS, SMALL_SERVICES_MEMORY),
    ]
    for shard in fetcher_shards(range(config.nodes.total)):
        requests = fetcher_resources(len(shard))["requests"]
        parts.append((cpu_millis(requests["cpu"]), memory_bytes(requests["memory"])))
    return PoolDemand(
        cpu_millis=sum(cpu for cpu, _ in parts),
        memory_bytes=sum(memory for _, memory in parts),
        largest_cpu_millis=max(cpu for cpu, _ in parts),
        largest_memory_bytes=max(memory for _, memory in parts),
    )


def services_pool_size(config: ExperimentConfig, platform: GkePlatform) -> int:
    pool = platform.pools.services
    return pool.count or pool_size(pool.machine_type, services_pool_demand(config))
