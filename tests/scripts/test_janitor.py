"""The janitor against stub `pulumi`, `gcloud` and `kubectl` executables first on PATH.

Each stub records its argv and prints the canned JSON registered for that command line, so the
tests see exactly which commands a read-only run and a --delete run would issue.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.janitor import parse_time

ROOT = Path(__file__).resolve().parents[2]
NOW = "2030-06-01T12:00:00Z"
PAST, FUTURE = "2030-05-30", "2030-06-09"

STUB = """#!{python}
import json, os, sys
argv = [os.path.basename(sys.argv[0])] + sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\\n")
canned = json.load(open(os.environ["STUB_CANNED"]))
key = " ".join(argv)
if key in canned.get("fail", []):
    sys.stderr.write("stub failure\\n")
    sys.exit(1)
out = canned["outputs"].get(key)
if out is not None:
    sys.stdout.write(json.dumps(out))
"""


def gcp_labels(experiment: str, expiry: str) -> dict[str, str]:
    return {"experiment": experiment, "expiry": expiry, "managed-by": "pulumi", "owner": "perf"}


def ns(name: str, experiment: str, expiry: str) -> dict:
    labels = {
        "app.kubernetes.io/part-of": "mina-itn",
        "mina-itn/experiment": experiment,
        "mina-itn/expiry": expiry,
    }
    return {"metadata": {"name": name, "labels": labels}}


ZONE = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a"
CANNED = {
    "outputs": {
        "pulumi stack ls --json": [
            {"name": "dev", "current": True, "resourceCount": 40},
            {"name": "exp-2", "current": False, "resourceCount": 40},
            {"name": "exp-3", "current": False, "resourceCount": 0},
        ],
        "pulumi stack output --json --stack dev": {"expiresAt": "2030-06-01T06:00:00Z"},
        "pulumi stack output --json --stack exp-2": {"expiresAt": "2030-06-03T00:00:00Z"},
        "pulumi stack output --json --stack exp-3": {},
        "gcloud compute instances list --format=json --filter=labels.managed-by=pulumi": [
            {"name": "itn-dev-worker-0", "zone": ZONE, "labels": gcp_labels("dev", PAST)},
            {"name": "itn-gone-worker-0", "zone": ZONE, "labels": gcp_labels("gone", PAST)},
            {"name": "itn-new-worker-0", "zone": ZONE, "labels": gcp_labels("new", FUTURE)},
        ],
        "gcloud compute disks list --format=json --filter=labels.managed-by=pulumi": [
            {"name": "itn-gone-pgdata", "zone": ZONE, "labels": gcp_labels("gone", PAST)},
        ],
        "gcloud container clusters list --format=json --filter=resourceLabels.managed-by=pulumi": [
            {
                "name": "itn-gone",
                "location": "us-central1-a",
                "resourceLabels": gcp_labels("gone", "2030-05-30_06-00"),
            },
        ],
        "kubectl get namespaces -l app.kubernetes.io/part-of=mina-itn -o json": {
            "items": [ns("mina-dev", "dev", PAST), ns("mina-gone", "gone", PAST)]
        },
    }
}


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pulumi", "gcloud", "kubectl"):
        path = bin_dir / tool
        path.write_text(STUB.format(python=sys.executable))
        path.chmod(0o755)
    (tmp_path / "canned.json").write_text(json.dumps(CANNED))
    return tmp_path


def janitor(
    tmp: Path, *args: str, path: str | None = None, canned: dict | None = None
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    if canned is not None:
        (tmp / "canned.json").write_text(json.dumps(canned))
    log = tmp / "argv.log"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": path if path is not None else f"{tmp / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_CANNED": str(tmp / "canned.json"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "scripts.janitor", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


def mutating(calls: list[list[str]]) -> list[str]:
    return [" ".join(c) for c in calls if "delete" in c or "destroy" in c]


def test_read_only_run_lists_expired_and_changes_nothing(stubs):
    result, calls = janitor(stubs, "--now", NOW)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 expired stack(s) of 3" in out
    assert "stack     dev" in out
    assert "exp-2" not in out.split("expired resource")[0].split("expired stack")[1]
    assert "itn-gone-worker-0 [us-central1-a] experiment=gone" in out
    assert "itn-dev-worker-0" in out
    assert "owned by its stack" in out
    assert "itn-new-worker-0" not in out
    assert "itn-gone-pgdata" in out
    assert "cluster   itn-gone [us-central1-a]" in out
    assert "mina-gone" in out
    assert "stack exp-3 carries no expiry" in out
    assert "rerun with --delete" in out
    assert mutating(calls) == []
    assert ["pulumi", "stack", "output", "--json", "--stack", "exp-2"] in calls


def test_delete_destroys_expired_stacks_and_orphans_only(stubs):
    result, calls = janitor(stubs, "--delete", "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert mutating(calls) == [
        "pulumi destroy --yes --stack dev",
        "gcloud compute instances delete itn-gone-worker-0 --zone us-central1-a --quiet",
        "kubectl delete namespace mina-gone",
    ]
    out = result.stdout
    assert "running: pulumi destroy --yes --stack dev" in out
    assert "skipped instance itn-dev-worker-0: destroy its stack instead" in out
    # Kept data and whole clusters are left to a human, with the command to run.
    assert "gcloud compute disks delete itn-gone-pgdata --zone us-central1-a --quiet" in out
    assert "gcloud container clusters delete itn-gone --location us-central1-a --quiet" in out


def test_now_decides_what_expired(stubs):
    result, calls = janitor(stubs, "--delete", "--now", "2030-05-01")
    assert result.returncode == 0, result.stderr
    assert "0 expired stack(s) of 3" in result.stdout
    assert mutating(calls) == []


def test_failed_destroy_is_reported(stubs):
    canned = {**CANNED, "fail": ["pulumi destroy --yes --stack dev"]}
    result, calls = janitor(stubs, "--delete", "--now", NOW, canned=canned)
    assert result.returncode == 1
    assert "FAILED" in result.stderr
    assert "kubectl delete namespace mina-gone" in mutating(calls)


def test_missing_cli_is_a_clear_error(stubs):
    only_pulumi = stubs / "only"
    only_pulumi.mkdir()
    (only_pulumi / "pulumi").symlink_to(stubs / "bin" / "pulumi")
    result, calls = janitor(stubs, "--now", NOW, path=str(only_pulumi))
    assert result.returncode == 2
    assert "`gcloud` is not on PATH" in result.stderr
    assert "--no-gcloud" in result.stderr
    assert "`kubectl` is not on PATH" in result.stderr
    assert calls == []
    result, calls = janitor(
        stubs, "--now", NOW, "--no-gcloud", "--no-kubectl", path=str(only_pulumi)
    )
    assert result.returncode == 0, result.stderr
    assert {c[0] for c in calls} == {"pulumi"}


def test_missing_pulumi_is_a_clear_error(stubs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result, _ = janitor(stubs, "--no-gcloud", "--no-kubectl", path=str(empty))
    assert result.returncode == 2
    assert "`pulumi` is not on PATH" in result.stderr


def test_bad_now_is_rejected(stubs):
    result, calls = janitor(stubs, "--now", "soon")
    assert result.returncode == 2
    assert "--now" in result.stderr
    assert calls == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-06-01T06:00:00Z", dt.datetime(2030, 6, 1, 6, tzinfo=dt.UTC)),
        ("2030-06-01T08:00:00+02:00", dt.datetime(2030, 6, 1, 6, tzinfo=dt.UTC)),
        ("2030-06-01", dt.datetime(2030, 6, 1, tzinfo=dt.UTC)),
        ("2030-06-01_06-30", dt.datetime(2030, 6, 1, 6, 30, tzinfo=dt.UTC)),
        ("2030-06-01t063015z", dt.datetime(2030, 6, 1, 6, 30, 15, tzinfo=dt.UTC)),
        ("2030-13-01", None),
        ("never", None),
        (None, None),
    ],
)
def test_parse_time(value, expected):
    assert parse_time(value) == expected
