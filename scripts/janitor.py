"""Find (and with --delete, remove) experiments that outlived their expiry.

Experiments are meant to be short; forgotten ones cost money. Read-only by default: the listing
is the plan, exactly what --delete would do. Expired stacks go through scripts.teardown; a
leftover is deleted only when it carries this project's marker (policy/markers.py) and belongs
to --project, and disks, clusters and namespaces are only reported.
See docs/cli.md#data-teardown-and-leaks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from minaperf import rfc3339
from minaperf.cloud.gcp_api import GcpApi, GcpApiError
from minaperf.cloud.gcp_credentials import API_BASE_ENV, LOGIN_FIX, access_token
from minaperf.model.config import one_line, stderr_line
from policy.markers import (
    GCP_LABEL_EXPIRY,
    K8S_KEPT_DATA_LABEL,
    K8S_PART_OF,
    POSTGRES_DATA_CLAIM,
    parse_expiry_label,
    parse_group_description,
    parse_own_description,
)
from policy.markers import K8S_EXPERIMENT_LABEL as K8S_LABEL_EXPERIMENT
from policy.markers import K8S_EXPIRY_LABEL as K8S_LABEL_EXPIRY
from policy.markers import K8S_PART_OF_LABEL as K8S_LABEL_PART_OF
from policy.markers import OWN_GCP_LABEL as GCP_LABEL_OWN
from scripts.cli import OneLineParser, bad_input

_Json = TypeVar("_Json", list, dict)

K8S_SELECTOR = f"{K8S_LABEL_PART_OF}={K8S_PART_OF},{K8S_LABEL_EXPERIMENT}"
# Compute's list `filter`: `labels.KEY:*` means "has the label" (instances.aggregatedList,
# https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList, `filter`).
# A narrowing only: the label is checked again on every item. GKE, IAM and instance groups are
# listed whole (clusters.list and serviceAccounts.list take no filter) and checked item by item.
GCP_FILTER = f"labels.{GCP_LABEL_OWN}:*"
# `created-by` on a group's member: `projects/<number>/(zones|regions)/<where>/
# instanceGroupManagers/<name>`
# (https://cloud.google.com/compute/docs/instance-groups/creating-groups-of-managed-instances).
_CREATED_BY = re.compile(
    r"^projects/[^/]+/(?P<scope>zones|regions)/(?P<where>[a-z0-9-]+)/"
    r"instanceGroupManagers/(?P<name>[a-z](?:[-a-z0-9]*[a-z0-9])?)$"
)
_INSTALL_HINTS = {
    "pulumi": "install the Pulumi CLI (https://www.pulumi.com/docs/install/)",
    "kubectl": "install kubectl, or pass --no-kubectl to skip namespaces",
}


class JanitorError(RuntimeError):
    """A problem the user must fix before the janitor can run (missing CLI, failed command,
    no Google credentials, a refused GCP listing)."""


@dataclass(frozen=True)
class Finding:
    kind: str  # stack | instance | instance-group | disk | cluster | service-account | namespace
    name: str
    experiment: str | None
    expires: dt.datetime | None
    location: str | None = None
    regional: bool = False
    """An instance group in a region (`--region`), not a zone (`--zone`)."""
    held: str | None = None
    """Why this is reported and never deleted (kept data, a group that is not ours)."""

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and self.expires <= now


def parse_time(value: Any) -> dt.datetime | None:
    """RFC 3339 or a label-safe expiry (`2025-01-31`, `2025-01-31_06-30`); naive means UTC."""
    moment = rfc3339.read(value)
    if moment is None:
        return parse_expiry_label(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _run_json(argv: list[str], expect: type[_Json]) -> _Json:
    """The JSON a tool printed, of the shape `expect` (nothing printed: empty); anything else
    is a JanitorError naming the command, as one line."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise JanitorError(f"`{argv[0]}` is not on PATH") from error
    command = " ".join(argv[:4])
    if result.returncode != 0:
        raise JanitorError(f"`{command}` failed: {stderr_line(result.stderr)}")
    try:
        data = json.loads(result.stdout) if result.stdout.strip() else expect()
    except (RecursionError, ValueError):
        raise JanitorError(f"`{command}` printed no JSON; is it the right version?") from None
    if not isinstance(data, expect):
        kind = "a list" if expect is list else "an object"
        raise JanitorError(f"`{command}` printed JSON that is not {kind}")
    return data


