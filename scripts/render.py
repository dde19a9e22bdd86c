"""Render what `pulumi up` would send, without a cloud or the Pulumi CLI, and preview it.

    python -m scripts.render (--stack NAME | --config FILE) [--set KEY=VALUE]...
                             (--out DIR [--force] [--show-secrets] | --diff OLD_DIR) [--json]

Runs the real program (`__main__.py`) under the recording mock engine with the stack's config and
writes `resources.json` (sorted by URN, byte-stable), `manifests/`, `outputs.json` (with the
`mockValues` the engine invented) and `files/` (runtime config, VM startup scripts, orchestrator
config, every ConfigMap and Secret entry); prints a summary (`minaperf.preview`) and, with
`--diff`, what changed since an older render (`minaperf.render_diff`). Secret values are written
as `[secret]` unless `--show-secrets` (then files are 0600 in 0700 directories). Encrypted config
values (`secure:`) cannot be read here and are replaced by deterministic placeholders, with a
warning. `--out` is replaced only when render wrote it (marker file) or with `--force`, by a
swap, never half-written. A bad config exits 2 with `config error: <key>: <why>` and writes
nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

import yaml

from minaperf.config import (
    CONFIG_NAMESPACE,
    ConfigError,
    ExperimentConfig,
    check_namespace,
    one_line,
    prepare_values,
)
from minaperf.files import (
    HAND_WRITTEN_LIMIT,
    FileInputError,
    MissingFileError,
    read_json_file,
    read_text_file,
)
from minaperf.load import parse_config
from minaperf.local_inputs import check_local_inputs
from minaperf.outputs import SECRET_MARKER
from minaperf.signals import on_stop_signals
from scripts.cli import OneLineParser, stack_name
from scripts.gc_pause import cyclic_gc_paused

ROOT = Path(__file__).resolve().parent.parent

PLACEHOLDER_PROJECT = "your-gcp-project"
_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ManifestDumper(_SafeDumper):
    """libyaml's dumper when PyYAML was built with it: writing hundreds of manifests stays quick.

    No anchors to look for: `_plain` builds every mapping and list of a manifest afresh, so
    none appears twice (PyYAML would write a repeated one as `&id001`/`*id001`)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class UsageError(Exception):
    """Bad command line or unreadable input (exit 2)."""


class StackYamlError(yaml.YAMLError):
    """A stack file form that Pulumi would read otherwise than a YAML 1.1 reader (or too big an
    alias expansion); the message says how Pulumi reads it and what to write."""

    def __init__(self, mark: yaml.Mark | None, reason: str) -> None:
        super().__init__(f"line {mark.line + 1}: {reason}" if mark is not None else reason)
        self.reason = reason


class _StackFileLoader(yaml.SafeLoader):
    """YAML as Pulumi's decoder, go-yaml v3, takes a stack file: YAML 1.2's plain scalars, a
    repeated key an error, aliases bounded.

    - A repeated key is an error, not "last wins", as go-yaml v3 refuses one
      (go-yaml/yaml@f6f7691 decode.go:776: "mapping key %#v already defined at line %d").
    - Plain scalars resolve as go-yaml v3's resolve() does (go-yaml/yaml@0d383ff resolve.go):
      only true/True/TRUE and false/False/FALSE are booleans (:37-38), `~`, null/Null/NULL and
      empty are null (:39), numbers are ints after strconv.ParseInt(base 0) or floats after its
      yamlStyleFloat pattern; base 60 is "purposefully unsupported". Where YAML 1.1 (PyYAML's
      default), YAML 1.2 and go-yaml disagree, the file is refused (`_AMBIGUOUS`).
    - An alias may not make the document more than `ALIAS_FACTOR` times its own size: a
      "billion laughs" file is a few lines that expand without end when walked.
    """

    yaml_implicit_resolvers: dict[Any, list[tuple[str, Any]]] = {}  # noqa: RUF012 (PyYAML's)

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's)
        """PyYAML's scanner is quadratic in flow nesting (`[[[[…` took minutes): bounded."""
        if self.flow_level >= MAX_NESTING:
            raise StackYamlError(
                self.get_mark(), f"nested more than {MAX_NESTING} levels deep; not a stack file"
            )
        super().fetch_flow_collection_start(TokenClass)  # pyright: ignore[reportAttributeAccessIssue]

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _check_expansion(node)
        return node


