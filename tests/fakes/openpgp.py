"""Real OpenPGP public keys made by gpg in a throw-away GNUPGHOME, for the signing-key tests.

Generated once per session (ed25519, a few milliseconds each): a repository key, another key,
a key that expired in 2020 (made with gpg's --faked-system-time) and a file holding two primary
keys. Exported as binary keyrings, as upstream serves `repo-signing-key.gpg`.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SampleKey:
    fingerprint: str
    data: bytes


@dataclass(frozen=True)
class SampleKeys:
    repository: SampleKey
    other: SampleKey
    expired: SampleKey
    two_keys: bytes
    armored: bytes
    """The repository key ASCII-armored (what the old `.asc` URL served)."""


def _gpg(home: str, *args: str) -> str:
    result = subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--pinentry-mode", "loopback", *args],
        env={**os.environ, "GNUPGHOME": home, "LC_ALL": "C"},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode()


def _make(home: str, uid: str, *, expiry: str = "never", faked: str | None = None) -> SampleKey:
    extra = ["--faked-system-time", faked] if faked else []
    _gpg(home, *extra, "--quick-gen-key", uid, "ed25519", "sign", expiry)
    listing = _gpg(home, "--with-colons", "--list-keys", uid)
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    data = subprocess.run(
        ["gpg", "--batch", "--export", fingerprint],
        env={**os.environ, "GNUPGHOME": home},
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return SampleKey(fingerprint, data)


@functools.cache
def sample_keys() -> SampleKeys:
    home = tempfile.mkdtemp(prefix="mina-test-gnupg-")
    os.chmod(home, 0o700)
    repository = _make(home, "Mina Test Repository <packages@example.org>")
    other = _make(home, "Someone Else <else@example.org>")
    expired = _make(home, "Old Key <old@example.org>", expiry="1d", faked="20200101T000000")
    armored = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", repository.fingerprint],
        env={**os.environ, "GNUPGHOME": home},
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    Path(home, "done").touch()
    return SampleKeys(repository, other, expired, repository.data + other.data, armored)


class KeyServer:
    """Serves one file at /repo-signing-key.gpg on 127.0.0.1 (the repository's key URL); 404
    elsewhere. `data = None` answers 404, like a removed key."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = outer.data if self.path == "/repo-signing-key.gpg" else None
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/pgp-keys")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/repo-signing-key.gpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
