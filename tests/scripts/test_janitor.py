"""The janitor against stand-in `pulumi` and `kubectl` executables first on PATH and the Google
REST stand-in (tests/fakes/gcp_apis.py) that preflight's tests use.

Each executable records its argv and prints the canned JSON registered for that command line;
`kubectl` ignores `-l`. The REST stand-in runs `leaky` here: it ignores the filter and the project
and returns everything, including another team's Pulumi VMs with look-alike labels (`experiment`,
`managed-by=pulumi`, `expiry`), service accounts whose description only mentions our marker, and
resources of another project: the worst a filter typo or a shared listing can do. The janitor must
still delete only what is ours. Lists come two items a page, so every listing is paged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from minaperf.cloud.gcp_credentials import API_BASE_ENV, KEY_ENV, TOKEN_ENV
from policy.markers import NODES_ACCOUNT, WORKERS_ACCOUNT, parse_own_description, service_account_id
from scripts.janitor import parse_time
from tests.conftest import render
from tests.fakes.gcp_apis import TOKEN, FakeGcp, FakeProject

ROOT = Path(__file__).resolve().parents[2]
NOW = "2030-06-01T12:00:00Z"
PAST, FUTURE = "2030-05-30", "2030-06-09"
PAST_LABEL, FUTURE_LABEL = "2030-05-30_06-00", "2030-06-09_00-00"  # EXPIRY_FORMAT

STUB = """#!{python}
import json, os, sys
argv = [os.path.basename(sys.argv[0])] + sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\\n")
canned = json.load(open(os.environ["STUB_CANNED"]))
# Filters and scopes are ignored: the stand-in returns every resource it knows.
words = list(argv)
if words[:2] == ["kubectl", "get"] and "-l" in words:
    index = words.index("-l")
    del words[index : index + 2]
key = " ".join(words)
if key in canned.get("fail", []):
    sys.stderr.write("stub failure\\n")
    sys.exit(1)
out = canned["outputs"].get(key)
if out is not None:
    sys.stdout.write(json.dumps(out))
"""


def ours(experiment: str, expiry: str) -> dict[str, str]:
    return {**lookalike(experiment, expiry), "mina-itn-experiment": experiment}


def lookalike(experiment: str, expiry: str) -> dict[str, str]:
    """What another team's Pulumi program may well put on its VMs."""
    return {"experiment": experiment, "expiry": expiry, "managed-by": "pulumi", "owner": "perf"}


def ns(name: str, labels: dict[str, str]) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


def ns_ours(name: str, experiment: str, expiry: str) -> dict:
    return ns(
        name,
        {
            "app.kubernetes.io/part-of": "mina-itn",
            "mina-itn/experiment": experiment,
            "mina-itn/expiry": expiry,
        },
    )


ZONE = "zones/us-central1-a"


def compute(project: str, name: str, labels: dict[str, str], kind: str = "instances") -> dict:
    """A Compute v1 Instance or Disk as aggregatedList returns it (the fields the janitor reads)."""
    zone = f"https://www.googleapis.com/compute/v1/projects/{project}/{ZONE}"
    return {"name": name, "zone": zone, "selfLink": f"{zone}/{kind}/{name}", "labels": labels}


def cluster(project: str, name: str, labels: dict[str, str]) -> dict:
    """A GKE v1 Cluster (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/
    projects.locations.clusters): `location`, `selfLink`, `resourceLabels`."""
    link = f"https://container.googleapis.com/v1/projects/{project}/zones/us-central1-a/clusters/{name}"
    return {"name": name, "location": "us-central1-a", "selfLink": link, "resourceLabels": labels}


def account(project: str, account_id: str, description: str | None) -> dict:
    """An IAM ServiceAccount as serviceAccounts.list returns it
    (https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts; an empty
    description is left out, as proto3 JSON omits empty fields)."""
    email = f"{account_id}@{project}.iam.gserviceaccount.com"
    item = {
        "name": f"projects/{project}/serviceAccounts/{email}",
        "projectId": project,
        "uniqueId": "104000000000000000001",
        "email": email,
        "displayName": account_id,
        "etag": "MDEwMjE5MjA=",
        "oauth2ClientId": "104000000000000000001",
        "disabled": False,
    }
    return item if description is None else {**item, "description": description}