def _short(name: str) -> str:
    """`org/project/dev` and `dev` name the same experiment."""
    return name.rsplit("/", 1)[-1]


def _last_segment(url: Any) -> str | None:
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else None


def list_stacks() -> tuple[list[Finding], list[str]]:
    """Stacks with their `expiresAt` output, and the stack names (for ownership)."""
    stacks = _run_json(["pulumi", "stack", "ls", "--json"], list)
    findings, names = [], []
    for stack in stacks:
        name = stack.get("name") if isinstance(stack, dict) else None
        if not isinstance(name, str) or not name.strip():
            listed = one_line(repr(stack))[:80]
            print(f"  warning: `pulumi stack ls` listed {listed}; skipped", file=sys.stderr)
            continue
        names.append(name)
        try:
            outputs = _run_json(["pulumi", "stack", "output", "--json", "--stack", name], dict)
        except JanitorError as error:  # e.g. a stack that was never deployed
            print(f"  warning: {error}", file=sys.stderr)
            outputs = {}
        findings.append(Finding("stack", name, _short(name), parse_time(outputs.get("expiresAt"))))
    return findings, names


def _in_project(item: dict[str, Any], project: str) -> bool:
    """The item's own URL names `project` (compute: selfLink/zone; GKE: selfLink)."""
    marker = f"/projects/{project}/"
    return any(marker in str(item.get(key) or "") for key in ("selfLink", "zone"))


GCP_LISTINGS = {
    # what: (API, the permission its list call needs)
    "instances": ("compute.googleapis.com", "compute.instances.list"),
    "disks": ("compute.googleapis.com", "compute.disks.list"),
    "instance groups": ("compute.googleapis.com", "compute.instanceGroupManagers.list"),
    "GKE clusters": ("container.googleapis.com", "container.clusters.list"),
    "service accounts": ("iam.googleapis.com", "iam.serviceAccounts.list"),
}


def gcp_fix(error: GcpApiError, project: str, what: str) -> str:
    """What the user does about a refused GCP call, as preflight words it."""
    service, permission = GCP_LISTINGS.get(what, ("", ""))
    if error.service_disabled:
        return f"enable the API: gcloud services enable {service} --project {project}"
    if error.http_status == 401:
        return f"the credentials were refused: {LOGIN_FIX}"
    if error.http_status == 403:
        return (
            f"the caller needs {permission} on {project} (roles/viewer has it), or check --project"
        )
    if error.not_found:
        return f"no project {project}: check --project"
    return "retry later, or pass --no-gcp to skip GCP"


def _listing(api: GcpApi, project: str, what: str) -> list[dict[str, Any]]:
    """One of GCP_LISTINGS; a refused call is a JanitorError naming what failed and the fix."""
    try:
        if what == "GKE clusters":
            clusters, missing = api.clusters(project)
            if missing:
                print(f"  warning: GKE could not list zones {', '.join(missing)}", file=sys.stderr)
            return clusters
        if what == "service accounts":
            return api.service_accounts(project)
        if what == "instance groups":
            return api.aggregated(project, "instanceGroupManagers")
        return api.aggregated(project, what, GCP_FILTER)  # instances, disks
    except GcpApiError as error:
        detail = one_line(str(error))
        raise JanitorError(
            f"listing {what} of {project} failed: {detail}; {gcp_fix(error, project, what)}"
        ) from None


def list_gcp(api: GcpApi, project: str) -> list[Finding]:
    """Our GCE instances (as their groups), disks and GKE clusters in `project`; anything else
    the API returns (look-alike labels, another project) is dropped here, whatever the filter
    did."""
    found: list[Finding] = []
    groups: dict[tuple[str, str, str], dict[str, Any]] | None = None
    for kind, what, labels_key in (
        ("instance", "instances", "labels"),
        ("disk", "disks", "labels"),
        ("cluster", "GKE clusters", "resourceLabels"),
    ):
        for item in _listing(api, project, what):
            if not isinstance(item.get("name"), str):
                continue
            labels = item.get(labels_key) or {}
            if not isinstance(labels, dict) or not labels.get(GCP_LABEL_OWN):
                continue  # not ours: no label only this project sets
            if not _in_project(item, project):
                continue  # ours by label, but another project's: not ours to delete here
            experiment = str(labels[GCP_LABEL_OWN])
            expires = parse_time(labels.get(GCP_LABEL_EXPIRY))
            location = _last_segment(item.get("zone")) or item.get("location")
            finding = Finding(kind, item["name"], experiment, expires, location)
            creator = _created_by(item) if kind == "instance" else None
            if creator is not None:
                if groups is None:
                    groups = list_groups(api, project)
                finding = _group_finding(finding, creator, groups)
            if finding not in found:  # one finding per group, however many members
                found.append(finding)
    return found


