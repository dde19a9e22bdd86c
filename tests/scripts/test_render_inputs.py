"""Render reads a stack file as the Pulumi CLI does, and every bad input is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DEV = (ROOT / "Pulumi.dev.yaml").read_text()


def run_render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.render", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def stack_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.exp.yaml"
    path.write_text(text)
    return path


def test_a_repeated_key_is_an_error_as_in_the_pulumi_cli(tmp_path: Path) -> None:
    text = DEV + "  mina-itn:nodes:\n    plainNodes: 50\n"
    line = one_error(run_render("--config", str(stack_file(tmp_path, text)), "--out", "x"))
    assert line.startswith("error: ")
    assert "'mina-itn:nodes' already defined at line" in line


def test_a_repeated_nested_key_is_an_error(tmp_path: Path) -> None:
    text = DEV.replace("    plainNodes: 5\n", "    plainNodes: 5\n    plainNodes: 6\n")
    line = one_error(run_render("--config", str(stack_file(tmp_path, text)), "--out", "x"))
    assert "'plainNodes' already defined" in line


@pytest.mark.parametrize(
    ("key", "hint"), [("minaitn:nodes", "mina-itn:nodes"), ("nodes", "mina-itn:nodes")]
)
def test_a_namespace_nobody_reads_is_refused(tmp_path: Path, key: str, hint: str) -> None:
    text = DEV.replace("  mina-itn:nodes:\n", f"  {key}:\n")
    line = one_error(run_render("--config", str(stack_file(tmp_path, text)), "--out", "x"))
    assert line.startswith(f"config error: {key}: ")
    assert f"did you mean {hint}?" in line


def test_a_binary_config_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bin.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    line = one_error(run_render("--config", str(path), "--out", str(tmp_path / "o")))
    assert line == f"error: --config: {path} is not UTF-8 text (byte 0); save it as UTF-8"


@pytest.mark.parametrize("value", ["[1, 2", "{a: ", "'open", "a: b: c", "*undefined"])
def test_a_set_value_that_is_not_yaml_is_one_line(value: str) -> None:
    line = one_error(
        run_render("--stack", "dev", "--set", f"nodes.plainNodes={value}", "--out", "x")
    )
    assert line.startswith("error: --set nodes.plainNodes: the value is not valid YAML")


def test_an_unquoted_timestamp_says_quote_it() -> None:
    line = one_error(
        run_render("--stack", "dev", "--set", "network.genesisTimestamp=2031-01-01T00:00:00Z",
                   "--out", "x")
    )  # fmt: skip
    assert line.startswith("config error: network.genesisTimestamp: ")
    assert "quote the timestamp" in line


def test_a_binary_kubeconfig_is_one_line_before_the_program(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(bytes(range(256)))
    line = one_error(
        run_render("--config", str(ROOT / "stacks" / "kind.yaml"),
                   "--set", f"platform.kubeconfig={kubeconfig}", "--out", str(tmp_path / "o"))
    )  # fmt: skip
    assert line.startswith("config error: platform.kubeconfig: ")
    assert "is not UTF-8 text (byte 128); save it as UTF-8" in line
    assert not (tmp_path / "o").exists()


def test_a_secret_set_on_the_command_line_comes_from_the_environment() -> None:
    line = one_error(
        run_render("--stack", "dev", "--set-secret", "keys.seed=NO_SUCH_VARIABLE_X", "--out", "x")
    )
    assert (
        line == "error: --set-secret keys.seed: environment variable NO_SUCH_VARIABLE_X is not set"
    )
