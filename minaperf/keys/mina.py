"""Mina account keys: Pallas scalars as `EK…` private keys and compressed points as `B62…`.

Layouts (reference §5b): private key = base58check(0x5A, 0x01 || s_LE32); public key =
base58check(0xCB, 0x01 || 0x01 || x_LE32 || y_parity). The daemon's secret-box plaintext is the
same 33 bytes as the private key payload, so `private_key_bytes` feeds `secret_box` directly.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from . import base58check, pallas

PRIVATE_KEY_VERSION = 0x5A
PUBLIC_KEY_VERSION = 0xCB
_PRIVATE_PREFIX = b"\x01"
_PUBLIC_PREFIX = b"\x01\x01"
PRIVATE_KEY_BYTES_LENGTH = 33
PUBLIC_KEY_PAYLOAD_LENGTH = 35


class MinaKeyError(ValueError):
    """A Mina key string or payload is malformed."""


def _check_scalar(scalar: int) -> int:
    if not 1 <= scalar < pallas.Q:
        raise MinaKeyError("private key scalar is not in [1, q-1]")
    return scalar


def private_key_bytes(scalar: int) -> bytes:
    """The 33-byte serialisation (0x01 || s_LE32) used in EK strings and key files."""
    return _PRIVATE_PREFIX + _check_scalar(scalar).to_bytes(32, "little")


def scalar_from_private_key_bytes(data: bytes) -> int:
    """Inverse of `private_key_bytes`, validating the layout and the range."""
    if len(data) != PRIVATE_KEY_BYTES_LENGTH or data[:1] != _PRIVATE_PREFIX:
        raise MinaKeyError("private key payload must be 0x01 followed by 32 bytes")
    return _check_scalar(int.from_bytes(data[1:], "little"))


def format_private_key(scalar: int) -> str:
    """`EK…` text of a scalar."""
    return base58check.encode(PRIVATE_KEY_VERSION, private_key_bytes(scalar))


def parse_private_key(text: str) -> int:
    """Scalar of an `EK…` string."""
    try:
        payload = base58check.decode(text.strip(), version=PRIVATE_KEY_VERSION)
    except base58check.Base58CheckError as error:
        raise MinaKeyError(f"not a Mina private key: {error}") from error
    return scalar_from_private_key_bytes(payload)


def format_public_key(x: int, is_odd: bool) -> str:
    """`B62…` text of a compressed point."""
    if not 0 <= x < pallas.P:
        raise MinaKeyError("x coordinate out of range")
    payload = _PUBLIC_PREFIX + x.to_bytes(32, "little") + bytes([int(is_odd)])
    return base58check.encode(PUBLIC_KEY_VERSION, payload)


def parse_public_key(text: str) -> tuple[int, bool]:
    """(x, y_is_odd) of a `B62…` string; checks layout and that x is on the curve."""
    try:
        payload = base58check.decode(text.strip(), version=PUBLIC_KEY_VERSION)
    except base58check.Base58CheckError as error:
        raise MinaKeyError(f"not a Mina public key: {error}") from error
    if len(payload) != PUBLIC_KEY_PAYLOAD_LENGTH or payload[:2] != _PUBLIC_PREFIX:
        raise MinaKeyError("public key payload must be 0x01 0x01 || x_LE32 || parity")
    parity = payload[34]
    if parity not in (0, 1):
        raise MinaKeyError("public key parity byte must be 0 or 1")
    x = int.from_bytes(payload[2:34], "little")
    if not pallas.x_is_on_curve(x):
        raise MinaKeyError("public key x coordinate is not on the Pallas curve")
    return x, bool(parity)


def is_valid_public_key(text: str) -> bool:
    """True for a well-formed `B62…` key whose point lies on Pallas."""
    try:
        parse_public_key(text)
    except MinaKeyError:
        return False
    return True


def public_key_of_scalar(scalar: int) -> str:
    """`B62…` of s·G."""
    point = pallas.scalar_mult(_check_scalar(scalar))
    if point is None:  # unreachable for s in [1, q-1]; keeps the type checker honest
        raise MinaKeyError("scalar maps to the point at infinity")
    x, y = point
    return format_public_key(x, bool(y & 1))


def public_key_of(private_key: str) -> str:
    """`B62…` of an `EK…` private key."""
    return public_key_of_scalar(parse_private_key(private_key))


@dataclass(frozen=True)
class MinaKeypair:
    """A Mina key pair; the private key never appears in repr."""

    private_key: str = field(repr=False)
    public_key: str

    @classmethod
    def from_scalar(cls, scalar: int) -> MinaKeypair:
        return cls(format_private_key(scalar), public_key_of_scalar(scalar))

    @classmethod
    def from_private_key(cls, private_key: str) -> MinaKeypair:
        return cls.from_scalar(parse_private_key(private_key))

    @classmethod
    def generate(cls) -> MinaKeypair:
        """Fresh key from the OS CSPRNG."""
        return cls.from_scalar(secrets.randbelow(pallas.Q - 1) + 1)

    @property
    def scalar(self) -> int:
        return parse_private_key(self.private_key)

    @property
    def private_key_bytes(self) -> bytes:
        return private_key_bytes(self.scalar)
