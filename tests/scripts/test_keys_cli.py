"""`python -m scripts.keys`, run as a user would: outputs, file modes, exit codes, no leaks."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from minaperf.keys import itn, libp2p, mina, secret_box
from minaperf.keys.material import KeyMaterial, NodeSpec, derive_key_material
from tests.minaperf.keys import read_key_file

REPO = Path(__file__).resolve().parents[2]
EK = "EKFFrQVB9tmtHVxAGBqvZYUy9Wm2e5ERwNh4dgZpjyLsT6nfpmPS"
B62 = "B62qmabsxin5ukW6E1UJXhTx1wKn6WurScBRjPs42Z6mriP7FKhvWmy"


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MINA_", "TEST_PW"))}
    return subprocess.run(
        [sys.executable, "-m", "scripts.keys", *args],
        cwd=REPO,
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_bad_input(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert result.stdout == ""


def test_public_key_reads_the_private_key_from_stdin_or_the_environment() -> None:
    result = run("public-key", stdin=EK + "\n")
    assert (result.returncode, result.stdout) == (0, B62 + "\n"), result.stderr
    result = run("public-key", "--from-env", "TEST_PW_EK", env={"TEST_PW_EK": EK})
    assert (result.returncode, result.stdout) == (0, B62 + "\n"), result.stderr


def test_public_key_never_takes_the_key_from_argv() -> None:
    result = run("public-key", EK)
    assert_bad_input(result, "never from the command line")
    assert EK not in result.stderr


def test_public_key_rejects_bad_key() -> None:
    assert_bad_input(run("public-key", stdin=EK[:-1] + "T"), "checksum")
    assert_bad_input(run("public-key", stdin=B62), "version byte")
    assert_bad_input(run("public-key", stdin="x" * 10_000), "more than a private key")
    assert_bad_input(run("public-key", "--from-env", "TEST_PW_UNSET"), "TEST_PW_UNSET")


def test_new_mina_fast(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "bp"
    result = run("new", "mina", "--out", str(out), "--fast", env={"MINA_PRIVKEY_PASS": "pw 1"})
    assert result.returncode == 0, result.stderr
    public_key = result.stdout.strip()
    assert mina.is_valid_public_key(public_key)
    assert mode(out.parent) == 0o700
    assert mode(out) == 0o600
    assert mode(Path(f"{out}.pub")) == 0o600
    assert Path(f"{out}.pub").read_text() == public_key + "\n"
    plaintext = secret_box.decrypt(out.read_text(), "pw 1")
    assert mina.public_key_of_scalar(mina.scalar_from_private_key_bytes(plaintext)) == public_key
    assert json.loads(out.read_text())["pwdiff"] == secret_box.GENERATED_PWDIFF.as_list()

    inspected = run("inspect", str(out), env={"MINA_PRIVKEY_PASS": "pw 1"})
    assert json.loads(inspected.stdout) == {"kind": "mina", "public_key": public_key}
    shown = run("inspect", str(out), "--show-secret", env={"MINA_PRIVKEY_PASS": "pw 1"})
    private_key = json.loads(shown.stdout)["private_key"]
    assert mina.public_key_of(private_key) == public_key
    assert private_key not in inspected.stdout + result.stdout + result.stderr

    assert_bad_input(
        run("new", "mina", "--out", str(out), "--fast", env={"MINA_PRIVKEY_PASS": "x"}),
        "already exists",
    )


def test_new_mina_default_cost_is_moderate(tmp_path: Path) -> None:
    out = tmp_path / "user.key"
    result = run("new", "mina", "--out", str(out), env={"MINA_PRIVKEY_PASS": "pw"})
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["pwdiff"] == [134217728, 6]
    assert Path(f"{out}.pub").read_text() == result.stdout


def test_new_requires_the_password_variable(tmp_path: Path) -> None:
    assert_bad_input(run("new", "mina", "--out", str(tmp_path / "k")), "MINA_PRIVKEY_PASS")
    assert_bad_input(run("new", "libp2p", "--out", str(tmp_path / "k")), "MINA_LIBP2P_PASS")
    assert_bad_input(
        run("new", "mina", "--out", str(tmp_path / "k"), "--password-env", "TEST_PW_X"),
        "TEST_PW_X",
    )
    assert not (tmp_path / "k").exists()


def test_new_libp2p_with_custom_variable(tmp_path: Path) -> None:
    out = tmp_path / "p2p" / "seed"
    env = {"TEST_PW_P2P": "libp2p pw"}
    result = run(
        "new", "libp2p", "--out", str(out), "--fast", "--password-env", "TEST_PW_P2P", env=env
    )
    assert result.returncode == 0, result.stderr
    peer_id = result.stdout.strip()
    assert peer_id.startswith("12D3KooW")
    assert Path(f"{out}.peerid").read_text() == peer_id
    assert (mode(out), mode(out.parent)) == (0o600, 0o700)
    assert read_key_file(out.read_text(), "libp2p pw").peer_id == peer_id

    inspected = run("inspect", str(out), "--password-env", "TEST_PW_P2P", env=env)
    assert json.loads(inspected.stdout) == {"kind": "libp2p", "peer_id": peer_id}
    via_default = run("inspect", str(out), env={"MINA_LIBP2P_PASS": "libp2p pw"})
    assert json.loads(via_default.stdout) == {"kind": "libp2p", "peer_id": peer_id}
    shown = run("inspect", str(out), "--show-secret", "--password-env", "TEST_PW_P2P", env=env)
    assert libp2p.parse_triple(json.loads(shown.stdout)["keypair"]).peer_id == peer_id


def test_new_itn_prints_the_secret_only_when_asked(tmp_path: Path) -> None:
    quiet = run("new", "itn")
    assert quiet.returncode == 0
    assert [line.split(":")[0] for line in quiet.stdout.splitlines()] == ["public"]
    assert "secret was not shown" in quiet.stderr
    out = tmp_path / "itn" / "key"
    to_file = run("new", "itn", "--out", str(out))
    assert to_file.returncode == 0, to_file.stderr
    assert mode(out) == 0o600
    key = itn.ItnKey.from_secret_b64(out.read_text().strip())
    assert to_file.stdout == f"public: {key.public_b64}\n"
    assert_bad_input(run("new", "itn", "--out", str(out)), "already exists")
    result = run("new", "itn", "--show-secret")
    assert result.returncode == 0
    secret_line, public_line = result.stdout.splitlines()
    assert secret_line.startswith("secret: ")
    assert public_line.startswith("public: ")
    key = itn.ItnKey.from_secret_b64(secret_line.removeprefix("secret: "))
    assert key.public_b64 == public_line.removeprefix("public: ")


@pytest.fixture
def mina_file(tmp_path: Path) -> Path:
    path = tmp_path / "k"
    path.write_text(
        secret_box.encrypt(mina.private_key_bytes(5), "good", salt=bytes(16), nonce=bytes(24))
    )
    return path


def test_inspect_errors(tmp_path: Path, mina_file: Path) -> None:
    good = {"MINA_PRIVKEY_PASS": "good"}
    assert_bad_input(run("inspect", str(mina_file), env={"MINA_PRIVKEY_PASS": "bad"}), "password")
    assert_bad_input(run("inspect", str(mina_file)), "MINA_PRIVKEY_PASS or MINA_LIBP2P_PASS")
    assert_bad_input(run("inspect", str(tmp_path / "missing"), env=good), "does not exist")
    corrupt = tmp_path / "corrupt"
    corrupt.write_text(mina_file.read_text()[:-10])
    assert_bad_input(run("inspect", str(corrupt), env=good), "not valid JSON")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    assert_bad_input(run("inspect", str(binary), env=good), "is not UTF-8 text (byte 0)")
    other = tmp_path / "other"
    other.write_text(secret_box.encrypt(b"hello", "good", salt=bytes(16), nonce=bytes(24)))
    assert_bad_input(run("inspect", str(other), env=good), "neither a Mina nor a libp2p key")


def test_usage_errors_are_one_line() -> None:
    assert_bad_input(run("bogus"), "invalid choice")
    assert_bad_input(run("new", "mina"), "--out")
    assert_bad_input(run("export", "--out", "x"), "--stack")


def _outputs(material: KeyMaterial, *, masked: bool = False) -> dict[str, Any]:
    funding: Any = (
        "[secret]"
        if masked
        else [
            {
                "publicKey": f.public_key,
                "privateKey": f.private_key,
                "keyFile": f.key_file,
                "password": f.password,
            }
            for f in material.funding
        ]
    )
    return {
        "experiment": "e1",
        "namespace": "ns",
        "platform": "kubernetes",
        "expiresAt": "2030-01-01T00:00:00Z",
        "nodes": [],
        "seedMultiaddr": "/dns4/seed/tcp/8302/p2p/x",
        "uptimeOnlineUrl": "http://u/online",
        "uptimeSubmitUrl": "http://u/submit",
        "genesisTimestamp": "2030-01-01T00:00:00Z",
        "slotDurationMs": 20000,
        "proofLevel": "none",
        "fundDaemonPorts": [],
        "orchestratorKey": "[secret]" if masked else material.orchestrator.secret_b64,
        "orchestratorPublicKey": material.orchestrator.public_b64,
        "fetcherPublicKey": material.fetcher.public_b64,
        "fundingKeys": funding,
        "workspace": {
            "namespace": "ns",
            "pod": "ws",
            "container": "c",
            "workDir": "/w",
            "configPath": "/w/c.json",
            "fundingKeyDir": "/w/keys",
            "minaExec": "mina",
            "orchestratorExec": "orchestrator",
        },
        "logApiUrl": "http://logs",
        "postgres": {
            "host": "pg",
            "port": 5432,
            "database": "d",
            "user": "u",
            "keepDataOnDestroy": False,
        },
        "postgresPassword": "[secret]" if masked else "pg-pass",
        "workerPool": {
            "kind": "pods",
            "servers": 1,
            "processesPerServer": 1,
            "coordinatorAddress": "c:1",
        },
        "estimatedHourlyCostUsd": 1.0,
    }


def test_export_from_outputs_file(tmp_path: Path) -> None:
    material = derive_key_material(
        bytes(32), [NodeSpec("bp-1", "block-producer")], funding_accounts=2
    )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(_outputs(material)))
    out = tmp_path / "funding"
    result = run("export", "--outputs", str(outputs), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert mode(out) == 0o700
    expected = {"public-keys"}
    for index, account in enumerate(material.funding):
        base = out / f"funding-{index}"
        expected |= {base.name, f"{base.name}.pub", f"{base.name}.password"}
        assert base.read_text() == account.key_file
        assert Path(f"{base}.pub").read_text() == account.public_key + "\n"
        password = Path(f"{base}.password").read_text()
        assert password == account.password
        plaintext = secret_box.decrypt(base.read_text(), password)
        assert mina.public_key_of_scalar(mina.scalar_from_private_key_bytes(plaintext)) == (
            account.public_key
        )
        for secret in (account.private_key, account.password, account.key_file):
            assert secret not in result.stdout + result.stderr
    assert {p.name for p in out.iterdir()} == expected
    assert all(mode(p) == 0o600 for p in out.iterdir())
    assert (out / "public-keys").read_text() == "".join(
        f"funding-{i} {f.public_key}\n" for i, f in enumerate(material.funding)
    )


def test_export_refuses_masked_or_broken_outputs(tmp_path: Path) -> None:
    material = derive_key_material(bytes(32), [], funding_accounts=1)
    masked = tmp_path / "masked.json"
    masked.write_text(json.dumps(_outputs(material, masked=True)))
    assert_bad_input(
        run("export", "--outputs", str(masked), "--out", str(tmp_path / "o")), "[secret]"
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert_bad_input(
        run("export", "--outputs", str(broken), "--out", str(tmp_path / "o")), "outputs"
    )
    mismatched = _outputs(material)
    mismatched["fundingKeys"][0]["publicKey"] = B62
    bad = tmp_path / "mismatch.json"
    bad.write_text(json.dumps(mismatched))
    assert_bad_input(run("export", "--outputs", str(bad), "--out", str(tmp_path / "o")), "match")
    assert not (tmp_path / "o").exists()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_outputs(material)))
    assert_bad_input(run("export", "--outputs", str(good), "--out", str(shared)), "chmod 700")


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"MINA_PRIVKEY_PASS": "pw"}
    assert_bad_input(
        run("new", "mina", "--fast", "--out", str(blocker / "k"), env=env), "not a directory"
    )
    assert_bad_input(
        run("new", "mina", "--fast", "--out", str(blocker / "a" / "k"), env=env), "error"
    )


@pytest.mark.parametrize(("kind", "side"), [("mina", ".pub"), ("libp2p", ".peerid")])
def test_new_refuses_when_any_output_file_exists(tmp_path: Path, kind: str, side: str) -> None:
    out = tmp_path / "keys" / "k"
    out.parent.mkdir(mode=0o700)
    (tmp_path / "keys" / f"k{side}").write_text("mine\n")
    env = {"TEST_PW_NEW": "pw"}
    result = run("new", kind, "--fast", "--out", str(out), "--password-env", "TEST_PW_NEW", env=env)
    assert_bad_input(result, "already exists")
    assert (tmp_path / "keys" / f"k{side}").read_text() == "mine\n"
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"[" * 200_000, "nested too deeply"),
        (b"\xff\xfe\x00\x01", "UTF-8"),
    ],
)
def test_inspect_hostile_files_are_one_line(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "k"
    path.write_bytes(content)
    result = run("inspect", str(path), env={"MINA_PRIVKEY_PASS": "pw"})
    assert_bad_input(result, fragment)


def test_inspect_refuses_a_kdf_cost_past_libsodium_sensitive(tmp_path: Path) -> None:
    env = {"MINA_PRIVKEY_PASS": "pw"}
    out = tmp_path / "keys" / "k"
    assert run("new", "mina", "--fast", "--out", str(out), env=env).returncode == 0
    document = json.loads(out.read_text())
    document["pwdiff"] = [1 << 34, 4]  # 16 GiB of Argon2 memory: a hang, or an OOM kill
    hostile = tmp_path / "hostile"
    hostile.write_text(json.dumps(document))
    assert_bad_input(run("inspect", str(hostile), env=env), "KDF cost too high")