def marker(experiment: str, expiry: str) -> str:
    return f"mina-itn-experiment={experiment}; expiry={expiry}"


GONE_WORKERS = service_account_id("gone", WORKERS_ACCOUNT)
GONE_WORKERS_EMAIL = f"{GONE_WORKERS}@p.iam.gserviceaccount.com"
DEV_NODES_EMAIL = f"{service_account_id('dev', NODES_ACCOUNT)}@p.iam.gserviceaccount.com"
NEW_NODES_EMAIL = f"{service_account_id('new', NODES_ACCOUNT)}@p.iam.gserviceaccount.com"


def canned_outputs() -> dict:
    dev_outputs = {**render("dev").outputs, "expiresAt": "2030-06-01T06:00:00Z"}
    return {
        "pulumi stack ls --json": [
            {"name": "dev", "current": True, "resourceCount": 40},
            {"name": "exp-2", "current": False, "resourceCount": 40},
            {"name": "exp-3", "current": False, "resourceCount": 0},
        ],
        "pulumi stack output --json --stack dev": dev_outputs,
        "pulumi stack output --json --stack exp-2": {"expiresAt": "2030-06-03T00:00:00Z"},
        "pulumi stack output --json --stack exp-3": {},
        "kubectl get namespaces -o json": {
            "items": [
                ns_ours("mina-dev", "dev", PAST),
                ns_ours("mina-gone", "gone", PAST),
                ns("payments", {"experiment": "payments", "mina-itn/expiry": PAST}),
            ]
        },
        "kubectl get persistentvolumeclaims -A -o json": {"items": []},
    }


GRANTED = {
    "compute.instances.list",
    "compute.disks.list",
    "compute.instanceGroupManagers.list",
    "container.clusters.list",
    "iam.serviceAccounts.list",
    "compute.instances.delete",
    "compute.instanceGroupManagers.delete",
    "iam.serviceAccounts.delete",
}


def fake_project() -> FakeProject:
    return FakeProject(
        project_id="p",
        enabled={"compute.googleapis.com", "container.googleapis.com", "iam.googleapis.com"},
        granted=set(GRANTED),
        leaky=True,
        page_size=2,
        instances={
            ZONE: [
                compute("p", "itn-dev-worker-0", ours("dev", PAST)),
                compute("p", "itn-gone-worker-0", ours("gone", PAST)),
                compute("p", "itn-new-worker-0", ours("new", FUTURE)),
                # Another team's expired Pulumi VMs, same project, same generic labels:
                compute("p", "payments-batch-7", lookalike("payments", PAST)),
                compute("p", "itn-gone-worker-9", lookalike("gone", PAST)),
                # Our label, but another project (a shared listing): not ours to delete here.
                compute("other-team", "itn-gone-worker-1", ours("gone", PAST)),
            ]
        },
        disks={
            ZONE: [
                compute("p", "itn-gone-pgdata", ours("gone", PAST), "disks"),
                compute("p", "payments-db", lookalike("payments", PAST), "disks"),
            ]
        },
        clusters=[
            cluster("p", "itn-gone", ours("gone", "2030-05-30_06-00")),
            cluster("p", "payments", lookalike("payments", PAST)),
        ],
        accounts=[
            account("p", GONE_WORKERS, marker("gone", PAST_LABEL)),
            account("p", service_account_id("dev", NODES_ACCOUNT), marker("dev", PAST_LABEL)),
            account("p", service_account_id("new", NODES_ACCOUNT), marker("new", FUTURE_LABEL)),
            # Another team's accounts in the same project: none carries exactly our marker.
            account("p", "payments-runner", "Payments batch runner"),
            account("p", "payments-nomarker", None),
            account("p", "payments-quoting", "copied from " + marker("gone", PAST_LABEL)),
            account("p", "payments-trailing", marker("gone", PAST_LABEL) + " (old)"),
            account("p", "payments-multiline", marker("gone", PAST_LABEL) + "\nkeep"),
            account("p", "payments-nolimit", "mina-itn-experiment=gone; expiry=never"),
            # Our marker, but another project's account: not ours to delete here.
            account("other-team", "itn-gone-workers-0a1b2c3d", marker("gone", PAST_LABEL)),
        ],
    )


