"""Issue 15/14 input classes the model refuses: each with the key it names and the fix it gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from minaperf.model.config import ConfigError, prepare_values
from minaperf.model.load import parse_config
from policy.markers import GCP_MAX_LABELS, PROGRAM_GCP_LABELS
from policy.ranges import public_address_count

GKE = {"kind": "gke", "project": "my-project-123"}
ADMIN = {"adminCidrs": ["198.51.100.0/24"]}
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def config(**values: Any) -> dict[str, Any]:
    return {"platform": GKE, "access": ADMIN, **values}


def refused(values: dict[str, Any], **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        parse_config("dev", values, now=NOW, **kwargs)
    return raised.value


# --- machine types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine_type", "closest"),
    [
        ("n2-standard-7", ["n2-standard-8", "n2-standard-4"]),  # a vCPU count no family has
        ("n2-standard-16-metal", ["c3-highcpu-192-metal"]),  # no bare metal in n2
        ("c2d-highcpu-33", ["c2d-highcpu-32"]),
        ("zz-nothing", []),
    ],
)
def test_unknown_machine_types_are_refused_with_the_closest_shapes(
    machine_type: str, closest: list[str]
) -> None:
    error = refused(config(workerPool={"machineType": machine_type, "spot": False}))
    assert error.key == "workerPool.machineType"
    assert "closest known:" in error.reason
    for name in closest:
        assert name in error.reason


# --- address ranges --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["subnetCidr", "podsCidr", "servicesCidr", "masterCidr"])
def test_gke_ranges_must_be_ipv4(field: str) -> None:
    error = refused(config(platform={**GKE, "network": {field: "fd00:10::/64"}}))
    assert error.key == f"platform.network.{field}"
    assert "IPv6" in error.reason


def test_overlapping_ranges_are_refused() -> None:
    error = refused(config(platform={**GKE, "network": {"servicesCidr": "10.64.16.0/20"}}))
    assert error.key == "platform.network.servicesCidr"
    assert "overlaps podsCidr" in error.reason


def test_a_pods_range_too_small_for_the_pools_is_refused() -> None:
    # 3 mina + 1 services node + 2 surge need 6 /24s; a /22 holds 4.
    network = {"podsCidr": "10.64.0.0/22"}
    error = refused(config(platform={**GKE, "network": network}, nodes={"plainNodes": 12}))
    assert error.key == "platform.network.podsCidr"
    assert "/24 per node" in error.reason
    parse_config("dev", config(platform={**GKE, "network": {"podsCidr": "10.64.0.0/20"}}))


# --- public width (issue 14) -------------------------------------------------------------------


def test_the_covered_address_space_is_judged_not_the_spelling() -> None:
    assert public_address_count(["0.0.0.0/1", "128.0.0.0/1"], 4) > 4_000_000_000
    assert public_address_count(["10.0.0.0/8", "198.51.100.0/24"], 4) == 0
    halves = config(access={"adminCidrs": ["0.0.0.0/1", "128.0.0.0/1"]})
    error = refused(halves)
    assert error.key == "access.adminCidrs"
    assert "public IPv4 addresses" in error.reason
    wide = config(access={"adminCidrs": ["64.0.0.0/3"]}, postgres={"allowedCidrs": ["1.2.3.4/32"]})
    assert "allowPublic" in refused(wide).reason


def test_opting_in_opens_admin_ranges_but_never_postgres() -> None:
    opened = {"adminCidrs": ["0.0.0.0/1", "128.0.0.0/1"], "allowPublic": True}
    assert refused(config(access=opened)).key == "access.adminCidrs"  # PostgreSQL's default
    mine = {"allowedCidrs": ["198.51.100.0/24"]}
    parse_config("dev", config(access=opened, postgres=mine), now=NOW)
    wide_db = {"allowedCidrs": ["0.0.0.0/2", "64.0.0.0/2"]}
    error = refused(config(access={**ADMIN, "allowPublic": True}, postgres=wide_db))
    assert error.key == "postgres.allowedCidrs"
    assert "never public" in error.reason


# --- ranges as Kubernetes and PostgreSQL read them (issue 27 §2) ---------------------------------

KIND = {"kind": "kubernetes", "podCidrs": ["10.244.0.0/16"]}
LOCAL_ADMIN = {"adminCidrs": ["127.0.0.1/32"]}


def kind(**values: Any) -> dict[str, Any]:
    return {"platform": KIND, "access": LOCAL_ADMIN, **values}


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (config(access={"adminCidrs": ["::ffff:0:0/96"]}), "access.adminCidrs"),
        (config(postgres={"allowedCidrs": ["::ffff:0:0/97"]}), "postgres.allowedCidrs"),
        (kind(platform={**KIND, "podCidrs": ["::ffff:0:0/96"]}), "platform.podCidrs"),
        (kind(platform={**KIND, "podCidrs": ["::/0"]}), "platform.podCidrs"),
        (kind(platform={**KIND, "podCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}), "platform.podCidrs"),
    ],
)
def test_mapped_and_ipv6_ranges_are_judged_as_the_addresses_they_let_in(
    values: dict[str, Any], key: str
) -> None:
    error = refused(values)
    assert error.key == key
    assert "public IPv4 addresses" in error.reason


def test_ranges_are_stored_in_the_form_kubernetes_prints() -> None:
    loaded = parse_config(
        "dev",
        kind(
            platform={**KIND, "podCidrs": ["::ffff:10.244.0.0/112"]},
            postgres={"allowedCidrs": ["::ffff:198.51.100.0/120"]},
        ),
        now=NOW,
    )
    assert loaded.platform.pod_cidrs == ["10.244.0.0/16"]  # type: ignore[union-attr]
    assert loaded.postgres.allowed_cidrs == ["198.51.100.0/24"]


def test_ipv4_compatible_ranges_are_refused() -> None:
    error = refused(kind(postgres={"allowedCidrs": ["::198.51.100.0/120"]}))
    assert error.key == "postgres.allowedCidrs[0]"
    assert "IPv4-compatible" in error.reason


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (kind(access={"adminCidrs": ["10.244.7.0/24"]}), "access.adminCidrs"),
        (kind(access={"adminCidrs": ["10.0.0.0/8"]}), "access.adminCidrs"),
        (kind(postgres={"allowedCidrs": ["10.244.0.9/32"]}), "postgres.allowedCidrs"),
        (config(access={"adminCidrs": ["10.64.1.0/24"]}), "access.adminCidrs"),  # GKE pods
    ],
)
def test_a_postgres_range_inside_a_pod_range_is_refused(values: dict[str, Any], key: str) -> None:
    error = refused(values)
    assert error.key == key
    assert "overlaps the pod range" in error.reason


def test_admin_ranges_may_overlap_pods_when_postgres_has_its_own() -> None:
    values = kind(
        access={"adminCidrs": ["10.0.0.0/8"]}, postgres={"allowedCidrs": ["127.0.0.1/32"]}
    )
    parse_config("dev", values, now=NOW)


def test_the_superuser_may_not_take_the_readers_name() -> None:
    error = refused(kind(postgres={"user": "logs_reader"}))
    assert error.key == "postgres.user"
    assert "read-only role" in error.reason


# --- labels ------------------------------------------------------------------------------------


def test_labels_count_ours_against_gcps_limit() -> None:
    room = GCP_MAX_LABELS - len(PROGRAM_GCP_LABELS)
    labels = {f"k{index}": "v" for index in range(room)}
    parse_config("dev", config(metadata={"labels": labels}), now=NOW)
    error = refused(config(metadata={"labels": {**labels, "one-more": "v"}}))
    assert error.key == "metadata.labels"
    assert f"at most {room}" in error.reason


@pytest.mark.parametrize(
    "labels",
    [{"Team": "a"}, {"1team": "a"}, {"t" * 64: "a"}, {"team": "A"}, {"team": "a" * 64},
     {"team": "a.b"}, {"team": "-a"}, {"experiment": "x"}],
)  # fmt: skip
def test_label_characters_and_lengths(labels: dict[str, str]) -> None:
    assert refused(config(metadata={"labels": labels})).key == "metadata.labels"


def test_an_empty_label_value_is_allowed() -> None:
    parse_config("dev", config(metadata={"labels": {"team": ""}}), now=NOW)


# --- strict types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (config(nodes={"plainNodes": True}), "nodes.plainNodes"),
        (config(nodes={"plainNodes": 2.5}), "nodes.plainNodes"),
        (config(workerPool={"spot": 1}), "workerPool.spot"),
        (config(workerPool={"spot": "yes"}), "workerPool.spot"),
        (config(postgres={"keepDataOnDestroy": 0}), "postgres.keepDataOnDestroy"),
    ],
)
def test_a_bool_is_not_a_count_and_a_count_is_not_a_bool(values: dict[str, Any], key: str) -> None:
    error = refused(values)
    assert error.key == key
    assert "True" not in error.reason


def test_integral_floats_and_digit_strings_stand_for_counts() -> None:
    parsed = parse_config("dev", config(nodes={"plainNodes": 7.0, "seeds": "2"}), now=NOW)
    assert (parsed.nodes.plain_nodes, parsed.nodes.seeds) == (7, 2)
    assert "20.0 are accepted" in refused(config(nodes={"plainNodes": True})).reason


def test_quantities_and_amounts_may_be_yaml_numbers() -> None:
    resources = {
        "cpuRequest": 2,
        "memoryRequest": 8589934592,
        "cpuLimit": 4.5,
        "memoryLimit": "12Gi",
    }
    parsed = parse_config(
        "dev",
        config(
            resources={"plain": resources},
            network={"blockProducerStake": 5000000, "snarkWorkerFee": 0.00001},
        ),
        now=NOW,
    )
    assert parsed.resources.plain.cpu_request == "2"
    assert parsed.resources.plain.cpu_limit == "4.5"
    assert parsed.network.block_producer_stake == "5000000"
    assert parsed.network.snark_worker_fee == "0.00001"
    assert refused(config(resources={"plain": {**resources, "cpuRequest": True}})).key == (
        "resources.plain.cpuRequest"
    )


# --- genesis -----------------------------------------------------------------------------------


def test_an_unquoted_timestamp_says_quote_it() -> None:
    for value in (datetime(2027, 1, 1, tzinfo=UTC), date(2027, 1, 1)):
        error = refused(config(network={"genesisTimestamp": value}))
        assert error.key == "network.genesisTimestamp"
        assert "quote the timestamp" in error.reason
        assert "datetime" not in error.reason


def test_a_past_genesis_needs_the_explicit_opt_in() -> None:
    error = refused(config(network={"genesisTimestamp": "2026-11-01T00:00:00Z"}))
    assert error.key == "network.genesisTimestamp"
    assert "allowPastGenesis" in error.reason
    network = {"genesisTimestamp": "2026-11-01T00:00:00Z", "allowPastGenesis": True}
    parse_config("dev", config(network=network), now=NOW)
    parse_config("dev", config(network={"genesisTimestamp": "2026-12-01T00:00:00Z"}), now=NOW)


# --- namespaces ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["minaitn:nodes", "mina_itn:nodes", "nodes"])
def test_keys_nobody_reads_are_refused_with_a_hint(key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        prepare_values({key: '{"plainNodes": 50}', "mina-itn:platform": '{"kind": "kubernetes"}'})
    assert raised.value.key == key
    assert "did you mean mina-itn:nodes?" in raised.value.reason


# --- secrets -------------------------------------------------------------------------------------

SEED = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ({"seed": 123456789}, "keys.seed"),
        ({"fundingSeed": ["123456789"]}, "keys.fundingSeed"),
        ({"seed": "123456789"}, "keys.seed"),
        (
            {"imported": {"bp-1": {"keyFile": "f", "password": 123456789}}},
            "keys.imported.bp-1.password",
        ),
    ],
)
def test_errors_never_echo_a_secret(keys: dict[str, Any], key: str) -> None:
    error = refused(config(keys=keys))
    assert error.key == key
    assert "123456789" not in str(error)


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        ({"seed": SEED}, "keys.seed"),
        ({"fundingSeed": SEED}, "keys.fundingSeed"),
        ({"imported": {"bp-1": {"keyFile": "f", "password": "p"}}}, "keys.imported.bp-1.password"),
    ],
)
def test_secret_values_must_be_pulumi_secrets(keys: dict[str, Any], path: str) -> None:
    error = refused(config(keys=keys), secret_paths=set())
    assert error.key == path
    assert f"pulumi config set --secret --path 'mina-itn:{path}'" in error.reason
    assert SEED not in str(error)
    parse_config("dev", config(keys=keys), secret_paths={path}, now=NOW)
    parse_config("dev", config(keys=keys), secret_paths={"keys"}, now=NOW)  # the CLI's granularity
