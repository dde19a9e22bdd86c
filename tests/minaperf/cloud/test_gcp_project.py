"""Pure GCP facts of an experiment: account ids, the upgrade exclusion, quota demand, images."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.cloud.gcp_project import (
    DISK_QUOTA_BY_TYPE,
    HYPERDISK_QUOTA,
    PREEMPTIBLE_CPUS,
    cost_or_reason,
    estimated_hourly_cost,
    experiment_cost,
    machines,
    quota_demand,
    through_mirror,
    upgrade_exclusion,
)
from minaperf.model.config import GkePlatform, memory_bytes
from minaperf.model.cost import MissingPriceError, load_prices, machine_prices
from minaperf.model.load import parse_config
from minaperf.model.machines import known_machine_types, machine_shape
from minaperf.model.stack_file import read_stack_input, validate
from policy.markers import NODES_ACCOUNT, WORKERS_ACCOUNT, service_account_id
from tests.conftest import ROOT, render

# Stack names the config accepts: DNS labels of at most 30 characters.
stack_names = st.from_regex(r"[a-z]([-a-z0-9]{0,28}[a-z0-9])?", fullmatch=True)
ACCOUNT_PURPOSES = (NODES_ACCOUNT, WORKERS_ACCOUNT)
purposes = st.sampled_from(ACCOUNT_PURPOSES)
SERVICE_ACCOUNT_ID = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
"""IAM `accountId`: 6-30 characters, RFC 1035 (projects.serviceAccounts.create reference)."""


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
    # Node boot disks + worker disks + PostgreSQL's 1000 GB + the claims, all pd-balanced.
    assert demand["SSD_TOTAL_GB"] >= 1000 + 2 * 50 + 2 * 100 + 10 * 20
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


# ------------------------------------------------------------------------------ cost


def _gib(quantity: str) -> float:
    return memory_bytes(quantity) / 1024**3


def _vm(machine_type: str, spot: bool) -> str:
    return f"{machine_type} ({'spot' if spot else 'on-demand'})"


FREE = {
    "gcp:compute/network:Network",
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:compute/router:Router",
    "gcp:compute/firewall:Firewall",
    "gcp:compute/instanceTemplate:InstanceTemplate",  # billed as its group's VMs
    "gcp:projects/service:Service",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:serviceaccount/account:Account",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
}
"""GCP types that cost nothing by the hour (an INTERNAL address is checked below)."""
NOT_COUNTED = {
    "gcp:compute/routerNat:RouterNat",  # Cloud NAT: the estimate's note says so
    "gcp:artifactregistry/repository:Repository",  # storage by the GB pulled
}


def billed_in_render(records: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """What the render's records are billed for by the hour, read from them alone, as
    (part, item) -> quantity: the independent check of `experiment_cost`."""
    billed: Counter[tuple[str, str]] = Counter()
    templates = {
        r["parent"]: r["inputs"]
        for r in records
        if r["type"] == "gcp:compute/instanceTemplate:InstanceTemplate"
    }
    for record in records:
        kind, inputs = record["type"], record["inputs"]
        if kind == "gcp:container/cluster:Cluster":
            for pool in inputs["nodePools"]:
                node, count = pool["nodeConfig"], pool["nodeCount"]
                billed["cluster pools", _vm(node["machineType"], node.get("spot", False))] += count
                billed["disks", f"{node['diskType']} {node['diskSizeGb']:g} GB"] += count
        if kind == "gcp:compute/instanceGroupManager:InstanceGroupManager":
            template, count = templates[record["parent"]], inputs["targetSize"]
            spot = template["scheduling"].get("provisioningModel") == "SPOT"
            billed["worker VMs", _vm(template["machineType"], spot)] += count
            (boot,) = template["disks"]
            billed["disks", f"{boot['diskType']} {boot['diskSizeGb']:g} GB"] += count
        elif kind == "gcp:compute/disk:Disk":
            billed["disks", f"{inputs['type']} {inputs['size']:g} GB"] += 1
        elif kind == "gcp:compute/address:Address":
            assert inputs["addressType"] == "INTERNAL", "a reserved external address is billed"
        elif kind == "gcp:container/cluster:Cluster":
            billed["GKE cluster fee", "GKE cluster management fee"] += 1
        elif kind == "kubernetes:core/v1:Service":
            if inputs["spec"].get("type") == "LoadBalancer":
                billed["load balancers", "forwarding rule"] += 1
        elif kind == "kubernetes:core/v1:PersistentVolumeClaim":
            spec = inputs["spec"]
            if not spec.get("volumeName"):  # a named volume is a Disk above
                billed[
                    "disks", f"pd-balanced {_gib(spec['resources']['requests']['storage']):g} GB"
                ] += 1
        elif kind == "kubernetes:apps/v1:StatefulSet":
            spec = inputs["spec"]
            for claim in spec.get("volumeClaimTemplates") or []:
                size = _gib(claim["spec"]["resources"]["requests"]["storage"])
                billed["disks", f"pd-balanced {size:g} GB"] += spec["replicas"]
        elif kind.startswith("gcp:"):
            assert kind in FREE | NOT_COUNTED, f"{kind}: say how it is billed"
        if kind.startswith("kubernetes:apps/"):
            pod = inputs["spec"]["template"]["spec"]
            assert not [v for v in pod.get("volumes") or [] if "ephemeral" in v], record["name"]
    return billed


STACK_FILES = sorted((ROOT / "stacks").glob("*.yaml"))
COST_CASES = [
    ("dev", None, ()),
    *((path.stem, path, ()) for path in STACK_FILES),
    ("dev", None, ("workerPool.servers=0", "nodes.snarkCoordinators=0")),
    (
        "dev",
        None,
        (
            "postgres.existingDisk=projects/your-gcp-project/zones/us-central1-a/disks/kept",
            "metadata.ttlHours=200",
        ),
    ),
    ("dev", None, ("platform.dockerHubMirror=true", "workerPool.machineType=n4-highcpu-32")),
]


@pytest.mark.parametrize(("stack", "path", "overrides"), COST_CASES)
def test_the_estimate_counts_exactly_what_the_render_is_billed_for(
    stack: str, path: Path | None, overrides: tuple[str, ...]
) -> None:
    stack_input = read_stack_input(
        stack=None if path else stack, config_file=path, overrides=overrides
    )
    config = validate(stack_input)
    rendered = render(None if path else stack, config_file=path, overrides=overrides)
    estimate = experiment_cost(config)
    counted: Counter[tuple[str, str]] = Counter()
    for line in estimate.lines:
        counted[line.part, line.item] += int(line.quantity)
    if isinstance(config.platform, GkePlatform):
        billed = billed_in_render(rendered.resources)
        assert counted == billed
        # Preflight's quota check asks for the same disks (claims included) by quota metric.
        disk_gb: dict[str, float] = {}
        for (part, item), count in billed.items():
            if part == "disks":
                disk_type, size, _ = item.split(" ")
                metric = DISK_QUOTA_BY_TYPE.get(disk_type, HYPERDISK_QUOTA)
                disk_gb[metric] = disk_gb.get(metric, 0.0) + float(size) * count
        demand = quota_demand(config, config.platform, preemptible_quota=False)
        assert {metric: demand[metric] for metric in disk_gb} == disk_gb
    else:  # an existing cluster's disks and load balancers are its owner's bill
        assert counted == Counter()
    # ... and the program's output is that estimate's figure.
    assert rendered.outputs["estimatedHourlyCostUsd"] == estimate.usd_per_hour
    if isinstance(config.platform, GkePlatform):
        assert estimate.usd_per_hour > 0
        assert "not counted: Cloud NAT" in estimate.note


def test_a_missing_price_leaves_the_output_unset_and_says_why() -> None:
    config = _config()
    warnings: list[str] = []
    table = {**load_prices()}
    del table["gkeClusterManagementPerHour"]
    with patch("minaperf.model.cost.load_prices", return_value=table):
        assert estimated_hourly_cost(config, warnings.append) is None
        reason = cost_or_reason(config)
    assert isinstance(reason, MissingPriceError)
    assert warnings == [f"estimatedHourlyCostUsd is not set: {reason}"]
    assert "'gkeClusterManagementPerHour'" in str(reason)
    assert estimated_hourly_cost(config, warnings.append) == experiment_cost(config).usd_per_hour


def test_every_accepted_machine_type_is_priced_so_the_output_is_never_dropped() -> None:
    assert set(known_machine_types()) <= set(machine_prices())
    for machine_type in ("n2d-highcpu-32", "c3-highcpu-192-metal", "n4-highcpu-32"):
        config = parse_config(
            "dev",
            {
                "platform": {"kind": "gke", "project": "my-project-1"},
                "access": {"adminCidrs": ["203.0.113.0/24"]},
                "workerPool": {"machineType": machine_type, "spot": False},
            },
        )
        assert estimated_hourly_cost(config, pytest.fail) is not None


def test_an_existing_cluster_costs_nothing_here() -> None:
    config = parse_config("kind", {"platform": {"kind": "kubernetes"}})
    estimate = experiment_cost(config)
    assert (estimate.usd_per_hour, estimate.lines) == (0, [])
    assert estimate.note.startswith("an existing cluster")


def _doc_quota_table() -> dict[str, tuple[str, str]]:
    """docs/gcp-deploy.md's quota table: metric -> (dev cell, large-200 cell)."""
    text = (ROOT / "docs" / "gcp-deploy.md").read_text()
    table = text.split("| quota | dev | large-200 |\n|---|---|---|\n", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines():
        first, dev, large = (cell.strip() for cell in line.strip("|").split("|"))
        metric = re.findall(r"`([A-Z0-9_]+)`", first)[-1]
        rows[metric] = (dev, large)
    return rows


def _figure(cell: str) -> float | None:
    match = re.match(r"([0-9][0-9,]*)", cell)
    return float(match[1].replace(",", "")) if match else None


@pytest.mark.parametrize(
    ("column", "stack", "config_file"),
    [(0, "dev", None), (1, None, ROOT / "stacks" / "large-200.yaml")],
)
def test_doc_quota_table_is_what_preflight_asks(
    column: int, stack: str | None, config_file: Path | None
) -> None:
    """The table's figures are `quota_demand` (and preflight's all-regions vCPU sum) of the
    shipped stacks, so pool sizing changes show up in docs/gcp-deploy.md."""
    config = validate(read_stack_input(stack=stack, config_file=config_file, overrides=()))
    assert isinstance(config.platform, GkePlatform)
    demand = quota_demand(config, config.platform, preemptible_quota=False)
    demand["CPUS_ALL_REGIONS"] = float(
        sum(
            machine_shape(group.machine_type).vcpus * group.count
            for group in machines(config, config.platform)
        )
    )
    shown = {metric: _figure(cells[column]) for metric, cells in _doc_quota_table().items()}
    assert {metric: figure for metric, figure in shown.items() if figure is not None} == demand
