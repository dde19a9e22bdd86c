"""The CI workflows are valid GitHub Actions files and do what the project relies on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from minaperf.python_version import HIGHEST, LOWEST

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the bare key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "preview.yml"}


def test_workflows_match_the_github_schema():
    tool = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    steps: []\n")  # no runs-on
    tool = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0


def _actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    return subprocess.run(
        [tool, "-no-color", *map(str, paths)], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_actionlint_passes_the_workflows_and_catches_a_broken_one(tmp_path):
    """.ci/run lints the workflows with actionlint; here it must also see what the schema misses."""
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    strategy:\n      matrix:\n        python: ['3.11']\n"
        "    steps:\n      - run: echo ${{ matrix.pyton }}\n"
    )
    result = _actionlint(broken)
    assert result.returncode == 1
    assert 'property "pyton" is not defined' in result.stdout


def test_ci_runs_the_project_test_command_on_push_and_pull_request():
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    job = ci["jobs"]["test"]
    assert job["runs-on"] == "ubuntu-latest"
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python }}"
    # Every version the project supports, each job to its end (one failing must not hide another).
    assert job["strategy"]["matrix"]["python"] == [
        f"{LOWEST[0]}.{minor}" for minor in range(LOWEST[1], HIGHEST[1] + 1)
    ]
    assert job["strategy"]["fail-fast"] is False
    assert job["env"]["MINAPERF_OTHER_PYTHONS"] == "skip"
    assert setup["with"]["cache"] == "pip"
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == ".venv"
    assert "requirements-dev.lock" in cache["with"]["key"]
    installs = " ".join(s.get("run", "") for s in job["steps"])
    assert "pip install --require-hashes -r requirements-dev.lock" in installs
    assert any("bash .ci/run" in s.get("run", "") for s in job["steps"])


def test_preview_uses_the_policy_pack_and_comments_on_the_pr():
    preview = load("preview.yml")
    assert list(preview["on"]) == ["pull_request"]
    assert preview["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "id-token": "write",
    }
    action = next(s for s in steps(preview) if s.get("uses", "").startswith("pulumi/actions@"))
    options = action["with"]
    assert options["command"] == "preview"
    assert options["stack-name"] == "dev"
    assert options["comment-on-pr"] is True
    # The pack and the operator's opt-ins come from the base branch's checkout, never from the
    # pull request's own files (nor from the stack).
    base = next(s for s in steps(preview) if s.get("with", {}).get("path") == ".base")
    assert base["uses"].startswith("actions/checkout@")
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert base["with"]["sparse-checkout"].split() == [".ci", "policy"]
    assert options["policyPacks"] == ".base/policy"
    assert options["policyPackConfigs"] == ".base/policy/config.json"
    pack_dir = ROOT / options["policyPacks"].removeprefix(".base/")
    assert (pack_dir / "PulumiPolicy.yaml").is_file()
    pack_config = json.loads((pack_dir / "config.json").read_text())
    from policy.policies import ALL_POLICIES, CONFIG_ALLOW_PUBLIC

    assert set(pack_config) <= {policy.name for policy in ALL_POLICIES}
    assert pack_config["no-public-ingress"][CONFIG_ALLOW_PUBLIC] is False
    assert "vars.PULUMI_BACKEND_URL" in options["cloud-url"]


def test_preview_has_secrets_and_the_gke_auth_plugin():
    preview = load("preview.yml")
    job = preview["jobs"]["preview"]
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" in job["env"]["PULUMI_CONFIG_PASSPHRASE"]
    assert "secrets.GOOGLE_CREDENTIALS" in job["env"]["GOOGLE_CREDENTIALS"]
    gcloud = next(s for s in job["steps"] if "setup-gcloud" in s.get("uses", ""))
    assert "gke-gcloud-auth-plugin" in gcloud["with"]["install_components"]
    installs = " ".join(s.get("run", "") for s in job["steps"])
    assert "pip install --require-hashes -r requirements.lock" in installs
    assert "pip install --require-hashes -r .base/policy/requirements.txt" in installs
    assert "policy/.venv/bin/pip" not in installs.replace(".base/policy/.venv", "")


def test_preview_skips_fork_pull_requests():
    job = load("preview.yml")["jobs"]["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]


def test_preview_offers_workload_identity_federation_before_a_key():
    job = load("preview.yml")["jobs"]["preview"]
    auth = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
    federated = next(s for s in auth if "workload_identity_provider" in s["with"])
    assert "vars.GCP_WORKLOAD_IDENTITY_PROVIDER" in federated["with"]["workload_identity_provider"]
    assert "vars.GCP_SERVICE_ACCOUNT" in federated["with"]["service_account"]
    assert "env.WIF_PROVIDER != ''" in federated["if"]
    keyed = next(s for s in auth if "credentials_json" in s["with"])
    assert "env.WIF_PROVIDER == ''" in keyed["if"]


@pytest.mark.parametrize("name", ["ci.yml", "preview.yml"])
def test_actions_are_pinned_by_commit_sha(name):
    text = (ROOT / ".github" / "workflows" / name).read_text()
    for step in steps(load(name)):
        if "uses" in step:
            action, _, ref = step["uses"].partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", ref), step["uses"]
            # The release the SHA stands for is named next to it, for humans and for bumps.
            assert re.search(rf"{re.escape(step['uses'])} # v\d+\.\d+\.\d+", text), action


def test_code_owners_review_the_guardrails_and_the_workflows():
    rules = [
        line.split()
        for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    owned = {rule[0]: rule[1:] for rule in rules}
    assert owned.keys() >= {"/policy/", "/.github/"}
    assert all(owners and all(o.startswith("@") for o in owners) for owners in owned.values())
