"""Estimated hourly cost of an experiment, from a dated list-price table.

The estimate is exported as a stack output so an experiment's price is visible before `up`; it is
approximate by design (list prices for one region, see `data/gcp_prices.json`), not a bill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).with_name("data") / "gcp_prices.json"


class UnknownMachineTypeError(ValueError):
    """The price table has no entry for a machine type."""


@dataclass(frozen=True)
class MachineLine:
    machine_type: str
    count: int = 1
    spot: bool = False


@dataclass(frozen=True)
class DiskLine:
    disk_type: str
    size_gb: float
    count: int = 1


# The names used in the design notes.
Machines = MachineLine
Disk = DiskLine


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit_usd_per_hour: float
    usd_per_hour: float


@dataclass(frozen=True)
class CostEstimate:
    total_usd_per_hour: float
    lines: list[CostLine]
    as_of: str
    region: str
    note: str

    @property
    def total_usd_per_day(self) -> float:
        return self.total_usd_per_hour * 24


@dataclass(frozen=True)
class MachinePrice:
    machine_type: str
    vcpus: int
    memory_gb: float
    on_demand: float
    spot: float | None


@cache
def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def machine_prices(table: Mapping[str, Any] | None = None) -> dict[str, MachinePrice]:
    """Every machine type the shape table (`minaperf/machines.py`) knows, priced from its
    family's per-vCPU and per-GB rates: the config accepts no type without a price."""
    from minaperf.machines import known_machine_types, machine_shape

    table = load_prices() if table is None else table
    families = table["families"]
    prices: dict[str, MachinePrice] = {}

    def add(name: str, family: str, vcpus: int, memory_gb: float, spot_allowed: bool) -> None:
        rates = families[family]
        on_demand = vcpus * rates["onDemand"]["vcpu"] + memory_gb * rates["onDemand"]["memoryGb"]
        spot = vcpus * rates["spot"]["vcpu"] + memory_gb * rates["spot"]["memoryGb"]
        prices[name] = MachinePrice(
            name, vcpus, memory_gb, on_demand, spot if spot_allowed else None
        )

    for name in known_machine_types():
        shape = machine_shape(name)
        if name not in table["metal"] and name not in table["sharedCore"]:
            add(name, name.split("-", 1)[0], shape.vcpus, shape.memory_gib, True)
    for name, shape in table["metal"].items():
        add(name, shape["family"], shape["vcpus"], shape["memoryGb"], False)
    for name, shape in table["sharedCore"].items():
        prices[name] = MachinePrice(
            name, shape["vcpus"], shape["memoryGb"], shape["onDemand"], shape["spot"]
        )
    return prices


def estimate_hourly_cost(
    machines: Sequence[MachineLine],
    disks: Sequence[DiskLine],
    *,
    gke_cluster: bool,
    table: Mapping[str, Any] | None = None,
) -> CostEstimate:
    """Sum machine, disk and GKE management list prices per hour."""
    table = load_prices() if table is None else table
    prices = machine_prices(table)
    lines: list[CostLine] = []
    for machine in machines:
        if machine.count < 0:
            raise ValueError(f"machine count for {machine.machine_type!r} is negative")
        price = prices.get(machine.machine_type)
        if price is None:
            raise UnknownMachineTypeError(
                f"no price for machine type {machine.machine_type!r}; known types: "
                f"{', '.join(sorted(prices))} (add it to {PRICES_PATH.name})"
            )
        if machine.spot and price.spot is None:
            raise UnknownMachineTypeError(
                f"machine type {machine.machine_type!r} is not offered as Spot; use spot: false"
            )
        unit = price.spot if machine.spot and price.spot is not None else price.on_demand
        label = f"{machine.machine_type} ({'spot' if machine.spot else 'on-demand'})"
        lines.append(CostLine(label, machine.count, unit, unit * machine.count))
    disk_rates = table["disksPerGbMonth"]
    hours = float(table["hoursPerMonth"])
    for disk in disks:
        if disk.count < 0 or disk.size_gb < 0:
            raise ValueError(f"disk {disk.disk_type!r} has a negative size or count")
        if disk.disk_type not in disk_rates:
            raise ValueError(
                f"no price for disk type {disk.disk_type!r}; known types: "
                f"{', '.join(sorted(disk_rates))}"
            )
        unit = disk_rates[disk.disk_type] * disk.size_gb / hours
        lines.append(
            CostLine(f"{disk.disk_type} {disk.size_gb:g} GB", disk.count, unit, unit * disk.count)
        )
    if gke_cluster:
        fee = float(table["gkeClusterManagementPerHour"])
        lines.append(CostLine("GKE cluster management fee", 1, fee, fee))
    return CostEstimate(
        total_usd_per_hour=round(sum(line.usd_per_hour for line in lines), 4),
        lines=lines,
        as_of=table["asOf"],
        region=table["region"],
        note=table["note"],
    )
