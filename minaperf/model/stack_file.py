"""The stack file, read as Pulumi reads it, and the config it holds, validated.

`read_stack_input` turns `Pulumi.<stack>.yaml` (or `--config FILE`) plus `--set` overrides
into the flat `namespace:key` config the engine takes; `validate` checks it in full. YAML is
read as go-yaml v3 reads it (`load_yaml`); forms read otherwise are refused with a hint.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from minaperf.files import FileInputError, read_text_file
from minaperf.model.config import (
    CONFIG_NAMESPACE,
    ConfigError,
    ExperimentConfig,
    check_namespace,
    prepare_values,
)
from minaperf.model.load import parse_config
from minaperf.model.local_inputs import check_local_inputs

ROOT = Path(__file__).resolve().parents[2]


PLACEHOLDER_PROJECT = "your-gcp-project"


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