def list_groups(api: GcpApi, project: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Managed instance groups of `project` (zonal and regional), by (scope, zone or region,
    name), as their own `zone`/`region` and `selfLink` name them."""
    groups = {}
    for item in _listing(api, project, "instance groups"):
        if not isinstance(item.get("name"), str):
            continue
        if f"/projects/{project}/" not in str(item.get("selfLink") or ""):
            continue  # another project's group: never ours to delete here
        for scope in ("zone", "region"):
            where = _last_segment(item.get(scope))
            if where:
                groups[(f"{scope}s", where, item["name"])] = item
    return groups


def _group_finding(
    member: Finding, creator: re.Match[str], groups: dict[tuple[str, str, str], dict[str, Any]]
) -> Finding:
    """The group that created `member`, when the group itself carries our marker for the
    member's experiment; otherwise the member, held: deleting it would be undone by (or harm)
    a group that is not ours."""
    group = groups.get((creator["scope"], creator["where"], creator["name"]))
    regional = creator["scope"] == "regions"
    if group is None:
        held = f"its group {creator['name']} is not in this project's listing"
    elif parse_group_description(group.get("description")) != member.experiment:
        held = f"its group {creator['name']} does not carry our marker for {member.experiment}"
    else:
        return Finding(
            "instance-group",
            creator["name"],
            member.experiment,
            member.expires,
            creator["where"],
            regional=regional,
        )
    return Finding(
        "instance", member.name, member.experiment, member.expires, member.location, held=held
    )


def list_service_accounts(api: GcpApi, project: str) -> list[Finding]:
    """Our service accounts in `project`, found by the description marker (accounts have no
    labels). The IAM ServiceAccount resource has `name`
    (`projects/<project>/serviceAccounts/<email>`), `email`
    (`<id>@<project>.iam.gserviceaccount.com`), `projectId`, `displayName`, `description` and
    `disabled` (https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts)."""
    listing = _listing(api, project, "service accounts")
    found = []
    for item in listing:
        if not isinstance(item.get("email"), str):
            continue
        marker = parse_own_description(item.get("description"))
        if marker is None:
            continue  # not ours: no description of exactly our marker
        email = item["email"]
        if (
            item.get("name") != f"projects/{project}/serviceAccounts/{email}"
            or not email.endswith(f"@{project}.iam.gserviceaccount.com")
            or item.get("projectId", project) != project
        ):
            continue  # ours by marker, but another project's: not ours to delete here
        experiment, expiry = marker
        found.append(Finding("service-account", email, experiment, parse_time(expiry)))
    return found


def _created_by(instance: dict[str, Any]) -> re.Match[str] | None:
    """The managed instance group that created `instance`, from the `created-by` metadata GCE
    sets on every member. Deleting a member alone is undone: the group recreates it, so the
    group is what goes, once it is shown to be ours."""
    metadata = instance.get("metadata")
    items = metadata.get("items") if isinstance(metadata, dict) else None
    for entry in items if isinstance(items, list) else []:
        if isinstance(entry, dict) and entry.get("key") == "created-by":
            return _CREATED_BY.match(str(entry.get("value") or ""))
    return None


def list_namespaces() -> list[Finding]:
    """Our namespaces; those marked as kept data, or holding PostgreSQL's data claim, are held."""
    data = _run_json(["kubectl", "get", "namespaces", "-l", K8S_SELECTOR, "-o", "json"], dict)
    claims = _run_json(["kubectl", "get", "persistentvolumeclaims", "-A", "-o", "json"], dict)
    holding = {
        str(claim["metadata"].get("namespace"))
        for claim in (claims.get("items", []) if isinstance(claims, dict) else [])
        if isinstance(claim, dict)
        and isinstance(claim.get("metadata"), dict)
        and claim["metadata"].get("name") == POSTGRES_DATA_CLAIM
    }
    found = []
    items = data.get("items")
    for item in items if isinstance(items, list) else []:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            continue
        labels = metadata.get("labels")
        if not isinstance(labels, dict):
            continue
        if labels.get(K8S_LABEL_PART_OF) != K8S_PART_OF or not labels.get(K8S_LABEL_EXPERIMENT):
            continue
        held = None
        if K8S_KEPT_DATA_LABEL in labels:
            held = f"kept data ({K8S_KEPT_DATA_LABEL}={labels[K8S_KEPT_DATA_LABEL]})"
        elif metadata["name"] in holding:
            held = f"holds PostgreSQL's data claim {POSTGRES_DATA_CLAIM}"
        found.append(
            Finding(
                "namespace",
                metadata["name"],
                labels.get(K8S_LABEL_EXPERIMENT),
                parse_time(labels.get(K8S_LABEL_EXPIRY)),
                held=held,
            )
        )
    return found


def _delete_command(finding: Finding, project: str | None) -> list[str]:
    if finding.kind == "stack":
        # The teardown path: stop the load runs left scheduled, then `pulumi destroy --yes`.
        return ["python", "-m", "scripts.teardown", "--stack", finding.name, "--yes"]
    scope = [f"--project={project}"] if project else []
    if finding.kind == "instance":
        zone = ["--zone", finding.location] if finding.location else []
        return ["gcloud", "compute", "instances", "delete", finding.name, *zone, *scope, "--quiet"]
    if finding.kind == "instance-group":
        where = ["--region" if finding.regional else "--zone", finding.location or ""]
        return [
            "gcloud", "compute", "instance-groups", "managed", "delete", finding.name,
            *where, *scope, "--quiet",
        ]  # fmt: skip
    if finding.kind == "disk":
        zone = ["--zone", finding.location] if finding.location else []
        return ["gcloud", "compute", "disks", "delete", finding.name, *zone, *scope, "--quiet"]
    if finding.kind == "service-account":
        return ["gcloud", "iam", "service-accounts", "delete", finding.name, *scope, "--quiet"]
    if finding.kind == "cluster":
        where = ["--location", finding.location] if finding.location else []
        return [
            "gcloud", "container", "clusters", "delete", finding.name, *where, *scope, "--quiet"
        ]  # fmt: skip
    return ["kubectl", "delete", "namespace", finding.name]


@dataclass(frozen=True)
class Step:
    """One line of the plan: a command --delete runs, or a finding left for a human."""

    finding: Finding
    command: list[str]
    runs: bool
    note: str


def _delete_gcp(api: GcpApi, project: str, finding: Finding) -> None:
    """The REST call a GCP step's gcloud command stands for."""
    if finding.kind == "service-account":
        api.delete_service_account(project, finding.name)
        return
    scope = "regions" if finding.regional else "zones"
    collection = "instanceGroupManagers" if finding.kind == "instance-group" else "instances"
    api.delete_compute(project, scope, finding.location or "", collection, finding.name)


def _act(step: Step, api: GcpApi | None, project: str | None) -> bool:
    command = " ".join(step.command)
    print(f"  running: {command}", flush=True)
    if step.finding.kind == "stack":
        result = subprocess.run([sys.executable, *step.command[1:]], check=False)
        if result.returncode != 0:
            print(f"  FAILED ({result.returncode}): {command}", file=sys.stderr)
        return result.returncode == 0
    if api is None or not project:  # plan() only runs GCP steps when GCP was listed
        raise JanitorError(f"{command}: GCP was not listed (--no-gcp)")
    try:
        _delete_gcp(api, project, step.finding)
    except GcpApiError as error:
        print(f"  FAILED ({one_line(str(error))}): {command}", file=sys.stderr)
        return False
    return True


def _describe(finding: Finding) -> str:
    where = f" [{finding.location}]" if finding.location else ""
    expires = finding.expires.isoformat() if finding.expires else "no expiry"
    return f"{finding.kind:9} {finding.name}{where} experiment={finding.experiment} {expires}"


def plan(
    stacks: list[Finding],
    leftovers: list[Finding],
    owners: set[str],
    now: dt.datetime,
    project: str | None,
) -> list[Step]:
    """What --delete does, in order; the read-only listing prints exactly this."""
    steps = [
        Step(s, _delete_command(s, project), True, "expired stack: teardown")
        for s in stacks
        if s.expired(now)
    ]
    for finding in (r for r in leftovers if r.expired(now)):
        command = _delete_command(finding, project)
        if finding.held is not None:
            steps.append(Step(finding, command, False, f"{finding.held}: reported, never deleted"))
        elif finding.experiment in owners:
            steps.append(
                Step(finding, command, False, "owned by its stack: goes with its teardown")
            )
        elif finding.kind in {"instance", "instance-group", "service-account"}:
            steps.append(Step(finding, command, True, "no stack owns it"))
        elif finding.kind == "namespace":
            note = "no stack of this backend owns it; it may be another backend's: ask its owner"
            steps.append(Step(finding, command, False, note))
        else:
            steps.append(Step(finding, command, False, "left for a human (data or a cluster)"))
    return steps  # fmt: skip


def gcp_client(project: str | None) -> GcpApi:
    """The REST client, with the credentials preflight uses; none is a JanitorError."""
    if not project:
        raise JanitorError("--project is required with GCP: only that project is searched")
    token, why = access_token()
    if token is None:
        raise JanitorError(
            f"no Google credentials ({why}): {LOGIN_FIX}, or pass --no-gcp to skip GCP"
        )
    return GcpApi(token, base_url=os.environ.get(API_BASE_ENV))


def run(*, delete: bool, now: dt.datetime, gcp: bool, kubectl: bool, project: str | None) -> int:
    required = ["pulumi"] + (["kubectl"] if kubectl else [])
    missing = [tool for tool in required if shutil.which(tool) is None]
    if missing:
        raise JanitorError(
            "; ".join(f"`{tool}` is not on PATH: {_INSTALL_HINTS[tool]}" for tool in missing)
        )
    api = gcp_client(project) if gcp else None
    try:
        return _run(delete=delete, now=now, api=api, kubectl=kubectl, project=project)
    finally:
        if api is not None:
            api.close()


def _run(
    *, delete: bool, now: dt.datetime, api: GcpApi | None, kubectl: bool, project: str | None
) -> int:
    stacks, stack_names = list_stacks()
    owners = {_short(name) for name in stack_names}
    where = project or ""
    cloud = list_gcp(api, where) + list_service_accounts(api, where) if api is not None else []
    leftovers = cloud + (list_namespaces() if kubectl else [])
    steps = plan(stacks, leftovers, owners, now, project)
    print(f"janitor: now={now.isoformat()} mode={'DELETE' if delete else 'read-only'}")
    expired_stacks = sum(s.expired(now) for s in stacks)
    expired_leftovers = sum(r.expired(now) for r in leftovers)
    print(
        f"{expired_stacks} expired stack(s) of {len(stacks)}; "
        f"{expired_leftovers} expired resource(s) of {len(leftovers)}"
    )
    doing = [step for step in steps if step.runs]
    print(f"{'will run' if delete else '--delete would run'} ({len(doing)}):")
    for step in doing:
        print(f"  {' '.join(step.command)}    # {_describe(step.finding)}: {step.note}")
    kept = [step for step in steps if not step.runs]
    if kept:
        print(f"not deleted ({len(kept)}):")
        for step in kept:
            print(f"  {_describe(step.finding)}: {step.note}; by hand: {' '.join(step.command)}")
    for finding in (f for f in stacks + leftovers if f.expires is None):
        print(f"  note: {finding.kind} {finding.name} carries no expiry; check it by hand")

    failures = 0
    if delete:
        for step in doing:
            failures += not _act(step, api, project)
    elif doing:
        print("read-only: nothing changed; rerun with --delete to run the commands above")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m scripts.janitor", description=__doc__)
    parser.add_argument("--delete", action="store_true", help="run the plan the listing shows")
    parser.add_argument("--project", help="the GCP project to search (required unless --no-gcp)")
    parser.add_argument("--now", help="RFC 3339 time or date to judge expiry by (default: now)")
    parser.add_argument(
        "--no-gcp", "--no-gcloud", action="store_true", help="skip GCP (GCE, GKE and IAM)"
    )
    parser.add_argument("--no-kubectl", action="store_true", help="skip Kubernetes namespaces")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    if args.now is not None:
        parsed = parse_time(args.now)
        if parsed is None:
            parser.error(
                f"--now {args.now!r} is not an RFC 3339 time or a date, like {rfc3339.EXAMPLE} "
                "or 2025-01-01"
            )
        now = parsed
    try:
        return run(
            delete=args.delete,
            now=now,
            gcp=not args.no_gcp,
            kubectl=not args.no_kubectl,
            project=args.project,
        )
    except JanitorError as error:
        return bad_input(error)


if __name__ == "__main__":
    raise SystemExit(main())
