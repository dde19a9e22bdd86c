"""Module docstrings say what a module is for in a few lines; the reasoning lives in docs/.

Every `docs/<page>.md#<anchor>` the shipped code names must lead to a real heading, so a link
left behind by a moved section fails here rather than in a reader's browser.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.test_docs import anchors

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("components", "minaperf", "policy", "scripts", "benchmarks")
MOST_LINES = 6
DOC_REFERENCE = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)(?:#([A-Za-z0-9_-]+))?")


def shipped_sources() -> dict[str, str]:
    paths = [ROOT / "__main__.py"]
    for package in SHIPPED:
        paths += sorted((ROOT / package).rglob("*.py"))
        paths += sorted((ROOT / package).rglob("*.sh"))
    return {str(path.relative_to(ROOT)): path.read_text() for path in paths}


def test_module_docstrings_are_a_few_lines() -> None:
    long = []
    for name, text in shipped_sources().items():
        if not name.endswith(".py"):
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        lines = [line for line in docstring.splitlines() if line.strip()]
        if len(lines) > MOST_LINES:
            long.append(f"{name} ({len(lines)} lines)")
    assert not long, (
        f"module docstrings over {MOST_LINES} lines (keep what and why, link docs/ for the "
        "rest): " + ", ".join(long)
    )


def test_docs_named_in_the_code_exist() -> None:
    broken = []
    for name, text in shipped_sources().items():
        for match in DOC_REFERENCE.finditer(text):
            page, anchor = ROOT / "docs" / match[1], match[2]
            if not page.is_file():
                broken.append(f"{name}: {match[0]} (no such page)")
            elif anchor and anchor not in anchors(page):
                broken.append(f"{name}: {match[0]} (no such heading)")
    assert not broken, "; ".join(broken)
