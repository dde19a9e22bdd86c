"""Every rendered pod lands on a node of its pool (issue 22 §1).

The pods are read from the rendered Kubernetes objects (container requests, init containers,
sidecars, replicas, the `mina-itn/pool` selector); the pools from the rendered NodePools (node
count, machine type). They are packed here, first-fit-decreasing, by a packer of this test's
own, onto nodes offering GKE's allocatable less its DaemonSets (minaperf/model/gke_nodes.py, the
published formula), together with GKE's cluster add-ons, which may land on any pool. Nothing of
minaperf/model/sizing.py or minaperf/model/pods.py is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minaperf.model.gke_nodes import CLUSTER_ADDONS, schedulable
from minaperf.plan.preview import gke_pool_inputs
from tests.conftest import ROOT, Rendered, render

POOL_LABEL = "mina-itn/pool"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}

Pair = tuple[int, int]  # (CPU millicores, memory bytes)


def cpu(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else round(float(quantity) * 1000)


def memory(quantity: str) -> int:
    for unit in sorted(UNITS, key=len, reverse=True):
        if quantity.endswith(unit):
            return round(float(quantity[: -len(unit)]) * UNITS[unit])
    return int(quantity)


def container_request(container: Mapping[str, Any]) -> Pair:
    requests = (container.get("resources") or {}).get("requests") or {}
    return cpu(str(requests.get("cpu", "0"))), memory(str(requests.get("memory", "0")))


def pod_request(spec: Mapping[str, Any]) -> Pair:
    """The scheduler's request of a pod: KEP-753 "Resources calculation for scheduling"
    (kubernetes/kubernetes component-helpers/resource/helpers.go): app containers plus
    sidecars, or an init container plus the sidecars before it, whichever is more."""
    app = [container_request(c) for c in spec.get("containers") or []]
    cpu_sum, mem_sum = sum(c for c, _ in app), sum(m for _, m in app)
    side_cpu = side_mem = peak_cpu = peak_mem = 0
    for init in spec.get("initContainers") or []:
        c, m = container_request(init)
        if init.get("restartPolicy") == "Always":
            side_cpu, side_mem = side_cpu + c, side_mem + m
            cpu_sum, mem_sum = cpu_sum + c, mem_sum + m
            peak_cpu, peak_mem = max(peak_cpu, side_cpu), max(peak_mem, side_mem)
        else:
            peak_cpu, peak_mem = max(peak_cpu, c + side_cpu), max(peak_mem, m + side_mem)
    assert spec.get("overhead") is None  # no RuntimeClass overhead to add
    assert spec.get("resources") is None  # no pod-level resources
    return max(cpu_sum, peak_cpu), max(mem_sum, peak_mem)


def pool_of(spec: Mapping[str, Any]) -> str | None:
    return (spec.get("nodeSelector") or {}).get(POOL_LABEL)


def rendered_pods(rendered: Rendered) -> dict[str | None, list[tuple[str, Pair]]]:
    pods: dict[str | None, list[tuple[str, Pair]]] = {}
    for record in rendered.resources:
        kind = str(record["type"])
        if kind.startswith("kubernetes:batch/") or kind == "kubernetes:core/v1:Pod":
            pytest.fail(f"{record['name']}: a {kind} is not counted by this test")
        if kind not in {"kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment"}:
            assert kind != "kubernetes:apps/v1:DaemonSet"
            continue
        spec = record["inputs"]["spec"]
        pod_spec = spec["template"]["spec"]
        name = record["inputs"]["metadata"]["name"]
        for replica in range(int(spec.get("replicas", 1))):
            pods.setdefault(pool_of(pod_spec), []).append(
                (f"{name}/{replica}", pod_request(pod_spec))
            )
    return pods


def first_fit_decreasing(items: list[tuple[str, Pair]], room: Pair, nodes: int) -> list[str]:
    """Pods that find no node: largest share of a node first, each onto the first node with
    room left."""
    free = [list(room) for _ in range(nodes)]
    order = sorted(items, key=lambda i: (-max(i[1][0] / room[0], i[1][1] / room[1]), i[0]))
    unplaced = []
    for name, (c, m) in order:
        for node in free:
            if c <= node[0] and m <= node[1]:
                node[0] -= c
                node[1] -= m
                break
        else:
            unplaced.append(name)
    return unplaced


def assert_every_pod_lands(rendered: Rendered) -> dict[str, int]:
    pods = rendered_pods(rendered)
    pools = gke_pool_inputs(rendered.resources)
    assert pools, "a GKE render has node pools"
    assert None not in pods, f"pods pinned to no pool: {pods.get(None)}"
    addons = [
        (f"{addon.name}/{i}", (addon.requests.cpu_millis, addon.requests.memory_bytes))
        for addon in CLUSTER_ADDONS
        for i in range(addon.replicas)
    ]
    counts = {}
    for inputs in pools:
        label = inputs["nodeConfig"]["labels"][POOL_LABEL]
        room = schedulable(inputs["nodeConfig"]["machineType"])
        items = pods.pop(label, []) + addons
        unplaced = first_fit_decreasing(
            items, (room.cpu_millis, room.memory_bytes), int(inputs["nodeCount"])
        )
        assert unplaced == [], f"pool {label}: no node for {unplaced}"
        counts[label] = int(inputs["nodeCount"])
    assert pods == {}, f"pods pinned to pools that do not exist: {list(pods)}"
    return counts


def test_dev_packs_onto_four_mina_nodes() -> None:
    """The dev stack: 10 daemons at 4 CPU / 16 GiB take 3 per n2-standard-16 node."""
    counts = assert_every_pod_lands(render("dev"))
    assert counts == {"mina": 4, "services": 1}


def test_large_200_packs() -> None:
    counts = assert_every_pod_lands(render(config_file=ROOT / "stacks" / "large-200.yaml"))
    # n2-standard-32: 7 daemons a node (31.4 CPU for pods), 200 daemons -> 29 nodes.
    assert counts["mina"] == 29


def test_the_kind_stack_has_no_pools_to_pack() -> None:
    rendered = render(config_file=ROOT / "stacks" / "kind.yaml")
    assert gke_pool_inputs(rendered.resources) == []


MACHINES = ["n2-standard-8", "n2-standard-16", "n2-highmem-8", "n2d-standard-32", "c2d-highmem-16"]


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seeds=st.integers(1, 3),
    producers=st.integers(1, 12),
    plain=st.integers(0, 30),
    coordinator=st.booleans(),
    mina_machine=st.sampled_from(MACHINES),
    services_machine=st.sampled_from(MACHINES),
    proof=st.sampled_from(["full", "none"]),
)
def test_generated_topologies_pack(
    seeds: int,
    producers: int,
    plain: int,
    coordinator: bool,
    mina_machine: str,
    services_machine: str,
    proof: str,
) -> None:
    """A few real renders per run (each takes seconds); the pure sizing is exercised over the
    whole range by tests/minaperf/model/test_sizing.py."""
    rendered = render(
        "dev",
        overrides=[
            f"nodes.seeds={seeds}",
            f"nodes.blockProducers={producers}",
            f"nodes.plainNodes={plain}",
            f"nodes.snarkCoordinators={int(coordinator)}",
            f"workerPool.servers={2 if coordinator else 0}",
            f"network.proofLevel={proof}",
            f"platform.pools.mina.machineType={mina_machine}",
            f"platform.pools.services.machineType={services_machine}",
        ],
    )
    assert_every_pod_lands(rendered)
