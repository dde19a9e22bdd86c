"""A wrong Python gets one line at start, not an ImportError from deep inside a module."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from minaperf.python_version import HIGHEST, LOWEST, version_problem

ROOT = Path(__file__).resolve().parents[2]


def test_the_check_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    low, high = f"{LOWEST[0]}.{LOWEST[1]}", f"{HIGHEST[0]}.{HIGHEST[1] + 1}"
    assert project["requires-python"] == f">={low},<{high}"
    assert version_problem(sys.version_info) is None


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 12, 1), (3, 13, 0), (3, 13, 9)])
def test_every_supported_version_passes(version: tuple[int, int, int]) -> None:
    assert version_problem(version) is None


@pytest.mark.parametrize("version", [(3, 9, 18), (3, 10, 0), (3, 14, 0), (4, 0, 0), (2, 7, 18)])
def test_other_versions_get_one_line(version: tuple[int, int, int]) -> None:
    problem = version_problem(version)
    assert problem is not None
    assert problem.startswith("error: this project needs Python 3.11 to 3.13 (found ")
    assert "python3.13 -m venv .venv" in problem
    assert "\n" not in problem


@pytest.mark.parametrize("module", ["scripts.render", "scripts.keys", "scripts.experiment"])
def test_every_cli_stops_with_one_line_under_a_wrong_python(module: str) -> None:
    pretend = (
        "import sys, runpy; sys.version_info = (3, 9, 18, 'final', 0); "
        f"runpy.run_module({module!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", pretend], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: this project needs Python 3.11 to 3.13 (found 3.9")
