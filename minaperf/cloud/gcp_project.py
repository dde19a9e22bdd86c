"""What one experiment needs from its GCP project, computed from the config alone.

The program (`components.platform`) and the preflight check (`scripts.preflight`) read the same
lists, so what `pulumi up` enables, creates and consumes is exactly what preflight checks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from minaperf.model.config import ExperimentConfig, GkePlatform, memory_bytes
from minaperf.model.cost import (
    CostEstimate,
    DiskLine,
    MachineLine,
    MissingPriceError,
    estimate_hourly_cost,
)
from minaperf.model.machines import boot_disk_type, machine_shape
from minaperf.model.sizing import ORCHESTRATOR_WORK_VOLUME, mina_pool_size, services_pool_size
from minaperf.rfc3339 import format_utc, parse_utc
from minaperf.workloads import daemon, services

BASE_APIS = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
"""Off on a fresh project: the VPC, cluster, service accounts and project IAM bindings need them."""
KMS_API = "cloudkms.googleapis.com"
ARTIFACT_REGISTRY_API = "artifactregistry.googleapis.com"

MAX_NO_UPGRADE_EXCLUSION = timedelta(days=30)
"""GKE refuses a `NO_UPGRADES` maintenance exclusion longer than 30 days
(cloud.google.com/kubernetes-engine/docs/concepts/maintenance-windows-and-exclusions)."""


def required_apis(platform: GkePlatform) -> tuple[str, ...]:
    """Service Usage names of every API `pulumi up` calls in the experiment's project."""
    apis: list[str] = list(BASE_APIS)
    if platform.secrets_kms_key is not None:
        apis.append(KMS_API)
    if platform.docker_hub_mirror:
        apis.append(ARTIFACT_REGISTRY_API)
    return tuple(apis)


@dataclass(frozen=True)
class ExclusionWindow:
    start: str
    end: str


def upgrade_exclusion(started: str, ttl_hours: int) -> ExclusionWindow:
    """No GKE auto-upgrades from deploy to the experiment's expiry (capped at GKE's 30 days)."""
    start = parse_utc(started)
    end = start + min(timedelta(hours=ttl_hours), MAX_NO_UPGRADE_EXCLUSION)
    return ExclusionWindow(format_utc(start), format_utc(end))


# ------------------------------------------------------------------------------ quotas

CPU_QUOTA_BY_FAMILY = {
    "e2": "CPUS",
    "n1": "CPUS",
    "n2": "N2_CPUS",
    "n2d": "N2D_CPUS",
    "c2": "C2_CPUS",
    "c2d": "C2D_CPUS",
    "c3": "C3_CPUS",
    "c3d": "C3D_CPUS",
    "n4": "N4_CPUS",
}
"""Regional vCPU quota metric per machine family (Compute Engine "Allocation quotas": E2 and N1
count against CPUS, the newer families against their own <FAMILY>_CPUS)."""
PREEMPTIBLE_CPUS = "PREEMPTIBLE_CPUS"
"""Spot and preemptible VMs use it when the project has it (limit > 0), else the standard one."""
DISK_QUOTA_BY_TYPE = {
    "pd-standard": "DISKS_TOTAL_GB",
    "pd-balanced": "SSD_TOTAL_GB",
    "pd-ssd": "SSD_TOTAL_GB",
}
"""Regional disk quota metric per disk type (balanced PDs count against SSD_TOTAL_GB)."""
HYPERDISK_QUOTA = "HYPERDISK_BALANCED_TOTAL_GB"
IN_USE_ADDRESSES = "IN_USE_ADDRESSES"


WORKER_SERVERS = "snark worker servers"


@dataclass(frozen=True)
class Machines:
    """`count` machines of one type, as one request against the quotas."""

    role: str
    machine_type: str
    count: int
    spot: bool
    disk_type: str
    disk_gb: int


