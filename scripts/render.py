"""Render what `pulumi up` would send, without a cloud or the Pulumi CLI.

    python -m scripts.render (--stack NAME | --config FILE) [--set KEY=VALUE]... --out DIR
                             [--show-secrets]

Runs the real program (`__main__.py`) under the recording mock engine with the stack's config and
writes `resources.json`, `manifests/`, `outputs.json` and `files/` (runtime config, VM startup
scripts, orchestrator config, every ConfigMap and Secret entry). Secret values are written as
`[secret]` unless `--show-secrets`. Encrypted config values (`secure:`) cannot be read here and are
replaced by deterministic placeholders, with a warning. A bad config exits 2 with
`config error: <key>: <why>` and writes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from minaperf.config import (
    CONFIG_NAMESPACE,
    ConfigError,
    ExperimentConfig,
    prepare_values,
)
from minaperf.load import parse_config
from minaperf.outputs import SECRET_MARKER

ROOT = Path(__file__).resolve().parent.parent

PLACEHOLDER_PROJECT = "your-gcp-project"
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's dumper when PyYAML was built with it: writing hundreds of manifests stays quick."""


class UsageError(Exception):
    """Bad command line or unreadable input (exit 2)."""


@dataclass
class StackInput:
    """A stack's flat `namespace:key` config, ready for the engine."""

    name: str
    config: dict[str, Any]
    secret_keys: list[str]
    warnings: list[str]


# ---------------------------------------------------------------------------------------------
# Reading the stack config


def _placeholder(stack: str, path: str) -> str:
    """Deterministic stand-in for an encrypted value: 32 bytes, base64, so key seeds parse."""
    import base64

    digest = hashlib.sha256(f"render-placeholder:{stack}:{path}".encode()).digest()
    return base64.b64encode(digest).decode()


