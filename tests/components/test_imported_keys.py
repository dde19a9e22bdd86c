"""`keys.imported`: a user's own Mina key file runs a node instead of a derived key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from minaperf.keys import mina, secret_box
from minaperf.model.config import ConfigError
from minaperf.model.load import parse_config
from tests.conftest import ROOT, render

VECTOR = "tests/data/vectors/minimina-large/block_producer_keys/receiver.json"
PASSWORD = "naughty blue worm"


def test_an_imported_key_file_runs_the_node() -> None:
    rendered = render(
        "dev",
        overrides=[f"keys.imported.bp-1.keyFile={VECTOR}"],
        secrets={"keys.imported.bp-1.password": PASSWORD},
    )
    key_file = (ROOT / VECTOR).read_text()
    expected = mina.public_key_of_scalar(
        mina.scalar_from_private_key_bytes(secret_box.decrypt(key_file, PASSWORD))
    )
    bp1 = next(node for node in rendered.outputs["nodes"] if node["name"] == "bp-1")
    assert bp1["publicKey"] == expected
    secret = rendered.named("kubernetes:core/v1:Secret", "bp-keys")
    assert secret["inputs"]["stringData"]["bp-1.node-key"] == key_file
    assert secret["inputs"]["stringData"]["bp-1.node-password"] == PASSWORD
    runtime = next(
        json.loads(r["inputs"]["data"]["daemon.json"])
        for r in rendered.of_type("kubernetes:core/v1:ConfigMap")
        if "daemon.json" in (r["inputs"].get("data") or {})
    )
    assert expected in {account["pk"] for account in runtime["ledger"]["accounts"]}
    whitelist = next(
        json.loads(r["inputs"]["data"]["config.json"])["whitelist"]
        for r in rendered.of_type("kubernetes:core/v1:ConfigMap")
        if "config.json" in (r["inputs"].get("data") or {})
    )
    assert expected in whitelist


def test_importing_for_an_unknown_node_names_the_key() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(
            "dev",
            {
                "platform": {"kind": "kubernetes"},
                "keys": {"imported": {"bp-9": {"keyFile": VECTOR, "password": PASSWORD}}},
            },
        )
    assert raised.value.key == "keys.imported.bp-9"
    assert "bp-3" in raised.value.reason


def test_a_wrong_password_stops_the_render_with_one_line(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render", "--stack", "dev", "--out", str(tmp_path / "out"),
         "--set", f"keys.imported.bp-1.keyFile={VECTOR}",
         "--set-secret", "keys.imported.bp-1.password=BP1_PASSWORD"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BP1_PASSWORD": "wrong"},
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1
    assert errors[0].startswith("config error: keys.imported.bp-1:")
    assert not (tmp_path / "out").exists()


def test_a_plain_password_is_refused_naming_the_secret_command(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render", "--stack", "dev", "--out", str(tmp_path / "out"),
         "--set", f"keys.imported.bp-1.keyFile={VECTOR}",
         "--set", f"keys.imported.bp-1.password={PASSWORD}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("config error: keys.imported.bp-1.password:")
    assert "pulumi config set --secret" in result.stderr
    assert PASSWORD not in result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\xff\xfe\x00binary", "is not UTF-8 text (byte 0)"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"box_primitive": "xsalsa20poly1305"}', "lacks field"),
    ],
)
def test_bad_key_files_are_one_line_before_the_program_starts(
    tmp_path, content: bytes, fragment: str
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render", "--stack", "dev", "--out", str(tmp_path / "out"),
         "--set", f"keys.imported.bp-1.keyFile={key_file}",
         "--set-secret", "keys.imported.bp-1.password=BP1_PASSWORD"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BP1_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("config error: keys.imported.bp-1"), result.stderr
    assert fragment in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_key_file_asking_for_a_huge_kdf_cost_is_refused_without_running_it() -> None:
    text = (ROOT / VECTOR).read_text()
    document = json.loads(text)
    document["pwdiff"] = [1 << 40, 3]
    with pytest.raises(secret_box.KeyFileError, match="KDF cost too high"):
        secret_box.decrypt(json.dumps(document), PASSWORD)
    document["pwdiff"] = [secret_box.MAX_READ_PWDIFF.memlimit, 1000]
    with pytest.raises(secret_box.KeyFileError, match="KDF cost too high"):
        secret_box.parse(json.dumps(document))
