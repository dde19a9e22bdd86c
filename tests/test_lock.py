"""Python dependencies are locked with hashes, and the locks are what gets installed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(?:\[[^\]]+\])?==(?P<version>[^\s;\\]+)")


def _name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, following `-r` includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line.split(maxsplit=1)[1]))
        elif match := PIN.match(line):
            found[_name(match["name"])] = match["version"]
    return found


def lock_entries(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `--generate-hashes` lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
            entries[_name(match["name"])] = (match["version"], hashes)
    return entries


LOCKS = [
    ("requirements.txt", "requirements.lock"),
    ("requirements-dev.txt", "requirements-dev.lock"),
    ("requirements-scan.txt", "requirements-scan.lock"),
    ("policy/requirements.in", "policy/requirements.txt"),
    (".ci/pip.in", ".ci/pip.lock"),
]


@pytest.mark.parametrize(("source", "lock"), LOCKS)
def test_every_pin_is_locked_at_its_version_with_hashes(source: str, lock: str) -> None:
    entries = lock_entries(ROOT / lock)
    for name, version in pins(ROOT / source).items():
        assert name in entries, f"{name} is pinned in {source} but not in {lock}: run .ci/lock"
        assert entries[name][0] == version, f"{name}: {source} says {version}: run .ci/lock"
    for name, (_, hashes) in entries.items():
        assert hashes, f"{name} has no hash in {lock}"


def test_ci_installs_the_lock_with_required_hashes() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q --require-hashes -r requirements-dev.lock" in run
    assert "pip install -q --require-hashes -r requirements-scan.lock" in run


def test_every_pip_install_in_ci_and_workflows_requires_hashes() -> None:
    """No installer runs unpinned: each install names a lock and checks hashes, pip first."""
    texts = {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for path in [ROOT / ".ci" / "run", *sorted((ROOT / ".github" / "workflows").glob("*.yml"))]
    }
    installs = 0
    for name, text in texts.items():
        lines = [line for line in text.splitlines() if re.search(r"pip install\b", line)]
        for line in lines:
            installs += 1
            assert "--require-hashes" in line, f"{name}: unhashed install: {line.strip()}"
            assert "--upgrade" not in line, f"{name}: unpinned upgrade: {line.strip()}"
        if lines:
            assert ".ci/pip.lock" in lines[0], f"{name}: pip is not installed from its lock first"
    assert installs >= 5


def test_policy_pack_lock_holds_the_program_versions() -> None:
    """The pack and the program import the same SDK: the pack's lock may not drift from it."""
    program = lock_entries(ROOT / "requirements.lock")
    pack = lock_entries(ROOT / "policy" / "requirements.txt")
    shared = set(program) & set(pack)
    assert {"pulumi", "grpcio", "protobuf"} <= shared
    for name in shared:
        assert pack[name][0] == program[name][0], f"{name}: policy pack and program differ"


def test_the_lock_parser_sees_a_missing_hash(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("foo==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\nbar==2.0\n")
    assert lock_entries(lock) == {"foo": ("1.0", ["a" * 64]), "bar": ("2.0", [])}


def test_every_lock_is_resolved_for_the_lowest_python_we_allow() -> None:
    """A lock resolved for 3.11.7 pins packages a Debian 12 python3 (3.11.2) cannot install."""
    floor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lowest = re.fullmatch(r">=(\d+\.\d+),<\d+\.\d+", floor)
    assert lowest, floor
    script = (ROOT / ".ci" / "lock").read_text()
    compiles = [line for line in script.splitlines() if line.strip().startswith("compile ")]
    assert len(compiles) == len(LOCKS) - 1  # requirements and requirements-dev share one loop
    for line in compiles:
        assert f"--python-version {lowest[1]} " in line, line
