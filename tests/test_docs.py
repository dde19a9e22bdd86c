"""The README is a short entry point, and every relative link in the docs leads somewhere real."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).+?\1")
# [text](target) and ![alt](target); the text may hold inline code but no brackets.
LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (a `#` comment in a shell block is no heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup and punctuation dropped, lowercase, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -_" or unicodedata.category(ch)[0] in "LN"  # letters, digits
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match[2])
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    targets = []
    for line in prose_lines(path.read_text()):
        targets += LINK.findall(INLINE_CODE.sub("", line))
    return targets


def test_slugs_follow_github() -> None:
    assert github_slug("render: preview before `pulumi up`") == "render-preview-before-pulumi-up"
    assert github_slug("Trace path: node → fetcher → PostgreSQL") == (
        "trace-path-node--fetcher--postgresql"
    )
    assert github_slug("The janitor never deletes another team's experiment") == (
        "the-janitor-never-deletes-another-teams-experiment"
    )


def test_readme_is_an_entry_point() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail into docs/"
    first = "\n".join(lines[:20])
    # The two commands of a fresh machine come first: set up and render, and the tests.
    assert "pip install --require-hashes -r requirements.lock" in first
    assert "python -m scripts.render --stack dev --out build/dev" in first
    assert "bash .ci/run" in first


def test_readme_links_every_doc() -> None:
    linked = {(README.parent / target.split("#")[0]).resolve() for target in links(README)}
    unlinked = [doc.name for doc in DOCS if doc != README and doc.resolve() not in linked]
    assert not unlinked, f"README.md links no entry for {unlinked}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    broken = []
    for target in links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        file = (doc.parent / path_part).resolve() if path_part else doc
        if not file.is_relative_to(ROOT) or not file.is_file():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and anchor not in anchors(file):
            broken.append(f"{target}: {file.relative_to(ROOT)} has no heading #{anchor}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)
