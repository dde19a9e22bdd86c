"""The daemon runtime config (`daemon.json`) for a private network, from public keys only.

Block producers hold the stake; funding accounts (the orchestrator's payers) are delegated
round-robin to the producers, so their large balances add to producer stake and producers win
slots; every other node gets a small balance so its account exists. The input is
`KeyMaterial.public_summary()`, so this module cannot leak a private key: no `sk` is ever
written. Output is deterministic (node order, then funding order) so the ConfigMap never churns.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from minaperf.keys.material import PublicSummary
from minaperf.keys.mina import is_valid_public_key
from minaperf.rfc3339 import format_utc, parse

PROOF_LEVELS = frozenset({"full", "check", "none"})
BLOCK_PRODUCER_ROLE = "block-producer"
# Decimal MINA amount: integer part without leading zeros, up to 9 decimals (nanomina).
_BALANCE_RE = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,9})?")


def validate_balance(value: str, what: str = "balance") -> str:
    """Return `value` if it is a decimal MINA string such as "1000" or "0.5"."""
    if not isinstance(value, str) or not _BALANCE_RE.fullmatch(value):
        raise ValueError(
            f"{what} must be a decimal MINA amount like '1000' or '1.5' "
            f"(at most 9 decimals), got {value!r}"
        )
    return value


def format_genesis_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, second precision (sub-seconds dropped), as MPT writes it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("genesis timestamp must be timezone-aware")
    return format_utc(moment)


def parse_genesis_timestamp(text: str) -> datetime:
    """Parse RFC 3339 (`T` separator, `Z` or numeric offset) into an aware UTC datetime."""
    return parse(text).astimezone(UTC)


def build_runtime_config(
    material_public: PublicSummary,
    *,
    genesis_timestamp: str,
    slot_duration_ms: int,
    proof_level: str,
    block_producer_stake: str,
    funding_balance: str,
    node_balance: str,
    ledger_name: str,
) -> dict[str, Any]:
    """Runtime config dict (serialise with json.dumps) for every daemon of the stack."""
    timestamp = format_genesis_timestamp(parse_genesis_timestamp(genesis_timestamp))
    if isinstance(slot_duration_ms, bool) or not isinstance(slot_duration_ms, int):
        raise ValueError("slot_duration_ms must be an integer")
    if slot_duration_ms <= 0:
        raise ValueError("slot_duration_ms must be positive")
    if proof_level not in PROOF_LEVELS:
        raise ValueError(f"proof_level must be one of {sorted(PROOF_LEVELS)}, got {proof_level!r}")
    validate_balance(block_producer_stake, "block_producer_stake")
    validate_balance(funding_balance, "funding_balance")
    validate_balance(node_balance, "node_balance")
    if not ledger_name:
        raise ValueError("ledger_name must not be empty")

    accounts: list[dict[str, Any]] = []
    producers: list[str] = []
    for name, node in material_public["nodes"].items():
        pk = node["public_key"]
        if node["role"] == BLOCK_PRODUCER_ROLE:
            producers.append(pk)
            accounts.append({"pk": pk, "balance": block_producer_stake, "delegate": None})
        else:
            accounts.append({"pk": pk, "balance": node_balance, "delegate": None})
        if not is_valid_public_key(pk):
            raise ValueError(f"node {name!r} has an invalid public key")
    for index, pk in enumerate(material_public["funding"]):
        if not is_valid_public_key(pk):
            raise ValueError(f"funding account {index} has an invalid public key")
        delegate = producers[index % len(producers)] if producers else None
        accounts.append({"pk": pk, "balance": funding_balance, "delegate": delegate})

    seen: set[str] = set()
    for account in accounts:
        if account["pk"] in seen:
            raise ValueError(f"public key {account['pk']} appears twice in the genesis ledger")
        seen.add(account["pk"])

    return {
        "genesis": {"genesis_state_timestamp": timestamp},
        "proof": {"level": proof_level, "block_window_duration_ms": slot_duration_ms},
        "ledger": {"name": ledger_name, "add_genesis_winner": False, "accounts": accounts},
    }
