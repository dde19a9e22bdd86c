"""What one GKE Standard node of a machine type leaves to our pods.

The machine's nominal memory and vCPUs, less the kernel's share (`capacity`), less GKE's
reservation and the kubelet's eviction threshold (`allocatable`), less one pod of each of GKE's
DaemonSets (`schedulable`); `CLUSTER_ADDONS` are the add-ons every pool is sized to take.
See docs/sizing.md#what-one-node-leaves-to-pods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from minaperf.model.machines import machine_shape

MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class Requests:
    """CPU (millicores) and memory (bytes), as the scheduler adds them up."""

    cpu_millis: int
    memory_bytes: int

    def __add__(self, other: Requests) -> Requests:
        return Requests(self.cpu_millis + other.cpu_millis, self.memory_bytes + other.memory_bytes)

    def __sub__(self, other: Requests) -> Requests:
        return Requests(self.cpu_millis - other.cpu_millis, self.memory_bytes - other.memory_bytes)

    def fits_in(self, room: Requests) -> bool:
        return self.cpu_millis <= room.cpu_millis and self.memory_bytes <= room.memory_bytes

    def larger(self, other: Requests) -> Requests:
        """Each resource's maximum (the scheduler's `maxResourceList`)."""
        return Requests(
            max(self.cpu_millis, other.cpu_millis), max(self.memory_bytes, other.memory_bytes)
        )

    def describe(self) -> str:
        return f"{self.cpu_millis / 1000:g} CPU / {self.memory_bytes / GIB:.2f} GiB"


ZERO = Requests(0, 0)

KERNEL_MEMORY_FRACTION = 0.016
KERNEL_MEMORY_BASE = 200 * MIB
"""Memory the kernel keeps before the kubelet reports capacity: at most 1.6 % of nominal + 200 MiB.
Observed (nominal -> reported capacity): n2-standard-4 16 GiB -> 16380004Ki (388 MiB less; a
published `kubectl describe node`, GKE 1.36), n2-highmem-4 32 GiB -> 32880872Ki (658 MiB),
n2-highmem-16 128 GiB -> 131919220Ki (2245 MiB), n2-highmem-64 512 GiB -> 528365196Ki (8306 MiB)
(GKE 1.25, 2i2c-org/infrastructure#2121), n2d-standard-16 64 GiB -> 65855012Ki (1229 MiB; GKE
1.29, nginxinc/nginx-gateway-fabric tests/results/ngf-upgrade/edge/edge-oss.md). The published
formula applied to the reported capacities gives those nodes' reported allocatable to within
30 MiB."""

EVICTION_THRESHOLD = 100 * MIB
"""The kubelet's hard eviction threshold on GKE (memory.available < 100Mi), deducted from
allocatable (plan-node-sizes, "Memory and CPU reservations")."""

_MEMORY_TIERS = ((4 * GIB, 0.25), (4 * GIB, 0.20), (8 * GIB, 0.10), (112 * GIB, 0.06))
"""GKE's memory reservation: 25 % of the first 4 GiB, 20 % of the next 4 GiB, 10 % of the next
8 GiB, 6 % of the next 112 GiB, then 2 % of everything above 128 GiB (plan-node-sizes)."""
_MEMORY_ABOVE = 0.02
_SMALL_MACHINE_MEMORY = 255 * MIB
"""Machines with less than 1 GiB of memory: GKE reserves 255 MiB (plan-node-sizes)."""

_CPU_TIERS = ((1000, 0.06), (1000, 0.01), (2000, 0.005))
"""GKE's CPU reservation: 6 % of the first core, 1 % of the next, 0.5 % of the next 2 cores,
0.25 % of every core above 4 (plan-node-sizes)."""
_CPU_ABOVE = 0.0025
_SHARED_CORE_CPU_RESERVED = 1060
"""Shared-core E2 types (e2-micro, e2-small, e2-medium): GKE reserves 1060 millicores."""
SHARED_CORE = frozenset({"e2-micro", "e2-small", "e2-medium"})


def _tiered(amount: float, tiers: tuple[tuple[float, float], ...], above: float) -> float:
    reserved = 0.0
    for size, share in tiers:
        part = min(amount, size)
        reserved += part * share
        amount -= part
        if amount <= 0:
            return reserved
    return reserved + amount * above


def capacity(machine_type: str) -> Requests:
    """What the kubelet reports as the node's capacity: all vCPUs, memory less the kernel's."""
    shape = machine_shape(machine_type)
    nominal = shape.memory_gib * GIB
    kernel = nominal * KERNEL_MEMORY_FRACTION + KERNEL_MEMORY_BASE
    return Requests(shape.vcpus * 1000, int(nominal - kernel))


def reserved(machine_type: str) -> Requests:
    """GKE's reservation on a node of `machine_type` (kube-reserved + system), no eviction.

    The published formula (cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes,
    "Memory and CPU reservations"), applied to the reported capacity.
    """
    total = capacity(machine_type)
    if total.memory_bytes < GIB:
        memory = float(_SMALL_MACHINE_MEMORY)
    else:
        memory = _tiered(total.memory_bytes, _MEMORY_TIERS, _MEMORY_ABOVE)
    if machine_type in SHARED_CORE:
        cpu = float(_SHARED_CORE_CPU_RESERVED)
    else:
        cpu = _tiered(total.cpu_millis, _CPU_TIERS, _CPU_ABOVE)
    return Requests(math.ceil(cpu), math.ceil(memory))


def allocatable(machine_type: str) -> Requests:
    """The node's `status.allocatable`: capacity - reservation - eviction threshold."""
    return capacity(machine_type) - reserved(machine_type) - Requests(0, EVICTION_THRESHOLD)


