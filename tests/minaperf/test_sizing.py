"""Node pools sized from requests."""

from __future__ import annotations

import pytest

from minaperf.config import GkePlatform
from minaperf.load import parse_config
from minaperf.sizing import (
    PoolDemand,
    mina_pool_size,
    pool_size,
)

BASE = {
    "platform": {"kind": "gke", "project": "my-project-123"},
    "access": {"adminCidrs": ["198.51.100.0/24"]},
}
GIB = 1024**3


def test_pool_size_covers_cpu_and_memory() -> None:
    # n2-standard-16: 16 vCPU, 64 GiB, 85 % allocatable -> 13.6 CPU, 54.4 GiB per machine.
    assert pool_size("n2-standard-16", PoolDemand(13_600, 10 * GIB, 4000, 16 * GIB)) == 1
    assert pool_size("n2-standard-16", PoolDemand(13_601, 10 * GIB, 4000, 16 * GIB)) == 2
    assert pool_size("n2-standard-16", PoolDemand(1000, 109 * GIB, 1000, 16 * GIB)) == 3


def test_pool_too_small_for_the_largest_pod() -> None:
    with pytest.raises(ValueError, match="cannot hold the largest pod"):
        pool_size("e2-standard-2", PoolDemand(4000, 16 * GIB, 4000, 16 * GIB))


def test_dev_mina_pool_holds_the_seed_topology() -> None:
    config = parse_config("dev", BASE)
    assert isinstance(config.platform, GkePlatform)
    # requests: seed 2+8Gi, 3 BPs 4+16Gi, 5 plain 2+8Gi, coordinator 4+16Gi = 28 CPU, 120 GiB
    assert mina_pool_size(config, config.platform) == 3
