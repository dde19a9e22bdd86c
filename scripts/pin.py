"""Pin a stack's images by digest and the worker VMs' apt signing key by fingerprint.

Run it where the registries and the Mina apt repository can be reached: it prints what to set,
sets it in the stack file with --write, and with --check reports drift (a moved tag, a rotated
key). A pin never changes silently, and nothing is written unless every lookup succeeded.
See docs/security.md#images-pinned-by-digest.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from minaperf.cloud.oci import Registry, RegistryError, https_base, parse_image
from minaperf.files import FileInputError, read_text_file
from minaperf.model.config import CONFIG_NAMESPACE, ConfigError, ExperimentConfig, one_line
from minaperf.model.stack_file import ROOT, UsageError, load_yaml, read_stack_input, validate
from minaperf.shell.signing_key import (
    FINGERPRINT_PATH,
    SIGNING_KEY_URL,
    SigningKeyError,
    fetch_key,
    inspect_key,
    uses_worker_vms,
)
from scripts.cli import OneLineParser, bad_input, stack_name
from scripts.stack_edit import EditError, set_values, write_atomically

PROG = "pin"


@dataclass
class Plan:
    """What the lookups found: config paths to set (`images.daemon` -> value), with notes."""

    changes: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    drift: bool = False


def images(config: ExperimentConfig) -> dict[str, str]:
    """`images.<key>` -> image, for every image the stack runs (defaults included)."""
    images = config.images.model_dump(by_alias=True)
    return {f"images.{key}": str(value) for key, value in images.items()}


def plan_images(config: ExperimentConfig, registry: Registry, *, check: bool) -> Plan:
    plan = Plan()
    for path, image in images(config).items():
        ref = parse_image(image)
        try:
            if ref.digest is None:
                if check:
                    plan.lines.append(f"{path}: {image} is not pinned; run without --check")
                    plan.drift = True
                    continue
                resolved = registry.resolve(image)
                plan.changes[path] = ref.pinned(resolved.digest)
                kind = "multi-platform index" if resolved.is_index else "single manifest"
                plan.lines.append(f"{path}: {image} -> {resolved.digest} ({kind})")
            elif not check:
                plan.lines.append(f"{path}: already pinned ({image})")
            elif ref.tag is None:
                plan.lines.append(f"{path}: pinned without a tag, nothing to compare ({image})")
            else:
                resolved = registry.resolve(image, ref.tag)
                if resolved.digest == ref.digest:
                    plan.lines.append(f"{path}: {ref.tagged()} still at {ref.digest}")
                else:
                    plan.changes[path] = ref.pinned(resolved.digest)
                    plan.drift = True
                    plan.lines.append(
                        f"{path}: DRIFT: {ref.tagged()} now points to {resolved.digest}, "
                        f"pinned {ref.digest}"
                    )
        except RegistryError as error:
            plan.errors.append(f"{PROG}: {path}: {one_line(str(error))}")
    return plan


def plan_key(
    config: ExperimentConfig, client: httpx.Client, url: str, *, check: bool, plan: Plan
) -> None:
    """The repository signing key the worker VMs fetch: its fingerprint, to pin or compare."""
    if not uses_worker_vms(config):
        plan.lines.append("signing key: this stack creates no worker VMs; nothing to pin")
        return
    try:
        info = inspect_key(fetch_key(client, url))
    except SigningKeyError as error:
        plan.errors.append(f"{PROG}: signing key: {url}: {one_line(str(error))}")
        return
    plan.lines.append(f"signing key at {url}:")
    plan.lines.extend(f"  {one_line(line)}" for line in info.lines())
    pinned = config.worker_pool.mina_package.signing_key_fingerprint
    if pinned == info.fingerprint:
        plan.lines.append(f"{FINGERPRINT_PATH}: already {pinned}")
    elif pinned is None and check:
        plan.lines.append(f"{FINGERPRINT_PATH}: is not set; run without --check")
        plan.drift = True
    elif pinned is None:
        plan.changes[FINGERPRINT_PATH] = info.fingerprint
    else:
        # A new key is a security event: set it only on request (--check --write), after
        # confirming the rotation with the repository's owners.
        plan.lines.append(
            f"{FINGERPRINT_PATH}: DRIFT: the key is now {info.fingerprint}, pinned {pinned}; "
            "confirm the rotation with the repository's owners before bumping"
        )
        plan.drift = True
        if check:
            plan.changes[FINGERPRINT_PATH] = info.fingerprint


# --- stack files -----------------------------------------------------------------------------


def stack_file(stack: str | None, config_file: Path | None) -> Path:
    """The file `scripts.render` reads for the same arguments."""
    if stack is not None:
        return ROOT / f"Pulumi.{stack}.yaml"
    assert config_file is not None
    return config_file


def _file_path(document: Any, path: str) -> tuple[str, ...]:
    """Where a config path lives in the file: under `config:` (a Pulumi stack file, or a stack
    file that has one), else at the top level (render also reads a bare `namespace:key` map)."""
    top, *rest = path.split(".")
    keys = (f"{CONFIG_NAMESPACE}:{top}", *rest)
    return ("config", *keys) if isinstance(document, dict) and "config" in document else keys


def edited_text(file: Path, changes: dict[str, str]) -> str:
    text = read_text_file(file, what="stack file")
    document = load_yaml(text)
    return set_values(text, {_file_path(document, path): v for path, v in changes.items()})


def suggestions(args: argparse.Namespace, changes: dict[str, str]) -> list[str]:
    if args.stack is not None:
        return [
            f"pulumi config set --stack {shlex.quote(args.stack)} --path "
            f"'{CONFIG_NAMESPACE}:{path}' {shlex.quote(value)}"
            for path, value in changes.items()
        ]
    return [f"{CONFIG_NAMESPACE}:{path}: {value}" for path, value in changes.items()]


# --- command line ----------------------------------------------------------------------------


def _registry_overrides(items: list[str]) -> Callable[[str], str]:
    overrides: dict[str, str] = {}
    for item in items:
        host, sep, url = item.partition("=")
        if not sep or not host or not url.startswith(("http://", "https://")):
            raise UsageError(f"--registry {item!r}: use HOST=URL")
        overrides[host] = url.rstrip("/")
    return lambda host: overrides.get(host) or https_base(host)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m scripts.pin",
        description="Pin a stack's images by digest (and report drift with --check).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", type=stack_name, help="read Pulumi.<STACK>.yaml of this project")
    source.add_argument("--config", type=Path, help="read a stack config file (stacks/*.yaml)")
    parser.add_argument("--check", action="store_true", help="report pins whose tag moved")
    parser.add_argument("--write", action="store_true", help="edit the stack file in place")
    parser.add_argument(
        "--accept-changes",
        action="store_true",
        help="with --check --write: bump pins whose tag moved or whose key rotated",
    )
    # Point a registry host at another URL (tests, a mirror of the same content).
    parser.add_argument("--registry", action="append", default=[], help=argparse.SUPPRESS)
    # The signing key's URL is minaperf/shell/signing_key.py's, the one the VMs use; tests serve it.
    parser.add_argument("--key-url", default=SIGNING_KEY_URL, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        base_url = _registry_overrides(args.registry)
        stack_input = read_stack_input(stack=args.stack, config_file=args.config, overrides=())
        config = validate(stack_input)
        file = stack_file(args.stack, args.config)
        if args.write:
            # Refuse a file it cannot edit before any lookup (same edits, dummy values).
            dummy = "sha256:" + "0" * 64
            edits = {k: f"{v.split('@')[0]}@{dummy}" for k, v in images(config).items()}
            if uses_worker_vms(config):
                edits[FINGERPRINT_PATH] = "0" * 40
            edited_text(file, edits)
    except ConfigError as error:
        return bad_input(error, label="config error")
    except (UsageError, EditError, FileInputError) as error:
        return bad_input(one_line(str(error)))
    except OSError as error:
        return bad_input(f"cannot read {args.stack or args.config}: {error}")
    if args.accept_changes and not (args.check and args.write):
        return bad_input("--accept-changes goes with --check --write")
    with httpx.Client(transport=transport, follow_redirects=False) as client:
        plan = plan_images(config, Registry(client, base_url), check=args.check)
        plan_key(config, client, args.key_url, check=args.check, plan=plan)
    for line in plan.lines:
        print(line)
    for error in plan.errors:
        print(error, file=sys.stderr)
    if plan.errors:
        print(f"{PROG}: {len(plan.errors)} lookup(s) failed; nothing was written", file=sys.stderr)
        return 1
    if not plan.changes:
        print(f"{PROG}: nothing to change")
        return 1 if plan.drift else 0
    if not args.write:
        print(f"{PROG}: to pin, run (or use --write):" if not args.check else f"{PROG}: to bump:")
        for line in suggestions(args, plan.changes):
            print(f"  {line}")
        return 1 if plan.drift else 0
    if plan.drift and not args.accept_changes:
        print(
            f"{PROG}: nothing written: a pinned tag moved or the signing key changed (old and "
            "new above); review them, then rerun with --check --write --accept-changes",
            file=sys.stderr,
        )
        return 1
    try:
        write_atomically(file, edited_text(file, plan.changes))
    except (EditError, FileInputError) as error:
        return bad_input(f"{file}: {one_line(str(error))}")
    except OSError as error:
        return bad_input(f"cannot write {file}: {error.strerror}")
    print(f"{PROG}: set {len(plan.changes)} key(s) in {file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
