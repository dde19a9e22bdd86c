"""Deterministic key material for one stack, derived from a 32-byte master seed.

Pulumi stores one random seed per stack; every key, password, salt and nonce is a keyed BLAKE2b
of that seed over a label naming its purpose and node. The same seed therefore reproduces
byte-identical key files on every `pulumi up` (no resource churn, no stored key state), while
different seeds give unrelated keys. Funding accounts may come from a separate seed so a funded
set can be reused across stacks, and a node may use an imported key instead of a derived one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypedDict

from . import libp2p, mina, pallas, secret_box
from .itn import ItnKey

ROLES: frozenset[str] = frozenset({"seed", "block-producer", "plain", "snark-coordinator"})
SEED_LENGTH = 32
_PERSON = b"minaperf-keys-v1"  # BLAKE2b personalisation: at most 16 bytes
_PASSWORD_BYTES = 24  # 192 bits of entropy, 32 url-safe characters


def _derive(seed: bytes, label: str, length: int) -> bytes:
    return hashlib.blake2b(
        label.encode("utf-8"), key=seed, person=_PERSON, digest_size=length
    ).digest()


def _derive_scalar(seed: bytes, label: str) -> int:
    # 512 bits reduced mod q-1: bias is ~2^-258, negligible.
    return int.from_bytes(_derive(seed, label, 64), "little") % (pallas.Q - 1) + 1


def _derive_password(seed: bytes, label: str) -> str:
    raw = _derive(seed, label, _PASSWORD_BYTES)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _check_seed(seed: bytes, what: str) -> None:
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_LENGTH:
        raise ValueError(f"{what} must be exactly {SEED_LENGTH} bytes")


def _boxed_mina_key(
    seed: bytes, prefix: str, keypair: mina.MinaKeypair, password: str | None = None
) -> tuple[str, str]:
    password = password if password is not None else _derive_password(seed, f"{prefix}/password")
    key_file = secret_box.encrypt(
        keypair.private_key_bytes,
        password,
        salt=_derive(seed, f"{prefix}/salt", secret_box.SALT_LENGTH),
        nonce=_derive(seed, f"{prefix}/nonce", secret_box.NONCE_LENGTH),
    )
    return key_file, password


@dataclass(frozen=True)
class NodeSpec:
    """A daemon that needs keys: its workload name and role."""

    name: str
    role: str


@dataclass(frozen=True)
class ImportedMinaKey:
    """A user's existing Mina key to use for a node instead of a derived one.

    `derive_key_material` checks the private key and the key file's structure but does not
    decrypt the file (that costs ~0.5 s at the daemon's default cost, on every preview); call
    `verify()` once, or build it with `from_key_file`, to prove they belong together.
    """

    private_key: str = field(repr=False)
    key_file: str = field(repr=False)
    password: str = field(repr=False)

    @classmethod
    def from_key_file(cls, key_file: str, password: str) -> ImportedMinaKey:
        """Decrypt `key_file` to obtain the private key (raises KeyFileError)."""
        plaintext = secret_box.decrypt(key_file, password)
        try:
            scalar = mina.scalar_from_private_key_bytes(plaintext)
        except mina.MinaKeyError as error:
            raise secret_box.KeyFileError(f"key file does not hold a Mina key: {error}") from error
        return cls(mina.format_private_key(scalar), key_file, password)

    def verify(self) -> None:
        """Raise KeyFileError unless the key file decrypts to `private_key`."""
        if ImportedMinaKey.from_key_file(self.key_file, self.password).private_key != (
            mina.format_private_key(mina.parse_private_key(self.private_key))
        ):
            raise secret_box.KeyFileError("imported key file holds a different private key")


@dataclass(frozen=True)
class NodeKeys:
    """Everything one daemon needs: its Mina key file and its libp2p identity."""

    name: str
    role: str
    mina: mina.MinaKeypair
    key_file: str = field(repr=False)
    password: str = field(repr=False)
    libp2p: libp2p.Libp2pKeypair
    libp2p_key_file: str = field(repr=False)
    libp2p_password: str = field(repr=False)
    imported: bool = False

    @property
    def public_key(self) -> str:
        return self.mina.public_key

    @property
    def private_key(self) -> str:
        return self.mina.private_key

    @property
    def peer_id(self) -> str:
        return self.libp2p.peer_id


@dataclass(frozen=True)
class FundingAccount:
    """A funded genesis account the orchestrator pays from."""

    index: int
    mina: mina.MinaKeypair
    key_file: str = field(repr=False)
    password: str = field(repr=False)

    @property
    def public_key(self) -> str:
        return self.mina.public_key

    @property
    def private_key(self) -> str:
        return self.mina.private_key


class PublicNode(TypedDict):
    role: str
    public_key: str
    peer_id: str


class PublicItn(TypedDict):
    orchestrator: str
    fetcher: str


class PublicSummary(TypedDict):
    """Public half of KeyMaterial: safe to export, log, or feed to genesis."""

    nodes: dict[str, PublicNode]
    itn: PublicItn
    funding: list[str]


@dataclass(frozen=True, repr=False)
class KeyMaterial:
    """All key material of one stack. repr shows only counts, never a secret."""

    nodes: Mapping[str, NodeKeys]
    orchestrator: ItnKey
    fetcher: ItnKey
    funding: tuple[FundingAccount, ...]

    def __repr__(self) -> str:
        return (
            f"KeyMaterial(nodes={len(self.nodes)}, funding={len(self.funding)}, secrets=<hidden>)"
        )

    def public_summary(self) -> PublicSummary:
        """Only public data: node public keys and peer ids, ITN and funding public keys."""
        return {
            "nodes": {
                name: {"role": keys.role, "public_key": keys.public_key, "peer_id": keys.peer_id}
                for name, keys in self.nodes.items()
            },
            "itn": {
                "orchestrator": self.orchestrator.public_b64,
                "fetcher": self.fetcher.public_b64,
            },
            "funding": [account.public_key for account in self.funding],
        }


def _node_keys(seed: bytes, node: NodeSpec, imported: ImportedMinaKey | None) -> NodeKeys:
    if imported is None:
        keypair = mina.MinaKeypair.from_scalar(_derive_scalar(seed, f"mina-key/{node.name}"))
        key_file, password = _boxed_mina_key(seed, f"mina-key/{node.name}", keypair)
    else:
        keypair = mina.MinaKeypair.from_private_key(imported.private_key)
        secret_box.parse(imported.key_file)  # structure only; see ImportedMinaKey
        key_file, password = imported.key_file, imported.password
    p2p_prefix = f"libp2p-key/{node.name}"
    p2p = libp2p.Libp2pKeypair.from_seed(_derive(seed, p2p_prefix, libp2p.SEED_LENGTH))
    p2p_password = _derive_password(seed, f"{p2p_prefix}/password")
    p2p_file = libp2p.write_key_file(
        p2p,
        p2p_password,
        salt=_derive(seed, f"{p2p_prefix}/salt", secret_box.SALT_LENGTH),
        nonce=_derive(seed, f"{p2p_prefix}/nonce", secret_box.NONCE_LENGTH),
    )
    return NodeKeys(
        name=node.name,
        role=node.role,
        mina=keypair,
        key_file=key_file,
        password=password,
        libp2p=p2p,
        libp2p_key_file=p2p_file,
        libp2p_password=p2p_password,
        imported=imported is not None,
    )


def derive_key_material(
    master_seed: bytes,
    nodes: Sequence[NodeSpec],
    *,
    funding_accounts: int,
    funding_seed: bytes | None = None,
    imported: Mapping[str, ImportedMinaKey] | None = None,
) -> KeyMaterial:
    """Derive every key of a stack; same inputs give byte-identical output."""
    _check_seed(master_seed, "master_seed")
    if funding_seed is not None:
        _check_seed(funding_seed, "funding_seed")
    if funding_accounts < 0:
        raise ValueError("funding_accounts must be >= 0")
    seed = bytes(master_seed)
    names = [node.name for node in nodes]
    for node in nodes:
        if not node.name:
            raise ValueError("node name must not be empty")
        if node.role not in ROLES:
            raise ValueError(f"node {node.name!r}: unknown role {node.role!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate node names: {', '.join(duplicates)}")
    imported = imported or {}
    unknown = sorted(set(imported) - set(names))
    if unknown:
        raise ValueError(f"imported keys for unknown nodes: {', '.join(unknown)}")

    node_keys = {node.name: _node_keys(seed, node, imported.get(node.name)) for node in nodes}
    fund_seed = seed if funding_seed is None else bytes(funding_seed)
    funding: list[FundingAccount] = []
    # One password for every funding key file: the orchestrator's `fund-keys`/`load-keys` and the
    # generator name a single password variable for all the keys of a step.
    funding_password = _derive_password(fund_seed, "funding-key/password")
    for index in range(funding_accounts):
        prefix = f"funding-key/{index}"
        keypair = mina.MinaKeypair.from_scalar(_derive_scalar(fund_seed, prefix))
        key_file, password = _boxed_mina_key(fund_seed, prefix, keypair, funding_password)
        funding.append(FundingAccount(index, keypair, key_file, password))
    orchestrator = ItnKey(_derive(seed, "itn-key/orchestrator", 32))
    fetcher = ItnKey(_derive(seed, "itn-key/fetcher", 32))
    return KeyMaterial(
        nodes=MappingProxyType(node_keys),
        orchestrator=orchestrator,
        fetcher=fetcher,
        funding=tuple(funding),
    )
