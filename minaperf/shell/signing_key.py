"""The Mina apt repository's signing key: where it is, and which fingerprint counts.

One place for the repository and key URLs: the worker VM startup script gets them as settings
(`minaperf.shell.worker_script`), and `python -m scripts.pin` fetches the same key to print and pin
its fingerprint (`workerPool.minaPackage.signingKeyFingerprint`). The rule and its sources:
docs/design.md, "The worker package comes over HTTPS with a verified signature".
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from minaperf.model.config import ExperimentConfig, GkePlatform

MINA_APT_REPO_URL = "https://packages.o1test.net"
SIGNING_KEY_URL = f"{MINA_APT_REPO_URL}/repo-signing-key.gpg"
KEYRING_PATH = "/etc/apt/keyrings/mina-archive-keyring.gpg"
"""Where the VM keeps the key (binary, so `.gpg`); `signed-by=` names it."""
MAX_KEY_BYTES = 1 << 20
TIMEOUT = httpx.Timeout(20.0, connect=10.0)


FINGERPRINT_PATH = "workerPool.minaPackage.signingKeyFingerprint"


def uses_worker_vms(config: ExperimentConfig) -> bool:
    """Whether the stack creates snark worker VMs, the machines that install the package."""
    return isinstance(config.platform, GkePlatform) and config.worker_pool.servers > 0


class SigningKeyError(Exception):
    """One line: what is wrong with the key (or its download) and what to do."""


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    uids: tuple[str, ...]
    created: datetime
    expires: datetime | None

    def lines(self) -> list[str]:
        expiry = self.expires.isoformat() if self.expires else "never"
        return [
            f"fingerprint: {self.fingerprint}",
            *(f"uid: {uid}" for uid in self.uids),
            f"created: {self.created.isoformat()}",
            f"expires: {expiry}",
        ]


def _unquote(field: str) -> str:
    """gpg quotes field 10 like a C string (`\\x3a` for a colon)."""
    return (
        field.encode("latin-1", "backslashreplace")
        .decode("unicode_escape")
        .encode("latin-1")
        .decode("utf-8", "replace")
    )


def _time(field: str) -> datetime | None:
    return datetime.fromtimestamp(int(field), UTC) if field.isdigit() else None


def read_colons(listing: str, now: datetime) -> KeyInfo:
    """The one primary key of a `gpg --show-keys --with-colons` listing (rule in the docstring)."""
    records = [line.split(":") for line in listing.splitlines() if line]
    primaries = [index for index, fields in enumerate(records) if fields[0] == "pub"]
    if not primaries:
        raise SigningKeyError("the file holds no OpenPGP public key")
    if len(primaries) > 1:
        raise SigningKeyError(
            f"the file holds {len(primaries)} primary keys; a repository key file must hold one"
        )
    index = primaries[0]
    pub = records[index]
    after = records[index + 1] if index + 1 < len(records) else []
    if not after or after[0] != "fpr" or len(after) < 10:
        raise SigningKeyError("gpg printed no fingerprint for the primary key")
    fingerprint = after[9].upper()
    created = _time(pub[5]) if len(pub) > 5 else None
    expires = _time(pub[6]) if len(pub) > 6 else None
    if created is None:
        raise SigningKeyError("gpg printed no creation time for the primary key")
    if len(pub) > 1 and "r" in pub[1]:
        raise SigningKeyError(f"the key {fingerprint} is revoked")
    if (expires is not None and expires <= now) or (len(pub) > 1 and "e" in pub[1]):
        raise SigningKeyError(
            f"the key {fingerprint} expired on {expires.isoformat() if expires else '?'}; "
            "ask the repository's owners for its new key"
        )
    uids = tuple(
        _unquote(fields[9]) for fields in records if fields[0] == "uid" and len(fields) > 9
    )
    return KeyInfo(fingerprint, uids, created, expires)


def inspect_key(data: bytes, now: datetime | None = None) -> KeyInfo:
    """Run gpg on the key bytes as the VM does (an empty, throw-away GNUPGHOME)."""
    with tempfile.TemporaryDirectory(prefix="mina-key-") as home:
        os.chmod(home, 0o700)
        key_file = Path(home) / "key"
        key_file.write_bytes(data)
        try:
            result = subprocess.run(
                ["gpg", "--batch", "--show-keys", "--with-colons", str(key_file)],
                env={**os.environ, "GNUPGHOME": home, "LC_ALL": "C"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError:
            raise SigningKeyError(
                "gpg is not installed; install gnupg (apt-get install gpg)"
            ) from None
        except subprocess.TimeoutExpired:
            raise SigningKeyError("gpg did not finish reading the key in 60 s") from None
    if result.returncode != 0 or not result.stdout.strip():
        detail = " ".join(result.stderr.split())[:160] or f"exit {result.returncode}"
        raise SigningKeyError(f"gpg cannot read the file as an OpenPGP key ({detail})")
    return read_colons(result.stdout, now or datetime.now(UTC))


def fetch_key(client: httpx.Client, url: str = SIGNING_KEY_URL) -> bytes:
    """The key file at `url` (HTTPS, as the VM fetches it; a stand-in may use http://127.0.0.1)."""
    try:
        # Redirects as the VM's curl takes them (`--location --proto-redir =https`).
        response = client.get(url, timeout=TIMEOUT, follow_redirects=True)
    except httpx.TimeoutException:
        raise SigningKeyError(
            f"{url} did not answer in time; retry, or check the network"
        ) from None
    except httpx.HTTPError as error:
        raise SigningKeyError(
            f"cannot fetch {url} ({type(error).__name__}); check the network or proxy"
        ) from None
    hops = [*response.history, response]
    if url.startswith("https://") and any(hop.url.scheme != "https" for hop in hops):
        raise SigningKeyError(f"{url} redirected to a plain-HTTP address; refusing the key")
    if response.status_code != 200:
        raise SigningKeyError(f"{url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_KEY_BYTES:
        raise SigningKeyError(f"{url} served {len(response.content)} bytes, too big for a key")
    return response.content
