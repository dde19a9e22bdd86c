"""The experiment model: defaults reproduce the seed topology; every bad key is named."""

from __future__ import annotations

from typing import Any

import pytest

from minaperf.model.config import (
    MAX_MINA_NODES,
    ConfigError,
    ExperimentConfig,
    GkePlatform,
    prepare_values,
)
from minaperf.model.load import parse_config

GKE = {"kind": "gke", "project": "my-project-123"}
ADMIN = {"adminCidrs": ["198.51.100.0/24"]}


def config(**values: Any) -> dict[str, Any]:
    return {"platform": GKE, "access": ADMIN, **values}


def test_defaults_reproduce_the_seed_topology() -> None:
    parsed = parse_config("dev", config())
    assert (parsed.nodes.seeds, parsed.nodes.block_producers) == (1, 3)
    assert (parsed.nodes.plain_nodes, parsed.nodes.snark_coordinators) == (5, 1)
    assert parsed.postgres.disk_gb == 1000
    assert parsed.postgres.keep_data_on_destroy
    assert parsed.namespace == "itn-dev"
    assert isinstance(parsed.platform, GkePlatform)


def test_config_is_frozen() -> None:
    parsed = parse_config("dev", config())
    with pytest.raises(Exception, match="frozen"):
        parsed.nodes = parsed.nodes  # type: ignore[misc]


def test_gcp_project_falls_back_to_the_provider_key() -> None:
    values = prepare_values(
        {"mina-itn:platform": '{"kind": "gke"}', "gcp:project": "other-project", "pulumi:x": "1"}
    )
    assert values == {"platform": {"kind": "gke", "project": "other-project"}}


def test_missing_gcp_project_names_the_fix() -> None:
    with pytest.raises(ConfigError) as raised:
        prepare_values({"mina-itn:platform": {"kind": "gke"}})
    assert raised.value.key == "platform.project"
    assert "gcp:project" in raised.value.reason


def test_public_ranges_are_allowed_only_when_asked() -> None:
    opened = {"adminCidrs": ["0.0.0.0/0"], "allowPublic": True}
    parsed = parse_config(
        "dev", config(access=opened, postgres={"allowedCidrs": ["198.51.100.0/24"]})
    )
    assert parsed.access.admin_cidrs == ["0.0.0.0/0"]


def test_postgres_ranges_default_to_admin_ranges() -> None:
    assert parse_config("dev", config()).postgres_cidrs == ["198.51.100.0/24"]


def test_node_count_at_the_documented_maximum_is_accepted() -> None:
    plain = MAX_MINA_NODES - 5
    parsed = parse_config("big", config(nodes={"plainNodes": plain}))
    assert parsed.nodes.total == MAX_MINA_NODES


