"""Pure GCP facts of an experiment: account ids, the upgrade exclusion, quota demand, images."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.config import GkePlatform
from minaperf.gcp_project import (
    ACCOUNT_PURPOSES,
    PREEMPTIBLE_CPUS,
    SERVICE_ACCOUNT_ID,
    quota_demand,
    service_account_id,
    through_mirror,
    upgrade_exclusion,
)
from minaperf.load import parse_config

# Stack names the config accepts: DNS labels of at most 30 characters.
stack_names = st.from_regex(r"[a-z]([-a-z0-9]{0,28}[a-z0-9])?", fullmatch=True)
purposes = st.sampled_from(ACCOUNT_PURPOSES)


@given(stack_names, purposes)
def test_service_account_ids_are_valid(experiment: str, purpose: str) -> None:
    account = service_account_id(experiment, purpose)
    assert 6 <= len(account) <= 30
    assert SERVICE_ACCOUNT_ID.fullmatch(account), account


@settings(max_examples=300)
@given(stack_names, stack_names, purposes)
def test_distinct_stacks_never_share_an_account(first: str, second: str, purpose: str) -> None:
    if first != second:
        assert service_account_id(first, purpose) != service_account_id(second, purpose)


@settings(max_examples=300)
@given(stack_names, stack_names)
def test_no_two_accounts_of_any_two_stacks_share_an_id(first: str, second: str) -> None:
    """The nodes' and the workers' accounts of one stack or of two stacks: all distinct."""
    pairs = {(stack, purpose) for stack in (first, second) for purpose in ACCOUNT_PURPOSES}
    assert len({service_account_id(*pair) for pair in pairs}) == len(pairs)


def test_long_names_that_used_to_collide_do_not() -> None:
    # The old id, f"itn-{stack}-nodes"[:30], gave both "itn-experiment-with-a-long-name".
    a = service_account_id("experiment-with-a-long-name-1", "nodes")
    b = service_account_id("experiment-with-a-long-name-2", "nodes")
    assert a != b
    # ... and could end in '-' ("itn-aaaaaaaaaaaaaaaaaaaaaaaaa-" for a 25-letter stack).
    assert not service_account_id("a" * 25, "nodes").endswith("-")
    # The worker pool's own scheme kept 20 characters and a 6-hex digest of the stack alone:
    # `<stack[:20]>-<digest>-sw`, 30 characters with no room for the purpose.
    assert service_account_id("a" * 30, "workers") != service_account_id("a" * 29 + "b", "workers")


def test_exclusion_covers_the_ttl_and_is_capped() -> None:
    window = upgrade_exclusion("2030-01-01T00:00:00Z", 48)
    assert (window.start, window.end) == ("2030-01-01T00:00:00Z", "2030-01-03T00:00:00Z")
    assert upgrade_exclusion("2030-01-01T00:00:00Z", 24 * 31).end == "2030-01-31T00:00:00Z"


def _config(**platform: object):
    return parse_config(
        "dev",
        {
            "platform": {"kind": "gke", "project": "my-project-1", **platform},
            "access": {"adminCidrs": ["203.0.113.0/24"]},
        },
    )


def test_quota_demand_of_the_default_experiment() -> None:
    config = _config()
    assert isinstance(config.platform, GkePlatform)
    demand = quota_demand(config, config.platform, preemptible_quota=False)
    # Workers: 2 Spot c2d-highcpu-32 on the standard C2D quota (no preemptible quota).
    assert demand["C2D_CPUS"] == 64
    assert demand["N2_CPUS"] % 16 == 0
    assert demand["N2_CPUS"] >= 32
    # Node boot disks + worker disks + PostgreSQL's 1000 GB, all pd-balanced.
    assert demand["SSD_TOTAL_GB"] >= 1000 + 2 * 50 + 2 * 100
    assert demand["IN_USE_ADDRESSES"] == 2  # NAT + PostgreSQL's load balancer
    with_preemptible = quota_demand(config, config.platform, preemptible_quota=True)
    assert with_preemptible[PREEMPTIBLE_CPUS] == 64
    assert "C2D_CPUS" not in with_preemptible


def test_through_mirror_follows_docker_reference_rules() -> None:
    registry = "us-central1-docker.pkg.dev/p/itn-dev-docker-hub"
    assert through_mirror("postgres:15", registry) == f"{registry}/library/postgres:15"
    assert through_mirror("o1labs/x:tag", registry) == f"{registry}/o1labs/x:tag"
    assert (
        through_mirror("docker.io/library/busybox:1", registry) == f"{registry}/library/busybox:1"
    )
    digest = "busybox@sha256:" + "a" * 64
    assert through_mirror(digest, registry) == f"{registry}/library/{digest}"
    for foreign in ("gcr.io/p/x:1", "localhost/x:1", "registry:5000/x:1", "ghcr.io/o/x:1"):
        assert through_mirror(foreign, registry) == foreign
