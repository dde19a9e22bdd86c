"""vCPUs and memory of GCE machine types, parsed from their standard names.

Validation needs them (worker processes per VM, node pool sizing) before any cloud call, so they
come from the naming scheme `<family>-<kind>-<vCPUs>[-metal]` and the documented GiB-per-vCPU
ratio of each family and kind, not from the Compute API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# GiB of memory per vCPU, by (family, kind), from the GCE machine family pages.
_MEMORY_PER_VCPU: dict[tuple[str, str], float] = {
    ("e2", "standard"): 4,
    ("e2", "highcpu"): 1,
    ("e2", "highmem"): 8,
    ("n2", "standard"): 4,
    ("n2", "highcpu"): 1,
    ("n2", "highmem"): 8,
    ("n2d", "standard"): 4,
    ("n2d", "highcpu"): 1,
    ("n2d", "highmem"): 8,
    ("c2", "standard"): 4,
    ("c2d", "standard"): 4,
    ("c2d", "highcpu"): 2,
    ("c2d", "highmem"): 8,
    ("c3", "standard"): 4,
    ("c3", "highcpu"): 2,
    ("c3", "highmem"): 8,
    ("c3d", "standard"): 4,
    ("c3d", "highcpu"): 2,
    ("c3d", "highmem"): 8,
    ("n4", "standard"): 4,
    ("n4", "highcpu"): 2,
    ("n4", "highmem"): 8,
}

# Shared-core and bare-metal shapes do not follow their family's ratio: (vCPUs, GiB).
_SPECIAL: dict[str, tuple[int, float]] = {
    "e2-micro": (2, 1),
    "e2-small": (2, 2),
    "e2-medium": (2, 4),
    "c3-highcpu-192-metal": (192, 512),
    "c3-standard-192-metal": (192, 768),
    "c3-highmem-192-metal": (192, 1536),
}

_NAME = re.compile(
    r"^(?P<family>[a-z][a-z0-9]*)-(?P<kind>[a-z]+)-(?P<vcpus>[0-9]+)(?P<metal>-metal)?$"
)


@dataclass(frozen=True)
class MachineShape:
    name: str
    vcpus: int
    memory_gib: float
    bare_metal: bool


def machine_shape(machine_type: str) -> MachineShape:
    """Shape of a predefined machine type; ValueError names what is accepted."""
    if machine_type in _SPECIAL:
        vcpus, memory = _SPECIAL[machine_type]
        return MachineShape(machine_type, vcpus, memory, machine_type.endswith("-metal"))
    match = _NAME.match(machine_type)
    ratio = _MEMORY_PER_VCPU.get((match["family"], match["kind"])) if match is not None else None
    if match is None or ratio is None:
        families = sorted({f"{family}-{kind}" for family, kind in _MEMORY_PER_VCPU})
        raise ValueError(
            f"unknown machine type {machine_type!r}; use a predefined type of "
            f"{', '.join(families)} (e.g. c2d-highcpu-32, or c3-highcpu-192-metal for bare metal)"
        )
    vcpus = int(match["vcpus"])
    return MachineShape(machine_type, vcpus, vcpus * ratio, bare_metal=match["metal"] is not None)
