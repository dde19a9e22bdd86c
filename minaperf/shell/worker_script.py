"""Render the GCE VM startup script that runs a pool of Mina snark worker processes.

The static body lives in `minaperf/assets/snark-worker-vm.sh`. Rendering replaces its single
settings marker line with `readonly NAME='value'` assignments. Every value is validated against
a strict character set first and then single-quoted, so no input can inject shell (or systemd
unit) syntax.
"""

from __future__ import annotations

import re

from minaperf.shell.node_script import snark_worker_status_script, snark_worker_vm_template
from minaperf.shell.signing_key import KEYRING_PATH, MINA_APT_REPO_URL, SIGNING_KEY_URL

SETTINGS_MARKER = "# @@MINAPERF_SETTINGS@@"
STATUS_SCRIPT_MARKER = "# @@MINAPERF_STATUS_SCRIPT@@"
STATUS_SCRIPT_END = "MINAPERF_STATUS_EOF"
"""The quoted here-document that carries `snark-worker-status.sh` inside the startup script."""
PROOF_LEVELS = ("full", "check", "none")
MAX_PROCESSES = 256

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# Debian package names (policy 5.6.1) and versions (policy 5.6.12: upstream chars . + - ~ :)
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9.+-]+")
_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+~:-]*")
# apt suite/component names and distribution codenames
_APT_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FINGERPRINT_RE = re.compile(r"[0-9A-F]{40}")
_HTTPS_URL_RE = re.compile(rf"https://{_LABEL}(?:\.{_LABEL})*(?:/[A-Za-z0-9._-]+)*")
_KEYRING_RE = re.compile(r"/etc/apt/keyrings/[A-Za-z0-9._-]+\.gpg")


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _check(name: str, value: str, pattern: re.Pattern[str], max_len: int = 253) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or len(value) > max_len:
        raise ValueError(f"{name}: invalid value {value!r}")
    return value


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: must be an integer in {low}..{high}, got {value!r}")
    return value


def render_worker_startup_script(
    *,
    coordinator_host: str,
    coordinator_port: int,
    processes: int,
    proof_level: str,
    mina_package: str,
    mina_version: str,
    apt_channel: str,
    apt_codename: str | None,
    signing_key_fingerprint: str | None = None,
) -> str:
    """The complete startup script text for one worker VM.

    `coordinator_host` is a DNS name or IPv4 address of the coordinator's client port,
    `processes` the number of worker processes (1..256), `apt_codename` the distribution
    codename of the package repository (None: read VERSION_CODENAME on the VM),
    `signing_key_fingerprint` the 40 hex digits the repository key must have (None: keep the
    key first fetched over HTTPS).
    Raises ValueError for any value outside its allowed character set or range.
    """
    settings = {
        "COORDINATOR_HOST": _check("coordinator_host", coordinator_host, _HOST_RE),
        "COORDINATOR_PORT": str(_check_int("coordinator_port", coordinator_port, 1, 65535)),
        "WORKER_PROCESSES": str(_check_int("processes", processes, 1, MAX_PROCESSES)),
        "PROOF_LEVEL": proof_level,
        "MINA_PACKAGE": _check("mina_package", mina_package, _PACKAGE_RE, 100),
        "MINA_VERSION": _check("mina_version", mina_version, _VERSION_RE, 100),
        "APT_CHANNEL": _check("apt_channel", apt_channel, _APT_WORD_RE, 64),
        "APT_CODENAME": (
            "" if apt_codename is None else _check("apt_codename", apt_codename, _APT_WORD_RE, 64)
        ),
        "SIGNING_KEY_FINGERPRINT": (
            ""
            if signing_key_fingerprint is None
            else _check("signing_key_fingerprint", signing_key_fingerprint, _FINGERPRINT_RE, 40)
        ),
        # One place (minaperf/shell/signing_key.py), shared with `python -m scripts.pin`.
        "APT_REPO_URL": _check("apt_repo_url", MINA_APT_REPO_URL, _HTTPS_URL_RE),
        "SIGNING_KEY_URL": _check("signing_key_url", SIGNING_KEY_URL, _HTTPS_URL_RE),
        "KEYRING_PATH": _check("keyring_path", KEYRING_PATH, _KEYRING_RE),
        "MINAPERF_RENDERED": "1",
    }
    if proof_level not in PROOF_LEVELS:
        raise ValueError(f"proof_level: must be one of {', '.join(PROOF_LEVELS)}")
    header = "\n".join(f"readonly {name}={_shell_quote(value)}" for name, value in settings.items())
    template = snark_worker_vm_template()
    lines = template.split("\n")
    if lines.count(SETTINGS_MARKER) != 1:
        raise RuntimeError(f"template must contain the line {SETTINGS_MARKER!r} exactly once")
    status = snark_worker_status_script().rstrip("\n")
    if STATUS_SCRIPT_END in status.split("\n") or lines.count(STATUS_SCRIPT_MARKER) != 1:
        raise RuntimeError("the status script cannot be embedded in the startup script")
    replacements = {SETTINGS_MARKER: header, STATUS_SCRIPT_MARKER: status}
    return "\n".join(replacements.get(line, line) for line in lines)
