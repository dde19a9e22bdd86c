"""A clone is self-contained: nothing it cites or its tests need lives outside the repository.

The project was written beside a folder of research notes and upstream files (`../shared/`) that a
user's clone does not have. The facts relied on are in docs/ in our own words; the only upstream
files a test needs (the pinned database schema) are found, fetched and checked by
tests/fakes/upstream_schema.py, or the test is skipped saying how to provide them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from minaperf.workloads.schema_pins import SCHEMA_FILES
from tests.fakes import upstream_schema
from tests.minaperf.workloads.conftest import find_pg_bindir

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "docs" / "upstream-facts.md"
OUTSIDE = re.compile(r"ARCHITECTURE\.md|\breference/[\w-]+\.md|\bshared/(?:vectors|reference|seed)")
# The one deliberate look outside, the optional schema checkout beside the repository: its code,
# its documentation, and this test's patterns.
MAY_LOOK_OUTSIDE = {
    Path("tests/fakes/upstream_schema.py"),
    Path("docs/development.md"),
    Path("tests/test_self_contained.py"),
}
NOTES = ("perf-services", "mina-nodes", "pulumi-practice")
CITATION = re.compile(rf"\b({'|'.join(NOTES)}) ((?:§[\d.]+(?:, | and |\u2013)?)+)")


def repository_files() -> list[Path]:
    """What a clone holds: tracked files, plus new ones not ignored (a change under review)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    paths = {ROOT / name for name in listed.split("\0") if name}
    return sorted(p for p in paths if p.is_file() and not p.is_symlink())


def repository_texts() -> dict[Path, str]:
    texts = {}
    for path in repository_files():
        try:
            texts[path] = path.read_text()
        except UnicodeDecodeError:
            continue  # images and other binary files cite nothing
    return texts


def sections_of_the_facts() -> set[str]:
    """`perf-services §1.2`-style names that docs/upstream-facts.md defines."""
    defined: set[str] = set()
    note = None
    for line in FACTS.read_text().splitlines():
        if line.startswith("## "):
            note = next((n for n in NOTES if line.startswith(f"## {n}:")), None)
        elif note and line.startswith("### "):
            defined |= {f"{note} §{n}" for n in re.findall(r"§([\d.]+)", line)}
        elif note and (bullet := re.match(r"- \*\*§([\d.]+) ", line)):
            defined.add(f"{note} §{bullet[1]}")
    return defined


def test_nothing_cites_a_file_outside_the_repository() -> None:
    found = []
    for path, text in repository_texts().items():
        if path.relative_to(ROOT) in MAY_LOOK_OUTSIDE:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) or "../shared" in line:
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "cite docs/ instead:\n" + "\n".join(found)


def test_every_cited_section_of_the_upstream_facts_exists() -> None:
    defined = sections_of_the_facts()
    assert {"perf-services §1.2", "mina-nodes §2.4", "pulumi-practice §4.5"} <= defined
    missing, cited = [], 0
    for path, text in repository_texts().items():
        for match in CITATION.finditer(text):
            for number in re.findall(r"§([\d.]+)", match[2]):
                cited += 1
                if f"{match[1]} §{number}" not in defined:
                    missing.append(f"{path.relative_to(ROOT)}: {match[1]} §{number}")
    assert cited > 20  # the code cites these notes throughout; none found means a broken pattern
    assert not missing, "not a section of docs/upstream-facts.md: " + ", ".join(missing)


@pytest.fixture
def schema_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty directory named by $MINAPERF_UPSTREAM_SCHEMA_DIR, looked at afresh."""
    monkeypatch.setenv(upstream_schema.ENV, str(tmp_path))
    upstream_schema._locate.cache_clear()
    yield tmp_path
    upstream_schema._locate.cache_clear()


def test_a_schema_file_that_differs_from_its_pin_is_an_error(schema_dir: Path) -> None:
    for pin in SCHEMA_FILES:
        (schema_dir / pin.name).write_text("-- not the pinned file\n")
    with pytest.raises(RuntimeError, match=rf"{SCHEMA_FILES[0].name}: sha256 [0-9a-f]{{64}}, "):
        upstream_schema.schema_files()


def test_an_empty_schema_directory_names_what_it_lacks(schema_dir: Path) -> None:
    with pytest.raises(RuntimeError, match=f"has no {SCHEMA_FILES[0].name}: set "):
        upstream_schema.schema_files()


def test_a_clone_with_nothing_beside_it_skips_the_schema_tests_and_says_why(
    tmp_path: Path,
) -> None:
    """A copy of the repository alone in a directory, with GitHub out of reach (a dead proxy)."""
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    clone = tmp_path / "clone"
    for path in repository_files():
        target = clone / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    assert not (tmp_path / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k != upstream_schema.ENV}
    env |= {"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    test = (
        "tests/minaperf/orchestrator/test_traces.py"
        "::test_end_to_end_through_kubectl_exec_files_status_and_database"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 skipped" in result.stdout, result.stdout[-3000:]
    assert "the pinned upstream schema is not here and GitHub is out of reach" in result.stdout
    assert f"set {upstream_schema.ENV} to a directory holding" in result.stdout
