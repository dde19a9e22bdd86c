"""The promise of pg_hba.conf, for any config the model accepts (issue 27 §2): the superuser is
refused from every address PostgreSQL is reachable from outside, with or without TLS; the
read-only role gets in from there only over TLS; the cluster's own clients get in from the pod
ranges. Judged by the hba stand-in (tests/fakes/pg_hba.py), which the real-server test checks."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from minaperf.model.config import ConfigError, ExperimentConfig
from minaperf.model.load import parse_config
from minaperf.workloads.postgres_access import READER, hba_conf
from tests.fakes.pg_hba import Client, first_match


def _range(base: str, prefix: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    network = ipaddress.ip_network(base)

    def build(offset: int, length: int) -> str:
        address = int(network.network_address) + offset % network.num_addresses
        cls = type(network)
        return str(cls((address, max(length, network.prefixlen)), strict=False))

    return st.builds(build, st.integers(0, network.num_addresses - 1), prefix)


# Private space where pod and outside ranges often collide, plus small public and IPv6 ranges.
ranges = st.one_of(
    _range("10.0.0.0/8", st.integers(8, 32)),
    _range("198.51.100.0/24", st.integers(24, 32)),
    _range("fd00::/8", st.integers(8, 128)),
    _range("2001:db8::/32", st.integers(48, 128)),
)


RANGE_KEYS = ("access.adminCidrs", "postgres.allowedCidrs", "platform.podCidrs")


def _load(values: dict[str, Any]) -> ExperimentConfig | None:
    """The config, or None when refused for one of its ranges."""
    try:
        return parse_config("dev", values)
    except ConfigError as error:
        refused_for = error.key.split("[", 1)[0]
    assert refused_for in RANGE_KEYS
    return None


def _edges(cidr: str) -> list[str]:
    network = ipaddress.ip_network(cidr)
    return [str(network.network_address), str(network.broadcast_address)]


@settings(max_examples=150, deadline=None)
@given(
    pods=st.lists(ranges, min_size=1, max_size=3),
    outside=st.lists(ranges, min_size=1, max_size=3),
    own_postgres_ranges=st.booleans(),
)
def test_the_superuser_is_refused_from_outside_for_any_accepted_config(
    pods: list[str], outside: list[str], own_postgres_ranges: bool
) -> None:
    values: dict[str, Any] = {
        "platform": {"kind": "kubernetes", "podCidrs": pods},
        "access": {"adminCidrs": outside},
    }
    if own_postgres_ranges:
        values["access"] = {"adminCidrs": ["127.0.0.1/32"]}
        values["postgres"] = {"allowedCidrs": outside}
    config = _load(values)
    overlapping = any(
        ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))  # type: ignore[arg-type]
        for a in outside
        for b in pods
        if ipaddress.ip_network(a).version == ipaddress.ip_network(b).version
    )
    event("refused" if config is None else "accepted")
    if config is None:
        return
    assert not overlapping, "an overlapping config was accepted"
    hba = hba_conf(cluster_cidrs=config.pod_ranges, database=config.postgres.database)
    superuser, database = config.postgres.user, config.postgres.database
    for cidr in config.postgres_cidrs:
        for address in _edges(cidr):
            for tls in (False, True):
                assert first_match(hba, Client(address, superuser, database, tls)) is None
            assert first_match(hba, Client(address, READER, database, False)) is None
            rule = first_match(hba, Client(address, READER, database, True))
            assert rule is not None
            assert rule[0] == "hostssl"
    for cidr in config.pod_ranges:
        for address in _edges(cidr):
            assert first_match(hba, Client(address, superuser, database, False)) is not None


@pytest.mark.parametrize("admin", ["10.64.0.0/14", "10.64.3.0/24", "10.0.0.0/8", "10.66.1.7/32"])
def test_a_gke_admin_range_in_the_pod_range_is_refused(admin: str) -> None:
    values = {
        "platform": {"kind": "gke", "project": "my-project-123"},
        "access": {"adminCidrs": [admin]},
    }
    assert _load(values) is None