MAX_NESTING = 64
"""Flow nesting a stack file may have ([ and {); a real one has fewer than ten levels."""
ALIAS_FACTOR = 10
"""How much larger than the file's own nodes aliases may make a document (plus a small floor)."""


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond ALIAS_FACTOR times its distinct nodes
    (a node reached twice is an alias); O(distinct nodes), without expanding anything."""
    sizes: dict[int, int] = {}
    pending: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in pending:
            raise StackYamlError(node.start_mark, "an alias refers to itself; write it out")
        pending.add(id(node))
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        pending.discard(id(node))
        sizes[id(node)] = total
        return total

    expanded = size(root)
    if expanded > ALIAS_FACTOR * len(sizes) + 1000:
        raise StackYamlError(
            None,
            f"its aliases (*name) expand it to {expanded} values from {len(sizes)}; "
            "write the values out instead of repeating anchors",
        )


_PULUMI = "Pulumi (go-yaml v3) reads"
_AMBIGUOUS: list[tuple[str, str]] = [
    (
        r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?",
        f"{_PULUMI} {{value}} as the string '{{value}}', YAML 1.1 as a base-60 number; quote it, "
        "or write the number itself (e.g. 1:30 as 90)",
    ),
    (
        r"yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N",
        f"{_PULUMI} {{value}} as the string '{{value}}', YAML 1.1 as a boolean; write true or "
        "false, or quote it",
    ),
    (
        r"(?=.*_)[-+]?(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+"
        r"|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?)",
        f"{_PULUMI} {{value}} as a number with the '_' dropped, YAML 1.2 as a string; write the "
        "number without '_', or quote it",
    ),
    (
        r"[-+]?0[0-9]+",
        f"{_PULUMI} {{value}} by its leading zero (as octal, or a float if 8 or 9 follow), "
        "YAML 1.2 as a decimal number; drop the leading zero (0o... for octal), or quote it",
    ),
    (
        r"[-+]?0b[01]+",
        f"{_PULUMI} {{value}} as a binary number, YAML 1.2 as a string; write it in decimal, or "
        "quote it",
    ),
]
"""Plain scalars that readers of a stack file take differently, with how Pulumi takes them."""
_AMBIGUOUS_TAG = "tag:mina-itn:ambiguous"


def _refuse_ambiguous(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> None:
    """Refuse a scalar readers take differently (plain, or under an explicit tag)."""
    value = str(loader.construct_scalar(node))
    for pattern, message in _AMBIGUOUS:
        if re.fullmatch(pattern, value):
            raise StackYamlError(node.start_mark, message.format(value=value))


INT64 = 1 << 64
_BOOL = r"true|True|TRUE|false|False|FALSE"
_NULL = r"~|null|Null|NULL|"
_INT = r"[-+]?(?:0x[0-9a-fA-F]+|0o[0-7]+|[0-9]+)"
_FLOAT = (
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_TIMESTAMP: re.Pattern[str] = yaml.SafeLoader.yaml_implicit_resolvers["1"][-1][1]
"""PyYAML's YAML 1.1 timestamp pattern: a date or time is kept, and refused with a hint to
quote it where the config wants a string (go-yaml v3 hands Pulumi the text)."""


def _go_int(loader: yaml.SafeLoader, text: str, node: yaml.ScalarNode) -> int:
    """strconv.ParseInt(value, 0, 64), or ParseUint: past 64 bits go-yaml reads a float or a
    string, so such a value is refused (and never reaches int(), which stops at 4300 digits)."""
    if len(text.lstrip("+-")) > 24 or not -(INT64 >> 1) <= (value := int(text, 0)) < INT64:
        raise StackYamlError(
            node.start_mark,
            f"{text[:24]}{'...' if len(text) > 24 else ''} does not fit in 64 bits; "
            f"{_PULUMI} it as a float or a string; write a smaller number",
        )
    return value


def _go_float(loader: yaml.SafeLoader, text: str, node: yaml.ScalarNode) -> float:
    """strconv.ParseFloat: a number past the float range is an error there, so go-yaml keeps
    the text as a string; refused."""
    value = float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))
    if value in (float("inf"), float("-inf")) and "inf" not in text.lower():
        raise StackYamlError(node.start_mark, f"{text} is beyond a float; {_PULUMI} it as a string")
    return value


def _scalar(tag: str, pattern: re.Pattern[str], build: Any) -> Any:
    """The constructor of `tag`, also for an explicit tag (`!!int 012`): the text must be what
    the implicit rule takes, else the file is refused rather than read differently."""

    def construct(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        _refuse_ambiguous(loader, node)
        text = str(loader.construct_scalar(node))
        if not pattern.match(text):
            raise StackYamlError(
                node.start_mark, f"{text[:40]!r} is not a !!{tag} as Pulumi reads one; quote it"
            )
        return build(loader, text, node)

    return construct


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> NoReturn:
    if isinstance(node, yaml.ScalarNode):
        _refuse_ambiguous(loader, node)
    if node.tag == "tag:yaml.org,2002:merge":
        raise StackYamlError(node.start_mark, "merge keys (<<) are not read; write the keys out")
    raise StackYamlError(
        node.start_mark, f"the tag {node.tag} holds no value Pulumi's config can; write it plainly"
    )


def _whole(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{pattern})$")


_TIMESTAMP_CONSTRUCTOR = yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:timestamp"]
for _tag, _regexp, _first, _build in (
    (
        _AMBIGUOUS_TAG,
        _whole("|".join(f"(?:{p})" for p, _ in _AMBIGUOUS)),
        "-+0123456789yYnNoO",
        None,
    ),
    ("bool", _whole(_BOOL), "tTfF", lambda _loader, text, _node: text.lower() == "true"),
    ("null", _whole(_NULL), ["~", "n", "N", ""], lambda _loader, _text, _node: None),
    ("int", _whole(_INT), "-+0123456789", _go_int),
    ("float", _whole(_FLOAT), "-+0123456789.", _go_float),
    ("merge", _whole("<<"), "<", None),
    (
        "timestamp",
        _TIMESTAMP,
        "0123456789",
        lambda loader, _text, node: _TIMESTAMP_CONSTRUCTOR(loader, node),
    ),
):
    _full = _tag if _tag == _AMBIGUOUS_TAG else f"tag:yaml.org,2002:{_tag}"
    _StackFileLoader.add_implicit_resolver(_full, _regexp, list(_first))
    _StackFileLoader.add_constructor(
        _full, _scalar(_tag, _regexp, _build) if _build is not None else _refuse_tag
    )
for _tag in ("binary", "set", "omap", "pairs", "value", "yaml"):
    _StackFileLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)
_StackFileLoader.add_constructor(None, _refuse_tag)  # pyright: ignore[reportArgumentType]


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)  # pyright: ignore[reportArgumentType]
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"mapping key {key!r} already defined at line {seen[key] + 1}",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=True))


_StackFileLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,  # pyright: ignore[reportArgumentType]
)


def load_yaml(text: str) -> Any:
    """One YAML document as Pulumi reads a stack file (see _StackFileLoader); YAMLError (a
    StackYamlError for forms read otherwise by Pulumi) or RecursionError on bad input."""
    return yaml.load(text, Loader=_StackFileLoader)  # noqa: S506 (a SafeLoader subclass)


def read_stack_document(path: Path, source: str) -> dict[Any, Any]:
    """A stack file as one YAML mapping, read through the one file reader; UsageError else."""
    try:
        document = load_yaml(read_text_file(path, what=source)) or {}
    except FileInputError as error:
        raise UsageError(str(error)) from None
    except StackYamlError as error:
        raise UsageError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path} is not valid YAML: {_one_line(error)}") from None
    except RecursionError:
        raise UsageError(f"{path} is nested too deeply") from None
    if not isinstance(document, dict):
        raise UsageError(f"{path} must be a YAML mapping")
    return document


def _one_line(error: yaml.YAMLError) -> str:
    """PyYAML's multi-line message, as one line with the position."""
    return " ".join(str(error).split())