@dataclass
class Rig:
    tmp: Path
    gcp: FakeGcp


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[Rig]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pulumi", "kubectl"):
        path = bin_dir / tool
        path.write_text(STUB.format(python=sys.executable))
        path.chmod(0o755)
    (tmp_path / "canned.json").write_text(json.dumps({"outputs": canned_outputs()}))
    gcp = FakeGcp(fake_project())
    yield Rig(tmp_path, gcp)
    gcp.close()


def janitor(
    rig: Rig, *args: str, path: str | None = None, canned: dict | None = None, token: str = TOKEN
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The janitor's result, and what it did: the executables' argv, then the REST calls as
    `["REST", method, path]`."""
    tmp = rig.tmp
    if canned is not None:
        (tmp / "canned.json").write_text(json.dumps(canned))
    log = tmp / "argv.log"
    log.unlink(missing_ok=True)
    rig.gcp.project.requests.clear()
    env = {
        **{k: v for k, v in os.environ.items() if k != KEY_ENV},
        "PATH": path if path is not None else f"{tmp / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_CANNED": str(tmp / "canned.json"),
        TOKEN_ENV: token,
        API_BASE_ENV: rig.gcp.url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "scripts.janitor", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    rest = [["REST", *request.split(" ", 1)] for request in rig.gcp.project.requests]
    return result, calls + rest


def mutating(calls: list[list[str]]) -> list[str]:
    return [
        " ".join(c) for c in calls if "delete" in c or "destroy" in c or c[:2] == ["REST", "DELETE"]
    ]


FOREIGN = ("payments", "itn-gone-worker-9", "itn-gone-worker-1", "other-team")


def test_read_only_listing_is_the_plan_and_changes_nothing(stubs):
    result, calls = janitor(stubs, "--project", "p", "--now", NOW)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1 expired stack(s) of 3; 8 expired resource(s) of 10" in out
    plan = out.split("--delete would run (3):\n")[1].split("not deleted")[0]
    assert [line.split("    #")[0].strip() for line in plan.strip().splitlines()] == [
        "python -m scripts.teardown --stack dev --yes",
        "gcloud compute instances delete itn-gone-worker-0 --zone us-central1-a --project=p "
        "--quiet",
        f"gcloud iam service-accounts delete {GONE_WORKERS_EMAIL} --project=p --quiet",
    ]
    assert "namespace mina-gone experiment=gone" in out.split("not deleted")[1]
    assert "itn-dev-worker-0" in out
    assert f"service-account {DEV_NODES_EMAIL} experiment=dev" in out.split("not deleted")[1]
    assert NEW_NODES_EMAIL not in out
    assert "owned by its stack" in out
    assert "itn-gone-pgdata" in out
    assert "cluster   itn-gone [us-central1-a]" in out
    assert "itn-new-worker-0" not in out
    assert "stack exp-3 carries no expiry" in out
    for name in FOREIGN:
        assert name not in out
    assert mutating(calls) == []
    rest = [c for c in calls if c[0] == "REST"]
    assert rest
    assert all(c[1] == "GET" and "/projects/p/" in c[2] for c in rest)
    # Every list was paged through (two items a page): five pages of ten accounts.
    assert rest.count(["REST", "GET", "/v1/projects/p/serviceAccounts"]) == 5


def test_the_label_filter_is_one_compute_accepts_and_the_plan_is_the_same(stubs):
    """A stand-in that applies the filter and the project as Compute does (an expression it
    cannot read is 400) leaves the same plan: the janitor's own checks and the filter agree."""
    leaky, _ = janitor(stubs, "--project", "p", "--now", NOW)
    stubs.gcp.project.leaky = False
    strict, _ = janitor(stubs, "--project", "p", "--now", NOW)
    assert strict.returncode == 0, strict.stderr
    assert strict.stdout == leaky.stdout


def test_delete_runs_exactly_the_listed_plan_through_teardown(stubs):
    listed, _ = janitor(stubs, "--project", "p", "--now", NOW)
    result, calls = janitor(stubs, "--project", "p", "--delete", "--now", NOW)
    assert result.returncode == 0, result.stderr + result.stdout
    # The teardown path reads the stack's outputs (to stop scheduled load), then destroys.
    assert mutating(calls) == [
        "pulumi destroy --stack dev --yes",
        "REST DELETE /compute/v1/projects/p/zones/us-central1-a/instances/itn-gone-worker-0",
        f"REST DELETE /v1/projects/p/serviceAccounts/{GONE_WORKERS_EMAIL}",
    ]
    # The instance's delete Operation is waited for, as gcloud does.
    wait = (
        "/compute/v1/projects/p/zones/us-central1-a/operations/operation-delete-itn-gone-worker-0"
    )
    assert ["REST", "POST", f"{wait}/wait"] in calls
    planned = listed.stdout.split("--delete would run (3):\n")[1].split("not deleted")[0]
    ran = result.stdout.split("will run (3):\n")[1].split("not deleted")[0]
    assert planned == ran
    for name in FOREIGN:
        assert not any(name in call for call in mutating(calls))


def test_gcp_needs_a_project(stubs):
    result, calls = janitor(stubs, "--now", NOW)
    assert result.returncode == 2
    assert "--project is required" in result.stderr
    assert calls == []


def test_now_decides_what_expired(stubs):
    result, calls = janitor(stubs, "--project", "p", "--delete", "--now", "2030-05-01")
    assert result.returncode == 0, result.stderr
    assert "0 expired stack(s) of 3" in result.stdout
    assert mutating(calls) == []


def test_failed_teardown_is_reported_and_the_rest_still_runs(stubs):
    canned = {"outputs": canned_outputs(), "fail": ["pulumi destroy --stack dev --yes"]}
    result, calls = janitor(stubs, "--project", "p", "--delete", "--now", NOW, canned=canned)
    assert result.returncode == 1
    assert "FAILED" in result.stderr
    assert f"REST DELETE /v1/projects/p/serviceAccounts/{GONE_WORKERS_EMAIL}" in mutating(calls)


def test_a_refused_delete_is_reported_and_the_rest_still_runs(stubs):
    stubs.gcp.project.granted.discard("compute.instances.delete")
    result, calls = janitor(stubs, "--project", "p", "--delete", "--now", NOW)
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert "compute.instances.delete" in failed[0]
    assert "gcloud compute instances delete itn-gone-worker-0" in failed[0]
    assert f"REST DELETE /v1/projects/p/serviceAccounts/{GONE_WORKERS_EMAIL}" in mutating(calls)


def test_missing_cli_is_a_clear_error(stubs):
    only_pulumi = stubs.tmp / "only"
    only_pulumi.mkdir()
    (only_pulumi / "pulumi").symlink_to(stubs.tmp / "bin" / "pulumi")
    result, calls = janitor(stubs, "--project", "p", "--now", NOW, path=str(only_pulumi))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: `kubectl` is not on PATH: install kubectl, or pass --no-kubectl to skip namespaces"
    ]
    assert calls == []
    # GCP needs no CLI: the janitor calls the REST APIs itself, deletes included.
    result, calls = janitor(
        stubs, "--project", "p", "--delete", "--now", NOW, "--no-kubectl", path=str(only_pulumi)
    )
    assert result.returncode == 0, result.stderr
    assert {c[0] for c in calls} == {"pulumi", "REST"}
    assert f"REST DELETE /v1/projects/p/serviceAccounts/{GONE_WORKERS_EMAIL}" in mutating(calls)
    for skip in ("--no-gcp", "--no-gcloud"):  # --no-gcloud: the name before REST
        result, calls = janitor(stubs, "--now", NOW, skip, "--no-kubectl", path=str(only_pulumi))
        assert result.returncode == 0, result.stderr
        assert {c[0] for c in calls} == {"pulumi"}


