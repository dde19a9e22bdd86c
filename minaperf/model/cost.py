"""Pricing an experiment's hourly bill from a dated list-price table.

`minaperf.cloud.gcp_project.experiment_cost` lists what a stack is billed for and prices it here;
the `estimatedHourlyCostUsd` output and `scripts.render`'s summary both show that one figure. It is
approximate by design (list prices for one region, see `data/gcp_prices.json`), not a bill. A
price the table lacks is a `MissingPriceError` naming it, never a zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).with_name("data") / "gcp_prices.json"


class MissingPriceError(ValueError):
    """The price table has no list price for something the experiment is billed for."""


MACHINES = "machines"
DISKS = "disks"
LOAD_BALANCERS = "load balancers"
GKE_FEE = "GKE cluster fee"


@dataclass(frozen=True)
class MachineLine:
    machine_type: str
    count: int = 1
    spot: bool = False
    part: str = MACHINES


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
    part: str = MACHINES


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

    @property
    def usd_per_hour(self) -> float:
        """The figure every command shows: the total to the cent."""
        return round(self.total_usd_per_hour, 2)

    def parts(self) -> list[tuple[str, list[CostLine]]]:
        """The lines grouped by part, in the order the parts first appear."""
        grouped: dict[str, list[CostLine]] = {}
        for line in self.lines:
            grouped.setdefault(line.part, []).append(line)
        return list(grouped.items())


@dataclass(frozen=True)
class MachinePrice:
    machine_type: str
    vcpus: int
    memory_gb: float
    on_demand: float
    spot: float | None


@cache
def load_prices(path: Path | None = None) -> dict[str, Any]:
    return json.loads((path or PRICES_PATH).read_text())


def _price(table: Mapping[str, Any], key: str) -> float:
    if key not in table:
        raise MissingPriceError(f"no list price {key!r} in {PRICES_PATH.name}")
    return float(table[key])


def machine_prices(table: Mapping[str, Any] | None = None) -> dict[str, MachinePrice]:
    """Every machine type the shape table (`minaperf/model/machines.py`) knows, priced from its
    family's per-vCPU and per-GB rates: the config accepts no type without a price. A type
    whose family has no rates in the table is left out (and named when it is priced)."""
    from minaperf.model.machines import known_machine_types, machine_shape

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
        family = name.split("-", 1)[0]
        if name not in table["metal"] and name not in table["sharedCore"] and family in families:
            add(name, family, shape.vcpus, shape.memory_gib, True)
    for name, shape in table["metal"].items():
        if shape["family"] in families:
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
    forwarding_rules: int = 0,
    table: Mapping[str, Any] | None = None,
) -> CostEstimate:
    """Sum machine, disk, forwarding rule and GKE management list prices per hour."""
    table = load_prices() if table is None else table
    prices = machine_prices(table)
    lines: list[CostLine] = []
    for machine in machines:
        if machine.count < 0:
            raise ValueError(f"machine count for {machine.machine_type!r} is negative")
        price = prices.get(machine.machine_type)
        if price is None:
            raise MissingPriceError(
                f"no list price for machine type {machine.machine_type!r} in "
                f"{PRICES_PATH.name}; priced types: {', '.join(sorted(prices))}"
            )
        if machine.spot and price.spot is None:
            raise MissingPriceError(
                f"machine type {machine.machine_type!r} is not offered as Spot; use spot: false"
            )
        unit = price.spot if machine.spot and price.spot is not None else price.on_demand
        label = f"{machine.machine_type} ({'spot' if machine.spot else 'on-demand'})"
        lines.append(CostLine(label, machine.count, unit, unit * machine.count, machine.part))
    disk_rates = table.get("disksPerGbMonth") or {}
    for disk in sorted(disks, key=lambda disk: (disk.disk_type, disk.size_gb)):
        if disk.count < 0 or disk.size_gb < 0:
            raise ValueError(f"disk {disk.disk_type!r} has a negative size or count")
        if disk.disk_type not in disk_rates:
            raise MissingPriceError(
                f"no list price for disk type {disk.disk_type!r} in {PRICES_PATH.name}; "
                f"priced types: {', '.join(sorted(disk_rates))}"
            )
        unit = disk_rates[disk.disk_type] * disk.size_gb / _price(table, "hoursPerMonth")
        item = f"{disk.disk_type} {disk.size_gb:g} GB"
        lines.append(CostLine(item, disk.count, unit, unit * disk.count, DISKS))
    if forwarding_rules < 0:
        raise ValueError("forwarding rule count is negative")
    if forwarding_rules:
        rule = _price(table, "forwardingRulePerHour")
        lines.append(
            CostLine(
                "forwarding rule", forwarding_rules, rule, rule * forwarding_rules, LOAD_BALANCERS
            )
        )
    if gke_cluster:
        fee = _price(table, "gkeClusterManagementPerHour")
        lines.append(CostLine("GKE cluster management fee", 1, fee, fee, GKE_FEE))
    return CostEstimate(
        total_usd_per_hour=round(sum(line.usd_per_hour for line in lines), 4),
        lines=_merged(lines),
        as_of=table["asOf"],
        region=table["region"],
        note=table["note"],
    )


def _merged(lines: list[CostLine]) -> list[CostLine]:
    """One line per part and item (two pools of one machine type, the shards' equal disks)."""
    merged: dict[tuple[str, str], CostLine] = {}
    for line in lines:
        key = (line.part, line.item)
        first = merged.get(key)
        merged[key] = (
            line
            if first is None
            else CostLine(
                line.item,
                first.quantity + line.quantity,
                line.unit_usd_per_hour,
                first.usd_per_hour + line.usd_per_hour,
                line.part,
            )
        )
    return list(merged.values())
