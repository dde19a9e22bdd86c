""".github/workflows/nightly.yml's own scripts, run as the runner runs a `run:` step (bash
--noprofile --norc -eo pipefail): the skip with a notice where it is not configured, and the one
regression issue opened, then commented on, with a stand-in `gh` on PATH.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"

# `gh issue list --json number --jq '.[0].number'` prints the number, or an empty line when no
# issue is open (cli/go-gh pkg/jq/jq.go jsonScalarToString: null → ""); every call is logged.
FAKE_GH = """#!/bin/sh
for arg in "$@"; do printf '%s\\0' "$arg"; done >> "$GH_LOG"
printf '\\n' >> "$GH_LOG"
if [ "$1 $2" = "issue list" ]; then printf '%s\\n' "$OPEN_ISSUE"; fi
"""


def step(name: str) -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    return next(s for s in document["jobs"]["campaign"]["steps"] if s.get("name") == name)


def run_step(name: str, tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp / "step.sh"
    script.write_text(step(name)["run"])
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=tmp,
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(tmp / "output"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


CONFIGURED = {
    "PULUMI_CONFIG_PASSPHRASE": "p",
    "PULUMI_BACKEND_URL": "gs://state",
    "GOOGLE_CREDENTIALS": "{}",
    "WIF_PROVIDER": "",
    "WIF_SERVICE_ACCOUNT": "",
    "CAMPAIGN": "stacks/campaigns/node-sweep.yaml",
}


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({}, None),
        (
            {"GOOGLE_CREDENTIALS": "", "WIF_PROVIDER": "projects/1/x", "WIF_SERVICE_ACCOUNT": "a"},
            None,
        ),
        ({"CAMPAIGN": ""}, " vars.NIGHTLY_CAMPAIGN"),
        ({"GOOGLE_CREDENTIALS": "", "WIF_PROVIDER": "projects/1/x"}, " vars.GCP_SERVICE_ACCOUNT"),
        (
            {key: "" for key in CONFIGURED},
            " PULUMI_CONFIG_PASSPHRASE vars.GCP_WORKLOAD_IDENTITY_PROVIDER(or GOOGLE_CREDENTIALS)"
            " vars.PULUMI_BACKEND_URL vars.NIGHTLY_CAMPAIGN",
        ),
    ],
)
def test_the_campaign_runs_only_where_configured_and_skips_with_a_notice(
    tmp_path: Path, changes: dict[str, str], missing: str | None
) -> None:
    done = run_step("Check that the campaign can run", tmp_path, {**CONFIGURED, **changes})
    assert done.returncode == 0, done.stderr
    output = (tmp_path / "output").read_text()
    if missing is None:
        assert (output, done.stdout) == ("ok=true\n", "")
    else:
        assert output == "ok=false\n"
        assert done.stdout == f"::notice::nightly campaign skipped: not configured:{missing}\n"
    # Every later step waits for it.
    document = yaml.safe_load(WORKFLOW.read_text())
    for later in document["jobs"]["campaign"]["steps"][1:]:
        assert "steps.ready.outputs.ok == 'true'" in later["if"] or later["if"].startswith(
            "failure() && steps.report.outputs.code == '1'"
        ), later


def _calls(log: Path) -> list[list[str]]:
    return [line.split("\0") for line in log.read_text().split("\0\n") if line]


def test_a_regression_opens_one_issue_then_comments_on_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    (tmp_path / "campaign").mkdir()
    verdict = "cell 1 (nodes.plainNodes=3) against cell 0: regression\n"
    (tmp_path / "campaign" / "verdict.txt").write_text(verdict)
    log = tmp_path / "gh.log"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GH_LOG": str(log),
        "RUN_URL": "https://github.com/o/r/actions/runs/7",
    }
    name = "Open or update the regression issue"
    assert step(name)["if"] == "failure() && steps.report.outputs.code == '1'"
    done = run_step(name, tmp_path, {**env, "OPEN_ISSUE": ""})
    assert done.returncode == 0, done.stderr
    body = (
        "Nightly campaign regression: https://github.com/o/r/actions/runs/7\n\n"
        f"```\n{verdict.strip()}\n```"
    )
    list_call = ["issue", "list", "--label", "nightly-regression", "--state", "open"]
    calls = _calls(log)
    assert calls[0][:6] == list_call
    assert calls[1][:3] == ["label", "create", "nightly-regression"]
    assert calls[2] == [
        "issue",
        "create",
        "--title",
        "Nightly campaign: regression",
        "--label",
        "nightly-regression",
        "--body",
        body,
    ]
    log.unlink()
    done = run_step(name, tmp_path, {**env, "OPEN_ISSUE": "41"})
    assert done.returncode == 0, done.stderr
    assert _calls(log)[1:] == [["issue", "comment", "41", "--body", body]]
