"""libp2p Ed25519 identities as the Mina daemon stores them (reference §5c).

The daemon keeps `base64(secret_protobuf),base64(public_protobuf),peer_id` and its key file is
the secret box over the UTF-8 bytes of that string (password env MINA_LIBP2P_PASS). We build the
protobufs by hand because the layout is fixed: secret = 08 01 12 40 || seed || pub, public =
08 01 12 20 || pub, peer id = base58btc of the identity multihash 00 24 || public protobuf.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field

import nacl.signing

from . import base58check, secret_box

SEED_LENGTH = 32
_SECRET_PB_PREFIX = bytes.fromhex("08011240")
_PUBLIC_PB_PREFIX = bytes.fromhex("08011220")
_IDENTITY_MULTIHASH_PREFIX = bytes.fromhex("0024")


class Libp2pKeyError(ValueError):
    """A libp2p keypair string or file is malformed or inconsistent."""


def peer_id_from_public_key(public_key: bytes) -> str:
    """`12D3KooW…` peer id of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise Libp2pKeyError("Ed25519 public key must be 32 bytes")
    return base58check.encode_plain(_IDENTITY_MULTIHASH_PREFIX + _PUBLIC_PB_PREFIX + public_key)


@dataclass(frozen=True)
class Libp2pKeypair:
    """An Ed25519 libp2p identity; the seed never appears in repr."""

    seed: bytes = field(repr=False)
    public_key: bytes = field(repr=False)
    peer_id: str

    @classmethod
    def from_seed(cls, seed: bytes) -> Libp2pKeypair:
        if len(seed) != SEED_LENGTH:
            raise Libp2pKeyError("libp2p Ed25519 seed must be 32 bytes")
        public_key = bytes(nacl.signing.SigningKey(seed).verify_key)
        return cls(seed, public_key, peer_id_from_public_key(public_key))

    @classmethod
    def generate(cls) -> Libp2pKeypair:
        return cls.from_seed(secrets.token_bytes(SEED_LENGTH))

    @property
    def secret_protobuf(self) -> bytes:
        return _SECRET_PB_PREFIX + self.seed + self.public_key

    @property
    def public_protobuf(self) -> bytes:
        return _PUBLIC_PB_PREFIX + self.public_key

    def triple(self) -> str:
        """The daemon's `b64(secret),b64(public),peer_id` string (secret!)."""
        return ",".join(
            (
                base64.b64encode(self.secret_protobuf).decode("ascii"),
                base64.b64encode(self.public_protobuf).decode("ascii"),
                self.peer_id,
            )
        )


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Libp2pKeyError(f"libp2p {what} is not valid base64") from error


def parse_triple(text: str) -> Libp2pKeypair:
    """Parse `secret,public,peer_id` (`;` also accepted, as the daemon does) and check that
    the three parts agree with each other."""
    parts = text.strip().replace(";", ",").split(",")
    if len(parts) != 3:
        raise Libp2pKeyError("libp2p keypair must have three comma-separated parts")
    secret_pb, public_pb = _b64(parts[0], "secret"), _b64(parts[1], "public key")
    if len(secret_pb) != 68 or secret_pb[:4] != _SECRET_PB_PREFIX:
        raise Libp2pKeyError("libp2p secret is not an Ed25519 private-key protobuf")
    if len(public_pb) != 36 or public_pb[:4] != _PUBLIC_PB_PREFIX:
        raise Libp2pKeyError("libp2p public key is not an Ed25519 public-key protobuf")
    keypair = Libp2pKeypair.from_seed(secret_pb[4:36])
    if secret_pb[36:] != keypair.public_key or public_pb[4:] != keypair.public_key:
        raise Libp2pKeyError("libp2p public key does not match the secret")
    if parts[2] != keypair.peer_id:
        raise Libp2pKeyError("libp2p peer id does not match the key")
    return keypair


def write_key_file(
    keypair: Libp2pKeypair,
    password: str | bytes,
    *,
    salt: bytes,
    nonce: bytes,
    pwdiff: secret_box.PwDiff = secret_box.GENERATED_PWDIFF,
) -> str:
    """Secret-box key file text over the UTF-8 triple."""
    return secret_box.encrypt(
        keypair.triple().encode("utf-8"), password, salt=salt, nonce=nonce, pwdiff=pwdiff
    )


def seed_multiaddr(host: str, port: int, peer_id: str) -> str:
    """`/dns4/<host>/tcp/<port>/p2p/<peer_id>`, the form `--peer` takes."""
    if not host or "/" in host:
        raise ValueError(f"invalid host for a multiaddr: {host!r}")
    if not 0 < port < 65536:
        raise ValueError(f"invalid TCP port: {port}")
    if not peer_id.startswith("12D3KooW"):
        raise ValueError(f"not an Ed25519 libp2p peer id: {peer_id!r}")
    return f"/dns4/{host}/tcp/{port}/p2p/{peer_id}"