def machines(config: ExperimentConfig, platform: GkePlatform) -> list[Machines]:
    """Every VM `pulumi up` creates: the two node pools and the snark worker servers."""
    pools = platform.pools
    result = [
        Machines(
            "mina node pool",
            pools.mina.machine_type,
            mina_pool_size(config, platform),
            pools.mina.spot,
            "pd-balanced",
            pools.mina.disk_gb,
        ),
        Machines(
            "services node pool",
            pools.services.machine_type,
            services_pool_size(config, platform),
            pools.services.spot,
            "pd-balanced",
            pools.services.disk_gb,
        ),
    ]
    workers = config.worker_pool
    if workers.servers and config.nodes.snark_coordinators:
        result.append(
            Machines(
                WORKER_SERVERS,
                workers.machine_type,
                workers.servers,
                workers.spot,
                boot_disk_type(workers.machine_type),
                workers.disk_gb,
            )
        )
    return result


def cpu_quota_metric(machine_type: str, *, spot: bool, preemptible_quota: bool) -> str:
    if spot and preemptible_quota:
        return PREEMPTIBLE_CPUS
    family = machine_type.split("-", 1)[0]
    return CPU_QUOTA_BY_FAMILY.get(family, f"{family.upper()}_CPUS")


def quota_demand(
    config: ExperimentConfig, platform: GkePlatform, *, preemptible_quota: bool
) -> dict[str, float]:
    """What the render asks of each regional quota metric (vCPUs, disk GB, in-use addresses)."""
    demand: dict[str, float] = {}

    def add(metric: str, amount: float) -> None:
        demand[metric] = demand.get(metric, 0.0) + amount

    for group in machines(config, platform):
        shape = machine_shape(group.machine_type)
        metric = cpu_quota_metric(
            group.machine_type, spot=group.spot, preemptible_quota=preemptible_quota
        )
        add(metric, shape.vcpus * group.count)
        add(DISK_QUOTA_BY_TYPE.get(group.disk_type, HYPERDISK_QUOTA), group.disk_gb * group.count)
    if config.postgres.existing_disk is None:
        add(DISK_QUOTA_BY_TYPE[config.postgres.disk_type], config.postgres.disk_gb)
    # The claims' disks come out of the same regional quota when they are provisioned.
    for volume in claimed_volumes(config):
        add(DISK_QUOTA_BY_TYPE[volume.disk_type], volume.size_gb * volume.count)
    # One Cloud NAT address (AUTO_ONLY allocates one to start) plus the external load
    # balancers' forwarding rules.
    add(IN_USE_ADDRESSES, 1 + external_load_balancers(config))
    return demand


# ------------------------------------------------------------------------------ cost

DEFAULT_CLASS_DISK = "pd-balanced"
"""GKE's default StorageClass (`standard-rwo`) provisions pd-balanced disks."""
GKE_NOT_COUNTED = "list prices, approximate; not counted: Cloud NAT, network egress, logging"
EXISTING_CLUSTER = "an existing cluster: nothing this stack creates is billed by it"


def external_load_balancers(config: ExperimentConfig) -> int:
    """LoadBalancer Services with an external address: PostgreSQL's, for `postgres_cidrs`
    (components/postgres.py)."""
    return 1 if config.postgres_cidrs else 0


def internal_load_balancers(config: ExperimentConfig) -> int:
    """Internal LoadBalancer Services on GKE: the first snark coordinator's, which the worker
    VMs dial (components/mina_network.py `_workers_service`)."""
    return 1 if config.nodes.snark_coordinators else 0


def claimed_volumes(config: ExperimentConfig) -> list[DiskLine]:
    """Disks the default storage class provisions for the claims: each daemon's chain data, the
    orchestrator's workspace, each log fetcher shard's output (PostgreSQL has its own Disk)."""
    gib = 1024**3

    def size(quantity: str) -> float:
        return memory_bytes(quantity) / gib

    shards = services.fetcher_shards(range(config.nodes.total))
    hours = config.metadata.ttl_hours
    return [
        DiskLine(DEFAULT_CLASS_DISK, size(daemon.DATA_VOLUME_SIZE), config.nodes.total),
        DiskLine(DEFAULT_CLASS_DISK, size(ORCHESTRATOR_WORK_VOLUME)),
        *(
            DiskLine(DEFAULT_CLASS_DISK, size(services.fetcher_output_volume(len(shard), hours)))
            for shard in shards
        ),
    ]


