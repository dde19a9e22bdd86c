"""Each rule has one home: a second spelling of it anywhere in shipped code fails, naming the line.

A rule here is a value or a format more than one module must agree on. Its home defines it; every
other module imports it from there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("__main__.py", "components", "minaperf", "policy", "scripts")


def shipped_files() -> list[Path]:
    files: list[Path] = []
    for name in SHIPPED:
        path = ROOT / name
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


RULES: dict[str, tuple[str, re.Pattern[str]]] = {
    "the label, marker and naming contract": (
        "policy/markers.py",
        re.compile(
            r"""["'](?:mina-itn/(?:experiment|expiry|owner|kept-data)"""
            r"""|app\.kubernetes\.io/(?:part-of|component)|mina-itn-experiment)["']"""
            r"|itn-\{[^}]*\}-postgres"
            r"|4dabf18193072939515e22adb298388d"
            r"""|["']%Y-%m-%d_%H-%M["']"""
        ),
    ),
    "a usage error as one line and exit 2": (
        "scripts/cli.py",
        re.compile(r"ArgumentParser\(|def error\(self"),
    ),
    "bad input as one `error:` line and exit 2": (
        "scripts/cli.py",
        re.compile(r"\breturn 2$|\bclass CliError\b|\bdef (?:bad_input|validation_message)\("),
    ),
    "the exit status of bad input": ("minaperf/exit_codes.py", re.compile(r"EXIT_BAD_INPUT\s*=")),
    "where the stack outputs come from (--stack NAME or --outputs FILE)": (
        "scripts/cli.py",
        re.compile(
            r"""add_argument\(\s*["']--outputs["']"""
            r"|read_stack_outputs\([^)]*show_secrets=True|\bload_outputs\(Path\("
        ),
    ),
    "a handler for Ctrl-C and SIGTERM": ("minaperf/signals.py", re.compile(r"signal\.signal\(")),
    "RFC 3339 times, written and read": (
        "minaperf/rfc3339.py",
        re.compile(r"%Y-%m-%dT|datetime\.(?:fromisoformat|strptime)\b"),
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_rule_is_spelled_in_its_home_only(rule: str) -> None:
    home, spelling = RULES[rule]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in shipped_files()
        if path.relative_to(ROOT).as_posix() != home
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelling.search(line)
    ]
    assert not found, f"{rule} is defined in {home}; import it from there:\n" + "\n".join(found)


BAD_INPUT_BY_HAND = re.compile(
    r"""print\(\s*f?["'](?:config )?error: [^\n]*(?:\n[^\n]*)?\)\n"""
    r"\s*return (?:2|EXIT_BAD_INPUT)\b"
)
"""An `error:` line printed and exit 2 returned by hand instead of `return bad_input(...)`."""


def test_bad_input_is_reported_through_the_cli_kit() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in shipped_files()
        if path.relative_to(ROOT).as_posix() != "scripts/cli.py"
        for text in [path.read_text()]
        for match in BAD_INPUT_BY_HAND.finditer(text)
    ]
    assert not found, "return scripts.cli.bad_input(message) instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'print(f"error: {error}", file=sys.stderr)\n        return 2\n',
        'print(\n    "error: no pulumi", file=sys.stderr\n)\n    return EXIT_BAD_INPUT\n',
        'print(f"config error: {error}", file=sys.stderr)\n        return 2\n',
    ],
)
def test_a_hand_written_bad_input_report_is_found(source: str) -> None:
    assert BAD_INPUT_BY_HAND.search(source)


GCLOUD_RUN = re.compile(r"""["']gcloud["']""")
"""`gcloud` as a word of its own in Python: an argv element or a `shutil.which` name. A message
that tells the user a gcloud command to run is a longer string and is fine."""
GCLOUD_RUN_SHELL = re.compile(r"(?:^|[;&|(`]|\$\()\s*gcloud\b")
RUNS_NO_GCLOUD = {
    "scripts/janitor.py": "prints each GCP step of its plan as the gcloud command that does the "
    "same; it makes the REST call itself (its tests run --delete without gcloud on PATH)",
}
"""Shipped files that spell gcloud as a command, each with the documented reason."""


def test_gcp_is_reached_over_rest_only() -> None:
    """One GCP access path: minaperf.cloud.gcp_api with minaperf.cloud.gcp_credentials; no
    shipped module runs the gcloud CLI."""
    found, spelled = [], set()
    for path in [*shipped_files(), *sorted((ROOT / "minaperf").rglob("*.sh"))]:
        name = path.relative_to(ROOT).as_posix()
        shell = path.suffix == ".sh"
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0] if shell else line
            if (GCLOUD_RUN_SHELL if shell else GCLOUD_RUN).search(code):
                spelled.add(name)
                if name not in RUNS_NO_GCLOUD:
                    found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "call the REST API (minaperf/cloud/gcp_api.py), not gcloud:\n" + "\n".join(
        found
    )
    assert spelled >= set(RUNS_NO_GCLOUD), "a stale RUNS_NO_GCLOUD entry"
