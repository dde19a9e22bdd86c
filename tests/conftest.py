"""Shared test harness: the real program runs once per configuration under the recording engine.

`render(...)` runs `__main__.py` in-process with a stack's config (exactly what
`python -m scripts.render` does), writes the artifacts with secrets shown into a temporary
directory, and caches the result for the whole session, so every test reads the same run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minaperf.model.stack_file import read_stack_input, validate
from scripts.engine import ProgramRun, run_program
from scripts.render import write_render

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_VERSION = "1.34.0"
"""The Kubernetes minor the manifests are validated against (GKE regular channel)."""


@dataclass
class Rendered:
    run: ProgramRun
    directory: Path
    resources: list[dict[str, Any]]
    outputs: dict[str, Any]

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == resource_type]

    def named(self, resource_type: str, name: str) -> dict[str, Any]:
        """The Kubernetes object of `resource_type` whose metadata.name is `name`."""
        for resource in self.of_type(resource_type):
            if (resource["inputs"].get("metadata") or {}).get("name") == name:
                return resource
        raise KeyError(f"no {resource_type} named {name}")

    def manifests(self) -> list[Path]:
        return sorted((self.directory / "manifests").rglob("*.yaml"))


_cache: dict[tuple[Any, ...], Rendered] = {}
_workdir = Path(tempfile.mkdtemp(prefix="mina-itn-renders-"))


def render(
    stack: str | None = None,
    *,
    config_file: Path | None = None,
    overrides: Iterable[str] = (),
    secrets: Mapping[str, str] | None = None,
) -> Rendered:
    """Render a stack once per session (cached by its inputs); `secrets` as `--set-secret`."""
    key = (stack, str(config_file), tuple(overrides), tuple(sorted((secrets or {}).items())))
    if key not in _cache:
        stack_input = read_stack_input(
            stack=stack, config_file=config_file, overrides=overrides, secrets=secrets
        )
        validate(stack_input)
        run = run_program(stack_input.name, stack_input.config, stack_input.secret_keys)
        out = _workdir / f"render-{len(_cache)}"
        out.mkdir()
        write_render(run, out, show_secrets=True)
        _cache[key] = Rendered(
            run=run,
            directory=out,
            resources=json.loads((out / "resources.json").read_text()),
            outputs=json.loads((out / "outputs.json").read_text()),
        )
    return _cache[key]


@pytest.fixture(scope="session")
def renderer() -> Callable[..., Rendered]:
    return render


@pytest.fixture(scope="session")
def dev() -> Rendered:
    return render("dev")


@pytest.fixture(scope="session")
def kubernetes_stack() -> Rendered:
    return render(config_file=ROOT / "stacks" / "kind.yaml")


@pytest.fixture(scope="session")
def large() -> Rendered:
    return render(config_file=ROOT / "stacks" / "large-200.yaml")