def test_a_delete_operation_that_ends_in_an_error_is_a_failure(stubs):
    stubs.gcp.project.failing_deletes["itn-gone-worker-0"] = (
        "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        "The instance is in use by another resource.",
    )
    result, calls = janitor(stubs, "--project", "p", "--delete", "--no-kubectl", "--now", NOW)
    assert result.returncode == 1
    (failed,) = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE: The instance is in use" in failed
    assert f"REST DELETE /v1/projects/p/serviceAccounts/{GONE_WORKERS_EMAIL}" in mutating(calls)


def test_no_google_credentials_is_one_line_naming_the_fix(stubs, tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
        result, calls = janitor(stubs, "--project", "p", "--now", NOW, token="")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: no Google credentials (")
    assert str(missing) in line
    assert "gcloud auth application-default login" in line
    assert "--no-gcp" in line
    assert "Traceback" not in result.stderr
    assert calls == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda project: project.granted.discard("iam.serviceAccounts.list"),
            "listing service accounts of p failed: 403 PERMISSION_DENIED: Permission "
            "'iam.serviceAccounts.list' denied on resource (or it may not exist).; the caller "
            "needs iam.serviceAccounts.list on p (roles/viewer has it), or check --project",
        ),
        (
            lambda project: project.enabled.discard("container.googleapis.com"),
            "enable the API: gcloud services enable container.googleapis.com --project p",
        ),
        (
            lambda project: project.granted.discard("compute.disks.list"),
            "listing disks of p failed: 403 PERMISSION_DENIED: Required 'compute.disks.list' "
            "permission for 'projects/p'; the caller needs compute.disks.list",
        ),
    ],
)
def test_a_refused_listing_is_one_line_naming_what_and_the_fix(stubs, change, says):
    change(stubs.gcp.project)
    result, calls = janitor(stubs, "--project", "p", "--delete", "--now", NOW)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert says in line
    assert mutating(calls) == []