def experiment_cost(config: ExperimentConfig) -> CostEstimate:
    """What the stack is billed for per hour at list prices: the one estimate that the
    `estimatedHourlyCostUsd` output, `scripts.render`'s summary and `--json` all show.

    Counts every VM (node pools, worker VMs) with its boot disk, every disk the claims and
    PostgreSQL get, one forwarding rule per load balancer, and GKE's cluster fee. On the
    `kubernetes` platform the cluster is someone else's, so nothing is counted. Raises
    MissingPriceError when the price table lacks a price.
    """
    platform = config.platform
    if not isinstance(platform, GkePlatform):
        return replace(estimate_hourly_cost([], [], gke_cluster=False), note=EXISTING_CLUSTER)
    groups = machines(config, platform)
    vms = [
        MachineLine(
            group.machine_type,
            group.count,
            group.spot,
            "worker VMs" if group.role == WORKER_SERVERS else "cluster pools",
        )
        for group in groups
    ]
    disks = [DiskLine(group.disk_type, group.disk_gb, group.count) for group in groups]
    if config.postgres.existing_disk is None:
        disks.append(DiskLine(config.postgres.disk_type, config.postgres.disk_gb))
    disks += claimed_volumes(config)
    rules = external_load_balancers(config) + internal_load_balancers(config)
    estimate = estimate_hourly_cost(vms, disks, gke_cluster=True, forwarding_rules=rules)
    mirror = ", Artifact Registry storage" if platform.docker_hub_mirror else ""
    return replace(estimate, note=GKE_NOT_COUNTED + mirror)


def cost_or_reason(config: ExperimentConfig) -> CostEstimate | MissingPriceError:
    """`experiment_cost`, or the missing price that stops it (for the render summary)."""
    try:
        return experiment_cost(config)
    except MissingPriceError as error:
        return error


def estimated_hourly_cost(config: ExperimentConfig, warn: Callable[[str], None]) -> float | None:
    """The stack output: `experiment_cost` to the cent; None when the price table lacks a
    price, which `warn` is told (a missing estimate must not stop a deploy)."""
    estimate = cost_or_reason(config)
    if isinstance(estimate, MissingPriceError):
        warn(f"estimatedHourlyCostUsd is not set: {estimate}")
        return None
    return estimate.usd_per_hour


# ------------------------------------------------------------------------------ images

DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


def docker_hub_repository_id(experiment: str) -> str:
    return f"itn-{experiment}-docker-hub"


def docker_hub_registry(platform: GkePlatform, experiment: str) -> str:
    """Where the remote repository serves Docker Hub: `<region>-docker.pkg.dev/<project>/<id>`."""
    repository = docker_hub_repository_id(experiment)
    return f"{platform.region}-docker.pkg.dev/{platform.project}/{repository}"


def is_docker_hub(image: str) -> bool:
    """Whether an image reference is pulled from Docker Hub.

    Docker's reference rules: the first path component is a registry host only if it has a '.'
    or ':' or is `localhost`; otherwise the image is on Docker Hub (distribution/reference
    normalize.go).
    """
    first, _, rest = image.partition("/")
    if rest and first in DOCKER_HUB_HOSTS:
        return True
    return not (rest and ("." in first or ":" in first or first == "localhost"))


def through_mirror(image: str, registry: str) -> str:
    """A Docker Hub reference rewritten to the remote repository; others unchanged.

    A one-component name is an official image under `library/` (distribution/reference
    normalize.go); a remote repository serves Docker Hub paths as they are, `library/` included.
    """
    if not is_docker_hub(image):
        return image
    first, _, rest = image.partition("/")
    if rest and first in DOCKER_HUB_HOSTS:
        image = rest
    if "/" not in image.split("@", 1)[0].split(":", 1)[0]:
        image = f"library/{image}"
    return f"{registry}/{image}"


def with_docker_hub_mirror(config: ExperimentConfig) -> ExperimentConfig:
    """The config with every Docker Hub image pulled through the experiment's remote repository
    (only on `gke` with `platform.dockerHubMirror: true`)."""
    platform = config.platform
    if not isinstance(platform, GkePlatform) or not platform.docker_hub_mirror:
        return config
    registry = docker_hub_registry(platform, config.name)
    images = {
        field: through_mirror(getattr(config.images, field), registry)
        for field in type(config.images).model_fields
    }
    return config.model_copy(update={"images": config.images.model_copy(update=images)})
