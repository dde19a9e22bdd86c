"""derive_key_material: determinism, independence of seeds, funding reuse, imports, secrecy."""

import json

import pytest

from minaperf.keys import mina, secret_box
from minaperf.keys.material import (
    ImportedMinaKey,
    KeyMaterial,
    NodeSpec,
    derive_key_material,
)
from minaperf.keys.secret_box import KeyFileError
from tests.minaperf.keys import read_key_file

SEED_A = bytes(range(32))
SEED_B = bytes(range(1, 33))
FUNDING_SEED = b"\xf0" * 32
NODES = [
    NodeSpec("seed-1", "seed"),
    NodeSpec("bp-1", "block-producer"),
    NodeSpec("bp-2", "block-producer"),
    NodeSpec("plain-1", "plain"),
    NodeSpec("snark-coordinator", "snark-coordinator"),
]


def _derive(
    seed: bytes = SEED_A,
    *,
    funding_accounts: int = 3,
    funding_seed: bytes | None = None,
    imported: dict[str, ImportedMinaKey] | None = None,
) -> KeyMaterial:
    return derive_key_material(
        seed,
        NODES,
        funding_accounts=funding_accounts,
        funding_seed=funding_seed,
        imported=imported,
    )


def _secrets(material: KeyMaterial) -> list[str]:
    values = [material.orchestrator.secret_b64, material.fetcher.secret_b64]
    for node in material.nodes.values():
        values += [node.private_key, node.key_file, node.password, node.libp2p_key_file]
        values += [node.libp2p_password, node.libp2p.triple().split(",")[0]]
    for account in material.funding:
        values += [account.private_key, account.key_file, account.password]
    return values


def test_same_seed_gives_identical_bytes() -> None:
    first, second = _derive(), _derive()
    assert _secrets(first) == _secrets(second)
    assert first.public_summary() == second.public_summary()


def test_different_seeds_share_nothing() -> None:
    a, b = _derive(SEED_A), _derive(SEED_B)
    assert set(_secrets(a)).isdisjoint(_secrets(b))
    assert set(a.public_summary()["funding"]).isdisjoint(b.public_summary()["funding"])


def test_every_key_is_distinct() -> None:
    material = _derive()
    summary = material.public_summary()
    public_keys = [n["public_key"] for n in summary["nodes"].values()] + summary["funding"]
    assert len(set(public_keys)) == len(public_keys) == len(NODES) + 3
    peer_ids = [n["peer_id"] for n in summary["nodes"].values()]
    assert len(set(peer_ids)) == len(NODES)
    assert material.orchestrator.public_b64 != material.fetcher.public_b64
    passwords = [n.password for n in material.nodes.values()]
    passwords += [n.libp2p_password for n in material.nodes.values()]
    assert len(set(passwords)) == len(passwords)


def test_files_decrypt_to_the_advertised_keys() -> None:
    material = _derive()
    for name, node in material.nodes.items():
        assert node.name == name
        plaintext = secret_box.decrypt(node.key_file, node.password)
        assert mina.format_private_key(mina.scalar_from_private_key_bytes(plaintext)) == (
            node.private_key
        )
        assert mina.public_key_of(node.private_key) == node.public_key
        assert read_key_file(node.libp2p_key_file, node.libp2p_password) == node.libp2p
        assert json.loads(node.key_file)["pwdiff"] == secret_box.GENERATED_PWDIFF.as_list()
    for account in material.funding:
        plaintext = secret_box.decrypt(account.key_file, account.password)
        assert mina.scalar_from_private_key_bytes(plaintext) == mina.parse_private_key(
            account.private_key
        )


def test_passwords_are_long_random_url_safe_text() -> None:
    material = _derive()
    for node in material.nodes.values():
        for password in (node.password, node.libp2p_password):
            assert len(password) >= 22  # >= 128 bits at 6 bits per character
            assert all(c.isalnum() or c in "-_" for c in password)


def test_funding_seed_is_shared_across_stacks() -> None:
    a = _derive(SEED_A, funding_seed=FUNDING_SEED)
    b = _derive(SEED_B, funding_seed=FUNDING_SEED)
    assert a.public_summary()["funding"] == b.public_summary()["funding"]
    assert [f.key_file for f in a.funding] == [f.key_file for f in b.funding]
    assert a.public_summary()["nodes"] != b.public_summary()["nodes"]
    own = _derive(SEED_A)
    assert own.public_summary()["funding"] != a.public_summary()["funding"]
    # More accounts extend the list without changing the first ones.
    more = _derive(SEED_B, funding_seed=FUNDING_SEED, funding_accounts=5)
    assert more.public_summary()["funding"][:3] == a.public_summary()["funding"]


