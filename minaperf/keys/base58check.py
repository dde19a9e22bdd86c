"""Base58Check as Mina uses it: Bitcoin alphabet over `version || payload || checksum`.

The checksum is the first four bytes of SHA-256(SHA-256(version || payload)). Mina tags every
encoded object with a one-byte version (0x5A private key, 0xCB public key, 0x02 secret-box
fields), so decoding always checks the expected version: a key of the wrong kind must fail
loudly instead of being misread.
"""

from __future__ import annotations

import hashlib

import base58

CHECKSUM_LENGTH = 4


class Base58CheckError(ValueError):
    """Text is not valid base58check for the expected version."""


def checksum(data: bytes) -> bytes:
    """First four bytes of the double SHA-256 of `data`."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()[:CHECKSUM_LENGTH]


def encode(version: int, payload: bytes) -> str:
    """Encode `payload` under one version byte."""
    if not 0 <= version <= 0xFF:
        raise ValueError(f"version byte out of range: {version}")
    body = bytes([version]) + payload
    return base58.b58encode(body + checksum(body)).decode("ascii")


def decode(text: str, *, version: int) -> bytes:
    """Return the payload of `text`, checking alphabet, checksum and version byte."""
    try:
        raw = base58.b58decode(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise Base58CheckError("not base58 (Bitcoin alphabet)") from error
    if len(raw) < 1 + CHECKSUM_LENGTH:
        raise Base58CheckError("too short for base58check")
    body, check = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    if checksum(body) != check:
        raise Base58CheckError("base58check checksum mismatch")
    if body[0] != version:
        raise Base58CheckError(f"version byte is 0x{body[0]:02x}, expected 0x{version:02x}")
    return body[1:]


def encode_plain(data: bytes) -> str:
    """Base58 (Bitcoin alphabet) without version or checksum, as libp2p peer ids use."""
    return base58.b58encode(data).decode("ascii")