@dataclass
class StackInput:
    """A stack's flat `namespace:key` config, ready for the engine."""

    name: str
    config: dict[str, Any]
    secret_keys: list[str]
    warnings: list[str]
    secret_paths: list[str] = field(default_factory=list)
    """Every config path held as a secret (`ns:a.b.c`)."""
    placeholder_paths: list[str] = field(default_factory=list)
    """Secrets whose value is an encrypted placeholder here (cannot be decrypted offline)."""
    hidden_values: list[str] = field(default_factory=list)
    """Values never shown: those from `--set-secret` and the placeholders (see `hide`)."""


# ---------------------------------------------------------------------------------------------
# Reading the stack config

VM_SCRIPT_TYPES = {
    "gcp:compute/instance:Instance": "instance",
    "gcp:compute/instanceTemplate:InstanceTemplate": "instance-template",
}
"""GCE resources whose `startup-script` metadata the render writes out as a file."""


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
    if not namespace or not all([top, *rest]):
        raise UsageError(
            f"--set {dotted}: the path is malformed (an empty key); write it as "
            "[namespace:]key.sub.key, e.g. --set nodes.plainNodes=20"
        )
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
    *,
    stack: str | None,
    config_file: Path | None,
    overrides: Iterable[str],
    secrets: Mapping[str, str] | None = None,
) -> StackInput:
    """The stack's config; `secrets` are config paths set as `pulumi config set --secret` would
    (values in clear here, held as secrets by the engine). Neither `stack` nor `config_file`:
    a new stack, only `overrides` and `secrets`."""
    if stack is not None:
        path: Path | None = ROOT / f"Pulumi.{stack}.yaml"
        name = stack
        document = read_stack_document(path, "--stack")
    elif config_file is not None:
        path = config_file
        name = config_file.stem.removeprefix("Pulumi.")
        document = read_stack_document(config_file, "--config")
    else:
        path, name, document = None, "", {}
    raw = document.get("config", document if config_file is not None else {})
    if not isinstance(raw, dict):
        raise UsageError(f"{path}: `config:` must be a mapping of `namespace:key` entries")

    warnings: list[str] = []
    secure_paths: list[str] = []
    config: dict[str, Any] = {}
    for key, value in raw.items():
        # As the CLI: every stack-file key names its namespace (no `mina-itn:` implied).
        check_namespace(str(key))
        try:
            config[str(key)] = _replace_secure(value, name, str(key), secure_paths)
        except RecursionError:
            raise ConfigError(str(key), "is nested too deeply") from None
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: use KEY=VALUE, e.g. --set nodes.plainNodes=20")
        try:
            value = load_yaml(text) if text else ""
        except StackYamlError as error:
            raise UsageError(f"--set {key}: {error.reason}") from None
        except (yaml.YAMLError, RecursionError) as error:
            detail = _one_line(error) if isinstance(error, yaml.YAMLError) else "nested too deeply"
            raise UsageError(
                f"--set {key}: the value is not valid YAML ({detail}); quote it as a string, "
                f"e.g. --set '{key}=\"...\"'"
            ) from None
        _set_path(config, key, value)
    secret_paths: list[str] = []
    for key, secret in (secrets or {}).items():
        _set_path(config, key, secret)
        secret_paths.append(_qualified(key))
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
    secret_paths.extend(secure_paths)
    secret_keys = sorted({path.split(".")[0].split("[")[0] for path in secret_paths})
    return StackInput(
        name=name,
        config=config,
        secret_keys=secret_keys,
        warnings=warnings,
        secret_paths=sorted(secret_paths),
        placeholder_paths=sorted(secure_paths),
        hidden_values=[
            *(secrets or {}).values(),
            *(_placeholder(name, path) for path in secure_paths),
        ],
    )


