"""vCPUs and memory of GCE machine types, parsed from their standard names.

Validation needs them (worker processes per VM, node pool sizing) before any cloud call, so they
come from the naming scheme `<family>-<kind>-<vCPUs>[-metal]` and the documented GiB-per-vCPU
ratio of each family and kind, not from the Compute API.
"""

from __future__ import annotations

import difflib
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

# Predefined vCPU counts of each (family, kind), from the GCE machine family pages
# (cloud.google.com/compute/docs/general-purpose-machines, /compute-optimized-machines): a name
# with any other count, or `-metal` outside `_SPECIAL`, does not exist and would fail at create.
_VCPUS: dict[tuple[str, str], tuple[int, ...]] = {
    ("e2", "standard"): (2, 4, 8, 16, 32),
    ("e2", "highcpu"): (2, 4, 8, 16, 32),
    ("e2", "highmem"): (2, 4, 8, 16),
    ("n2", "standard"): (2, 4, 8, 16, 32, 48, 64, 80, 96, 128),
    ("n2", "highcpu"): (2, 4, 8, 16, 32, 48, 64, 80, 96),
    ("n2", "highmem"): (2, 4, 8, 16, 32, 48, 64, 80, 96, 128),
    ("n2d", "standard"): (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
    ("n2d", "highcpu"): (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
    ("n2d", "highmem"): (2, 4, 8, 16, 32, 48, 64, 80, 96),
    ("c2", "standard"): (4, 8, 16, 30, 60),
    ("c2d", "standard"): (2, 4, 8, 16, 32, 56, 112),
    ("c2d", "highcpu"): (2, 4, 8, 16, 32, 56, 112),
    ("c2d", "highmem"): (2, 4, 8, 16, 32, 56, 112),
    ("c3", "standard"): (4, 8, 22, 44, 88, 176),
    ("c3", "highcpu"): (4, 8, 22, 44, 88, 176),
    ("c3", "highmem"): (4, 8, 22, 44, 88, 176),
    ("c3d", "standard"): (4, 8, 16, 30, 60, 90, 180, 360),
    ("c3d", "highcpu"): (4, 8, 16, 30, 60, 90, 180, 360),
    ("c3d", "highmem"): (4, 8, 16, 30, 60, 90, 180, 360),
    ("n4", "standard"): (2, 4, 8, 16, 32, 48, 64, 80),
    ("n4", "highcpu"): (2, 4, 8, 16, 32, 48, 64, 80),
    ("n4", "highmem"): (2, 4, 8, 16, 32, 48, 64, 80),
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
    if (
        match is None
        or ratio is None
        or match["metal"] is not None
        or int(match["vcpus"]) not in _VCPUS[(match["family"], match["kind"])]
    ):
        raise ValueError(
            f"unknown machine type {machine_type!r}; closest known: "
            + ", ".join(closest_machine_types(machine_type))
        )
    vcpus = int(match["vcpus"])
    return MachineShape(machine_type, vcpus, vcpus * ratio, bare_metal=match["metal"] is not None)


HYPERDISK_ONLY_FAMILIES = frozenset({"n4", "c4", "c4a", "c4d", "x4", "h4d"})
"""Machine series whose VMs attach only Hyperdisk (no Persistent Disk)."""


def boot_disk_type(machine_type: str) -> str:
    """The boot disk a VM of this type can attach: bare metal and the newer series take only
    Hyperdisk (https://cloud.google.com/compute/docs/disks/hyperdisks#machine-type-support)."""
    family = machine_type.split("-", 1)[0]
    if machine_shape(machine_type).bare_metal or family in HYPERDISK_ONLY_FAMILIES:
        return "hyperdisk-balanced"
    return "pd-balanced"


def known_machine_types() -> list[str]:
    """Every machine type the shape table accepts."""
    names = [
        f"{family}-{kind}-{vcpus}" for (family, kind), counts in _VCPUS.items() for vcpus in counts
    ]
    return [*names, *_SPECIAL]


def closest_machine_types(value: str, limit: int = 3) -> list[str]:
    """Known types nearest to `value`: same family and kind by vCPU distance, else by spelling."""
    known = known_machine_types()
    match = _NAME.match(value)
    if match is not None:
        prefix = f"{match['family']}-{match['kind']}-"
        if match["metal"]:
            metal = sorted(name for name in known if name.endswith("-metal"))
            same = [name for name in metal if name.startswith(prefix)]
            return (same or metal)[:limit]
        wanted = int(match["vcpus"])
        same = [n for n in known if n.startswith(prefix) and not n.endswith("-metal")]
        if same:
            return sorted(same, key=lambda n: (abs(int(n.rsplit("-", 1)[1]) - wanted), n))[:limit]
    return difflib.get_close_matches(value, known, n=limit, cutoff=0) or sorted(known)[:limit]
