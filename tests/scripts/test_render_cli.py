"""`python -m scripts.render`: the command-line contract of ARCHITECTURE.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run_render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.render", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def dev_render(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("cli") / "dev"
    return out, run_render("--stack", "dev", "--out", str(out))


def test_render_writes_every_artifact(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, result = dev_render
    assert result.returncode == 0, result.stderr
    resources = json.loads((out / "resources.json").read_text())
    assert isinstance(resources, list)
    assert resources
    for resource in resources:
        assert set(resource) >= {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "dependencies",
            "options",
            "inputs",
        }
        assert set(resource["options"]) >= {
            "protect",
            "retainOnDelete",
            "ignoreChanges",
            "customTimeouts",
            "deleteBeforeReplace",
        }
    assert list((out / "manifests").rglob("*.yaml"))
    assert json.loads((out / "outputs.json").read_text())["experiment"] == "dev"
    assert (out / "files").is_dir()


def test_render_masks_secrets_by_default(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = dev_render
    outputs = json.loads((out / "outputs.json").read_text())
    assert outputs["orchestratorKey"] == "[secret]"
    assert outputs["postgresPassword"] == "[secret]"
    assert "[secret]" in (out / "resources.json").read_text()


def test_render_warns_about_values_it_cannot_read(
    dev_render: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = dev_render
    assert "gcp:project is not set" in result.stderr


def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bad"
    result = run_render("--stack", "dev", "--set", "nodes.seeds=0", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "config error: nodes.seeds: Input should be greater than or equal to 1 (got 0)"
    ]
    assert not out.exists()


def test_unknown_key_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text(
        "config:\n  mina-itn:platform:\n    kind: kubernetes\n  mina-itn:nodez:\n    seeds: 1\n"
    )
    result = run_render("--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("config error: nodez: unknown key")


def test_render_refuses_to_clobber_another_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = run_render("--stack", "dev", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "not a render directory" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_encrypted_values_get_deterministic_placeholders(tmp_path: Path) -> None:
    from scripts.render import read_stack_input, validate

    stack = tmp_path / "secure.yaml"
    stack.write_text(
        "config:\n"
        "  mina-itn:platform:\n    kind: kubernetes\n"
        "  mina-itn:keys:\n    seed:\n      secure: v1:AAAA:BBBB\n"
    )
    first = read_stack_input(stack=None, config_file=stack, overrides=())
    second = read_stack_input(stack=None, config_file=stack, overrides=())
    assert first.config == second.config
    assert first.secret_keys == ["mina-itn:keys"]
    assert any("mina-itn:keys.seed is encrypted" in line for line in first.warnings)
    assert validate(first).keys.seed == first.config["mina-itn:keys"]["seed"]