SHOWN_RUN = 12
"""A run of this many characters of a hidden value in a message counts as showing it (messages
cut a long value short, e.g. `'abc…'`)."""


def hide(message: str, hidden: Iterable[str]) -> str:
    """`message` without any value of `hidden`: each is replaced by [secret] (as typed, as
    Python quotes it, and as JSON decodes it); a message that still shows part of one loses its
    reason. A `--set-secret` value of the wrong type, or a `secure:` placeholder render invented,
    is never shown as the user's value."""
    forms: set[str] = set()
    for value in hidden:
        forms |= {value, repr(value)}
        with contextlib.suppress(ValueError, RecursionError):
            decoded = json.loads(value)
            if not isinstance(decoded, dict | list):
                forms |= {str(decoded), repr(decoded)}
    for form in sorted((form for form in forms if form.strip()), key=len, reverse=True):
        message = message.replace(form, SECRET_MARKER)
    values = [value for value in hidden if len(value) >= SHOWN_RUN]
    if any(
        value[start : start + SHOWN_RUN] in message
        for value in values
        for start in range(len(value) - SHOWN_RUN + 1)
    ):
        key = message.partition(": ")[0]
        return f"{key}: invalid value, not shown because it is a secret (check its type)"
    return message


def _unqualified(paths: Iterable[str]) -> set[str]:
    prefix = f"{CONFIG_NAMESPACE}:"
    return {path.removeprefix(prefix) for path in paths if path.startswith(prefix)}


