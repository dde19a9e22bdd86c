"""How big an experiment is: node pools sized by packing whole pods onto nodes (docs/sizing.md).

Each pool's pods (`minaperf.model.pods.pool_pods`, plus GKE's cluster add-ons, which may land on any
pool) are packed first-fit-decreasing onto nodes of the pool's machine type, each node offering
what GKE leaves to pods (`minaperf.model.gke_nodes.schedulable`). The pool gets as many nodes as the
packing opens, or its explicit `count` when that is enough.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

from minaperf.model.config import ConfigError, ExperimentConfig, GkePlatform, NodePoolConfig
from minaperf.model.gke_nodes import (
    CLUSTER_ADDONS,
    SHARED_CORE,
    Requests,
    allocatable,
    daemonset_allowance,
    schedulable,
)
from minaperf.model.machines import known_machine_types, machine_shape
from minaperf.model.pods import Pod, pod_requests, pool_pods

ORCHESTRATOR_WORK_VOLUME = "10Gi"
"""The workspace's claim (runs, generated scripts), on the default storage class."""


@dataclass(frozen=True)
class Item:
    """One pod to place: its name and what the scheduler reserves for it."""

    name: str
    requests: Requests


class PodTooLargeError(ValueError):
    def __init__(self, item: Item, room: Requests) -> None:
        super().__init__(f"pod {item.name} ({item.requests.describe()}) fits on no node")
        self.item = item
        self.room = room


@dataclass(frozen=True)
class Packing:
    """Pods placed whole onto nodes of one machine type; `nodes` holds each node's pods."""

    machine_type: str
    room: Requests
    nodes: tuple[tuple[Item, ...], ...]

    def used(self, node: Sequence[Item]) -> Requests:
        total = Requests(0, 0)
        for item in node:
            total = total + item.requests
        return total

    def least_headroom(self) -> Requests:
        """The smallest CPU and the smallest memory left on any node (each over all nodes)."""
        free = [self.room - self.used(node) for node in self.nodes] or [self.room]
        return Requests(min(f.cpu_millis for f in free), min(f.memory_bytes for f in free))


def _weight(item: Item, room: Requests) -> tuple[float, str]:
    share = max(
        item.requests.cpu_millis / max(room.cpu_millis, 1),
        item.requests.memory_bytes / max(room.memory_bytes, 1),
    )
    return (-share, item.name)


def pack(items: Sequence[Item], machine_type: str) -> Packing:
    """First-fit-decreasing (by each pod's larger share of a node; ties by name) onto as many
    nodes as needed; raises PodTooLargeError when a pod fits on no node."""
    room = schedulable(machine_type)
    nodes: list[list[Item]] = []
    free: list[Requests] = []
    for item in sorted(items, key=lambda item: _weight(item, room)):
        if not item.requests.fits_in(room):
            raise PodTooLargeError(item, room)
        for index, left in enumerate(free):
            if item.requests.fits_in(left):
                nodes[index].append(item)
                free[index] = left - item.requests
                break
        else:
            nodes.append([item])
            free.append(room - item.requests)
    return Packing(machine_type, room, tuple(tuple(node) for node in nodes))


def addon_items() -> list[Item]:
    """GKE's cluster add-ons, one item per replica."""
    return [
        Item(addon.name if addon.replicas == 1 else f"{addon.name}-{index}", addon.requests)
        for addon in CLUSTER_ADDONS
        for index in range(1, addon.replicas + 1)
    ]


def pool_items(pods: Sequence[Pod]) -> list[Item]:
    """Our pods of one pool plus GKE's add-ons, each with its scheduler request."""
    return [Item(pod.name, pod_requests(pod)) for pod in pods] + addon_items()


def fitting_machine_type(request: Requests, current: str) -> str | None:
    """The smallest known machine type whose node holds `request`, the current series first."""
    series = current.rsplit("-", 1)[0]
    candidates = [
        name
        for name in known_machine_types()
        if name not in SHARED_CORE and not machine_shape(name).bare_metal
    ]
    candidates.sort(
        key=lambda name: (
            name.rsplit("-", 1)[0] != series,
            machine_shape(name).vcpus,
            machine_shape(name).memory_gib,
            name,
        )
    )
    return next((name for name in candidates if request.fits_in(schedulable(name))), None)


def plan_pool(name: str, pool: NodePoolConfig, pods: Sequence[Pod]) -> Packing:
    """The packing of one pool's pods; ConfigError when a pod fits on no node or an explicit
    count is too small."""
    machine = pool.machine_type
    try:
        packing = pack(pool_items(pods), machine)
    except PodTooLargeError as error:
        better = fitting_machine_type(error.item.requests, machine)
        advice = f"use {better} or larger" if better else "no known machine type holds it"
        raise ConfigError(
            f"platform.pools.{name}.machineType",
            f"pod {error.item.name} requests {error.item.requests.describe()}, but a node of "
            f"type {machine} has {error.room.describe()} for pods (allocatable "
            f"{allocatable(machine).describe()} less {daemonset_allowance().describe()} for "
            f"GKE's DaemonSets); {advice}, or lower the pod's requests",
        ) from None
    needed = len(packing.nodes)
    if pool.count is not None and pool.count < needed:
        raise ConfigError(
            f"platform.pools.{name}.count",
            f"{pool.count} x {machine} cannot hold this pool's pods: packed whole onto nodes "
            f"with {packing.room.describe()} for pods each, they need {needed}; use at least "
            f"{needed}, or leave count unset to size the pool automatically",
        )
    return packing


def pool_plans(config: ExperimentConfig, platform: GkePlatform) -> dict[str, Packing]:
    pods = pool_pods(config)
    return {
        "mina": plan_pool("mina", platform.pools.mina, pods["mina"]),
        "services": plan_pool("services", platform.pools.services, pods["services"]),
    }


def validate_pools(config: ExperimentConfig) -> None:
    """Refuse pools whose machines cannot hold the experiment (raises ConfigError).

    Runs at config time, so a render or `pulumi up` stops before anything is created, instead of
    leaving a pod Pending forever on a pool that is too small.
    """
    platform = config.platform
    if not isinstance(platform, GkePlatform):
        return
    plans = pool_plans(config, platform)
    _check_pods_range(
        platform,
        sum(
            pool.count or len(plans[name].nodes)
            for name, pool in (("mina", platform.pools.mina), ("services", platform.pools.services))
        ),
    )


def _check_pods_range(platform: GkePlatform, nodes: int) -> None:
    """GKE gives every node a /24 of the pods range (110 max pods per node, the default we keep;
    cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr), plus one surge node per
    pool during an upgrade (the node pool default maxSurge 1)."""
    from minaperf.model.config import MAX_PODS_PER_NODE

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


def _size(config: ExperimentConfig, platform: GkePlatform, name: str) -> int:
    pool: NodePoolConfig = getattr(platform.pools, name)
    return pool.count or len(plan_pool(name, pool, pool_pods(config)[name]).nodes)


def mina_pool_size(config: ExperimentConfig, platform: GkePlatform) -> int:
    return _size(config, platform, "mina")


def services_pool_size(config: ExperimentConfig, platform: GkePlatform) -> int:
    return _size(config, platform, "services")
