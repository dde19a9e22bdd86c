"""The layers import downwards only (issue #28 §3).

`minaperf/` is the pure library: no Pulumi, no components, no command. `components/` build
resources from it and never reach into the commands (`scripts/`). The policy pack runs on its own
(the engine puts only `policy/` on sys.path), so it imports none of the project's packages; its
offline harness `policy/runner.py` is a command of the project (`python -m policy.runner`, run
from the repository in the project's venv), which the engine never loads. No shipped module
imports the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "minaperf": {"pulumi", "components", "scripts", "tests", "__main__"},
    "components": {"scripts", "tests", "__main__"},
    "policy": {"minaperf", "components", "scripts", "tests", "__main__"},
    "scripts": {"tests", "__main__"},
}


def top_level(name: str) -> str:
    """`pulumi_kubernetes.core` -> `pulumi`: every Pulumi SDK counts as Pulumi."""
    first = name.split(".")[0]
    return "pulumi" if first.startswith("pulumi") else first


def imported_packages(source: str) -> set[str]:
    """Every absolute import anywhere in the module (top level, functions, `try` blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {top_level(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(top_level(node.module))
    return found


COMMANDS_IN_A_LAYER = {"policy/runner.py": "scripts"}
"""A command living beside a layer it is not part of, and the layer it may import as one."""


def layer_violations(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        forbidden = FORBIDDEN[package] - {COMMANDS_IN_A_LAYER.get(name)}
        found += [
            f"{name} imports {n}" for n in sorted(imported_packages(path.read_text()) & forbidden)
        ]
    return found


def test_the_policy_pack_never_loads_its_harness() -> None:
    pack = [p for p in (ROOT / "policy").glob("*.py") if p.name != "runner.py"]
    assert all("runner" not in imported_packages(p.read_text()) for p in pack)
    assert all("import runner" not in p.read_text() for p in pack)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    assert layer_violations(package) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import pulumi_gcp as gcp", {"pulumi"}),
        ("from pulumi import Output", {"pulumi"}),
        ("def f():\n    from components.labels import Labels", {"components"}),
        ("try:\n    import scripts.render\nexcept ImportError:\n    pass", {"scripts"}),
        ("from . import config\nfrom .keys import material", set()),
    ],
)
def test_imports_are_found_wherever_they_are_written(source: str, found: set[str]) -> None:
    assert imported_packages(source) == found
