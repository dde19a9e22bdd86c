"""Every pod the program schedules on a GKE node pool, with its containers' requests.

The one home of the small containers' resources: the components import them from here, and
`minaperf.model.sizing` packs these pods onto nodes before anything is rendered. A pod's request is
computed as the scheduler computes it (`pod_requests`).
"""

from __future__ import annotations

from dataclasses import dataclass

from minaperf.model.config import ExperimentConfig, Resources, cpu_millis, memory_bytes, node_names
from minaperf.model.gke_nodes import Requests
from minaperf.workloads.services import fetcher_resources, fetcher_shards

ResourceDict = dict[str, dict[str, str]]
"""Kubernetes `resources` of a container: {"requests": {...}, "limits": {...}}."""


def _container(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> ResourceDict:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


DAEMON_INIT_RESOURCES = Resources(
    cpuRequest="50m", memoryRequest="32Mi", cpuLimit="200m", memoryLimit="64Mi"
)
"""The daemon's `install-keys` init container."""
POSTGRES_INIT_RESOURCES = _container("50m", "32Mi", "500m", "128Mi")
"""PostgreSQL's `fetch-schema` init container."""
FETCHER_ROW_RESOURCES = _container("50m", "64Mi", "500m", "256Mi")
"""A fetcher shard's two init containers (`deployment-row`, `reader-role`)."""
FETCHER_QUOTA_RESOURCES = _container("20m", "32Mi", "500m", "128Mi")
FETCHER_NODE_LIST_RESOURCES = _container("10m", "16Mi", "100m", "64Mi")
LOG_API_RESOURCES = _container("250m", "512Mi", "2", "2Gi")
UPTIME_RESOURCES = _container("100m", "128Mi", "1", "512Mi")
ORCHESTRATOR_CPU = "4"
ORCHESTRATOR_MEMORY = "8Gi"
"""The orchestrator workspace: ~4 CPU in the seed issue."""
ORCHESTRATOR_RESOURCES = _container(
    ORCHESTRATOR_CPU, ORCHESTRATOR_MEMORY, ORCHESTRATOR_CPU, ORCHESTRATOR_MEMORY
)
ORCHESTRATOR_INIT_RESOURCES = _container("100m", "64Mi", "500m", "256Mi")
"""The workspace's two init containers (`install-binaries`, `install-funding-keys`)."""


def requests_of(resources: ResourceDict | Resources) -> Requests:
    if isinstance(resources, Resources):
        return Requests(cpu_millis(resources.cpu_request), memory_bytes(resources.memory_request))
    wanted = resources.get("requests") or {}
    return Requests(cpu_millis(wanted.get("cpu", "0")), memory_bytes(wanted.get("memory", "0")))


@dataclass(frozen=True)
class InitContainer:
    requests: Requests
    restartable: bool = False
    """restartPolicy: Always, a sidecar: it keeps running beside the app containers."""


@dataclass(frozen=True)
class Pod:
    name: str
    containers: tuple[Requests, ...]
    init_containers: tuple[InitContainer, ...] = ()


def pod_requests(pod: Pod) -> Requests:
    """What the scheduler reserves for `pod`: the app containers' sum plus the sidecars', or the
    largest init container with the sidecars started before it, whichever is larger (per
    resource). kubernetes/kubernetes@0085214 staging/src/k8s.io/component-helpers/resource/
    helpers.go, aggregateContainerResourcesByFn (used by PodRequests, which the scheduler's
    NodeResourcesFit calls); no pod overhead (no RuntimeClass)."""
    total = Requests(0, 0)
    for container in pod.containers:
        total = total + container
    sidecars = Requests(0, 0)
    init_peak = Requests(0, 0)
    for init in pod.init_containers:
        if init.restartable:
            total = total + init.requests
            sidecars = sidecars + init.requests
            init_peak = init_peak.larger(sidecars)
        else:
            init_peak = init_peak.larger(init.requests + sidecars)
    return total.larger(init_peak)


def _daemon_pods(config: ExperimentConfig) -> list[Pod]:
    per_role = {
        "seed": config.resources.seed,
        "block-producer": config.resources.block_producer,
        "plain": config.resources.plain,
        "snark-coordinator": config.resources.snark_coordinator,
    }
    init = InitContainer(requests_of(DAEMON_INIT_RESOURCES))
    return [
        Pod(name, (requests_of(per_role[role]),), (init,))
        for name, role in node_names(config.nodes)
    ]


def _service_pods(config: ExperimentConfig) -> list[Pod]:
    row = InitContainer(requests_of(FETCHER_ROW_RESOURCES))
    sidecars = (requests_of(FETCHER_NODE_LIST_RESOURCES), requests_of(FETCHER_QUOTA_RESOURCES))
    fetchers = [
        Pod(
            f"log-fetcher-{index}",
            (requests_of(fetcher_resources(len(shard))), *sidecars),
            (row, row),
        )
        for index, shard in enumerate(fetcher_shards(range(config.nodes.total)), start=1)
    ]
    orchestrator_init = InitContainer(requests_of(ORCHESTRATOR_INIT_RESOURCES))
    return [
        Pod(
            "postgres",
            (requests_of(config.postgres.resources),),
            (InitContainer(requests_of(POSTGRES_INIT_RESOURCES)),),
        ),
        Pod(
            "orchestrator",
            (requests_of(ORCHESTRATOR_RESOURCES),),
            (orchestrator_init, orchestrator_init),
        ),
        Pod("log-api", (requests_of(LOG_API_RESOURCES),)),
        Pod("uptime-backend", (requests_of(UPTIME_RESOURCES),)),
        *fetchers,
    ]


def pool_pods(config: ExperimentConfig) -> dict[str, list[Pod]]:
    """Our pods by the GKE node pool they are pinned to (`mina-itn/pool`)."""
    return {"mina": _daemon_pods(config), "services": _service_pods(config)}
