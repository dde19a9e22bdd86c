"""The recording engine's tags: one program run marks exactly the stack outputs that a second
run with other mock values would change (what render used to find by running twice)."""

from __future__ import annotations

from typing import Any

import pytest

from minaperf.model.stack_file import read_stack_input
from scripts.engine import run_program
from tests.conftest import ROOT, Rendered, render


def changed_paths(first: Any, second: Any, path: str = "") -> list[str]:
    """Leaf paths whose values differ between two runs (same config, other mock values): a
    difference can only come from a value the mocks invented, or one computed from it."""
    if isinstance(first, dict) and isinstance(second, dict) and set(first) == set(second):
        return [
            found
            for key in sorted(first)
            for found in changed_paths(first[key], second[key], f"{path}.{key}" if path else key)
        ]
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        return [
            found
            for index, (a, b) in enumerate(zip(first, second, strict=True))
            for found in changed_paths(a, b, f"{path}[{index}]")
        ]
    return [] if first == second else [path]


SEED = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
STACKS: dict[str, dict[str, Any]] = {
    "dev": {"stack": "dev"},
    "kind": {"config_file": ROOT / "stacks" / "kind.yaml"},
    "large-200": {"config_file": ROOT / "stacks" / "large-200.yaml"},
    # Keys from a configured seed are not invented: only the clock, addresses and passwords are.
    "dev-own-seed": {"stack": "dev", "secrets": {"keys.seed": SEED}},
}


def shifted_outputs(source: dict[str, Any]) -> dict[str, Any]:
    """The stack outputs of a run whose mocks invent other values."""
    stack_input = read_stack_input(
        stack=source.get("stack"),
        config_file=source.get("config_file"),
        overrides=(),
        secrets=source.get("secrets"),
    )
    return run_program(
        stack_input.name, stack_input.config, stack_input.secret_keys, variant=1
    ).outputs


@pytest.mark.parametrize("name", STACKS)
def test_one_run_marks_what_another_mock_variant_changes(name: str) -> None:
    source = STACKS[name]
    rendered: Rendered = render(**source)
    changed = changed_paths(rendered.run.outputs, shifted_outputs(source))
    assert {"genesisTimestamp", "expiresAt", "postgresPassword"} <= set(changed)
    assert rendered.run.mock_values == changed


def test_keys_are_invented_only_without_a_configured_seed() -> None:
    random_seed = set(render("dev").run.mock_values)
    own_seed = set(render(**STACKS["dev-own-seed"]).run.mock_values)
    assert {"orchestratorKey", "nodes[0].publicKey", "seedMultiaddr"} <= random_seed - own_seed
    assert "postgres.externalAddress" in own_seed


def test_marks_are_as_fine_as_the_outputs() -> None:
    marked = set(render("dev").run.mock_values)
    # A node's public key comes from the random seed; its name and ports from the config.
    assert "nodes[0].publicKey" in marked
    assert not {"nodes[0].name", "nodes[0].clientPort", "namespace", "experiment"} & marked
    assert "postgres.externalAddress" in marked
    assert not {"postgres.host", "postgres.dataDisk"} & marked
    assert "logFetchers[0].deployment" not in marked
    assert any(path.startswith("logFetchers[0].nodes.") for path in marked)


def test_tags_leave_the_recorded_dependencies_alone(dev: Rendered) -> None:
    """The tag is the resource's own URN, so no record names a dependency it would not have."""
    urns = {resource.urn for resource in dev.run.resources}
    for resource in dev.run.resources:
        assert set(resource.dependencies) <= urns
        for dependencies in resource.property_dependencies.values():
            assert set(dependencies) <= set(resource.dependencies)
