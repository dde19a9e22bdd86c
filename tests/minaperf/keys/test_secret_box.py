"""Secret-box key files: upstream vectors, exact file layout, and clear errors.

Each upstream file uses the daemon's moderate Argon2i cost (~0.5 s), so only five of them are
decrypted here (the keyloader box and the four block-producer files).
"""

import json

import base58
import nacl.pwhash.argon2i
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.keys import base58check, mina, secret_box
from minaperf.keys.secret_box import GENERATED_PWDIFF, MODERATE_PWDIFF, KeyFileError, PwDiff

from . import VECTOR_PASSWORD, VECTORS

KEYLOADER_BOX = (
    '{"box_primitive":"xsalsa20poly1305","pw_primitive":"argon2i",'
    '"nonce":"8p9B5WcoBtfKCFhLfurLPPUT9Kih5pH141hBYdK","pwsalt":"98Q3JzhWcpGQFkyHs6khJUyY75Tx",'
    '"pwdiff":[134217728,6],'
    '"ciphertext":"AVehFg79QEYuEqdb5a3CqKgRctLAfCxeiJxmiwEA5rThVEazV1w5h6QJBCcBnMbZpgE28AiJF"}'
)
SALT = bytes(range(16))
NONCE = bytes(range(24))


def _mina_key_of(plaintext: bytes) -> str:
    return mina.format_private_key(mina.scalar_from_private_key_bytes(plaintext))


def test_keyloader_box_with_empty_password() -> None:
    plaintext = secret_box.decrypt(KEYLOADER_BOX, "")
    assert _mina_key_of(plaintext) == "EKEEpMELfQkMbJDt2fB4cFXKwSf1x4t7YD4twREy5yuJ84HBZtF9"


def test_block_producer_files_hold_genesis_ledger_keys() -> None:
    ledger = json.loads((VECTORS / "genesis_ledger.json").read_text())["ledger"]["accounts"]
    ledger_pks = {account["pk"] for account in ledger}
    files = sorted((VECTORS / "block_producer_keys").glob("*.json"))
    assert len(files) == 4
    for path in files:
        private_key = _mina_key_of(secret_box.decrypt(path.read_text(), VECTOR_PASSWORD))
        assert mina.public_key_of(private_key) in ledger_pks, path.name


def _raw_field(document: dict[str, object], name: str) -> bytes:
    value = document[name]
    assert isinstance(value, str)
    return base58.b58decode(value)


@settings(max_examples=20, deadline=None)
@given(
    plaintext=st.binary(max_size=200),
    password=st.text(max_size=40),
    salt=st.binary(min_size=16, max_size=16),
    nonce=st.binary(min_size=24, max_size=24),
)
def test_round_trip_and_upstream_layout(
    plaintext: bytes, password: str, salt: bytes, nonce: bytes
) -> None:
    text = secret_box.encrypt(plaintext, password, salt=salt, nonce=nonce)
    assert "\n" not in text
    assert secret_box.decrypt(text, password) == plaintext
    document = json.loads(text)
    assert list(document) == [
        "box_primitive",
        "pw_primitive",
        "nonce",
        "pwsalt",
        "pwdiff",
        "ciphertext",
    ]
    assert document["box_primitive"] == "xsalsa20poly1305"
    assert document["pw_primitive"] == "argon2i"
    assert document["pwdiff"] == [GENERATED_PWDIFF.memlimit, GENERATED_PWDIFF.opslimit]
    for name, size in (("nonce", 24), ("pwsalt", 16), ("ciphertext", 16 + len(plaintext))):
        raw = _raw_field(document, name)
        assert raw[0] == 0x02, name
        assert len(raw) == 1 + size + 4, name
    assert base58check.decode(document["nonce"], version=2) == nonce
    assert base58check.decode(document["pwsalt"], version=2) == salt


@settings(max_examples=15, deadline=None)
@given(scalar=st.integers(1, mina.pallas.Q - 1), password=st.text(min_size=1, max_size=30))
def test_mina_key_file_matches_upstream_shape(scalar: int, password: str) -> None:
    plaintext = mina.private_key_bytes(scalar)
    text = secret_box.encrypt(plaintext, password, salt=SALT, nonce=NONCE)
    upstream = json.loads((VECTORS / "block_producer_keys" / "receiver.json").read_text())
    ours = json.loads(text)
    assert list(ours) == list(upstream)
    for name in ("nonce", "pwsalt", "ciphertext"):
        assert len(_raw_field(ours, name)) == len(_raw_field(upstream, name)), name
    assert len(_raw_field(ours, "ciphertext")) == 1 + 49 + 4
    assert mina.scalar_from_private_key_bytes(secret_box.decrypt(text, password)) == scalar


