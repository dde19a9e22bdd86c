"""base58check: round trips, and every way decoding must refuse bad text."""

import hashlib

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minaperf.keys import base58check
from minaperf.keys.base58check import Base58CheckError


@given(version=st.integers(0, 255), payload=st.binary(max_size=80))
def test_round_trip(version: int, payload: bytes) -> None:
    assert base58check.decode(base58check.encode(version, payload), version=version) == payload


def test_layout_is_version_payload_double_sha256() -> None:
    raw = base58.b58decode(base58check.encode(0x5A, b"\x01\x02"))
    assert raw[:3] == b"\x5a\x01\x02"
    assert raw[3:] == hashlib.sha256(hashlib.sha256(raw[:3]).digest()).digest()[:4]


def test_wrong_version_is_refused() -> None:
    text = base58check.encode(0x5A, b"payload")
    with pytest.raises(Base58CheckError, match="version byte is 0x5a, expected 0xcb"):
        base58check.decode(text, version=0xCB)


def test_corrupted_checksum_is_refused() -> None:
    text = base58check.encode(0x02, b"some payload bytes")
    last = "2" if text[-1] != "2" else "3"
    with pytest.raises(Base58CheckError, match="checksum"):
        base58check.decode(text[:-1] + last, version=0x02)


@pytest.mark.parametrize("text", ["0OIl", "abc!", "ünïcode"])
def test_non_alphabet_is_refused(text: str) -> None:
    with pytest.raises(Base58CheckError, match="not base58"):
        base58check.decode(text, version=0)


def test_too_short_is_refused() -> None:
    with pytest.raises(Base58CheckError, match="too short"):
        base58check.decode(base58.b58encode(b"\x01\x02").decode(), version=1)


def test_version_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        base58check.encode(256, b"")