def test_refused_credentials_name_the_login_fix(stubs):
    result, _ = janitor(stubs, "--project", "p", "--now", NOW, token="expired")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "401 UNAUTHENTICATED" in line
    assert "gcloud auth application-default login" in line


def test_zones_gke_could_not_list_are_a_warning(stubs):
    stubs.gcp.project.missing_zones = ["asia-east1-a"]
    result, _ = janitor(stubs, "--project", "p", "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert "warning: GKE could not list zones asia-east1-a" in result.stderr


def test_missing_pulumi_is_a_clear_error(stubs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result, _ = janitor(stubs, "--no-gcp", "--no-kubectl", path=str(empty))
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


def test_the_program_sets_the_label_the_janitor_selects_by() -> None:
    from policy.markers import PROGRAM_GCP_LABELS
    from policy.policies import GCP_LABEL_PATHS, get_path
    from scripts.janitor import GCP_LABEL_OWN

    labelled = [r for r in render("dev").resources if r["type"] in GCP_LABEL_PATHS]
    assert labelled
    for record in labelled:
        labels = get_path(record["inputs"], GCP_LABEL_PATHS[record["type"]]) or {}
        assert labels.get(GCP_LABEL_OWN) == "dev", record["urn"]
        assert set(labels) == set(PROGRAM_GCP_LABELS), record["urn"]


def member(name: str, labels: dict[str, str], creator: str) -> dict:
    """A group member as instances.aggregatedList returns it: GCE sets `created-by` to
    `projects/<number>/(zones|regions)/<where>/instanceGroupManagers/<name>`."""
    item = compute("p", name, labels)
    item["metadata"] = {"items": [{"key": "created-by", "value": f"projects/123456/{creator}"}]}
    return item


def group(project: str, name: str, description: str | None, *, region: str | None = None) -> dict:
    """An InstanceGroupManager as instanceGroupManagers.aggregatedList returns it: a zonal
    group has `zone`, a regional one `region` (compute v1 instanceGroupManagers)."""
    base = f"https://www.googleapis.com/compute/v1/projects/{project}"
    where = f"{base}/regions/{region}" if region else f"{base}/zones/us-central1-a"
    item = {
        "name": name,
        "selfLink": f"{where}/instanceGroupManagers/{name}",
        ("region" if region else "zone"): where,
    }
    return item if description is None else {**item, "description": description}


ZONAL = "zones/us-central1-a/instanceGroupManagers"
REGIONAL = "regions/us-central1/instanceGroupManagers"


def group_janitor(stubs: Rig, members: list[dict], groups: list[dict]):
    project = stubs.gcp.project
    project.instances = {ZONE: members}
    project.instance_groups = {}
    for item in groups:
        scope = "/".join(str(item.get("region") or item["zone"]).split("/")[-2:])
        project.instance_groups.setdefault(scope, []).append(item)
    result, calls = janitor(stubs, "--project", "p", "--delete", "--no-kubectl", "--now", NOW)
    assert result.returncode == 0, result.stderr + result.stdout
    return result, [c for c in mutating(calls) if c.startswith("REST DELETE /compute")]


def test_a_worker_group_is_deleted_as_a_group_not_member_by_member(stubs):
    """Deleting a member of a managed instance group is undone by the group; the janitor deletes
    the group once, found through the `created-by` metadata GCE puts on every member, when the
    group itself carries our marker."""
    result, deletes = group_janitor(
        stubs,
        [
            member("itn-gone-workers-x1z2", ours("gone", PAST), f"{ZONAL}/itn-gone-workers"),
            member("itn-gone-workers-q9w8", ours("gone", PAST), f"{ZONAL}/itn-gone-workers"),
            # Another team's group with look-alike labels: never touched.
            member("payments-mig-a1b2", lookalike("payments", PAST), f"{ZONAL}/payments-mig"),
        ],
        [
            group("p", "itn-gone-workers", "mina-itn-experiment=gone"),
            group("p", "payments-mig", None),
        ],
    )
    assert deletes == [
        "REST DELETE /compute/v1/projects/p/zones/us-central1-a/instanceGroupManagers/"
        "itn-gone-workers"
    ]
    assert (
        "gcloud compute instance-groups managed delete itn-gone-workers --zone us-central1-a "
        "--project=p --quiet" in result.stdout
    )
    assert "payments" not in result.stdout


def test_a_regional_group_is_deleted_by_its_region_never_as_a_same_named_zonal_one(stubs):
    result, deletes = group_janitor(
        stubs,
        [member("itn-gone-workers-x1z2", ours("gone", PAST), f"{REGIONAL}/itn-gone-workers")],
        [
            group("p", "itn-gone-workers", "mina-itn-experiment=gone", region="us-central1"),
            group("p", "itn-gone-workers", "batch jobs of another team"),  # zonal, same name
        ],
    )
    assert deletes == [
        "REST DELETE /compute/v1/projects/p/regions/us-central1/instanceGroupManagers/"
        "itn-gone-workers"
    ]
    assert (
        "gcloud compute instance-groups managed delete itn-gone-workers --region us-central1 "
        "--project=p --quiet" in result.stdout
    )


@pytest.mark.parametrize(
    ("creator", "groups", "why"),
    [
        # The member names a regional group; only a same-named zonal group of ours exists.
        (
            f"{REGIONAL}/itn-gone-workers",
            [group("p", "itn-gone-workers", "mina-itn-experiment=gone")],
            "is not in this project's listing",
        ),
        # A look-alike instance (our label) points at another team's group.
        (
            f"{ZONAL}/payments-mig",
            [group("p", "payments-mig", "Payments batch workers")],
            "does not carry our marker",
        ),
        (
            f"{ZONAL}/payments-mig",
            [group("p", "payments-mig", "mina-itn-experiment=gone (copied)")],
            "does not carry our marker",
        ),
        # Our marker, but for another experiment than the member's label.
        (
            f"{ZONAL}/itn-other-workers",
            [group("p", "itn-other-workers", "mina-itn-experiment=other")],
            "does not carry our marker for gone",
        ),
        # Our marker, but another project's group.
        (
            f"{ZONAL}/itn-gone-workers",
            [group("other-team", "itn-gone-workers", "mina-itn-experiment=gone")],
            "is not in this project's listing",
        ),
    ],
)
def test_a_group_that_does_not_carry_our_marker_is_never_deleted(stubs, creator, groups, why):
    """Neither the group (not ours) nor its member (the group would recreate it, or it is not
    ours to shrink) is deleted; the member is reported with the reason."""
    result, deletes = group_janitor(
        stubs, [member("itn-gone-workers-x1z2", ours("gone", PAST), creator)], groups
    )
    assert deletes == []
    kept = result.stdout.split("not deleted")[1]
    assert "instance  itn-gone-workers-x1z2" in kept
    assert why in kept
    assert "reported, never deleted" in kept


def test_the_program_marks_its_worker_group_the_way_the_janitor_reads_it() -> None:
    from policy.markers import parse_group_description

    groups = [
        r for r in render("dev").resources
        if r["type"] == "gcp:compute/instanceGroupManager:InstanceGroupManager"
    ]  # fmt: skip
    assert groups
    for record in groups:
        assert parse_group_description(record["inputs"]["description"]) == "dev"


def test_namespaces_are_reported_never_deleted(stubs):
    """Kept data (marked, or holding PostgreSQL's claim) and namespaces no stack of this backend
    owns (a colleague's on a shared cluster, from another backend) are all reported."""
    canned = canned_outputs()
    canned["kubectl get namespaces -o json"] = {
        "items": [
            {
                "metadata": {
                    "name": "mina-kept",
                    "labels": {
                        **ns_ours("mina-kept", "kept", PAST)["metadata"]["labels"],
                        "mina-itn/kept-data": "postgres",
                    },
                }
            },
            ns_ours("mina-claim", "claim", PAST),
            ns_ours("mina-colleague", "theirs", PAST),
            ns_ours("mina-dev", "dev", PAST),
        ]
    }
    canned["kubectl get persistentvolumeclaims -A -o json"] = {
        "items": [
            {"metadata": {"name": "postgres-data", "namespace": "mina-claim"}},
            {"metadata": {"name": "scratch", "namespace": "mina-colleague"}},
        ]
    }
    result, calls = janitor(
        stubs, "--project", "p", "--delete", "--no-gcp", "--now", NOW,
        canned={"outputs": canned},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert [c for c in mutating(calls) if c.startswith("kubectl")] == []
    kept = result.stdout.split("not deleted")[1]
    assert "mina-kept experiment=kept" in kept
    assert "kept data (mina-itn/kept-data=postgres): reported, never deleted" in kept
    assert "holds PostgreSQL's data claim postgres-data: reported, never deleted" in kept
    assert "mina-colleague experiment=theirs" in kept
    assert "it may be another backend's" in kept
    assert "mina-dev experiment=dev" in kept


def test_the_program_marks_a_kept_namespace_the_way_the_janitor_reads_it() -> None:
    from policy.markers import K8S_KEPT_DATA_LABEL

    def namespace_labels(rendered) -> dict[str, str]:
        (record,) = [r for r in rendered.resources if r["type"] == "kubernetes:core/v1:Namespace"]
        return record["inputs"]["metadata"]["labels"]

    kind = render(config_file=ROOT / "stacks" / "kind.yaml")
    assert namespace_labels(kind)[K8S_KEPT_DATA_LABEL] == "postgres"
    assert K8S_KEPT_DATA_LABEL not in namespace_labels(
        render("dev")
    )  # GKE: the kept data is a disk


def test_the_program_marks_its_service_accounts_the_way_the_janitor_reads_them() -> None:
    """Service accounts carry no labels: their description is the marker, with the same expiry as
    the GCP `expiry` label on the experiment's labelled resources."""
    from policy.policies import GCP_LABEL_PATHS, get_path

    rendered = render("dev")
    expiries = {
        (get_path(r["inputs"], GCP_LABEL_PATHS[r["type"]]) or {}).get("expiry")
        for r in rendered.resources
        if r["type"] in GCP_LABEL_PATHS
    }
    (expiry,) = expiries
    assert isinstance(expiry, str)
    accounts = [r for r in rendered.resources if r["type"] == "gcp:serviceaccount/account:Account"]
    assert {a["inputs"]["accountId"] for a in accounts} == {
        service_account_id("dev", NODES_ACCOUNT),
        service_account_id("dev", WORKERS_ACCOUNT),
    }
    for record in accounts:
        description = record["inputs"]["description"]
        assert parse_own_description(description) == ("dev", expiry), record["urn"]
        assert len(description.encode()) <= 256


def test_service_accounts_are_ours_only_by_the_whole_marker_in_our_project(stubs):
    """Only exact markers in `--project` are deleted; quoted, extended, malformed or other-project
    markers and unmarked accounts of the same project never are, whatever the API returns."""
    result, calls = janitor(stubs, "--project", "p", "--delete", "--no-kubectl", "--now", NOW)
    assert result.returncode == 0, result.stderr + result.stdout
    account_calls = [" ".join(c) for c in calls if "/serviceAccounts" in c[-1]]
    assert set(account_calls[:-1]) == {"REST GET /v1/projects/p/serviceAccounts"}
    assert account_calls[-1:] == [
        f"REST DELETE /v1/projects/p/serviceAccounts/{GONE_WORKERS_EMAIL}"
    ]
    assert f"gcloud iam service-accounts delete {GONE_WORKERS_EMAIL} --project=p --quiet" in (
        result.stdout
    )
    for name in ("payments-", "other-team"):
        assert name not in result.stdout


@pytest.mark.parametrize(
    "description",
    [
        "mina-itn-experiment=gone; expiry=2030-05-30_06-00",
        "mina-itn-experiment=a; expiry=2030-05-30_06-00",
    ],
)
def test_marker_round_trips(description: str) -> None:
    from policy.markers import own_description

    parsed = parse_own_description(description)
    assert parsed is not None
    assert own_description(*parsed) == description


@pytest.mark.parametrize(
    "description",
    [
        None,
        "",
        "GKE nodes of experiment gone",
        " mina-itn-experiment=gone; expiry=2030-05-30_06-00",
        "mina-itn-experiment=gone; expiry=2030-05-30_06-00\n",
        "mina-itn-experiment=gone;expiry=2030-05-30_06-00",
        "mina-itn-experiment=Gone; expiry=2030-05-30_06-00",
        "mina-itn-experiment=gone-; expiry=2030-05-30_06-00",
        "mina-itn-experiment=gone; expiry=2030-05-30",
        "experiment=gone; expiry=2030-05-30_06-00",
    ],
)
def test_anything_but_the_exact_marker_is_not_ours(description: str | None) -> None:
    assert parse_own_description(description) is None


def test_a_marker_that_cannot_be_read_back_is_refused() -> None:
    from policy.markers import own_description

    with pytest.raises(ValueError, match="no service account marker"):
        own_description("dev", "2030-06-01T06:00:00Z")
    with pytest.raises(ValueError, match="no service account marker"):
        own_description("a" * 240, "2030-06-01_06-00")


@pytest.mark.parametrize(
    ("stdout", "says"),
    [
        ("[1, 2]", "printed JSON that is not an object"),
        ("not json", "printed no JSON"),
        ("[" * 100_000, "printed no JSON"),
    ],
)
def test_tool_output_of_another_shape_is_one_line(
    monkeypatch: pytest.MonkeyPatch, stdout: str, says: str
) -> None:
    from scripts import janitor as janitor_cli

    def tool(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, stdout, "")

    monkeypatch.setattr(subprocess, "run", tool)
    with pytest.raises(janitor_cli.JanitorError, match=says) as caught:
        janitor_cli._run_json(["kubectl", "get", "namespaces"], dict)
    assert len(str(caught.value).splitlines()) == 1


def test_a_stack_list_of_odd_entries_is_skipped_and_a_list_of_outputs_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts import janitor as janitor_cli

    def pulumi(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        if argv[:3] == ["pulumi", "stack", "ls"]:
            return subprocess.CompletedProcess(argv, 0, '[1, {"name": ""}, {"name": "exp"}]', "")
        return subprocess.CompletedProcess(argv, 0, '["expiresAt"]', "")

    monkeypatch.setattr(subprocess, "run", pulumi)
    findings, names = janitor_cli.list_stacks()
    assert names == ["exp"]
    assert [(f.name, f.expires) for f in findings] == [("exp", None)]
    err = capsys.readouterr().err
    assert "printed JSON that is not an object" in err
