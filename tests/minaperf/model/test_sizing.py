"""Node pools sized by packing whole pods onto GKE nodes (minaperf/model/sizing.py,
gke_nodes.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from minaperf.model.config import MAX_MINA_NODES, ConfigError, GkePlatform
from minaperf.model.gke_nodes import (
    CLUSTER_ADDONS,
    GIB,
    MIB,
    SHARED_CORE,
    Requests,
    allocatable,
    capacity,
    reserved,
    schedulable,
)
from minaperf.model.load import parse_config
from minaperf.model.machines import known_machine_types, machine_shape
from minaperf.model.pods import InitContainer, Pod, pod_requests, pool_pods
from minaperf.model.sizing import mina_pool_size, pool_plans, services_pool_size
from tests.minaperf.model.test_pools_hold_rendered_pods import first_fit_decreasing

BASE: dict[str, Any] = {
    "platform": {"kind": "gke", "project": "my-project-123"},
    "access": {"adminCidrs": ["198.51.100.0/24"]},
}
KI = 1024


@pytest.mark.parametrize(
    ("machine_type", "allocatable_ki"),
    [
        # Reported by real nodes (gke_nodes.KERNEL_MEMORY_FRACTION names the sources).
        ("n2-standard-4", 13591652),
        ("n2-highmem-4", 29085928),
        ("n2-highmem-16", 122210676),
        ("n2-highmem-64", 510603916),
    ],
)
def test_allocatable_memory_never_exceeds_what_real_nodes_report(
    machine_type: str, allocatable_ki: int
) -> None:
    ours = allocatable(machine_type).memory_bytes
    assert ours <= allocatable_ki * KI
    # ... and not by much: the kernel's share is the only estimate in it.
    assert allocatable_ki * KI - ours < 1.2 * GIB


@pytest.mark.parametrize(
    ("machine_type", "capacity_ki"),
    [
        ("n2-standard-4", 16380004),
        ("n2-highmem-4", 32880872),
        ("n2-highmem-16", 131919220),
        ("n2-highmem-64", 528365196),
        ("n2d-standard-16", 65855012),
    ],
)
def test_capacity_never_exceeds_what_real_nodes_report(machine_type: str, capacity_ki: int) -> None:
    assert capacity(machine_type).memory_bytes <= capacity_ki * KI


@pytest.mark.parametrize(
    ("machine_type", "cpu_millis"),
    # allocatable CPU as GKE reports it (the same nodes, plus plan-node-sizes' formula).
    [("n2-standard-4", 3920), ("n2-highmem-16", 15890), ("n2-highmem-64", 63770)],
)
def test_allocatable_cpu_is_the_published_formula(machine_type: str, cpu_millis: int) -> None:
    assert allocatable(machine_type).cpu_millis == cpu_millis


def test_memory_tiers() -> None:
    # 64 GiB nominal: kernel 1.6 % + 200 MiB, then 25/20/10/6 % tiers of what is left.
    visible = 64 * GIB - (0.016 * 64 * GIB + 200 * MIB)
    tiers = 0.25 * 4 + 0.20 * 4 + 0.10 * 8 + 0.06 * (visible / GIB - 16)
    assert reserved("n2-standard-16").memory_bytes == pytest.approx(tiers * GIB, abs=1)
    assert reserved("e2-medium").cpu_millis == 1060


def test_pod_request_follows_the_scheduler() -> None:
    """helpers.go aggregateContainerResourcesByFn: max(sum of app containers + sidecars,
    each init container + the sidecars started before it)."""
    app = Requests(1000, 1 * GIB)
    big_init = InitContainer(Requests(3000, 256 * MIB))
    sidecar = InitContainer(Requests(500, 2 * GIB), restartable=True)
    assert pod_requests(Pod("p", (app, app))) == Requests(2000, 2 * GIB)
    assert pod_requests(Pod("p", (app,), (big_init,))) == Requests(3000, 1 * GIB)
    # The sidecar runs beside the app containers: it adds to their sum ...
    assert pod_requests(Pod("p", (app,), (sidecar,))) == Requests(1500, 3 * GIB)
    # ... and beside init containers that start after it, but not before it.
    assert pod_requests(Pod("p", (app,), (sidecar, big_init))) == Requests(3500, 3 * GIB)
    assert pod_requests(Pod("p", (app,), (big_init, sidecar))) == Requests(3000, 3 * GIB)


def test_dev_mina_pool_takes_three_daemons_a_node() -> None:
    """10 daemons at 4 CPU / 16 GiB: n2-standard-16 has 15.89 CPU allocatable, so a fourth
    daemon (its init container runs before it, so 4 CPU) never fits: 3 + 3 + 3 + 1 on 4 nodes."""
    config = parse_config("dev", BASE)
    assert isinstance(config.platform, GkePlatform)
    plans = pool_plans(config, config.platform)
    daemons = [
        [i.name for i in node if i.name.split("-")[0] in {"seed", "bp", "node", "coordinator"}]
        for node in plans["mina"].nodes
    ]
    assert sorted(len(node) for node in daemons) == [1, 3, 3, 3]
    assert mina_pool_size(config, config.platform) == 4
    assert services_pool_size(config, config.platform) == 1


def test_an_explicit_count_too_small_is_refused() -> None:
    platform = {
        **BASE["platform"],
        "pools": {"mina": {"machineType": "n2-standard-16", "count": 3}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config("dev", {**BASE, "platform": platform})
    assert caught.value.key == "platform.pools.mina.count"
    assert "they need 4" in caught.value.reason
    platform["pools"]["mina"]["count"] = 5
    config = parse_config("dev", {**BASE, "platform": platform})
    assert isinstance(config.platform, GkePlatform)
    assert mina_pool_size(config, config.platform) == 5


def test_a_pod_no_node_holds_names_pod_room_and_a_machine_that_fits() -> None:
    platform = {**BASE["platform"], "pools": {"mina": {"machineType": "n2-standard-4"}}}
    with pytest.raises(ConfigError) as caught:
        parse_config("dev", {**BASE, "platform": platform})
    error = caught.value
    assert error.key == "platform.pools.mina.machineType"
    assert "pod bp-1 requests 4 CPU / 16.00 GiB" in error.reason
    assert "a node of type n2-standard-4 has 3.471 CPU / 11.99 GiB for pods" in error.reason
    assert "allocatable 3.92 CPU" in error.reason
    # The smallest machine of the same series that holds the pod.
    assert "use n2-standard-8 or larger" in error.reason


POOL_MACHINES = sorted(
    name
    for name in known_machine_types()
    if name not in SHARED_CORE and not machine_shape(name).bare_metal
)


@settings(max_examples=150, deadline=None)
@given(
    seeds=st.integers(1, 3),
    producers=st.integers(1, 60),
    plain=st.integers(0, MAX_MINA_NODES),
    coordinator=st.booleans(),
    proof=st.sampled_from(["full", "none"]),
    mina_machine=st.sampled_from(POOL_MACHINES),
    services_machine=st.sampled_from(POOL_MACHINES),
)
def test_every_topology_packs_onto_the_pools_it_sizes(
    seeds: int,
    producers: int,
    plain: int,
    coordinator: bool,
    proof: str,
    mina_machine: str,
    services_machine: str,
) -> None:
    """Up to the node cap, on every pool machine type: the pool sizes hold every pod (packed
    by the render test's own packer), or the config is refused for a pod no node holds."""
    plain = min(plain, MAX_MINA_NODES - seeds - producers - int(coordinator))
    assume(plain >= 0)
    values = {
        **BASE,
        "platform": {
            **BASE["platform"],
            "pools": {
                "mina": {"machineType": mina_machine},
                "services": {"machineType": services_machine},
            },
        },
        "nodes": {
            "seeds": seeds,
            "blockProducers": producers,
            "plainNodes": plain,
            "snarkCoordinators": int(coordinator),
        },
        "workerPool": {"servers": 2 if coordinator else 0},
        "network": {"proofLevel": proof},
    }
    machines = {"mina": mina_machine, "services": services_machine}
    too_big = {
        f"platform.pools.{pool}.machineType": [
            pod.name for pod in pods if not pod_requests(pod).fits_in(schedulable(machines[pool]))
        ]
        for pool, pods in pool_pods_on_roomy_machines(values).items()
    }
    event("refused: a pod no node holds" if any(too_big.values()) else "packed")
    if any(too_big.values()):
        with pytest.raises(ConfigError) as caught:
            parse_config("prop", values)
        assert caught.value.key in too_big
        assert caught.value.reason.split()[1] in too_big[caught.value.key]
        return
    config = parse_config("prop", values)
    assert isinstance(config.platform, GkePlatform)
    pods = pool_pods(config)
    for pool, machine, size in (
        ("mina", mina_machine, mina_pool_size(config, config.platform)),
        ("services", services_machine, services_pool_size(config, config.platform)),
    ):
        room = schedulable(machine)
        items = [
            (pod.name, (pod_requests(pod).cpu_millis, pod_requests(pod).memory_bytes))
            for pod in pods[pool]
        ] + [
            (f"{a.name}/{i}", (a.requests.cpu_millis, a.requests.memory_bytes))
            for a in CLUSTER_ADDONS
            for i in range(a.replicas)
        ]
        assert first_fit_decreasing(items, (room.cpu_millis, room.memory_bytes), size) == []


def pool_pods_on_roomy_machines(values: dict[str, Any]) -> dict[str, list[Pod]]:
    """Each pool's pods of `values`, from a config whose machines hold any of them."""
    roomy = {"machineType": "n2-highmem-128"}
    platform = {**values["platform"], "pools": {"mina": roomy, "services": roomy}}
    config = parse_config("prop", {**values, "platform": platform})
    return pool_pods(config)
