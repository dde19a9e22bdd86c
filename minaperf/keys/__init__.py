"""Pure key material for Mina experiments: no Pulumi here, so tools and tests can use it."""

from .base58check import Base58CheckError
from .itn import ItnAuthError, ItnKey, VerifiedAuth, verify_authorization
from .libp2p import (
    Libp2pKeyError,
    Libp2pKeypair,
    parse_triple,
    peer_id_from_public_key,
    seed_multiaddr,
)
from .material import (
    FundingAccount,
    ImportedMinaKey,
    KeyMaterial,
    NodeKeys,
    NodeSpec,
    PublicSummary,
    derive_key_material,
)
from .mina import (
    MinaKeyError,
    MinaKeypair,
    format_private_key,
    format_public_key,
    is_valid_public_key,
    parse_private_key,
    parse_public_key,
    public_key_of,
)
from .secret_box import GENERATED_PWDIFF, MODERATE_PWDIFF, KeyFileError, PwDiff

__all__ = [
    "GENERATED_PWDIFF",
    "MODERATE_PWDIFF",
    "Base58CheckError",
    "FundingAccount",
    "ImportedMinaKey",
    "ItnAuthError",
    "ItnKey",
    "KeyFileError",
    "KeyMaterial",
    "Libp2pKeyError",
    "Libp2pKeypair",
    "MinaKeyError",
    "MinaKeypair",
    "NodeKeys",
    "NodeSpec",
    "PublicSummary",
    "PwDiff",
    "VerifiedAuth",
    "derive_key_material",
    "format_private_key",
    "format_public_key",
    "is_valid_public_key",
    "parse_private_key",
    "parse_public_key",
    "parse_triple",
    "peer_id_from_public_key",
    "public_key_of",
    "seed_multiaddr",
    "verify_authorization",
]
