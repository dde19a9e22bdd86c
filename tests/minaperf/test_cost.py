"""The cost estimate adds list prices correctly and refuses what it cannot price."""

from __future__ import annotations

import datetime as dt

import pytest

from minaperf.cost import (
    Disk,
    DiskLine,
    MachineLine,
    Machines,
    UnknownMachineTypeError,
    estimate_hourly_cost,
    load_prices,
    machine_prices,
)
from minaperf.machines import machine_shape


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
        "pd-ssd 1000 GB",
        "pd-balanced 100 GB",
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
    with pytest.raises(UnknownMachineTypeError) as error:
        estimate_hourly_cost([MachineLine("m3-ultramem-32")], [], gke_cluster=True)
    message = str(error.value)
    assert "'m3-ultramem-32'" in message
    assert "c3-highcpu-176" in message
    assert "e2-standard-4" in message


def test_metal_is_not_offered_as_spot():
    with pytest.raises(UnknownMachineTypeError, match="Spot"):
        estimate_hourly_cost(
            [MachineLine("c3-highcpu-192-metal", spot=True)], [], gke_cluster=False
        )


def test_unknown_disk_type_and_negative_counts_rejected():
    with pytest.raises(ValueError, match="hyperdisk-extreme"):
        estimate_hourly_cost([], [DiskLine("hyperdisk-extreme", 10)], gke_cluster=False)
    with pytest.raises(ValueError, match="negative"):
        estimate_hourly_cost([MachineLine("e2-micro", -1)], [], gke_cluster=False)


def test_every_boot_disk_a_worker_vm_can_get_is_priced():
    """The render's cost lines price each worker VM's boot disk; none may be unknown."""
    from minaperf.machines import boot_disk_type, known_machine_types

    disk_types = {boot_disk_type(name) for name in known_machine_types()}
    assert disk_types == {"pd-balanced", "hyperdisk-balanced"}
    for disk_type in disk_types:
        estimate = estimate_hourly_cost([], [DiskLine(disk_type, 100)], gke_cluster=False)
        assert estimate.total_usd_per_hour > 0