@pytest.mark.parametrize("dashboard", [{"enabled": False}, {}])
def test_a_dashboard_that_asks_for_nothing_is_a_warning(
    dashboard: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Stack files of the last release keep working: `dashboard: {enabled: false}` asked for
    nothing, so it is dropped with one warning (printed once, however often it is parsed)."""
    from minaperf.model import config as config_module

    config_module._warned.clear()
    for _ in range(2):
        parsed = parse_config("old", config(dashboard=dashboard))
        assert parsed.nodes.total == 10
    err = capsys.readouterr().err
    assert err.count("warning: dashboard: removed: no dashboard image") == 1
    assert "ignored because it asks for nothing" in err


# (case id, config values, expected key path, a fragment of the reason)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown top key", config(node={}), "node", "unknown key"),
    ("removed dashboard", config(dashboard={"enabled": True}), "dashboard", "docs/trace-path.md"),
    (
        "removed dashboard with settings",
        config(dashboard={"enabled": False, "image": "a/b:1"}),
        "dashboard",
        "docs/trace-path.md",
    ),
    ("removed image", config(images={"dashboard": "a/b:1"}), "images.dashboard", "removed"),
    ("unknown nested key", config(nodes={"blockProducer": 2}), "nodes.blockProducer", "unknown"),
    ("no seed", config(nodes={"seeds": 0}), "nodes.seeds", "greater than or equal to 1"),
    (
        "no producer",
        config(nodes={"blockProducers": 0}),
        "nodes.blockProducers",
        "greater than or equal to 1",
    ),
    ("negative plain", config(nodes={"plainNodes": -1}), "nodes.plainNodes", "0"),
    ("two coordinators", config(nodes={"snarkCoordinators": 2}), "nodes.snarkCoordinators", "1"),
    ("too many nodes", config(nodes={"plainNodes": 300}), "nodes.plainNodes", "at most 250"),
    ("count not a number", config(nodes={"seeds": "one"}), "nodes.seeds", "whole number"),
    ("platform missing", {"access": ADMIN}, "platform", "required"),
    ("platform kind wrong", config(platform={"kind": "eks"}), "platform", "'gke' or 'kubernetes'"),
    ("platform kind missing", config(platform={"project": "p"}), "platform", "set kind"),
    (
        "bad project",
        config(platform={**GKE, "project": "Bad_Project"}),
        "platform.project",
        "not a GCP project id",
    ),
    ("bad region", config(platform={**GKE, "region": "mars"}), "platform.region", "region"),
    (
        "zone not in region",
        config(platform={**GKE, "zone": "europe-west1-b"}),
        "platform.zone",
        "us-central1-a",
    ),
    (
        "overlapping ranges",
        config(platform={**GKE, "network": {"podsCidr": "10.10.0.0/16"}}),
        "platform.network.podsCidr",
        "overlaps",
    ),
    (
        "master not /28",
        config(platform={**GKE, "network": {"masterCidr": "172.16.0.0/24"}}),
        "platform.network.masterCidr",
        "/28",
    ),
    (
        "unknown pool machine",
        config(platform={**GKE, "pools": {"mina": {"machineType": "m9-giant-8"}}}),
        "platform.pools.mina.machineType",
        "unknown machine type",
    ),
    (
        "pool count zero",
        config(platform={**GKE, "pools": {"mina": {"machineType": "n2-standard-8", "count": 0}}}),
        "platform.pools.mina.count",
        "greater than or equal to 1",
    ),
    (
        "host bits in CIDR",
        config(access={"adminCidrs": ["10.0.0.1/8"]}),
        "access.adminCidrs[0]",
        "host bits",
    ),
    ("not a CIDR", config(access={"adminCidrs": ["office"]}), "access.adminCidrs[0]", "not a CIDR"),
    (
        "public admin range",
        config(access={"adminCidrs": ["0.0.0.0/0"]}),
        "access.adminCidrs",
        "allowPublic",
    ),
    (
        "public postgres range",
        config(postgres={"allowedCidrs": ["::/0"]}),
        "postgres.allowedCidrs",
        "allowPublic",
    ),
    ("gke without admin ranges", {"platform": GKE}, "access.adminCidrs", "control plane"),
    (
        "image without tag",
        config(images={"daemon": "minaprotocol/mina-daemon"}),
        "images.daemon",
        "pin it",
    ),
    ("image latest", config(images={"postgres": "postgres:latest"}), "images.postgres", "latest"),
    (
        "image malformed",
        config(images={"orchestrator": "Bad Image:1"}),
        "images.orchestrator",
        "not an image",
    ),
    (
        "processes over vCPUs",
        config(workerPool={"processesPerServer": 40}),
        "workerPool.processesPerServer",
        "vCPUs",
    ),
    (
        "processes over memory",
        config(workerPool={"processesPerServer": 12}),
        "workerPool.processesPerServer",
        "GiB",
    ),
    (
        "unknown worker machine",
        config(workerPool={"machineType": "z9-highcpu-8"}),
        "workerPool.machineType",
        "unknown machine type",
    ),
    (
        "workers without coordinator",
        config(nodes={"snarkCoordinators": 0}),
        "workerPool.servers",
        "coordinator",
    ),
    (
        "bad package version",
        config(workerPool={"minaPackage": {"version": "v; rm -rf /"}}),
        "workerPool.minaPackage.version",
        "Debian version",
    ),
    ("slot too short", config(network={"slotDurationMs": 1000}), "network.slotDurationMs", "10000"),
    ("bad proof level", config(network={"proofLevel": "partial"}), "network.proofLevel", "full"),
    (
        "bad genesis time",
        config(network={"genesisTimestamp": "tomorrow"}),
        "network.genesisTimestamp",
        "RFC 3339",
    ),
    (
        "bad amount",
        config(network={"blockProducerStake": "lots"}),
        "network.blockProducerStake",
        "MINA amount",
    ),
    ("port clash", config(network={"itnPort": 8301}), "network.itnPort", "must differ"),
    (
        "bad cpu quantity",
        config(
            resources={
                "seed": {
                    "cpuRequest": "two",
                    "memoryRequest": "1Gi",
                    "cpuLimit": "2",
                    "memoryLimit": "1Gi",
                }
            }
        ),
        "resources.seed.cpuRequest",
        "CPU quantity",
    ),
    (
        "limit below request",
        config(
            resources={
                "plain": {
                    "cpuRequest": "4",
                    "memoryRequest": "8Gi",
                    "cpuLimit": "2",
                    "memoryLimit": "8Gi",
                }
            }
        ),
        "resources.plain.cpuLimit",
        "below",
    ),
    (
        "bad memory quantity",
        config(
            resources={
                "blockProducer": {
                    "cpuRequest": "4",
                    "memoryRequest": "16GB",
                    "cpuLimit": "8",
                    "memoryLimit": "16Gi",
                }
            }
        ),
        "resources.blockProducer.memoryRequest",
        "memory quantity",
    ),
    ("bad key seed", config(keys={"seed": "c2hvcnQ="}), "keys.seed", "32 bytes"),
    ("bad db name", config(postgres={"database": "logs; drop"}), "postgres.database", "identifier"),
    ("disk too small", config(postgres={"diskGb": 1}), "postgres.diskGb", "10"),
    (
        "bad existing disk",
        config(postgres={"existingDisk": "my-disk"}),
        "postgres.existingDisk",
        "projects/",
    ),
    (
        "disk in other zone",
        config(postgres={"existingDisk": "projects/my-project-123/zones/us-east1-b/disks/data"}),
        "postgres.existingDisk",
        "zone",
    ),
    ("bad owner label", config(metadata={"owner": "Alice Smith"}), "metadata.owner", "label value"),
    (
        "reserved label key",
        config(metadata={"labels": {"expiry": "never"}}),
        "metadata.labels",
        "set by the program",
    ),
    ("ttl zero", config(metadata={"ttlHours": 0}), "metadata.ttlHours", "1"),
    (
        "services pool too small",
        config(platform={**GKE, "pools": {"services": {"machineType": "n2-standard-4"}}}),
        "platform.pools.services.machineType",
        "pod orchestrator requests 4 CPU / 8.00 GiB",
    ),
    (
        "mina pool count too small",
        config(platform={**GKE, "pools": {"mina": {"machineType": "n2-standard-16", "count": 1}}}),
        "platform.pools.mina.count",
        "use at least 4",
    ),
    (
        "bad pod cidr",
        {"platform": {"kind": "kubernetes", "podCidrs": ["bad"]}},
        "platform.podCidrs[0]",
        "not a CIDR",
    ),
    (
        "existing disk on kubernetes",
        {
            "platform": {"kind": "kubernetes"},
            "postgres": {"existingDisk": "projects/my-project-123/zones/us-central1-a/disks/data"},
        },
        "postgres.existingDisk",
        "gke",
    ),
]


@pytest.mark.parametrize(
    ("values", "key", "fragment"),
    [pytest.param(values, key, fragment, id=case) for case, values, key, fragment in BAD_CONFIGS],
)
def test_bad_config_names_the_key(values: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config("dev", values)
    assert raised.value.key == key, str(raised.value)
    assert fragment in raised.value.reason, str(raised.value)


def test_the_table_is_large_and_distinct() -> None:
    assert len(BAD_CONFIGS) >= 30
    assert len({case for case, *_ in BAD_CONFIGS}) == len(BAD_CONFIGS)


@pytest.mark.parametrize("name", ["Dev", "a" * 31, "1dev", "dev_1", ""])
def test_stack_names_must_fit_kubernetes_and_gcp(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(name, config())
    assert raised.value.key == "name"


def test_model_lists_every_documented_section() -> None:
    sections = {field.alias or name for name, field in ExperimentConfig.model_fields.items()}
    assert sections == {
        "name",
        "platform",
        "nodes",
        "resources",
        "images",
        "network",
        "keys",
        "workerPool",
        "postgres",
        "access",
        "metadata",
    }


def test_daemon_memory_follows_the_proof_level() -> None:
    full = parse_config("dev", config())
    for role in (full.resources.seed, full.resources.plain, full.resources.block_producer):
        assert (role.memory_request, role.memory_limit) == ("16Gi", "16Gi")
    light = parse_config(
        "dev",
        config(
            network={"proofLevel": "none"},
            resources={"seed": {"cpuRequest": "3", "memoryRequest": "5Gi", "cpuLimit": "3",
                                "memoryLimit": "5Gi"}},
        ),
    )  # fmt: skip
    assert light.resources.seed.memory_request == "5Gi"  # set by hand: kept
    for role in (light.resources.plain, light.resources.block_producer):
        assert (role.cpu_request, role.memory_request, role.memory_limit) == ("1", "4Gi", "6Gi")


@pytest.mark.parametrize(
    ("override", "read"),
    [
        ("resources.plain.memoryRequest=8Gi", lambda c: c.resources.plain),
        ("resources.seed.cpuLimit=12", lambda c: c.resources.seed),
        ("postgres.resources.cpuRequest=1", lambda c: c.postgres.resources),
        ("workerPool.podResources.memoryLimit=16Gi", lambda c: c.worker_pool.pod_resources),
    ],
)
def test_a_partial_resources_block_merges_over_the_defaults(override: str, read) -> None:
    """Every key of a resources block has a default (config reference): one key is enough."""
    from minaperf.model.stack_file import read_stack_input, validate

    base = read(validate(read_stack_input(stack="dev", config_file=None, overrides=[])))
    changed = read(validate(read_stack_input(stack="dev", config_file=None, overrides=[override])))
    key, value = override.rsplit(".", 1)[1].split("=")
    assert changed.model_dump(by_alias=True) == {**base.model_dump(by_alias=True), key: value}


def test_a_partial_block_at_proof_level_none_merges_over_the_small_defaults() -> None:
    from minaperf.model.config import NO_PROOF_RESOURCES
    from minaperf.model.stack_file import read_stack_input, validate

    config = validate(
        read_stack_input(
            stack="dev",
            config_file=None,
            overrides=["network.proofLevel=none", "resources.plain.memoryLimit=5Gi"],
        )
    )
    expected = {**NO_PROOF_RESOURCES.model_dump(by_alias=True), "memoryLimit": "5Gi"}
    assert config.resources.plain.model_dump(by_alias=True) == expected