def validate(stack_input: StackInput) -> ExperimentConfig:
    """The config as the program will see it, plus the local files it names, before the engine
    starts: every input error comes out here, in one line."""
    config = parse_config(
        stack_input.name,
        prepare_values(stack_input.config),
        secret_paths=_unqualified(stack_input.secret_paths),
    )
    check_local_inputs(config, unreadable_secrets=_unqualified(stack_input.placeholder_paths))
    return config


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


MARKER = ".mina-itn-render"
"""Written into every render directory: the only directories render replaces without --force."""


class _Writer:
    """Creates the files of one render; private (0600 files in 0700 directories) when the
    render holds secrets in clear."""

    def __init__(self, root: Path, *, private: bool) -> None:
        self.root = root
        self.private = private
        self.written: list[str] = []
        """Every file written, relative to `root` (the marker lists them)."""

    def directory(self, path: Path) -> None:
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o700 if self.private else 0o777)

    def write(self, path: Path, text: str) -> None:
        self.directory(path.parent)
        mode = 0o600 if self.private else 0o666
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        self.written.append(path.relative_to(self.root).as_posix())


def resource_records(run: Any, *, show_secrets: bool) -> list[dict[str, Any]]:
    """The records of `resources.json`, sorted by URN; the summary and `--diff` read them too."""
    return [
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
        for resource in sorted(run.resources, key=lambda resource: resource.urn)
    ]


