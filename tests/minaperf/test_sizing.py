"""Node pools sized by packing whole pods onto GKE nodes (minaperf/sizing.py, gke_nodes.py)."""

from __future__ import annotations

from typing import Any

import pytest

from minaperf.config import ConfigError, GkePlatform
from minaperf.gke_nodes import GIB, MIB, Requests, allocatable, reserved
from minaperf.load import parse_config
from minaperf.pods import InitContainer, Pod, pod_requests
from minaperf.sizing import mina_pool_size, pool_plans, services_pool_size

BASE: dict[str, Any] = {
    "platform": {"kind": "gke", "project": "my-project-123"},
    "access": {"adminCidrs": ["198.51.100.0/24"]},
}
KI = 1024


@pytest.mark.parametrize(
    ("machine_type", "capacity_ki", "allocatable_ki"),
    [
        # Reported by real nodes (gke_nodes.KERNEL_MEMORY_FRACTION names the sources).
        ("n2-standard-4", 16380004, 13591652),
        ("n2-highmem-4", 32880872, 29085928),
        ("n2-highmem-16", 131919220, 122210676),
        ("n2-highmem-64", 528365196, 510603916),
    ],
)
def test_allocatable_memory_never_exceeds_what_real_nodes_report(
    machine_type: str, capacity_ki: int, allocatable_ki: int
) -> None:
    ours = allocatable(machine_type).memory_bytes
    assert ours <= allocatable_ki * KI
    # ... and not by much: the kernel's share is the only estimate in it.
    assert allocatable_ki * KI - ours < 1.2 * GIB


@pytest.mark.parametrize(
    ("machine_type", "cpu_millis"),
    # allocatable CPU as GKE reports it (the same nodes, plus plan-node-sizes' formula).
    [("n2-standard-4", 3920), ("n2-highmem-16", 15890), ("n2-highmem-64", 63770)],
)
def test_allocatable_cpu_is_the_published_formula(machine_type: str, cpu_millis: int) -> None:
    assert allocatable(machine_type).cpu_millis == cpu_millis


def test_memory_tiers() -> None:
    # 64 GiB nominal: kernel 1.6 % + 160 MiB, then 25/20/10/6 % tiers of what is left.
    capacity = 64 * GIB - (0.016 * 64 * GIB + 160 * MIB)
    tiers = 0.25 * 4 + 0.20 * 4 + 0.10 * 8 + 0.06 * (capacity / GIB - 16)
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
    assert "a node of type n2-standard-4 has 3.471 CPU / 12.03 GiB for pods" in error.reason
    assert "allocatable 3.92 CPU" in error.reason
    # The smallest machine of the same series that holds the pod.
    assert "use n2-standard-8 or larger" in error.reason
