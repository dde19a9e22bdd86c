"""Stacks as `python -m scripts.pin --write` leaves them: every image with a digest and, with worker
VMs, the signing key's fingerprint (made-up values; nothing here pulls an image or a key)."""

from __future__ import annotations

from pathlib import Path

from minaperf.model.stack_file import read_stack_input, validate
from minaperf.shell.signing_key import FINGERPRINT_PATH, uses_worker_vms
from scripts.pin import edited_text, images

DIGEST = "sha256:" + "5" * 64
FINGERPRINT = "AB" * 20


def pinned_values(stack_file: Path) -> dict[str, str]:
    """Config path -> value that pins `stack_file`'s images (and key, with worker VMs)."""
    config = validate(read_stack_input(stack=None, config_file=stack_file, overrides=()))
    values = {
        path: image if "@" in image else f"{image}@{DIGEST}"
        for path, image in images(config).items()
    }
    if uses_worker_vms(config):
        values[FINGERPRINT_PATH] = FINGERPRINT
    return values


def pin_overrides(stack_file: Path) -> list[str]:
    """The same as `--set KEY=VALUE` overrides."""
    return [f"{path}={value}" for path, value in pinned_values(stack_file).items()]


def pinned_copy(source: Path, target: Path) -> Path:
    """`source` written to `target` with its pins set, as `scripts.pin --write` would."""
    target.write_text(source.read_text())
    target.write_text(edited_text(target, pinned_values(source)))
    return target
