"""No function in shipped code runs over 100 lines (issue #28 §3): long ones become builders."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("components", "minaperf", "policy", "scripts")
LIMIT = 100


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(qualified name, lines from `def` to its last line) of every function, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, (node.end_lineno or node.lineno) - node.lineno + 1
            yield from functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, f"{prefix}{node.name}.")
        else:
            yield from functions(node, prefix)


def shipped_lengths() -> dict[str, int]:
    paths = [ROOT / "__main__.py"]
    paths += [path for package in SHIPPED for path in sorted((ROOT / package).rglob("*.py"))]
    return {
        f"{path.relative_to(ROOT)}:{name}": length
        for path in paths
        for name, length in functions(ast.parse(path.read_text()))
    }


def test_no_function_runs_over_the_limit() -> None:
    too_long = {name: length for name, length in shipped_lengths().items() if length > LIMIT}
    assert too_long == {}, f"split these into named functions of at most {LIMIT} lines"


def test_lengths_count_every_line_of_nested_and_method_definitions() -> None:
    source = (
        "class A:\n"
        "    def m(self):\n"
        "        def inner():\n"
        "            return 1\n"
        "        return inner\n"
        "async def f():\n"
        "    if True:\n"
        "        def g(): pass\n"
        "    pass\n"
    )
    assert dict(functions(ast.parse(source))) == {"A.m": 4, "A.m.inner": 2, "f": 4, "f.g": 1}
