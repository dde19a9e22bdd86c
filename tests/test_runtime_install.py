"""A user installs `requirements.lock` alone: everything shipped code imports must be in it.

CI installs the dev lock, which holds the runtime set and more, so a module missing from the runtime
lock only shows on a user's machine. Two checks: a static one (every third-party import of shipped
code belongs to a distribution the runtime lock pins), and a real one, marked `runtime_install`:
a fresh virtualenv built from `requirements.lock` alone with hashes required, as the README's
set-up does, where every shipped module imports and every command answers `--help`. The policy
pack has its own requirements (policy/requirements.txt).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.test_lock import lock_entries

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PACKAGES = ("components", "minaperf", "scripts")


def shipped_files() -> list[Path]:
    files = [ROOT / "__main__.py"]
    for package in SHIPPED_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def shipped_modules() -> list[str]:
    """Dotted names of every shipped module, packages included."""
    names = []
    for path in shipped_files()[1:]:
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def entry_points() -> list[str]:
    """`scripts.*` modules a user runs with `python -m` (they end in a `__main__` guard)."""
    return [
        f"scripts.{path.stem}"
        for path in sorted((ROOT / "scripts").glob("*.py"))
        if 'if __name__ == "__main__":' in path.read_text()
    ]


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of absolute imports that are neither stdlib nor this repository's."""
    local = {p.stem for p in ROOT.iterdir() if p.is_dir() or p.suffix == ".py"}
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in local:
                found.add(top)
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_entry_points_are_found() -> None:
    assert {"scripts.render", "scripts.experiment", "scripts.report"} <= set(entry_points())


def not_in_runtime_lock(paths: list[Path]) -> list[str]:
    """One line per third-party module imported by `paths` that `requirements.lock` lacks."""
    runtime = set(lock_entries(ROOT / "requirements.lock"))
    distributions = packages_distributions()
    missing = []
    for path in paths:
        for module in sorted(third_party_imports(path)):
            owners = {_normalise(d) for d in distributions.get(module, [module])}
            if not owners & runtime:
                missing.append(f"{module} ({', '.join(sorted(owners))}) imported by {path.name}")
    return missing


def test_every_third_party_import_of_shipped_code_is_a_runtime_requirement() -> None:
    missing = not_in_runtime_lock(shipped_files())
    assert not missing, "add to requirements.txt and run .ci/lock: " + "; ".join(missing)


def test_the_static_check_names_a_dev_only_import(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import os\nimport pytest\nfrom hypothesis import given\nimport pulumi\n"
        "from .sibling import x\nimport minaperf.model.config\n"
    )
    assert third_party_imports(planted) == {"pytest", "hypothesis", "pulumi"}
    assert not_in_runtime_lock([planted]) == [
        "hypothesis (hypothesis) imported by planted.py",
        "pytest (pytest) imported by planted.py",
    ]


def find_uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    assert Path(found).is_file(), "uv is in requirements-dev.lock: reinstall the dev venv"
    return found


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a new virtualenv holding `requirements.lock` and nothing else.

    uv installs it (hash-checked like pip, from its cache in seconds; pip's install of the same
    locks is what .ci/run does for .venv). It trusts the platform's certificate store, as pip
    does through the system's configuration, so a TLS-intercepting proxy the machine trusts
    works for both (uv's own bundle alone refuses it: "invalid peer certificate").
    """
    home = tmp_path_factory.mktemp("runtime-venv")
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    install = subprocess.run(
        [find_uv(), "pip", "install", "-q", "--system-certs", "--python", str(python),
         "--require-hashes", "-r", "requirements.lock"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert install.returncode == 0, f"install -r requirements.lock:\n{install.stderr[-3000:]}"
    return python


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(
        [str(python), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


@pytest.mark.runtime_install
def test_the_runtime_venv_has_no_dev_tool(runtime_python: Path) -> None:
    result = _run(runtime_python, "-c", "import pytest")
    assert result.returncode == 1
    assert "No module named 'pytest'" in result.stderr


@pytest.mark.runtime_install
def test_every_shipped_module_imports_from_the_runtime_lock(runtime_python: Path) -> None:
    code = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as error:\n"
        "        failed.append(f'{name}: {error}')\n"
        "print('\\n'.join(failed))\n"
    )
    result = _run(runtime_python, "-c", code, *shipped_modules())
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "", result.stdout


@pytest.mark.runtime_install
@pytest.mark.parametrize("module", entry_points())
def test_every_command_answers_help_from_the_runtime_lock(
    runtime_python: Path, module: str
) -> None:
    result = _run(runtime_python, "-m", module, "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage:" in result.stdout


@pytest.mark.runtime_install
def test_the_readme_render_runs_from_the_runtime_lock(runtime_python: Path, tmp_path: Path) -> None:
    """README's first command after the set-up: the dev stack under the mock engine."""
    out = tmp_path / "dev"
    result = _run(runtime_python, "-m", "scripts.render", "--stack", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "resources.json").is_file()
    assert (out / "outputs.json").is_file()