@dataclass(frozen=True)
class SystemPod:
    name: str
    requests: Requests
    replicas: int = 1


SYSTEM_DAEMONSETS = (
    # Dataplane V2 (datapath_provider ADVANCED_DATAPATH, components/platform.py). Observed 110m /
    # 164Mi; GKE ships node-size variants (anetd-s/-m/-l), so this allows about twice that.
    SystemPod("anetd", Requests(200, 320 * MIB)),
    SystemPod("netd", Requests(8, 65 * MIB)),
    # Default logging (SYSTEM_COMPONENTS + WORKLOADS): the cluster sets no logging_config.
    SystemPod("fluentbit-gke", Requests(105, 230 * MIB)),
    # Default system monitoring.
    SystemPod("gke-metrics-agent", Requests(21, 155 * MIB)),
    # Managed Service for Prometheus, on by default for new clusters.
    SystemPod("collector (gmp-system)", Requests(5, 36_000_000)),
    # Workload Identity (workload_metadata_config GKE_METADATA).
    SystemPod("gke-metadata-server", Requests(100, 100 * MIB)),
    # Compute Engine PD CSI driver, on by default (PostgreSQL's disk, the claims).
    SystemPod("pdcsi-node", Requests(10, 20 * MIB)),
)
"""One pod per node, requests as `kubectl describe node` lists them on GKE 1.29-1.36 nodes
(docs/sizing.md, "GKE's own pods"). With Dataplane V2 there is no kube-proxy (anetd replaces
it) and no ip-masq-agent."""

CLUSTER_ADDONS = (
    SystemPod("kube-dns", Requests(265, 140 * MIB), replicas=2),
    SystemPod("kube-dns-autoscaler", Requests(20, 10 * MIB)),
    SystemPod("konnectivity-agent", Requests(15, 60 * MIB), replicas=6),
    SystemPod("konnectivity-agent-autoscaler", Requests(10, 10_000_000)),
    SystemPod("metrics-server", Requests(48, 105 * MIB)),
    SystemPod("event-exporter-gke", Requests(3, 100 * MIB)),
    SystemPod("l7-default-backend", Requests(10, 20 * MIB)),
    SystemPod("gmp-operator", Requests(1, 16_000_000)),
    SystemPod("kube-state-metrics (gke-managed-cim)", Requests(105, 130 * MIB)),
)
"""GKE's cluster-wide add-ons (Deployments, no pool pinned): they can land on a node of either
pool, so each pool's packing includes all of them. konnectivity-agent scales with the cluster;
6 replicas is an upper bound for the sizes this program builds."""


def daemonset_allowance() -> Requests:
    total = ZERO
    for pod in SYSTEM_DAEMONSETS:
        total = total + pod.requests
    return total


def schedulable(machine_type: str) -> Requests:
    """Room for our pods on one node: allocatable less one pod of every system DaemonSet."""
    return allocatable(machine_type) - daemonset_allowance()
