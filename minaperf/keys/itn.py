"""ITN GraphQL authorization keys and headers (reference §2.4, §5d).

ITN keys are Ed25519: the secret is base64 of the 32-byte seed (what the orchestrator and the
log fetcher read) and `--itn-keys` takes base64 of the raw 32-byte public key. Requests carry
`Authorization: Signature <pk_b64> <sig_b64>` over the raw body; sequenced requests append
` ; Sequencing <uuid> <seqno>` and sign uint16_be(seqno) || uuid || body instead.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing

SEED_LENGTH = 32
_SEQUENCING_SEPARATOR = " ; Sequencing "
_MAX_SEQNO = 0xFFFF


class ItnAuthError(ValueError):
    """An ITN Authorization header is malformed, from an unknown key, or badly signed."""


def _sequenced_message(body: bytes, server_uuid: str, seqno: int) -> bytes:
    if not 0 <= seqno <= _MAX_SEQNO:
        raise ValueError(f"sequence number {seqno} does not fit in uint16")
    if not server_uuid or not server_uuid.isascii() or " " in server_uuid:
        raise ValueError(f"invalid server uuid: {server_uuid!r}")
    return seqno.to_bytes(2, "big") + server_uuid.encode("ascii") + body


@dataclass(frozen=True)
class ItnKey:
    """An Ed25519 ITN key; the seed never appears in repr."""

    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_LENGTH:
            raise ValueError("ITN key seed must be 32 bytes")

    @classmethod
    def generate(cls) -> ItnKey:
        return cls(secrets.token_bytes(SEED_LENGTH))

    @classmethod
    def from_secret_b64(cls, text: str) -> ItnKey:
        """Parse the base64 seed (trailing whitespace ignored, as the fetcher does)."""
        try:
            return cls(base64.b64decode(text.strip(), validate=True))
        except (binascii.Error, ValueError) as error:
            raise ValueError("ITN secret must be base64 of a 32-byte seed") from error

    @property
    def _signing_key(self) -> nacl.signing.SigningKey:
        return nacl.signing.SigningKey(self.seed)

    @property
    def secret_b64(self) -> str:
        return base64.b64encode(self.seed).decode("ascii")

    @property
    def public_b64(self) -> str:
        return base64.b64encode(bytes(self._signing_key.verify_key)).decode("ascii")

    def sign(self, message: bytes) -> str:
        """Base64 of the 64-byte Ed25519 signature."""
        return base64.b64encode(self._signing_key.sign(message).signature).decode("ascii")

    def authorization_header(self, body: bytes) -> str:
        """Header for the unsequenced `auth` request."""
        return f"Signature {self.public_b64} {self.sign(body)}"

    def sequenced_authorization_header(self, body: bytes, server_uuid: str, seqno: int) -> str:
        """Header for every request after `auth`."""
        signature = self.sign(_sequenced_message(body, server_uuid, seqno))
        return (
            f"Signature {self.public_b64} {signature}{_SEQUENCING_SEPARATOR}{server_uuid} {seqno}"
        )


@dataclass(frozen=True)
class VerifiedAuth:
    """Who signed a request and, when sequenced, under which server uuid and seqno."""

    public_key: str
    server_uuid: str | None = None
    seqno: int | None = None


def _decode_b64(text: str, length: int, what: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ItnAuthError(f"{what} is not base64") from error
    if len(data) != length:
        raise ItnAuthError(f"{what} must be {length} bytes")
    return data


def verify_authorization(
    header: str, body: bytes, allowed_public_keys: Collection[str]
) -> VerifiedAuth:
    """Check an Authorization header the way the daemon does: the key must be one of
    `--itn-keys` and the Ed25519 signature must verify over the raw body (sequenced: over
    uint16_be(seqno) || uuid || body). Checking the uuid/seqno against server state is the
    caller's job (a stand-in server answers 412 on a mismatch)."""
    signature_part, sep, sequencing = header.partition(_SEQUENCING_SEPARATOR)
    words = signature_part.split(" ")
    if len(words) != 3 or words[0] != "Signature":
        raise ItnAuthError("header must be `Signature <pk_b64> <sig_b64>`")
    public_b64, signature_b64 = words[1], words[2]
    if public_b64 not in allowed_public_keys:
        raise ItnAuthError("public key is not in the allowed ITN keys")
    public_key = _decode_b64(public_b64, 32, "public key")
    signature = _decode_b64(signature_b64, 64, "signature")
    server_uuid: str | None = None
    seqno: int | None = None
    message = body
    if sep:
        seq_words = sequencing.split(" ")
        if len(seq_words) != 2 or not seq_words[1].isdigit():
            raise ItnAuthError("sequencing must be `; Sequencing <uuid> <seqno>`")
        server_uuid, seqno = seq_words[0], int(seq_words[1])
        try:
            message = _sequenced_message(body, server_uuid, seqno)
        except ValueError as error:
            raise ItnAuthError(str(error)) from error
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError) as error:
        raise ItnAuthError("signature does not verify") from error
    return VerifiedAuth(public_key=public_b64, server_uuid=server_uuid, seqno=seqno)
