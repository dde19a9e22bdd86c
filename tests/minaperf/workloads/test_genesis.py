"""Runtime config: stake layout, delegation, validation, and that no secret leaks into it."""

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from minaperf.keys.material import KeyMaterial, NodeSpec, PublicSummary, derive_key_material
from minaperf.workloads.genesis import (
    build_runtime_config,
    format_genesis_timestamp,
    parse_genesis_timestamp,
    validate_balance,
)

NODES = [
    NodeSpec("seed-1", "seed"),
    NodeSpec("bp-1", "block-producer"),
    NodeSpec("bp-2", "block-producer"),
    NodeSpec("plain-1", "plain"),
    NodeSpec("snark-coordinator", "snark-coordinator"),
]


@pytest.fixture(scope="module")
def material() -> KeyMaterial:
    return derive_key_material(bytes(32), NODES, funding_accounts=5)


def _build(
    summary: PublicSummary,
    *,
    genesis_timestamp: str = "2025-01-01T12:03:00Z",
    slot_duration_ms: int = 20000,
    proof_level: str = "none",
    funding_balance: str = "100000000",
    ledger_name: str = "perf-test",
) -> dict[str, Any]:
    return build_runtime_config(
        summary,
        genesis_timestamp=genesis_timestamp,
        slot_duration_ms=slot_duration_ms,
        proof_level=proof_level,
        block_producer_stake="5000000",
        funding_balance=funding_balance,
        node_balance="1000.5",
        ledger_name=ledger_name,
    )


def test_layout(material: KeyMaterial) -> None:
    summary = material.public_summary()
    config = _build(summary)
    assert config["genesis"] == {"genesis_state_timestamp": "2025-01-01T12:03:00Z"}
    assert config["proof"] == {"level": "none", "block_window_duration_ms": 20000}
    ledger = config["ledger"]
    assert isinstance(ledger, dict)
    assert ledger["name"] == "perf-test"
    assert ledger["add_genesis_winner"] is False
    accounts = ledger["accounts"]
    nodes = summary["nodes"]
    bp_keys = [nodes["bp-1"]["public_key"], nodes["bp-2"]["public_key"]]
    expected_nodes = [
        {
            "pk": n["public_key"],
            "balance": "5000000" if n["role"] == "block-producer" else "1000.5",
            "delegate": None,
        }
        for n in nodes.values()
    ]
    assert accounts[: len(NODES)] == expected_nodes
    funding = accounts[len(NODES) :]
    assert [a["pk"] for a in funding] == summary["funding"]
    assert [a["delegate"] for a in funding] == [bp_keys[i % 2] for i in range(5)]
    assert all(a["balance"] == "100000000" for a in funding)


def test_no_private_key_anywhere(material: KeyMaterial) -> None:
    text = json.dumps(_build(material.public_summary()))
    assert '"sk"' not in text
    for node in material.nodes.values():
        for secret in (node.private_key, node.password, node.libp2p_password):
            assert secret not in text
    for account in material.funding:
        assert account.private_key not in text


def test_deterministic(material: KeyMaterial) -> None:
    summary = material.public_summary()
    assert json.dumps(_build(summary)) == json.dumps(_build(copy.deepcopy(summary)))


def test_without_block_producers_funding_is_undelegated() -> None:
    material = derive_key_material(bytes(32), [NodeSpec("seed-1", "seed")], funding_accounts=2)
    accounts = _build(material.public_summary())["ledger"]["accounts"]
    assert [a["delegate"] for a in accounts] == [None, None, None]


@pytest.mark.parametrize("value", ["0", "1000", "0.000000001", "123.5"])
def test_valid_balances(value: str) -> None:
    assert validate_balance(value) == value


@pytest.mark.parametrize("value", ["", "01", "1.", ".5", "1.0000000001", "-1", "1e6", " 1", "1,5"])
def test_invalid_balances(material: KeyMaterial, value: str) -> None:
    with pytest.raises(ValueError, match="decimal MINA amount"):
        validate_balance(value)
    with pytest.raises(ValueError, match="funding_balance"):
        _build(material.public_summary(), funding_balance=value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"proof_level": "fast"}, "proof_level"),
        ({"slot_duration_ms": 0}, "positive"),
        ({"slot_duration_ms": True}, "integer"),
        ({"ledger_name": ""}, "ledger_name"),
        ({"genesis_timestamp": "2025-01-01 12:00:00"}, "RFC 3339"),
    ],
)
def test_invalid_arguments(material: KeyMaterial, override: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(material.public_summary(), **override)


def test_invalid_or_duplicate_public_keys(material: KeyMaterial) -> None:
    summary = copy.deepcopy(material.public_summary())
    summary["funding"].append(summary["nodes"]["bp-1"]["public_key"])
    with pytest.raises(ValueError, match="appears twice"):
        _build(summary)
    summary = copy.deepcopy(material.public_summary())
    summary["nodes"]["plain-1"]["public_key"] = "B62qnotakey"
    with pytest.raises(ValueError, match="'plain-1' has an invalid public key"):
        _build(summary)


def test_timestamp_is_normalised_to_utc_seconds(material: KeyMaterial) -> None:
    config = _build(material.public_summary(), genesis_timestamp="2025-01-01T14:03:00.9+02:00")
    assert config["genesis"] == {"genesis_state_timestamp": "2025-01-01T12:03:00Z"}


def test_format_and_parse_timestamp() -> None:
    moment = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=timezone(timedelta(hours=-3)))
    text = format_genesis_timestamp(moment)
    assert text == "2025-03-04T08:06:07Z"
    assert parse_genesis_timestamp(text) == moment.replace(microsecond=0)
    assert parse_genesis_timestamp(text).tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        format_genesis_timestamp(datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="invalid date"):
        parse_genesis_timestamp("2025-02-30T00:00:00Z")
    assert parse_genesis_timestamp("2025-01-01T00:00:00.123456789Z").microsecond == 123456