def _replace_secure(value: Any, stack: str, path: str, found: list[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            found.append(path)
            return _placeholder(stack, path)
        return {k: _replace_secure(v, stack, f"{path}.{k}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, stack, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def _qualified(key: str) -> str:
    return key if ":" in key else f"{CONFIG_NAMESPACE}:{key}"


def _set_path(config: dict[str, Any], dotted: str, value: Any) -> None:
    """Apply `--set ns:top.sub.leaf=value` to the nested config of `ns:top`."""
    qualified = _qualified(dotted)
    namespace, _, path = qualified.partition(":")
    top, *rest = path.split(".")
    key = f"{namespace}:{top}"
    if not rest:
        config[key] = value
        return
    node = config.setdefault(key, {})
    if not isinstance(node, dict):
        raise UsageError(f"--set {dotted}: {key} is not an object")
    for part in rest[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UsageError(f"--set {dotted}: {part} is not an object")
    node[rest[-1]] = value


def read_stack_input(
    *, stack: str | None, config_file: Path | None, overrides: Iterable[str]
) -> StackInput:
    if stack is not None:
        path = ROOT / f"Pulumi.{stack}.yaml"
        name = stack
    else:
        assert config_file is not None
        path = config_file
        name = config_file.stem.removeprefix("Pulumi.")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path} must be a YAML mapping")
    raw = document.get("config", document if config_file is not None else {})
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: `config:` must be a mapping of `namespace:key` entries")

    warnings: list[str] = []
    secure_paths: list[str] = []
    config: dict[str, Any] = {}
    for key, value in raw.items():
        qualified = _qualified(str(key))
        config[qualified] = _replace_secure(value, name, qualified, secure_paths)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: use KEY=VALUE, e.g. --set nodes.plainNodes=20")
        _set_path(config, key, yaml.safe_load(text) if text else "")
    for secure in secure_paths:
        warnings.append(
            f"warning: {secure} is encrypted and cannot be read here; "
            "rendering with a deterministic placeholder"
        )
    platform = config.get(f"{CONFIG_NAMESPACE}:platform")
    if isinstance(platform, dict) and platform.get("kind") == "gke" and "project" not in platform:
        project = config.get("gcp:project")
        if project is None:
            warnings.append(
                "warning: gcp:project is not set; rendering with placeholder "
                f"{PLACEHOLDER_PROJECT!r} "
                "(set it with `pulumi config set gcp:project <id>` before `pulumi up`)"
            )
            config["gcp:project"] = PLACEHOLDER_PROJECT
    secret_keys = sorted({path.split(".")[0].split("[")[0] for path in secure_paths})
    return StackInput(name=name, config=config, secret_keys=secret_keys, warnings=warnings)


def validate(stack_input: StackInput) -> ExperimentConfig:
    return parse_config(stack_input.name, prepare_values(stack_input.config))


# ---------------------------------------------------------------------------------------------
# Writing the artifacts


def _plain(value: Any, show_secrets: bool) -> Any:
    """Inputs as JSON: secrets masked (or shown), integral floats back to ints."""
    from scripts.engine import SECRET_SIG, SECRET_VALUE

    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            inner = _plain(value.get("value"), show_secrets=True)
            return inner if show_secrets else _masked(inner)
        return {str(k): _plain(v, show_secrets) for k, v in value.items() if k != "__provider"}
    if isinstance(value, list):
        return [_plain(v, show_secrets) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _masked(value: Any) -> Any:
    """A secret with its shape kept (map keys are not secret) and every leaf hidden."""
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return SECRET_MARKER


def _manifest(resource_type: str, inputs: dict[str, Any]) -> dict[str, Any]:
    _, group_version, kind = resource_type.split(":")
    group, _, version = group_version.rpartition("/")
    api_version = version if group in {"core", ""} else f"{group}/{version}"
    manifest: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    for key, value in inputs.items():
        if key not in {"apiVersion", "kind"}:
            manifest[key] = value
    return manifest


def write_render(run: Any, out: Path, *, show_secrets: bool) -> None:
    """Write one program run into `out` (a fresh directory)."""
    resources = []
    for resource in run.resources:
        resources.append(
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "custom": resource.custom,
                "parent": resource.parent,
                "provider": resource.provider,
                "dependencies": resource.dependencies,
                "propertyDependencies": resource.property_dependencies,
                "options": resource.options,
                "inputs": _plain(resource.inputs, show_secrets),
            }
        )
    # A JSON list with one resource per line: valid JSON, diffable per resource, and written by
    # the C encoder (indented output is several times slower on large stacks).
    lines = ",\n".join(json.dumps(resource, sort_keys=True) for resource in resources)
    (out / "resources.json").write_text(f"[\n{lines}\n]\n")

    manifests = out / "manifests"
    files = out / "files"
    for resource in resources:
        inputs = resource["inputs"]
        if resource["type"].startswith("kubernetes:") and resource["custom"]:
            if resource["type"] == "pulumi:providers:kubernetes":
                continue
            manifest = _manifest(resource["type"], inputs)
            namespace = (manifest.get("metadata") or {}).get("namespace") or "_cluster"
            name = (manifest.get("metadata") or {}).get("name") or resource["name"]
            target = manifests / namespace / f"{manifest['kind'].lower()}-{name}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.dump(manifest, Dumper=_YAML_DUMPER, sort_keys=False))
            for field in ("data", "stringData"):
                for key, value in (inputs.get(field) or {}).items():
                    _write_file(files / f"{manifest['kind'].lower()}-{name}" / key, value)
        elif resource["type"] == "gcp:compute/instance:Instance":
            script = (inputs.get("metadata") or {}).get("startup-script")
            if script is not None:
                _write_file(files / f"instance-{inputs.get('name')}" / "startup-script.sh", script)

    outputs = {
        key: (SECRET_MARKER if key in run.secret_outputs and not show_secrets else value)
        for key, value in sorted(run.outputs.items())
    }
    (out / "outputs.json").write_text(json.dumps(_plain(outputs, True), indent=2) + "\n")


def _write_file(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value if isinstance(value, str) else json.dumps(value))


def _check_target(out: Path) -> None:
    """Refuse to clobber a directory render did not write."""
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / "resources.json").exists())
    ):
        raise UsageError(f"{out} exists and is not a render directory; choose another --out")


def _install(staging: Path, out: Path) -> None:
    """Replace `out` with `staging` in one step, so a failed render leaves the old one."""
    _check_target(out)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), str(out))


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.render", description=(__doc__ or "").split("\n\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="read Pulumi.<STACK>.yaml")
    source.add_argument("--config", type=Path, help="read a stack config file (stacks/*.yaml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set nodes.plainNodes=20",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--show-secrets", action="store_true", help="write secret values in clear")
    args = parser.parse_args(argv)

    try:
        stack_input = read_stack_input(
            stack=args.stack, config_file=args.config, overrides=args.set
        )
        validate(stack_input)
        _check_target(args.out)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in stack_input.warnings:
        print(warning, file=sys.stderr)

    from scripts.engine import run_program

    try:
        run = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)
    except Exception as error:
        message = str(error)
        if not message.startswith("config error: "):
            raise
        print(message, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(
        prefix=".render-", dir=args.out.parent if args.out.parent.exists() else None
    ) as tmp:
        staging = Path(tmp) / "out"
        staging.mkdir()
        write_render(run, staging, show_secrets=args.show_secrets)
        try:
            _install(staging, args.out)
        except UsageError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    cost = run.outputs.get("estimatedHourlyCostUsd")
    estimate = f", estimated ${cost:.2f}/hour at list prices" if cost is not None else ""
    count = len(run.resources)
    print(f"rendered stack {stack_input.name!r}: {count} resources{estimate} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