def test_same_inputs_give_identical_text() -> None:
    first = secret_box.encrypt(b"abc", "pw", salt=SALT, nonce=NONCE)
    assert secret_box.encrypt(b"abc", "pw", salt=SALT, nonce=NONCE) == first
    assert secret_box.encrypt(b"abc", "pw", salt=SALT[::-1], nonce=NONCE) != first


def test_read_honours_the_files_pwdiff() -> None:
    cost = PwDiff(1 << 20, 4)
    text = secret_box.encrypt(b"secret", "pw", salt=SALT, nonce=NONCE, pwdiff=cost)
    assert json.loads(text)["pwdiff"] == [1 << 20, 4]
    assert secret_box.decrypt(text, "pw") == b"secret"
    # The same box labelled with another cost derives another key and must fail.
    relabelled = text.replace("[1048576,4]", "[65536,3]")
    with pytest.raises(KeyFileError, match="wrong password"):
        secret_box.decrypt(relabelled, "pw")


def test_generated_cost_is_accepted_by_libsodium_and_go() -> None:
    for cost in (GENERATED_PWDIFF, MODERATE_PWDIFF):
        assert cost.memlimit >= nacl.pwhash.argon2i.MEMLIMIT_MIN
        assert cost.opslimit >= nacl.pwhash.argon2i.OPSLIMIT_MIN
        # Go: argon2.Key(pw, salt, ops, mem/1024, 1, 32) needs >= 8 KiB and whole KiB.
        assert cost.memlimit % 1024 == 0
        assert cost.memlimit // 1024 >= 8
    derived = nacl.pwhash.argon2i.kdf(
        32, b"pw", SALT, opslimit=GENERATED_PWDIFF.opslimit, memlimit=GENERATED_PWDIFF.memlimit
    )
    assert len(derived) == 32
    assert PwDiff(134217728, 6) == MODERATE_PWDIFF


def test_wrong_password() -> None:
    text = secret_box.encrypt(b"k", "right", salt=SALT, nonce=NONCE)
    with pytest.raises(KeyFileError, match="wrong password"):
        secret_box.decrypt(text, "wrong")


def _box_with(**changes: object) -> str:
    document = json.loads(secret_box.encrypt(b"k", "pw", salt=SALT, nonce=NONCE))
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (_box_with(ciphertext=None), "lacks field"),
        (_box_with(box_primitive="aes"), "box_primitive"),
        (_box_with(pw_primitive="scrypt"), "pw_primitive"),
        (_box_with(pwdiff=[65536]), "pwdiff"),
        (_box_with(pwdiff=[1024, 3]), "memlimit"),
        (_box_with(pwdiff=[65536, 1]), "opslimit"),
        (_box_with(nonce="0OIl"), "'nonce'.*not base58"),
        (_box_with(nonce=base58check.encode(0x02, bytes(23))), "'nonce' is 23 bytes"),
        (_box_with(pwsalt=base58check.encode(0x03, bytes(16))), "'pwsalt'.*version"),
        (_box_with(ciphertext=base58check.encode(0x02, bytes(8))), "shorter than"),
        (_box_with(nonce=12), "'nonce' is not a string"),
    ],
)
def test_corrupt_files_give_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message) as caught:
        secret_box.decrypt(text, "pw")
    assert "\n" not in str(caught.value)


def test_tampered_ciphertext_fails_authentication() -> None:
    document = json.loads(secret_box.encrypt(b"key bytes", "pw", salt=SALT, nonce=NONCE))
    raw = bytearray(base58check.decode(document["ciphertext"], version=2))
    raw[-1] ^= 1
    document["ciphertext"] = base58check.encode(2, bytes(raw))
    with pytest.raises(KeyFileError, match="authentication failed"):
        secret_box.decrypt(json.dumps(document), "pw")


def test_encrypt_rejects_bad_salt_and_nonce() -> None:
    with pytest.raises(ValueError, match="salt"):
        secret_box.encrypt(b"", "pw", salt=bytes(15), nonce=NONCE)
    with pytest.raises(ValueError, match="nonce"):
        secret_box.encrypt(b"", "pw", salt=SALT, nonce=bytes(25))