def write_render(
    run: Any,
    out: Path,
    *,
    show_secrets: bool,
    mock_values: list[str] | None = None,
    records: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Write one program run into `out` (an existing, empty directory); the files written.

    Records are sorted by URN and every object by key, so two renders of the same config are
    byte-identical and can be diffed. `mock_values` lists the output paths the mock engine
    invented; it is written into `outputs.json` as `mockValues`. `records` are the run's
    `resource_records` with the same `show_secrets`, when the caller has them already.
    """
    writer = _Writer(out, private=show_secrets)
    resources = records if records is not None else resource_records(run, show_secrets=show_secrets)
    # A JSON list with one resource per line: valid JSON, diffable per resource, and written by
    # the C encoder (indented output is several times slower on large stacks).
    lines = ",\n".join(json.dumps(resource, sort_keys=True) for resource in resources)
    writer.write(out / "resources.json", f"[\n{lines}\n]\n")

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
            writer.write(target, yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=False))
            for field in ("data", "stringData"):
                for key, value in (inputs.get(field) or {}).items():
                    _write_file(writer, files / f"{manifest['kind'].lower()}-{name}" / key, value)
        elif resource["type"] in VM_SCRIPT_TYPES:
            script = (inputs.get("metadata") or {}).get("startup-script")
            if script is not None:
                folder = f"{VM_SCRIPT_TYPES[resource['type']]}-{resource['name']}"
                _write_file(writer, files / folder / "startup-script.sh", script)

    outputs = {
        key: (SECRET_MARKER if key in run.secret_outputs and not show_secrets else value)
        for key, value in sorted(run.outputs.items())
    }
    if mock_values is not None:
        outputs["mockValues"] = mock_values
    writer.write(
        out / "outputs.json", json.dumps(_plain(outputs, True), indent=2, sort_keys=True) + "\n"
    )
    return writer.written


def _write_file(writer: _Writer, path: Path, value: Any) -> None:
    writer.write(path, value if isinstance(value, str) else json.dumps(value, sort_keys=True))


# ---------------------------------------------------------------------------------------------
# Replacing the output directory


def _protected(out: Path) -> str | None:
    """Why `out` may never be replaced, even with --force (render replaces --out whole)."""
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    named = {
        Path("/"): "the root directory",
        cwd: "the working directory",
        Path.home().resolve(): "your home directory",
        ROOT: "this repository",
    }
    if resolved in named:
        return named[resolved]
    if resolved in cwd.parents or resolved in ROOT.parents:
        return "a parent of the working directory or of this repository"
    if (resolved / ".git").exists():
        return "a directory holding .git"
    return None


def _foreign_files(out: Path) -> list[str] | None:
    """Files in a render directory that the render did not write (its marker lists what it
    wrote); None when `out` holds no readable marker (not a render directory)."""
    try:
        marker = read_json_file(out / MARKER, limit=HAND_WRITTEN_LIMIT * 8, what="--out")
    except FileInputError:
        return None
    if not isinstance(marker, dict):
        return None
    written = marker.get("files")
    if not isinstance(written, list):
        return []  # a render from before the marker listed its files
    known = {MARKER, *map(str, written)}
    return sorted(
        name
        for path in out.rglob("*")
        if (name := path.relative_to(out).as_posix()) not in known
        and (path.is_symlink() or not path.is_dir())
    )


def _check_target(out: Path, *, force: bool) -> Path:
    """The directory to replace: `out`, or the render a symlink `out` points to. Replace only
    what render made (its marker, no file it did not write), an empty directory, or with
    --force; never the root, the working directory, $HOME, this repository or a git tree."""
    if not out.exists() and not out.is_symlink():
        return out
    if not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a directory; choose another --out")
    target = out.resolve() if out.is_symlink() else out
    if why := _protected(target):
        raise UsageError(f"--out: {out} is {why}; render replaces --out whole; choose a new one")
    if not any(target.iterdir()):
        return target
    foreign = _foreign_files(target)
    if foreign is None and not force:
        raise UsageError(
            f"--out: {out} exists and is not a render directory (no {MARKER} marker); "
            "choose another --out, or pass --force to replace it"
        )
    if foreign and not force:
        shown = ", ".join(foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        raise UsageError(
            f"--out: {out} holds files render did not write ({shown}); move them out, or pass "
            "--force to replace them too"
        )
    return target


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM that arrive inside are delivered when it ends. Python runs signal
    handlers in the main thread whichever thread the OS picks (the engine's gRPC threads
    included), so the handlers are swapped, not the thread's signal mask."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    try:
        with on_stop_signals(held.append):
            yield
    finally:
        if held:
            signal.raise_signal(held[0])


def _install(staging: Path, out: Path) -> None:
    """Swap the finished render in: the old directory moves aside, the new one takes its name,
    the old one is removed. Both renames stay within one parent directory, so `out` is never a
    partial render; if the second rename fails, the old render is put back. Ctrl-C and SIGTERM
    wait until the swap and the removal are done (neither old render beside `out` nor half)."""
    with _signals_held():
        if not out.exists() and not out.is_symlink():
            staging.rename(out)
            return
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        old = aside / "render"
        try:
            out.rename(old)
            try:
                staging.rename(out)
            except OSError:
                old.rename(out)
                raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)


def write_output_directory(
    run: Any,
    out: Path,
    *,
    show_secrets: bool,
    mock_values: list[str],
    stack: str,
    records: list[dict[str, Any]] | None = None,
) -> None:
    """Render beside `out` and swap it in; on any failure `out` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging_parent = Path(tempfile.mkdtemp(prefix=f".{out.name}.render-", dir=out.parent))
    try:
        staging = staging_parent / "render"
        staging.mkdir(mode=0o700 if show_secrets else 0o777)
        written = write_render(
            run, staging, show_secrets=show_secrets, mock_values=mock_values, records=records
        )
        marker = {"writtenBy": "python -m scripts.render", "stack": stack, "files": written}
        _Writer(staging, private=show_secrets).write(
            staging / MARKER, json.dumps(marker, sort_keys=True) + "\n"
        )
        _install(staging, out)
    finally:
        shutil.rmtree(staging_parent, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Progress


class Progress:
    """Stage lines on stderr while the SDK loads and the program runs; only on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.started = time.monotonic()

    def stage(self, message: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"render [{elapsed:5.1f}s] {message}\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# Command line


def _read_old_render(directory: Path) -> list[dict[str, Any]]:
    path = directory / "resources.json"
    try:
        records = read_json_file(path, what="--diff")
    except MissingFileError:
        raise UsageError(f"--diff: {directory} has no resources.json (not a render)") from None
    except FileInputError as error:
        raise UsageError(str(error)) from None
    if not isinstance(records, list):
        raise UsageError(f"--diff: {path} is not a list of resource records")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not all(
            isinstance(record.get(key), str) for key in ("urn", "type", "name")
        ):
            raise UsageError(
                f"--diff: {path}: record {index} is not a resource record (urn, type and name "
                "as strings); pass a directory render wrote"
            )
        if not isinstance(record.get("inputs") or {}, dict):
            raise UsageError(f"--diff: {path}: record {index}: inputs is not an object")
    return records


def _secrets_from_environment(items: Iterable[str]) -> dict[str, str]:
    """`--set-secret KEY=ENV_VAR`: the value comes from the environment, never from argv."""
    secrets: dict[str, str] = {}
    for item in items:
        key, sep, variable = item.partition("=")
        if not sep or not key or not variable:
            raise UsageError(
                f"--set-secret {item!r}: use KEY=ENV_VAR, e.g. "
                "--set-secret keys.seed=MINA_KEY_SEED (the value never goes on the command line)"
            )
        if variable not in os.environ:
            raise UsageError(f"--set-secret {key}: environment variable {variable} is not set")
        secrets[key] = os.environ[variable]
    return secrets


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m scripts.render", description=(__doc__ or "").split("\n\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", type=stack_name, help="read Pulumi.<STACK>.yaml")
    source.add_argument("--config", type=Path, help="read a stack config file (stacks/*.yaml)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set nodes.plainNodes=20",
    )
    parser.add_argument(
        "--set-secret",
        action="append",
        default=[],
        metavar="KEY=ENV_VAR",
        help="set a secret config key from an environment variable, as "
        "`pulumi config set --secret` would (e.g. keys.seed=MINA_KEY_SEED)",
    )
    parser.add_argument("--out", type=Path, help="directory to write (required unless --diff)")
    parser.add_argument(
        "--force", action="store_true", help="replace --out even if render did not write it"
    )
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="write secret values in clear (files 0600 in 0700 directories)",
    )
    parser.add_argument(
        "--diff", type=Path, metavar="OLD_DIR", help="say what changed since the render in OLD_DIR"
    )
    parser.add_argument("--json", action="store_true", help="print the summary (and diff) as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    with cyclic_gc_paused():
        args = build_parser().parse_args(argv)
        try:
            return _render(args)
        except KeyboardInterrupt:
            print(
                "error: interrupted; --out holds the old render or the new one, never a part",
                file=sys.stderr,
            )
            return 130


def _render(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr)
    hidden: list[str] = []
    try:
        if args.out is None and args.diff is None:
            raise UsageError("--out DIR is required (or --diff OLD_DIR to only compare)")
        progress.stage("reading the stack config")
        secrets = _secrets_from_environment(args.set_secret)
        hidden = list(secrets.values())
        stack_input = read_stack_input(
            stack=args.stack, config_file=args.config, overrides=args.set, secrets=secrets
        )
        hidden = stack_input.hidden_values
        config = validate(stack_input)
        if args.out is not None:
            args.out = _check_target(args.out, force=args.force)
        old_records = _read_old_render(args.diff) if args.diff is not None else None
    except ConfigError as error:
        print(f"config error: {hide(str(error), hidden)}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"error: {hide(one_line(str(error)), hidden)}", file=sys.stderr)
        return 2
    for warning in stack_input.warnings:
        print(warning, file=sys.stderr)

    progress.stage("loading the Pulumi SDK and running the program under the mock engine")
    from scripts.engine import run_program

    try:
        run = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)
    except Exception as error:
        message = str(error)
        if not message.startswith("config error: "):
            raise
        print(hide(one_line(message), hidden), file=sys.stderr)
        return 2
    mock_values = run.mock_values
    # Secrets masked: what the summary and --diff read, and what --out holds by default.
    records = resource_records(run, show_secrets=False)
    if args.out is not None:
        progress.stage(f"writing {args.out}")
        try:
            write_output_directory(
                run,
                args.out,
                show_secrets=args.show_secrets,
                mock_values=mock_values,
                stack=stack_input.name,
                records=None if args.show_secrets else records,
            )
        except OSError as error:
            print(f"error: --out: cannot write {args.out}: {error.strerror}", file=sys.stderr)
            return 2

    from minaperf.gcp_project import cost_or_reason
    from minaperf.preview import docker_hub_warning, format_summary, summarize
    from minaperf.render_diff import diff_records, format_diff

    outputs = _plain(run.outputs, show_secrets=False)
    summary = summarize(
        records,
        outputs,
        estimate=cost_or_reason(config),
        ttl_hours=config.metadata.ttl_hours,
        mock_values=mock_values,
    )
    try:
        diff = diff_records(old_records, records) if old_records is not None else None
    except RecursionError:
        print(f"error: --diff: {args.diff}: inputs nested too deeply to compare", file=sys.stderr)
        return 2
    pull_warning = docker_hub_warning(records)
    if pull_warning is not None:
        print(pull_warning, file=sys.stderr)
    progress.stage("done")
    if args.json:
        document = {**summary, "out": str(args.out) if args.out else None}
        if diff is not None:
            document["diff"] = diff
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return 0
    sys.stdout.write(format_summary(summary))
    if args.out is not None:
        sys.stdout.write(f"\nwritten to {args.out}\n")
    if diff is not None:
        sys.stdout.write(f"\nchanges since {args.diff}:\n" + format_diff(diff))
    return 0


def _exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown: freeing the SDK's and providers'
    objects one by one takes about a second (as long as a large render's writing and summary
    together); the OS takes the memory back at once. Every file render wrote is closed by now;
    stdout and stderr are flushed here (a reader that went away misses nothing it asked for)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    # One render per process: the collector stays off past `main` and the process ends without
    # a teardown.
    gc.disable()
    _exit_now(main())
