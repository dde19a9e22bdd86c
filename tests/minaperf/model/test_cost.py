"""The cost estimate adds list prices correctly and names every price it lacks."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from minaperf.model.cost import (
    Disk,
    DiskLine,
    MachineLine,
    Machines,
    MissingPriceError,
    estimate_hourly_cost,
    load_prices,
    machine_prices,
)
from minaperf.model.machines import machine_shape


def test_price_table_is_dated_and_covers_the_program_families():
    table = load_prices()
    dt.date.fromisoformat(table["asOf"])
    assert table["region"]
    assert "approximate" in table["note"]
    assert "check the GCP pricing page" in table["note"]
    prices = machine_prices()
    for name in [
        "e2-standard-8",
        "n2-standard-16",
        "n2-highcpu-32",
        "c2-standard-30",
        "c2d-highcpu-56",
        "c3-highcpu-176",
        "c3-standard-88",
        "c3-standard-192-metal",
        "c3-highcpu-192-metal",
    ]:
        assert name in prices
        shape = machine_shape(name)
        assert prices[name].vcpus == shape.vcpus
        assert prices[name].memory_gb == pytest.approx(shape.memory_gib)
    for price in prices.values():
        assert price.on_demand > 0
        assert price.spot is None or 0 < price.spot < price.on_demand


def test_known_list_price_is_reproduced():
    # n2-standard-8 lists at about $0.3885/h on demand in us-central1.
    assert machine_prices()["n2-standard-8"].on_demand == pytest.approx(0.3885, rel=0.01)
    assert machine_prices()["c3-highcpu-192-metal"].memory_gb == 512


def test_estimate_adds_machines_disks_and_cluster_fee():
    prices = machine_prices()
    estimate = estimate_hourly_cost(
        [MachineLine("n2-standard-8", 3), Machines("c3-highcpu-176", 2, spot=True)],
        [DiskLine("pd-ssd", 1000), Disk("pd-balanced", 100, count=10)],
        gke_cluster=True,
    )
    expected = (
        3 * prices["n2-standard-8"].on_demand
        + 2 * (prices["c3-highcpu-176"].spot or 0)
        + 0.17 * 1000 / 730
        + 10 * 0.10 * 100 / 730
        + 0.10
    )
    assert estimate.total_usd_per_hour == pytest.approx(expected, abs=1e-4)
    assert [line.item for line in estimate.lines] == [
        "n2-standard-8 (on-demand)",
        "c3-highcpu-176 (spot)",
        "pd-balanced 100 GB",
        "pd-ssd 1000 GB",
        "GKE cluster management fee",
    ]
    assert estimate.lines[1].quantity == 2
    assert estimate.total_usd_per_day == pytest.approx(estimate.total_usd_per_hour * 24)
    assert estimate.as_of == load_prices()["asOf"]


def test_spot_is_cheaper_and_no_cluster_fee_off_gke():
    on_demand = estimate_hourly_cost([MachineLine("c2d-highcpu-112")], [], gke_cluster=False)
    spot = estimate_hourly_cost([MachineLine("c2d-highcpu-112", spot=True)], [], gke_cluster=False)
    assert 0 < spot.total_usd_per_hour < on_demand.total_usd_per_hour
    assert estimate_hourly_cost([], [], gke_cluster=False).total_usd_per_hour == 0


def test_unknown_machine_type_names_it_and_lists_known_ones():
    with pytest.raises(MissingPriceError) as error:
        estimate_hourly_cost([MachineLine("m3-ultramem-32")], [], gke_cluster=True)
    message = str(error.value)
    assert "'m3-ultramem-32'" in message
    assert "c3-highcpu-176" in message
    assert "e2-standard-4" in message


def test_metal_is_not_offered_as_spot():
    with pytest.raises(MissingPriceError, match="Spot"):
        estimate_hourly_cost(
            [MachineLine("c3-highcpu-192-metal", spot=True)], [], gke_cluster=False
        )


def test_unknown_disk_type_and_negative_counts_rejected():
    with pytest.raises(MissingPriceError, match="hyperdisk-extreme"):
        estimate_hourly_cost([], [DiskLine("hyperdisk-extreme", 10)], gke_cluster=False)
    with pytest.raises(ValueError, match="negative"):
        estimate_hourly_cost([MachineLine("e2-micro", -1)], [], gke_cluster=False)


def test_every_boot_disk_a_worker_vm_can_get_is_priced():
    """The render's cost lines price each worker VM's boot disk; none may be unknown."""
    from minaperf.model.machines import boot_disk_type, known_machine_types

    disk_types = {boot_disk_type(name) for name in known_machine_types()}
    assert disk_types == {"pd-balanced", "hyperdisk-balanced"}
    for disk_type in disk_types:
        estimate = estimate_hourly_cost([], [DiskLine(disk_type, 100)], gke_cluster=False)
        assert estimate.total_usd_per_hour > 0


def test_equal_lines_are_one_line_and_parts_keep_their_order():
    estimate = estimate_hourly_cost(
        [
            MachineLine("n2-standard-16", 3, part="cluster pools"),
            MachineLine("n2-standard-16", 1, part="cluster pools"),
            MachineLine("n2-standard-16", 2, part="worker VMs"),
        ],
        [DiskLine("pd-balanced", 19), DiskLine("pd-balanced", 10), DiskLine("pd-balanced", 19)],
        gke_cluster=True,
        forwarding_rules=2,
    )
    assert [
        (part, [(line.item, line.quantity) for line in lines]) for part, lines in estimate.parts()
    ] == [
        ("cluster pools", [("n2-standard-16 (on-demand)", 4)]),
        ("worker VMs", [("n2-standard-16 (on-demand)", 2)]),
        ("disks", [("pd-balanced 10 GB", 1), ("pd-balanced 19 GB", 2)]),
        ("load balancers", [("forwarding rule", 2)]),
        ("GKE cluster fee", [("GKE cluster management fee", 1)]),
    ]
    rule = load_prices()["forwardingRulePerHour"]
    assert estimate.parts()[3][1][0].usd_per_hour == pytest.approx(2 * rule)
    assert estimate.usd_per_hour == round(estimate.total_usd_per_hour, 2)


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    table = copy.deepcopy(load_prices())
    node = table
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return table


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (("forwardingRulePerHour",), "'forwardingRulePerHour'"),
        (("gkeClusterManagementPerHour",), "'gkeClusterManagementPerHour'"),
        (("hoursPerMonth",), "'hoursPerMonth'"),
        (("disksPerGbMonth", "pd-balanced"), "disk type 'pd-balanced'"),
        (("families", "n2"), "machine type 'n2-standard-16'"),
    ],
)
def test_a_price_missing_from_the_table_is_named_never_zero(
    missing: tuple[str, ...], named: str
) -> None:
    table = _without(missing)
    with pytest.raises(MissingPriceError) as error:
        estimate_hourly_cost(
            [MachineLine("n2-standard-16", 2), MachineLine("c3-highcpu-192-metal")],
            [DiskLine("pd-balanced", 100)],
            gke_cluster=True,
            forwarding_rules=1,
            table=table,
        )
    assert named in str(error.value)
    assert "gcp_prices.json" in str(error.value)
    # The whole table prices the same bill.
    bill = estimate_hourly_cost(
        [MachineLine("n2-standard-16", 2), MachineLine("c3-highcpu-192-metal")],
        [DiskLine("pd-balanced", 100)],
        gke_cluster=True,
        forwarding_rules=1,
    )
    assert all(line.usd_per_hour > 0 for line in bill.lines)
