"""Machine shapes from GCE type names, used by validation before any cloud call."""

from __future__ import annotations

import pytest

from minaperf.model.machines import machine_shape


@pytest.mark.parametrize(
    ("machine_type", "vcpus", "memory", "metal"),
    [
        ("n2-standard-16", 16, 64, False),
        ("n2-highcpu-32", 32, 32, False),
        ("c2d-highcpu-32", 32, 64, False),
        ("c3-highcpu-176", 176, 352, False),
        ("c3-highcpu-192-metal", 192, 512, True),
        ("c3-standard-192-metal", 192, 768, True),
        ("e2-medium", 2, 4, False),
    ],
)
def test_shapes(machine_type: str, vcpus: int, memory: float, metal: bool) -> None:
    shape = machine_shape(machine_type)
    assert (shape.vcpus, shape.memory_gib, shape.bare_metal) == (vcpus, memory, metal)


@pytest.mark.parametrize("bad", ["n2-standard", "m9-giant-8", "c3-highcpu-x", "", "custom-4-8192"])
def test_unknown_types_name_what_is_accepted(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown machine type"):
        machine_shape(bad)
