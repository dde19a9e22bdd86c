"""Mina EK/B62 keys against upstream vectors, plus layout and validation checks."""

import json

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.keys import base58check, mina, pallas
from minaperf.keys.mina import MinaKeyError, MinaKeypair

from . import VECTORS

EK_TO_B62 = [
    (
        "EKFFrQVB9tmtHVxAGBqvZYUy9Wm2e5ERwNh4dgZpjyLsT6nfpmPS",
        "B62qmabsxin5ukW6E1UJXhTx1wKn6WurScBRjPs42Z6mriP7FKhvWmy",
    ),
    (
        "EKDyUS6K9wkVGiYrvJhtZHSMjeW4JEMiWCXGNco4ZEkbMN9qSeQk",
        "B62qjsFXPCKWseqopuLs1q1fkvuAphbLWmGfn5WLV7DfnNr9mxWN7oe",
    ),
    (
        "EKEPbhrsH3EoX5Lhu9aGNR9GdXfEBsAQbsPv2v8UVNzQXVP2grGQ",
        "B62qo1s8vYZPvnSTX1GnNKoDBswZCgBKycNaEoD21XcsEcGfEWTnarR",
    ),
    (
        "EKDnjygo2ysxUr4dDD7j6138BS6ndikfV2P7KP1pYhGwuHCNv8T6",
        "B62qpD8FfGoKL494pckX9V4PcuCayW6BJktJhCkU2XpJdC1F6CW2jqu",
    ),
]


@pytest.mark.parametrize(("private_key", "public_key"), EK_TO_B62)
def test_reference_vectors(private_key: str, public_key: str) -> None:
    assert mina.public_key_of(private_key) == public_key
    assert mina.is_valid_public_key(public_key)
    pair = MinaKeypair.from_private_key(private_key)
    assert (pair.private_key, pair.public_key) == (private_key, public_key)


def test_every_genesis_ledger_sk_derives_its_pk() -> None:
    accounts = json.loads((VECTORS / "genesis_ledger.json").read_text())["ledger"]["accounts"]
    assert len(accounts) > 1000
    mismatches = [a["pk"] for a in accounts if mina.public_key_of(a["sk"]) != a["pk"]]
    assert mismatches == []


@settings(max_examples=30, deadline=None)
@given(scalar=st.integers(1, pallas.Q - 1))
def test_private_key_round_trip_and_layout(scalar: int) -> None:
    text = mina.format_private_key(scalar)
    assert text.startswith("EK")
    assert mina.parse_private_key(text) == scalar
    payload = base58check.decode(text, version=0x5A)
    assert payload == b"\x01" + scalar.to_bytes(32, "little")


@settings(max_examples=30, deadline=None)
@given(scalar=st.integers(1, pallas.Q - 1))
def test_public_key_layout(scalar: int) -> None:
    public_key = mina.public_key_of_scalar(scalar)
    assert public_key.startswith("B62")
    payload = base58check.decode(public_key, version=0xCB)
    point = pallas.scalar_mult(scalar)
    assert point is not None
    assert payload == b"\x01\x01" + point[0].to_bytes(32, "little") + bytes([point[1] & 1])
    assert mina.parse_public_key(public_key) == (point[0], bool(point[1] & 1))


def _with_payload(payload: bytes) -> str:
    return base58check.encode(0xCB, payload)


def test_invalid_public_keys() -> None:
    good = EK_TO_B62[0][1]
    x, _ = mina.parse_public_key(good)
    body = x.to_bytes(32, "little")
    off_curve_x = next(v for v in range(2, 100) if not pallas.x_is_on_curve(v))
    bad = {
        "private key": EK_TO_B62[0][0],
        "checksum": good[:-1] + ("z" if good[-1] != "z" else "y"),
        "parity 2": _with_payload(b"\x01\x01" + body + b"\x02"),
        "prefix": _with_payload(b"\x01\x02" + body + b"\x00"),
        "short": _with_payload(b"\x01\x01" + body),
        "off curve": _with_payload(b"\x01\x01" + off_curve_x.to_bytes(32, "little") + b"\x00"),
        "x >= p": _with_payload(b"\x01\x01" + pallas.P.to_bytes(32, "little") + b"\x00"),
        "not base58": "B62O0Il",
        "empty": "",
    }
    for reason, text in bad.items():
        assert not mina.is_valid_public_key(text), reason
    # The same x with the other parity is still a valid compressed key.
    assert mina.is_valid_public_key(_with_payload(b"\x01\x01" + body + b"\x01"))


@pytest.mark.parametrize("scalar", [0, pallas.Q, -1])
def test_out_of_range_scalars(scalar: int) -> None:
    with pytest.raises(MinaKeyError, match=r"\[1, q-1\]"):
        mina.format_private_key(scalar)


def test_parse_private_key_errors() -> None:
    with pytest.raises(MinaKeyError, match="version byte"):
        mina.parse_private_key(EK_TO_B62[0][1])
    zero = base58check.encode(0x5A, b"\x01" + bytes(32))
    with pytest.raises(MinaKeyError, match=r"\[1, q-1\]"):
        mina.parse_private_key(zero)
    wrong_prefix = base58check.encode(0x5A, b"\x02" + (5).to_bytes(32, "little"))
    with pytest.raises(MinaKeyError, match="0x01"):
        mina.parse_private_key(wrong_prefix)
    with pytest.raises(MinaKeyError):
        mina.parse_private_key(base58.b58encode(b"junk").decode())


def test_keypair_repr_hides_private_key() -> None:
    pair = MinaKeypair.generate()
    assert pair.private_key not in repr(pair)
    assert pair.public_key in repr(pair)
    assert mina.public_key_of(pair.private_key) == pair.public_key
