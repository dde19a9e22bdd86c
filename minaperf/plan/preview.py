"""What a stack would create, for a person: the summary `scripts.render` prints.

Everything here reads the records `scripts.render` writes to `resources.json` (wire names,
camelCase inputs) and the stack outputs, so a summary can be computed from a render directory
without running the program again. The cost is the one estimate the `estimatedHourlyCostUsd`
output shows (`minaperf.cloud.gcp_project.experiment_cost`), itemized.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minaperf.model.config import cpu_millis, memory_bytes
from minaperf.model.cost import CostEstimate, CostLine, MissingPriceError
from minaperf.model.gke_nodes import Requests
from minaperf.model.pods import InitContainer, Pod
from minaperf.model.sizing import pack, pool_items

Record = Mapping[str, Any]

POOL_LABEL = "mina-itn/pool"
INTERNAL_LB_ANNOTATION = "networking.gke.io/load-balancer-type"
GKE_DEFAULT_DISK = "pd-balanced"
"""GKE's default StorageClass (`standard-rwo`) provisions pd-balanced disks."""
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet")


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    replicas: int


def _kind(record: Record) -> str:
    return str(record["type"]).rsplit(":", 1)[-1]


def _metadata(record: Record) -> Mapping[str, Any]:
    return record["inputs"].get("metadata") or {}


def _short_type(type_: str) -> str:
    if type_.startswith("pulumi:providers:"):
        return f"{type_.rsplit(':', 1)[-1]} provider"
    if type_ == "pulumi-python:dynamic:Resource":
        return "dynamic resource"
    return type_.rsplit(":", 1)[-1]


# ---------------------------------------------------------------------------------------------
# The component tree


