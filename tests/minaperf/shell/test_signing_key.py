"""The repository signing key: the VM script and `scripts.pin` read the same fingerprint (or
refuse the same files), on real keys made by gpg."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from minaperf.shell.node_script import snark_worker_vm_template
from minaperf.shell.signing_key import SigningKeyError, inspect_key, read_colons
from tests.fakes.openpgp import sample_keys

KEYS = sample_keys()


def _vm_fingerprint(tmp_path: Path, data: bytes) -> str:
    """The template's own `key_fingerprint` function, run by bash on `data`."""
    lines = snark_worker_vm_template().split("\n")
    start = lines.index("key_fingerprint() {")
    end = lines.index("}", start)
    key = tmp_path / "key.gpg"
    key.write_bytes(data)
    script = "\n".join([*lines[start : end + 1], 'key_fingerprint "$1"'])
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script, "bash", str(key)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def _tool_fingerprint(data: bytes) -> str:
    try:
        return inspect_key(data).fingerprint
    except SigningKeyError:
        return ""


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(KEYS.repository.data, id="one-key"),
        pytest.param(KEYS.armored, id="armored"),
        pytest.param(KEYS.two_keys, id="two-primary-keys"),
        pytest.param(KEYS.other.data + KEYS.repository.data, id="two-keys-other-first"),
        pytest.param(KEYS.expired.data, id="expired"),
        pytest.param(b"", id="empty"),
        pytest.param(b"<html>404</html>", id="not-a-key"),
    ],
)
def test_vm_and_tool_agree_on_the_fingerprint(tmp_path: Path, data: bytes) -> None:
    assert _vm_fingerprint(tmp_path, data) == _tool_fingerprint(data)


def test_the_one_valid_key_has_its_fingerprint_everywhere(tmp_path: Path) -> None:
    info = inspect_key(KEYS.repository.data)
    assert info.fingerprint == KEYS.repository.fingerprint
    assert _vm_fingerprint(tmp_path, KEYS.repository.data) == KEYS.repository.fingerprint
    assert info.uids == ("Mina Test Repository <packages@example.org>",)
    assert info.expires is None


def test_refusals_say_why() -> None:
    with pytest.raises(SigningKeyError, match="holds 2 primary keys"):
        inspect_key(KEYS.two_keys)
    with pytest.raises(SigningKeyError, match=f"key {KEYS.expired.fingerprint} expired on 2020"):
        inspect_key(KEYS.expired.data)


NOW = datetime(2026, 1, 1, tzinfo=UTC)
FPR = "fpr:::::::::" + "AB" * 20 + ":"


def test_colon_listing_rules() -> None:
    """gnupg doc/DETAILS: field 2 `r` revoked, field 7 expiry, field 10 `\\x3a`-quoted."""
    pub = "pub:-:255:22:1111222233334444:1600000000:{expires}::-:::scSC:::::ed25519:::0:"
    uid = "uid:-::::1600000000::HASH::Ops \\x3a Team <ops@example.org>::::::::::0:"
    info = read_colons("\n".join([pub.format(expires=""), FPR, uid]), NOW)
    assert info.uids == ("Ops : Team <ops@example.org>",)
    assert info.created == datetime.fromtimestamp(1600000000, UTC)
    later = read_colons("\n".join([pub.format(expires="1900000000"), FPR]), NOW)
    assert later.expires == datetime.fromtimestamp(1900000000, UTC)
    with pytest.raises(SigningKeyError, match="expired"):
        read_colons("\n".join([pub.format(expires="1700000000"), FPR]), NOW)
    with pytest.raises(SigningKeyError, match="revoked"):
        read_colons("\n".join([pub.format(expires="").replace("pub:-:", "pub:r:"), FPR]), NOW)
    with pytest.raises(SigningKeyError, match="no fingerprint"):
        read_colons("\n".join([pub.format(expires=""), uid, FPR]), NOW)