def test_node_keys_do_not_depend_on_the_other_nodes() -> None:
    full = _derive()
    alone = derive_key_material(SEED_A, [NODES[1]], funding_accounts=0)
    assert alone.nodes["bp-1"].key_file == full.nodes["bp-1"].key_file
    assert alone.funding == ()


def _imported() -> tuple[mina.MinaKeypair, ImportedMinaKey]:
    keypair = mina.MinaKeypair.generate()
    key_file = secret_box.encrypt_random(
        keypair.private_key_bytes, "user password", pwdiff=secret_box.GENERATED_PWDIFF
    )
    return keypair, ImportedMinaKey.from_key_file(key_file, "user password")


def test_imported_key_replaces_the_derived_one() -> None:
    keypair, imported = _imported()
    assert imported.private_key == keypair.private_key
    imported.verify()
    material = _derive(imported={"bp-2": imported})
    node = material.nodes["bp-2"]
    assert node.imported
    assert node.public_key == keypair.public_key
    assert (node.key_file, node.password) == (imported.key_file, imported.password)
    baseline = _derive()
    assert node.peer_id == baseline.nodes["bp-2"].peer_id  # libp2p identity still derived
    assert material.nodes["bp-1"].key_file == baseline.nodes["bp-1"].key_file
    assert not material.nodes["bp-1"].imported


def test_imported_key_verify_detects_a_mismatch() -> None:
    _, imported = _imported()
    other, _ = _imported()
    mismatched = ImportedMinaKey(other.private_key, imported.key_file, imported.password)
    with pytest.raises(KeyFileError, match="different private key"):
        mismatched.verify()
    with pytest.raises(KeyFileError, match="wrong password"):
        ImportedMinaKey.from_key_file(imported.key_file, "not it")


def test_imported_key_is_checked_cheaply() -> None:
    _, imported = _imported()
    broken = ImportedMinaKey(imported.private_key, "{}", imported.password)
    with pytest.raises(KeyFileError, match="lacks field"):
        _derive(imported={"bp-1": broken})
    bad_key = ImportedMinaKey("EKnope", imported.key_file, imported.password)
    with pytest.raises(mina.MinaKeyError):
        _derive(imported={"bp-1": bad_key})


def test_public_summary_and_repr_reveal_no_secret() -> None:
    _, imported = _imported()
    material = _derive(imported={"plain-1": imported})
    summary = material.public_summary()
    dumped = json.dumps(summary) + repr(material) + str(material)
    dumped += "".join(repr(n) for n in material.nodes.values())
    dumped += "".join(repr(f) for f in material.funding) + repr(imported)
    for secret in [*_secrets(material), imported.password, imported.private_key]:
        assert secret not in dumped
    assert summary["itn"] == {
        "orchestrator": material.orchestrator.public_b64,
        "fetcher": material.fetcher.public_b64,
    }
    assert summary["nodes"]["bp-1"] == {
        "role": "block-producer",
        "public_key": material.nodes["bp-1"].public_key,
        "peer_id": material.nodes["bp-1"].peer_id,
    }
    assert list(summary["nodes"]) == [n.name for n in NODES]


@pytest.mark.parametrize(
    ("nodes", "funding", "funding_seed", "message"),
    [
        ([NodeSpec("x", "archive")], 0, None, "unknown role"),
        ([NodeSpec("x", "seed"), NodeSpec("x", "plain")], 0, None, "duplicate node names: x"),
        ([NodeSpec("", "seed")], 0, None, "empty"),
        ([], -1, None, ">= 0"),
        ([], 0, b"short", "funding_seed must be exactly 32"),
    ],
)
def test_invalid_input(
    nodes: list[NodeSpec], funding: int, funding_seed: bytes | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        derive_key_material(SEED_A, nodes, funding_accounts=funding, funding_seed=funding_seed)


def test_seed_length_and_unknown_import() -> None:
    with pytest.raises(ValueError, match="master_seed must be exactly 32"):
        derive_key_material(bytes(31), NODES, funding_accounts=0)
    _, imported = _imported()
    with pytest.raises(ValueError, match="unknown nodes: ghost"):
        _derive(imported={"ghost": imported})


def test_funding_keys_share_one_password_so_one_variable_opens_them_all() -> None:
    from minaperf.keys import secret_box
    from minaperf.keys.material import NodeSpec, derive_key_material

    material = derive_key_material(bytes(32), [NodeSpec("seed-1", "seed")], funding_accounts=3)
    passwords = {account.password for account in material.funding}
    assert len(passwords) == 1
    password = passwords.pop()
    for account in material.funding:
        plaintext = secret_box.decrypt(account.key_file, password)
        assert plaintext[1:] == account.mina.private_key_bytes[1:]
    assert password != material.nodes["seed-1"].password
