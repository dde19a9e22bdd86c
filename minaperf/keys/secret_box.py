"""The daemon's password-protected key file ("secret box", reference §5a): write and read it.

A one-line JSON document whose box is XSalsa20-Poly1305 under an Argon2i key from the password.
Reading honours the file's own Argon2i cost, within bounds. Writing uses a cheap cost for the
stack's own files and libsodium's moderate one for files the CLI hands to people.
See docs/cli.md#keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.pwhash.argon2i
import nacl.secret
import nacl.utils

from . import base58check

# The format (reference §5a): one-line JSON with exactly FIELDS. nonce (24 B), pwsalt (16 B) and
# ciphertext (16-byte Poly1305 tag first, then the plaintext) are base58check with version 0x02;
# the key is Argon2i(password, salt, opslimit=pwdiff[1], memlimit=pwdiff[0]), and the box is
# XSalsa20-Poly1305.
SECRET_BOX_VERSION = 0x02
BOX_PRIMITIVE = "xsalsa20poly1305"
PW_PRIMITIVE = "argon2i"
NONCE_LENGTH = nacl.secret.SecretBox.NONCE_SIZE  # 24
SALT_LENGTH = nacl.pwhash.argon2i.SALTBYTES  # 16
TAG_LENGTH = nacl.secret.SecretBox.MACBYTES  # 16
KEY_LENGTH = nacl.secret.SecretBox.KEY_SIZE  # 32
FIELDS = ("box_primitive", "pw_primitive", "nonce", "pwsalt", "pwdiff", "ciphertext")


class KeyFileError(ValueError):
    """A key file is unreadable: corrupt, badly encoded, or the password is wrong."""


@dataclass(frozen=True)
class PwDiff:
    """Argon2i cost as the file stores it: [memlimit_bytes, opslimit]."""

    memlimit: int
    opslimit: int

    def as_list(self) -> list[int]:
        return [self.memlimit, self.opslimit]


MODERATE_PWDIFF = PwDiff(
    nacl.pwhash.argon2i.MEMLIMIT_MODERATE, nacl.pwhash.argon2i.OPSLIMIT_MODERATE
)
# Files WE generate: 64 KiB / 3 passes, ~0.1 ms. The KDF cost only protects a low-entropy password
# against offline guessing; ours are random (>= 128 bits) and live in the same Kubernetes Secret
# as the key file, so a slow KDF would protect nothing and would cost ~0.5 s per key on every
# `pulumi preview` (two files per node). Every reader accepts it: libsodium's argon2i minimum is
# memlimit 8192 B / opslimit 3, and Go's `argon2.Key(pw, salt, ops, mem/1024, 1, 32)` (the
# orchestrator's loader) gets 64 KiB >= 8. Files meant to leave the cluster (user-facing CLI) use
# MODERATE_PWDIFF, the daemon's default.
GENERATED_PWDIFF = PwDiff(65536, 3)
MIN_PWDIFF = PwDiff(nacl.pwhash.argon2i.MEMLIMIT_MIN, nacl.pwhash.argon2i.OPSLIMIT_MIN)

# Upper bound on what we are willing to spend reading a file, which states its own cost: a hostile
# pwdiff would allocate gigabytes or run for minutes. libsodium's "sensitive" preset is the most
# any of its callers asks for (libsodium src/libsodium/include/sodium/crypto_pwhash_argon2i.h:
# crypto_pwhash_argon2i_MEMLIMIT_SENSITIVE 536870912U, _OPSLIMIT_SENSITIVE 8U).
MAX_READ_PWDIFF = PwDiff(
    nacl.pwhash.argon2i.MEMLIMIT_SENSITIVE, nacl.pwhash.argon2i.OPSLIMIT_SENSITIVE
)


def _password_bytes(password: str | bytes) -> bytes:
    return password.encode("utf-8") if isinstance(password, str) else password


def _derive_key(password: bytes, salt: bytes, pwdiff: PwDiff) -> bytes:
    try:
        return nacl.pwhash.argon2i.kdf(
            KEY_LENGTH, password, salt, opslimit=pwdiff.opslimit, memlimit=pwdiff.memlimit
        )
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as error:
        raise KeyFileError(f"argon2i rejected pwdiff {pwdiff.as_list()}: {error}") from error


def encrypt(
    plaintext: bytes,
    password: str | bytes,
    *,
    salt: bytes,
    nonce: bytes,
    pwdiff: PwDiff = GENERATED_PWDIFF,
) -> str:
    """Key-file JSON text (no trailing newline); salt and nonce are explicit for determinism."""
    if len(salt) != SALT_LENGTH:
        raise ValueError(f"salt must be {SALT_LENGTH} bytes")
    if len(nonce) != NONCE_LENGTH:
        raise ValueError(f"nonce must be {NONCE_LENGTH} bytes")
    key = _derive_key(_password_bytes(password), salt, pwdiff)
    ciphertext = nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext
    document = {
        "box_primitive": BOX_PRIMITIVE,
        "pw_primitive": PW_PRIMITIVE,
        "nonce": base58check.encode(SECRET_BOX_VERSION, nonce),
        "pwsalt": base58check.encode(SECRET_BOX_VERSION, salt),
        "pwdiff": pwdiff.as_list(),
        "ciphertext": base58check.encode(SECRET_BOX_VERSION, ciphertext),
    }
    return json.dumps(document, separators=(",", ":"))


def encrypt_random(
    plaintext: bytes, password: str | bytes, *, pwdiff: PwDiff = MODERATE_PWDIFF
) -> str:
    """Key-file text with a fresh random salt and nonce (for user-facing files)."""
    return encrypt(
        plaintext,
        password,
        salt=nacl.utils.random(SALT_LENGTH),
        nonce=nacl.utils.random(NONCE_LENGTH),
        pwdiff=pwdiff,
    )


@dataclass(frozen=True)
class SecretBoxFile:
    """The parsed, not yet decrypted, fields of a key file."""

    nonce: bytes
    salt: bytes
    pwdiff: PwDiff
    ciphertext: bytes


def _field_bytes(document: dict[str, Any], name: str, length: int | None) -> bytes:
    value = document[name]
    if not isinstance(value, str):
        raise KeyFileError(f"key file field {name!r} is not a string")
    try:
        data = base58check.decode(value, version=SECRET_BOX_VERSION)
    except base58check.Base58CheckError as error:
        raise KeyFileError(f"key file field {name!r}: {error}") from error
    if length is not None and len(data) != length:
        raise KeyFileError(f"key file field {name!r} is {len(data)} bytes, expected {length}")
    return data


def parse(text: str | bytes) -> SecretBoxFile:
    """Validate the JSON structure and encodings without running the KDF."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise KeyFileError(f"key file is not valid JSON: {error.msg}") from error
    except UnicodeDecodeError as error:
        raise KeyFileError("key file is not UTF-8 text") from error
    except RecursionError:
        raise KeyFileError("key file is not a key file (JSON nested too deeply)") from None
    if not isinstance(document, dict):
        raise KeyFileError("key file is not a JSON object")
    missing = [name for name in FIELDS if name not in document]
    if missing:
        raise KeyFileError(f"key file lacks field(s): {', '.join(missing)}")
    if document["box_primitive"] != BOX_PRIMITIVE:
        raise KeyFileError(f"unsupported box_primitive {document['box_primitive']!r}")
    if document["pw_primitive"] != PW_PRIMITIVE:
        raise KeyFileError(f"unsupported pw_primitive {document['pw_primitive']!r}")
    pwdiff = document["pwdiff"]
    if (
        not isinstance(pwdiff, list)
        or len(pwdiff) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in pwdiff)
    ):
        raise KeyFileError("key file pwdiff must be [memlimit, opslimit] integers")
    memlimit, opslimit = pwdiff
    if memlimit > MAX_READ_PWDIFF.memlimit or opslimit > MAX_READ_PWDIFF.opslimit:
        raise KeyFileError(
            f"KDF cost too high: pwdiff {pwdiff} exceeds libsodium's 'sensitive' "
            f"{MAX_READ_PWDIFF.as_list()}; re-encrypt the key with a lower cost"
        )
    if memlimit < MIN_PWDIFF.memlimit:
        raise KeyFileError(f"key file pwdiff memlimit {memlimit} out of range")
    if opslimit < MIN_PWDIFF.opslimit:
        raise KeyFileError(f"key file pwdiff opslimit {opslimit} out of range")
    ciphertext = _field_bytes(document, "ciphertext", None)
    if len(ciphertext) < TAG_LENGTH:
        raise KeyFileError("key file ciphertext is shorter than the authentication tag")
    return SecretBoxFile(
        nonce=_field_bytes(document, "nonce", NONCE_LENGTH),
        salt=_field_bytes(document, "pwsalt", SALT_LENGTH),
        pwdiff=PwDiff(memlimit, opslimit),
        ciphertext=ciphertext,
    )


def decrypt(text: str | bytes, password: str | bytes) -> bytes:
    """Plaintext of a key file; KeyFileError on any failure (including a wrong password)."""
    box = parse(text)
    key = _derive_key(_password_bytes(password), box.salt, box.pwdiff)
    try:
        return nacl.secret.SecretBox(key).decrypt(box.ciphertext, box.nonce)
    except nacl.exceptions.CryptoError as error:
        raise KeyFileError(
            "wrong password or corrupted key file (authentication failed)"
        ) from error
