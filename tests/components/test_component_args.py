"""Every component names its inputs (issue #28 §3): typed args of its own, never the whole config.

`Experiment` is the wiring: it alone takes the `ExperimentConfig` and builds each component's args
from it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "components"
WIRING = {"components/experiment.py:Experiment"}
WIDE = ("ExperimentConfig", "ExperimentContext")


def annotation_names(annotation: ast.expr | None) -> set[str]:
    """Every name and attribute an annotation spells (`a.b.C | None` -> a, b, C)."""
    if annotation is None:
        return set()
    nodes = list(ast.walk(annotation))
    return {n.id for n in nodes if isinstance(n, ast.Name)} | {
        n.attr for n in nodes if isinstance(n, ast.Attribute)
    }


def constructors(source: str, path: str) -> Iterator[tuple[str, set[str]]]:
    """(`path:Class`, names in its `__init__`'s annotations) of each ComponentResource."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        if not any(ast.unparse(base).endswith("ComponentResource") for base in node.bases):
            continue
        names: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                for argument in [*item.args.args, *item.args.kwonlyargs]:
                    names |= annotation_names(argument.annotation)
        yield f"{path}:{node.name}", names


def wide_inputs() -> dict[str, list[str]]:
    found = {}
    for path in sorted(COMPONENTS.glob("*.py")):
        relative = str(path.relative_to(ROOT))
        for name, spelled in constructors(path.read_text(), relative):
            wide = sorted(spelled & set(WIDE))
            if wide:
                found[name] = wide
    return found


def test_components_take_their_own_args() -> None:
    assert wide_inputs() == {name: ["ExperimentConfig"] for name in WIRING}


def test_only_the_wiring_uses_the_experiment_context() -> None:
    users = {
        str(path.relative_to(ROOT))
        for path in sorted(COMPONENTS.glob("*.py"))
        if "ExperimentContext" in path.read_text()
    }
    assert users == {"components/context.py", "components/experiment.py"}


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (
            "class A(pulumi.ComponentResource):\n"
            "    def __init__(self, name: str, ctx: ExperimentContext, *, x: int = 1): ...\n",
            {"str", "ExperimentContext", "int"},
        ),
        (
            "class B(ComponentResource):\n"
            "    def __init__(self, name, config: minaperf.model.config.ExperimentConfig): ...\n",
            {"minaperf", "model", "config", "ExperimentConfig"},
        ),
        ("class C:\n    def __init__(self, ctx: ExperimentContext): ...\n", None),
    ],
)
def test_constructor_annotations_are_read(source: str, found: set[str] | None) -> None:
    result = dict(constructors(source, "m.py"))
    assert next(iter(result.values()), None) == found
