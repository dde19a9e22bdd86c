"""Set values in a stack file and change nothing else: comments, order, quoting and layout stay.

YAML is parsed once into nodes (PyYAML keeps each node's position); an existing value is replaced
by position, a missing key is added as a line at the end of its block mapping. The result is read
back and must equal the old document with exactly the new values set, or the edit is refused with
one line (flow mappings, block scalars, aliases: set those keys by hand). `write_atomically`
replaces the file by a rename, keeping its mode.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from minaperf.model.stack_file import load_yaml


class EditError(Exception):
    """The file cannot be edited safely (one line, names the key)."""


def _compose(text: str) -> yaml.Node:
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(node, yaml.MappingNode):
        raise EditError("the file is not a YAML mapping")
    return node


def _last_line(node: yaml.Node) -> int:
    """The last line (0-based) holding text of `node`."""
    if isinstance(node, yaml.MappingNode) and node.value and node.flow_style is False:
        return _last_line(node.value[-1][1])
    if isinstance(node, yaml.SequenceNode) and node.value and node.flow_style is False:
        return _last_line(node.value[-1])
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line


def _scalar_text(value: str) -> str:
    """A plain scalar when YAML reads it back as this same string, else double-quoted."""
    plain = value and value == value.strip() and "#" not in value and ": " not in value
    if plain:
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)


def _line_start(text: str, line: int) -> int:
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset


def _set_one(text: str, path: Sequence[str], value: str, newline: str) -> str:
    node: yaml.Node = _compose(text)
    key_column = -1
    for depth, key in enumerate(path):
        if not isinstance(node, yaml.MappingNode):
            raise EditError(f"{'.'.join(path[:depth])}: is not a mapping; set it by hand")
        found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key]
        if not found:
            return _insert(text, node, path[depth:], value, key_column, newline)
        key_node, node = found[0]
        key_column = key_node.start_mark.column
    if not isinstance(node, yaml.ScalarNode) or node.style not in (None, "", "'", '"'):
        raise EditError(f"{'.'.join(path)}: is not a one-line value; set it by hand")
    start, end = node.start_mark.index, node.end_mark.index
    if node.style == "'":  # keep the file's quoting
        replacement = "'" + value.replace("'", "''") + "'"
    elif node.style == '"':
        replacement = json.dumps(value)
    else:
        replacement = _scalar_text(value)
    return text[:start] + replacement + text[end:]


def _insert(
    text: str,
    mapping: yaml.MappingNode,
    missing: Sequence[str],
    value: str,
    parent_key_column: int,
    newline: str,
) -> str:
    if mapping.flow_style is not False or not mapping.value:
        raise EditError(
            f"{missing[0]}: cannot be added to a {{...}} or empty mapping; set it by hand"
        )
    column = mapping.value[0][0].start_mark.column
    if parent_key_column >= 0 and column <= parent_key_column:
        raise EditError(f"{missing[0]}: cannot tell the indentation; set it by hand")
    step = column - parent_key_column if parent_key_column >= 0 else 2
    lines = []
    for depth, key in enumerate(missing):
        indent = " " * (column + depth * step)
        tail = f" {_scalar_text(value)}" if depth == len(missing) - 1 else ""
        lines.append(f"{indent}{_scalar_text(key)}:{tail}{newline}")
    after = _last_line(mapping) + 1
    if after > text.count("\n"):  # the last line has no newline
        text += newline
    offset = _line_start(text, after)
    return text[:offset] + "".join(lines) + text[offset:]


def _assign(document: Any, path: Sequence[str], value: str) -> None:
    for key in path[:-1]:
        document = document.setdefault(key, {})
    document[path[-1]] = value


def set_values(text: str, values: Mapping[tuple[str, ...], str]) -> str:
    """`text` with each key path set to its string value; everything else unchanged."""
    try:
        before = load_yaml(text)
        newline = "\r\n" if "\r\n" in text else "\n"
        edited = text
        for path, value in values.items():
            edited = _set_one(edited, path, value, newline)
        after = load_yaml(edited)
    except yaml.YAMLError as error:
        raise EditError(f"cannot read it as YAML ({' '.join(str(error).split())})") from None
    except RecursionError:
        raise EditError("it is nested too deeply") from None
    expected = copy.deepcopy(before)
    for path, value in values.items():
        _assign(expected, path, value)
    if after != expected:
        raise EditError(
            "the edit would change more than the keys it sets (anchors, aliases or an unusual "
            "layout?); set them by hand"
        )
    return edited


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` by a rename in the same directory, keeping its mode: a crash
    leaves the old file or the new one, never half of one."""
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
