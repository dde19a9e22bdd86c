"""The recording engine reaches into the Pulumi SDK below its public surface (`pulumi.__all__`,
`pulumi.runtime.__all__`). Each such symbol is pinned here with the shape the engine relies on, so
an SDK upgrade that moves or reshapes one fails here, naming it, instead of breaking renders."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

from policy import markers

ENGINE = Path(__file__).resolve().parents[2] / "scripts" / "engine.py"

PINNED: dict[str, tuple[str, ...]] = {
    "pulumi.resource.DependencyResource": ("urn",),
    "pulumi.runtime.mocks.MockMonitor": ("mocks",),
    "pulumi.runtime.mocks.MockMonitor.RegisterResource": ("self", "request"),
    "pulumi.runtime.settings.set_root_resource": ("root",),
    "pulumi.runtime.settings.get_monitor": (),
    "pulumi.runtime.stack.run_pulumi_func": ("func",),
    "pulumi.runtime.stack.wait_for_rpcs": ("await_all_outstanding_tasks",),
    "pulumi.runtime.sync_await._sync_await": ("awaitable",),
}
"""Symbol -> the parameters the engine calls it with (a class: its constructor's;
`RegisterResource` is the method the engine's monitor overrides)."""


def resolve(dotted: str) -> object:
    """The object at `dotted`, importing modules along the way; AttributeError or ImportError
    when the SDK no longer has it."""
    parts = dotted.split(".")
    found: object = importlib.import_module(parts[0])
    for index, part in enumerate(parts[1:], 2):
        if not hasattr(found, part) and isinstance(found, ModuleType):
            importlib.import_module(".".join(parts[:index]))
        found = getattr(found, part)
    return found


def is_public(dotted: str, found: object) -> bool:
    name = dotted.rsplit(".", 1)[-1]
    return any(
        name in getattr(namespace, "__all__", ()) and getattr(namespace, name, None) is found
        for namespace in (resolve("pulumi"), resolve("pulumi.runtime"))
    )


def sdk_references(tree: ast.Module) -> set[str]:
    """Every dotted SDK name the engine uses, through its import aliases."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "pulumi":
                    bound[alias.asname or "pulumi"] = alias.name if alias.asname else "pulumi"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pulumi":
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found: set[str] = set()
    for node in ast.walk(tree):
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in bound:
            found.add(symbol([*bound[node.id].split("."), *chain]))
    return found


def symbol(parts: list[str]) -> str:
    """The symbol a dotted use names: through modules to the first object that is none
    (`pulumi.Output.from_input` -> `pulumi.Output`), or to the first private part."""
    for end in range(1, len(parts) + 1):
        private = parts[end - 1].startswith("_") and not parts[end - 1].startswith("__")
        if private or not isinstance(resolve(".".join(parts[:end])), ModuleType):
            return ".".join(parts[:end])
    return ".".join(parts)


def test_every_sdk_symbol_below_the_public_surface_is_pinned() -> None:
    used = sdk_references(ast.parse(ENGINE.read_text()))
    private = sorted(
        name
        for name in used
        if not isinstance(resolve(name), ModuleType) and not is_public(name, resolve(name))
    )
    unpinned = [name for name in private if name not in PINNED]
    assert not unpinned, f"scripts/engine.py uses SDK internals not pinned here: {unpinned}"
    assert "pulumi.runtime.sync_await._sync_await" in private  # the scan sees private imports


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_pinned_sdk_symbol_keeps_its_shape(name: str) -> None:
    try:
        found = resolve(name)
    except (AttributeError, ImportError) as error:
        pytest.fail(f"the Pulumi SDK no longer has {name} (scripts/engine.py uses it): {error}")
    parameters = tuple(inspect.signature(found).parameters)  # pyright: ignore[reportArgumentType]
    assert parameters == PINNED[name], (
        f"the Pulumi SDK changed {name}{parameters}, scripts/engine.py calls it as {PINNED[name]}"
    )


def test_the_secret_envelope_is_the_sdks() -> None:
    rpc = resolve("pulumi.runtime.rpc")
    sdk = (getattr(rpc, "_special_sig_key", None), getattr(rpc, "_special_secret_sig", None))
    assert sdk == (markers.SECRET_SIG_KEY, markers.SECRET_SIG_VALUE), (
        "pulumi.runtime.rpc._special_sig_key/_special_secret_sig no longer match "
        "policy/markers.py SECRET_SIG_KEY/SECRET_SIG_VALUE"
    )
