"""libp2p identities: the upstream triple and key files, protobuf layout and peer ids.

Three upstream key files (moderate Argon2i, ~0.5 s each) are decrypted by default, including
the pretty-printed one; set MINAPERF_ALL_VECTORS=1 to decrypt all eight.
"""

import base64
import os
from pathlib import Path

import base58
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.keys import libp2p
from minaperf.keys.libp2p import Libp2pKeyError, Libp2pKeypair
from minaperf.keys.secret_box import KeyFileError

from . import VECTOR_PASSWORD, VECTORS, read_key_file

TRIPLE = (
    "CAESQNf7ldToowe604aFXdZ76GqW/XVlDmnXmBT+otorvIekBmBaDWu/6ZwYkZzqfr+3IrEh6FLbHQ3VSmubV9I9Kpc=,"
    "CAESIAZgWg1rv+mcGJGc6n6/tyKxIehS2x0N1Uprm1fSPSqX,"
    "12D3KooWAFFq2yEQFFzhU5dt64AWqawRuomG9hL8rSmm5vxhAsgr"
)
DEFAULT_FILES = {"receiver.json", "seed-0.json", "archive_node.json"}
ALL_FILES = sorted(p.name for p in (VECTORS / "libp2p_keys").glob("*.json"))
SALT, NONCE = bytes(16), bytes(24)


def _peerid_file(name: str) -> Path:
    with_suffix = VECTORS / "libp2p_keys" / f"{name}.peerid"
    return (
        with_suffix if with_suffix.exists() else with_suffix.with_name(f"{Path(name).stem}.peerid")
    )


def test_plain_triple_vector() -> None:
    keypair = libp2p.parse_triple(TRIPLE)
    assert keypair.peer_id == "12D3KooWAFFq2yEQFFzhU5dt64AWqawRuomG9hL8rSmm5vxhAsgr"
    assert keypair.triple() == TRIPLE
    assert Libp2pKeypair.from_seed(keypair.seed).triple() == TRIPLE


def test_semicolon_separator_is_accepted() -> None:
    assert libp2p.parse_triple(TRIPLE.replace(",", ";")).triple() == TRIPLE


@pytest.mark.parametrize("name", ALL_FILES)
def test_upstream_key_files(name: str) -> None:
    if name not in DEFAULT_FILES and not os.environ.get("MINAPERF_ALL_VECTORS"):
        pytest.skip("slow moderate-cost vector; set MINAPERF_ALL_VECTORS=1")
    text = (VECTORS / "libp2p_keys" / name).read_text()
    keypair = read_key_file(text, VECTOR_PASSWORD)
    assert keypair.peer_id == _peerid_file(name).read_text().strip()


def test_all_vector_files_have_a_peerid() -> None:
    assert len(ALL_FILES) == 8
    for name in ALL_FILES:
        assert _peerid_file(name).read_text().strip().startswith("12D3KooW")


@settings(max_examples=25, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_protobuf_layout_and_peer_id(seed: bytes) -> None:
    keypair = Libp2pKeypair.from_seed(seed)
    assert keypair.secret_protobuf == bytes.fromhex("08011240") + seed + keypair.public_key
    assert keypair.public_protobuf == bytes.fromhex("08011220") + keypair.public_key
    assert keypair.peer_id.startswith("12D3KooW")
    assert base58.b58decode(keypair.peer_id) == b"\x00\x24" + keypair.public_protobuf
    secret_b64, public_b64, peer_id = keypair.triple().split(",")
    assert base64.b64decode(secret_b64) == keypair.secret_protobuf
    assert base64.b64decode(public_b64) == keypair.public_protobuf
    assert peer_id == keypair.peer_id
    assert libp2p.parse_triple(keypair.triple()) == keypair


@settings(max_examples=10, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), password=st.text(max_size=20))
def test_key_file_round_trip(seed: bytes, password: str) -> None:
    keypair = Libp2pKeypair.from_seed(seed)
    text = libp2p.write_key_file(keypair, password, salt=SALT, nonce=NONCE)
    assert read_key_file(text, password) == keypair


def test_read_key_file_wrong_password() -> None:
    text = libp2p.write_key_file(Libp2pKeypair.generate(), "a", salt=SALT, nonce=NONCE)
    with pytest.raises(KeyFileError, match="wrong password"):
        read_key_file(text, "b")


def test_inconsistent_triples_are_refused() -> None:
    secret_b64, public_b64, peer_id = TRIPLE.split(",")
    other = Libp2pKeypair.generate()
    other_public = base64.b64encode(other.public_protobuf).decode()
    cases = {
        "three": f"{secret_b64},{public_b64}",
        "base64": f"!!!,{public_b64},{peer_id}",
        "private-key protobuf": f"{public_b64},{public_b64},{peer_id}",
        "does not match the secret": f"{secret_b64},{other_public},{peer_id}",
        "peer id does not match": f"{secret_b64},{public_b64},{other.peer_id}",
    }
    for message, text in cases.items():
        with pytest.raises(Libp2pKeyError, match=message):
            libp2p.parse_triple(text)


def test_seed_multiaddr() -> None:
    peer_id = libp2p.parse_triple(TRIPLE).peer_id
    assert (
        libp2p.seed_multiaddr("seed-1.ns.svc.cluster.local", 8302, peer_id)
        == f"/dns4/seed-1.ns.svc.cluster.local/tcp/8302/p2p/{peer_id}"
    )
    for host, port, pid in (
        ("", 1, peer_id),
        ("a/b", 1, peer_id),
        ("h", 0, peer_id),
        ("h", 1, "Qm"),
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - several distinct messages
            libp2p.seed_multiaddr(host, port, pid)


def test_repr_hides_seed() -> None:
    keypair = libp2p.parse_triple(TRIPLE)
    assert TRIPLE.split(",")[0] not in repr(keypair)
    assert repr(keypair.seed) not in repr(keypair)