def component_tree(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Components (non-custom resources) nested by parent, each with the number of resources
    below it and the custom resources it owns directly, counted by type."""
    by_urn = {record["urn"]: record for record in records}
    children: dict[str | None, list[Record]] = defaultdict(list)
    for record in records:
        parent = record.get("parent")
        children[parent if parent in by_urn else None].append(record)

    def node(record: Record) -> dict[str, Any]:
        kids = children.get(record["urn"], [])
        components = [node(kid) for kid in kids if not kid["custom"]]
        direct: dict[str, int] = defaultdict(int)
        for kid in kids:
            if kid["custom"]:
                direct[_short_type(kid["type"])] += 1
        total = sum(direct.values()) + sum(c["resources"] + 1 for c in components)
        return {
            "name": record["name"],
            "type": record["type"],
            "resources": total,
            "owns": dict(sorted(direct.items())),
            "children": components,
        }

    roots = children.get(None, [])
    tree = [node(root) for root in roots if not root["custom"]]
    loose: dict[str, int] = defaultdict(int)
    for root in roots:
        if root["custom"]:
            loose[_short_type(root["type"])] += 1
    if loose:
        tree.append(
            {
                "name": "(stack)",
                "type": "pulumi:pulumi:Stack",
                "resources": sum(loose.values()),
                "owns": dict(sorted(loose.items())),
                "children": [],
            }
        )
    return tree


# ---------------------------------------------------------------------------------------------
# Pools, workloads, worker VMs


def _pod_spec(record: Record) -> Mapping[str, Any]:
    return ((record["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}


def _workload_pool(record: Record) -> str | None:
    """The node pool a workload's pods are pinned to (nodeSelector or required affinity)."""
    spec = _pod_spec(record)
    selected = (spec.get("nodeSelector") or {}).get(POOL_LABEL)
    if selected:
        return str(selected)
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for term in required:
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == POOL_LABEL and expression.get("operator") == "In":
                return ",".join(expression.get("values") or [])
    return None


def _requests(container: Mapping[str, Any]) -> Requests:
    wanted = (container.get("resources") or {}).get("requests") or {}
    return Requests(
        cpu_millis(str(wanted.get("cpu", "0"))), memory_bytes(str(wanted.get("memory", "0")))
    )


def _pods(record: Record, name: str, replicas: int) -> list[Pod]:
    """The workload's pods as the scheduler sees them (container requests, sidecars marked)."""
    spec = _pod_spec(record)
    containers = tuple(_requests(c) for c in spec.get("containers") or [])
    init = tuple(
        InitContainer(_requests(c), restartable=c.get("restartPolicy") == "Always")
        for c in spec.get("initContainers") or []
    )
    names = [name] if replicas == 1 else [f"{name}-{i}" for i in range(replicas)]
    return [Pod(pod, containers, init) for pod in names]


def _packing(machine_type: Any, pods: list[Pod], count: int) -> dict[str, Any]:
    """How the pool's pods (and GKE's add-ons) pack onto its nodes: our pods per node and the
    least CPU and memory left on any node (minaperf.model.sizing, docs/sizing.md)."""
    try:
        packing = pack(pool_items(pods), str(machine_type))
    except ValueError as error:  # PodTooLargeError, or a machine type the table lacks
        return {"error": str(error)}
    ours = {pod.name for pod in pods}
    per_node = [sum(1 for item in node if item.name in ours) for node in packing.nodes]
    per_node += [0] * max(0, count - len(per_node))
    headroom = packing.least_headroom()
    return {
        "nodesNeeded": len(packing.nodes),
        "podsPerNode": per_node,
        "perNodeForPods": _amount(packing.room),
        "leastHeadroom": _amount(headroom),
    }


def _amount(requests: Requests) -> dict[str, float]:
    return {
        "cpu": requests.cpu_millis / 1000,
        "memoryGiB": round(requests.memory_bytes / 1024**3, 2),
    }


def pool_pods(records: Sequence[Record]) -> dict[str | None, list[Pod]]:
    """Every rendered pod by the pool it is pinned to."""
    found: dict[str | None, list[Pod]] = defaultdict(list)
    for record in records:
        if not str(record["type"]).startswith("kubernetes:apps/") or _kind(record) not in (
            WORKLOAD_KINDS
        ):
            continue
        replicas = int((record["inputs"].get("spec") or {}).get("replicas", 1))
        name = _metadata(record).get("name") or record["name"]
        found[_workload_pool(record)].extend(_pods(record, str(name), replicas))
    return found


def workloads(records: Sequence[Record]) -> dict[str | None, list[Workload]]:
    """Workloads by the pool they run on (None: no pool pinned)."""
    found: dict[str | None, list[Workload]] = defaultdict(list)
    for record in records:
        if not str(record["type"]).startswith("kubernetes:apps/") or _kind(record) not in (
            WORKLOAD_KINDS
        ):
            continue
        replicas = (record["inputs"].get("spec") or {}).get("replicas", 1)
        name = _metadata(record).get("name") or record["name"]
        found[_workload_pool(record)].append(Workload(_kind(record), name, int(replicas)))
    return {pool: sorted(items, key=lambda w: w.name) for pool, items in found.items()}


def gke_pool_inputs(records: Sequence[Record]) -> list[Mapping[str, Any]]:
    """Every GKE node pool's inputs: the program's pools are its clusters' own (`nodePools`)."""
    return [
        pool
        for record in records
        if record["type"] == "gcp:container/cluster:Cluster"
        for pool in record["inputs"].get("nodePools") or []
    ]


def node_pools(records: Sequence[Record]) -> list[dict[str, Any]]:
    running = workloads(records)
    pods = pool_pods(records)
    pools = []
    for inputs in gke_pool_inputs(records):
        node_config = inputs.get("nodeConfig") or {}
        label = (node_config.get("labels") or {}).get(POOL_LABEL, inputs.get("name"))
        count = int(inputs.get("nodeCount") or inputs.get("initialNodeCount") or 0)
        pools.append(
            {
                "name": inputs.get("name"),
                "machineType": node_config.get("machineType"),
                "count": count,
                "spot": bool(node_config.get("spot") or node_config.get("preemptible")),
                "diskGb": node_config.get("diskSizeGb"),
                "diskType": node_config.get("diskType") or GKE_DEFAULT_DISK,
                "runs": [
                    {"kind": w.kind, "name": w.name, "replicas": w.replicas}
                    for w in running.get(label, [])
                ],
                "packing": _packing(node_config.get("machineType"), pods.get(label, []), count),
            }
        )
    return sorted(pools, key=lambda pool: pool["name"])


def _spot(inputs: Mapping[str, Any]) -> bool:
    scheduling = inputs.get("scheduling") or {}
    return scheduling.get("provisioningModel") == "SPOT" or bool(scheduling.get("preemptible"))


GROUP_TYPE = "gcp:compute/instanceGroupManager:InstanceGroupManager"
TEMPLATE_TYPE = "gcp:compute/instanceTemplate:InstanceTemplate"


def instance_groups(records: Sequence[Record]) -> list[tuple[Record, Record]]:
    """Every managed instance group with the template it creates its VMs from."""
    # The worker pool component owns one template and the group built from it.
    templates = {
        record.get("parent"): record for record in records if record["type"] == TEMPLATE_TYPE
    }
    return [
        (record, templates[record.get("parent")])
        for record in records
        if record["type"] == GROUP_TYPE and record.get("parent") in templates
    ]


def worker_vms(records: Sequence[Record], outputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    pool = outputs.get("workerPool") or {}
    processes = pool.get("processesPerServer") if pool.get("kind") == "gce" else None
    vms = []
    for record in records:
        if record["type"] != "gcp:compute/instance:Instance":
            continue
        inputs = record["inputs"]
        boot = (inputs.get("bootDisk") or {}).get("initializeParams") or {}
        vms.append(
            {
                "name": inputs.get("name") or record["name"],
                "machineType": inputs.get("machineType"),
                "spot": _spot(inputs),
                "processes": processes,
                "bootDiskGb": boot.get("size"),
                "bootDiskType": boot.get("type") or "pd-standard",
            }
        )
    for group, template in instance_groups(records):
        inputs = template["inputs"]
        boot = next((d for d in inputs.get("disks") or [] if d.get("boot")), {})
        size = int(group["inputs"].get("targetSize") or 0)
        # GCE names group members `<baseInstanceName>-<4 random characters>` when it creates them.
        name = group["inputs"].get("name") or group["name"]
        vms.extend(
            {
                "name": f"{name} VM {index}/{size}",
                "machineType": inputs.get("machineType"),
                "spot": _spot(inputs),
                "processes": processes,
                "bootDiskGb": boot.get("diskSizeGb"),
                "bootDiskType": boot.get("diskType") or "pd-standard",
            }
            for index in range(1, size + 1)
        )
    return sorted(vms, key=lambda vm: vm["name"])


# ---------------------------------------------------------------------------------------------
# Endpoints


def _ports(spec: Mapping[str, Any]) -> list[str]:
    return [f"{port.get('port')}/{port.get('protocol', 'TCP')}" for port in spec.get("ports") or []]


def endpoints(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Everything reachable from outside the cluster network, and from where."""
    found = []
    for record in records:
        inputs = record["inputs"]
        if record["type"] == "kubernetes:core/v1:Service":
            spec = inputs.get("spec") or {}
            if spec.get("type") not in {"LoadBalancer", "NodePort"}:
                continue
            metadata = _metadata(record)
            where = f"{metadata.get('namespace', 'default')}/{metadata.get('name')}"
            internal = (metadata.get("annotations") or {}).get(INTERNAL_LB_ANNOTATION) == "Internal"
            sources = list(spec.get("loadBalancerSourceRanges") or []) or ["0.0.0.0/0"]
            found.append(
                {
                    "name": f"service/{where}",
                    "kind": f"{spec['type']} ({'internal' if internal else 'external'})",
                    "public": not internal,
                    "ports": _ports(spec),
                    "reachableFrom": sources,
                }
            )
        elif record["type"] == "gcp:container/cluster:Cluster":
            private = inputs.get("privateClusterConfig") or {}
            blocks = (inputs.get("masterAuthorizedNetworksConfig") or {}).get("cidrBlocks")
            sources = [block.get("cidrBlock") for block in blocks or []]
            found.append(
                {
                    "name": f"cluster/{inputs.get('name')} API",
                    "kind": "GKE control plane"
                    + (" (private endpoint)" if private.get("enablePrivateEndpoint") else ""),
                    "public": not private.get("enablePrivateEndpoint"),
                    "ports": ["443/TCP"],
                    "reachableFrom": sources if blocks is not None else ["0.0.0.0/0"],
                }
            )
        elif record["type"] == "gcp:compute/firewall:Firewall":
            if inputs.get("direction", "INGRESS") != "INGRESS" or inputs.get("denies"):
                continue
            ports = [
                f"{port}/{allow.get('protocol', 'all').upper()}"
                for allow in inputs.get("allows") or []
                for port in allow.get("ports") or ["*"]
            ]
            found.append(
                {
                    "name": f"firewall/{inputs.get('name')}",
                    "kind": "VPC firewall to tags " + ",".join(inputs.get("targetTags") or ["*"]),
                    "public": True,
                    "ports": ports,
                    # GCP's default sourceRanges is everything when no source is given.
                    "reachableFrom": list(inputs.get("sourceRanges") or []) or ["0.0.0.0/0"],
                }
            )
    return sorted(found, key=lambda endpoint: endpoint["name"])


# ---------------------------------------------------------------------------------------------
# Cost


def _line(line: CostLine) -> dict[str, Any]:
    return {
        "item": line.item,
        "quantity": line.quantity,
        "usdPerHour": round(line.usd_per_hour, 4),
    }


def cost(estimate: CostEstimate | MissingPriceError, ttl_hours: float | None) -> dict[str, Any]:
    """The estimate by part (cluster pools, worker VMs, disks, load balancers, GKE fee), or why
    there is none."""
    if isinstance(estimate, MissingPriceError):
        return {"parts": [], "usdPerHour": None, "usdOverTtl": None, "error": str(estimate)}
    total = estimate.usd_per_hour
    return {
        "parts": [
            {
                "part": part,
                "lines": [_line(line) for line in lines],
                "usdPerHour": round(sum(line.usd_per_hour for line in lines), 4),
            }
            for part, lines in estimate.parts()
        ],
        "usdPerHour": total,
        "ttlHours": ttl_hours,
        "usdOverTtl": (
            round(estimate.total_usd_per_hour * ttl_hours, 2) if ttl_hours is not None else None
        ),
        "asOf": estimate.as_of,
        "region": estimate.region,
        "note": estimate.note,
    }


# ---------------------------------------------------------------------------------------------
# The whole summary


# ---------------------------------------------------------------------------------------------
# Image pulls through the NAT

DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR = 10
"""Per IPv4 address, unauthenticated (Docker Docs, "Docker Hub usage and limits")."""
POD_WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
)


@dataclass(frozen=True)
class HubPulls:
    """Docker Hub pulls a fresh deploy makes within its first hour, and what NAT allows."""

    nodes: int
    images: int
    """Distinct Docker Hub images the workloads run."""
    pulls: int
    """Sum over those images of the nodes that run one of its pods: each node pulls an image
    once; at most nodes x images."""
    nat_addresses: int

    @property
    def allowed(self) -> int:
        return DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR * self.nat_addresses


def docker_hub_pulls(records: Sequence[Record]) -> HubPulls | None:
    """The Docker Hub pulls of a GKE render through its Cloud NAT (None: no NAT, no node pools).

    An image's pods land on at most min(their replicas, the nodes of the pools they may use)
    nodes (a DaemonSet on all of them). An AUTO_ONLY Cloud NAT starts with one address and adds
    more only when its VMs need more ports than one address has; MANUAL_ONLY has its `natIps`.
    """
    from minaperf.cloud.gcp_project import is_docker_hub

    nats = [r for r in records if r["type"] == "gcp:compute/routerNat:RouterNat"]
    sizes: dict[str, int] = {}
    for inputs in gke_pool_inputs(records):
        label = ((inputs.get("nodeConfig") or {}).get("labels") or {}).get(POOL_LABEL)
        sizes[str(label or inputs.get("name"))] = int(
            inputs.get("nodeCount") or inputs.get("initialNodeCount") or 0
        )
    if not nats or not sizes:
        return None
    addresses = sum(
        len(nat["inputs"].get("natIps") or [])
        if nat["inputs"].get("natIpAllocateOption") == "MANUAL_ONLY"
        else 1
        for nat in nats
    )
    replicas: dict[str, int] = defaultdict(int)
    pools: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record["type"] not in POD_WORKLOAD_TYPES:
            continue
        spec = _pod_spec(record)
        pinned = _workload_pool(record)
        eligible = set(pinned.split(",")) & set(sizes) if pinned else set(sizes)
        count = (
            sum(sizes[p] for p in eligible)
            if _kind(record) == "DaemonSet"
            else int((record["inputs"].get("spec") or {}).get("replicas", 1))
        )
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for image in {str(c.get("image")) for c in containers if c.get("image")}:
            if is_docker_hub(image):
                replicas[image] += count
                pools[image] |= eligible
    pulls = sum(min(replicas[image], sum(sizes[p] for p in pools[image])) for image in replicas)
    return HubPulls(sum(sizes.values()), len(replicas), pulls, addresses)


def docker_hub_warning(records: Sequence[Record]) -> str | None:
    """A warning when a deploy's Docker Hub pulls exceed the anonymous limit of its NAT."""
    estimate = docker_hub_pulls(records)
    if estimate is None or estimate.pulls <= estimate.allowed:
        return None
    return (
        f"warning: {estimate.nodes} nodes pull {estimate.images} Docker Hub images: about "
        f"{estimate.pulls} pulls in the first hour through {estimate.nat_addresses} Cloud NAT "
        f"address(es), over Docker Hub's {DOCKER_HUB_ANONYMOUS_PULLS_PER_HOUR} anonymous "
        "pulls per hour per IPv4 address (pods then fail with ImagePullBackOff); set "
        "platform.dockerHubMirror: true"
    )


def summarize(
    records: Sequence[Record],
    outputs: Mapping[str, Any],
    *,
    estimate: CostEstimate | MissingPriceError,
    ttl_hours: float | None,
    mock_values: Sequence[str] = (),
) -> dict[str, Any]:
    running = workloads(records)
    return {
        "stack": outputs.get("experiment"),
        "platform": outputs.get("platform"),
        "resources": sum(1 for record in records if record["custom"]),
        "components": component_tree(records),
        "pools": node_pools(records),
        "unpinnedWorkloads": [
            {"kind": w.kind, "name": w.name, "replicas": w.replicas} for w in running.get(None, [])
        ],
        "workerVms": worker_vms(records, outputs),
        "endpoints": endpoints(records),
        "cost": cost(estimate, ttl_hours),
        "genesisTimestamp": outputs.get("genesisTimestamp"),
        "expiresAt": outputs.get("expiresAt"),
        "mockValues": list(mock_values),
    }


def _count_components(nodes: list[dict[str, Any]]) -> int:
    return sum(
        (0 if node["type"] == "pulumi:pulumi:Stack" else 1) + _count_components(node["children"])
        for node in nodes
    )


def _money(value: float) -> str:
    return f"${value:,.2f}"


def format_summary(summary: Mapping[str, Any]) -> str:
    components = _count_components(summary["components"])
    lines = [
        f"stack {summary['stack']!r} on {summary['platform']}: "
        f"{summary['resources'] + components} resources "
        f"({summary['resources']} cloud and cluster objects, {components} components)",
        "",
        "components (resources below each):",
    ]

    def tree(nodes: list[dict[str, Any]], depth: int) -> None:
        for item in nodes:
            owns = ", ".join(f"{count} {kind}" for kind, count in item["owns"].items())
            lines.append(
                f"{'  ' * depth}  {item['name']} ({_short_type(item['type'])}): "
                f"{item['resources']}" + (f"  [{owns}]" if owns else "")
            )
            tree(item["children"], depth + 1)

    tree(summary["components"], 0)

    def runs(items: list[dict[str, Any]]) -> str:
        """Pods by workload family (`node-1` … `node-200` count as `node`)."""
        families: dict[str, int] = {}
        for workload in items:
            family = re.sub(r"-\d+$", "", workload["name"])
            families[family] = families.get(family, 0) + workload["replicas"]
        return ", ".join(f"{count} {name}" for name, count in families.items()) or "nothing"

    if summary["pools"]:
        lines += ["", "node pools:"]
        for pool in summary["pools"]:
            lines.append(
                f"  {pool['name']}: {pool['count']} x {pool['machineType']}"
                f" ({'spot' if pool['spot'] else 'on-demand'}, {pool['diskGb']} GB "
                f"{pool['diskType']}) runs {runs(pool['runs'])}"
            )
            lines.append(f"    {_packing_line(pool['packing'], pool['count'])}")
    if summary["unpinnedWorkloads"]:
        lines += ["", "workloads on any node:", f"  {runs(summary['unpinnedWorkloads'])}"]
    if summary["workerVms"]:
        lines += ["", "worker VMs:"]
        for vm in summary["workerVms"]:
            processes = f", {vm['processes']} snark worker processes" if vm["processes"] else ""
            lines.append(
                f"  {vm['name']}: {vm['machineType']} "
                f"({'spot' if vm['spot'] else 'on-demand'}{processes})"
            )
    lines += ["", "reachable from outside the cluster:"]
    for endpoint in summary["endpoints"] or []:
        lines.append(
            f"  {endpoint['name']} {'/'.join(endpoint['ports'])} [{endpoint['kind']}] "
            f"from {', '.join(endpoint['reachableFrom']) or 'nobody'}"
        )
    if not summary["endpoints"]:
        lines.append("  nothing")
    money = summary["cost"]
    if money["usdPerHour"] is None:
        lines += ["", f"cost: not estimated: {money['error']}"]
    else:
        lines += _cost_lines(money)
    mock = set(summary["mockValues"])
    lines += [
        "",
        f"genesis: {summary['genesisTimestamp']}"
        + (" (mock clock)" if "genesisTimestamp" in mock else ""),
        f"expires: {summary['expiresAt']}" + (" (mock clock)" if "expiresAt" in mock else ""),
    ]
    return "\n".join(lines) + "\n"


def _packing_line(packing: Mapping[str, Any], count: int) -> str:
    if "error" in packing:
        return f"packing: {packing['error']}"
    room, left = packing["perNodeForPods"], packing["leastHeadroom"]
    line = (
        f"pods per node: {', '.join(str(n) for n in packing['podsPerNode'])}; "
        f"room for pods {room['cpu']:g} CPU / {room['memoryGiB']:g} GiB per node, "
        f"least left {left['cpu']:g} CPU / {left['memoryGiB']:g} GiB (GKE add-ons counted)"
    )
    if packing["nodesNeeded"] > count:
        line += f"; NEEDS {packing['nodesNeeded']} nodes"
    return line


def _cost_lines(money: Mapping[str, Any]) -> list[str]:
    lines = ["", f"cost (list prices {money['region']}, {money['asOf']}):"]
    for part in money["parts"]:
        lines.append(f"  {part['part']}: {_money(part['usdPerHour'])}/hour")
        for line in part["lines"]:
            lines.append(
                f"    {line['quantity']:g} x {line['item']}: {_money(line['usdPerHour'])}/hour"
            )
    over = (
        f", {_money(money['usdOverTtl'])} over the {money['ttlHours']:g} h TTL"
        if money["usdOverTtl"] is not None
        else ""
    )
    lines.append(f"  total: {_money(money['usdPerHour'])}/hour{over}")
    lines.append(f"  ({money['note']})")
    return lines
