"""Everything `pulumi up` needs from the project that the program cannot fix itself, checked
before it starts, with every problem reported at once as one line that says what to do.

`run_preflight` returns the problems; `preflight` also returns the side-by-side quota table and
notes (e.g. a PostgreSQL disk kept by an earlier deploy). Local checks (credentials, the auth
plugin, this machine's address, pinned images and signing key) need no API; the project checks
need a `GcpApi`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from minaperf.cloud.gcp_api import GcpApi, GcpApiError
from minaperf.cloud.gcp_permissions import UnknownResourceTypeError, permissions_for
from minaperf.cloud.gcp_project import PREEMPTIBLE_CPUS, machines, quota_demand, required_apis
from minaperf.cloud.org_policy import constraint_needs, judge
from minaperf.model.config import ExperimentConfig, GkePlatform
from minaperf.model.machines import machine_shape
from minaperf.shell.signing_key import FINGERPRINT_PATH, uses_worker_vms
from policy.markers import data_disk_pattern

WORKER_IMAGE = ("debian-cloud", "debian-12")
"""The snark worker VMs' boot image (project, family), as components.worker_pool uses it."""
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
GLOBAL_CPUS = "CPUS_ALL_REGIONS"

READ_PERMISSIONS: dict[str, str] = {
    "serviceusage.services.get": "read which APIs are enabled",
    "compute.projects.get": "read project-wide quotas",
    "compute.regions.get": "read regional quotas",
    "compute.zones.get": "check the zone",
    "compute.machineTypes.get": "check the machine types in the zone",
    "compute.disks.list": "find disks kept by earlier deploys",
}
"""What preflight itself reads; what `pulumi up` and destroy need comes from the render
(minaperf.cloud.gcp_permissions)."""
WAIT_PERMISSIONS: dict[str, str] = {
    "compute.instanceGroupManagers.get": "let `wait` list the worker VMs and their errors",
    "compute.instances.getGuestAttributes": "let `wait` read the worker VMs' status",
}
"""What `wait` reads when the stack has worker VMs (minaperf.orchestrator.workers)."""
DEPLOYER_ROLES = (
    "roles/editor",
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.serviceAccountUser",
    "roles/serviceusage.serviceUsageAdmin",
)
"""Roles that together grant what preflight asks for (docs/gcp-deploy.md, "Deployer roles")."""


@dataclass(frozen=True)
class Problem:
    check: str
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.check}: {self.message}; fix: {self.fix}"


@dataclass(frozen=True)
class QuotaRow:
    metric: str
    scope: str
    needed: float
    usage: float | None
    limit: float | None

    @property
    def free(self) -> float | None:
        if self.usage is None or self.limit is None:
            return None
        return self.limit - self.usage

    @property
    def enough(self) -> bool:
        return self.free is None or self.needed <= self.free


@dataclass
class PreflightReport:
    problems: list[Problem] = field(default_factory=list)
    quotas: list[QuotaRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> list[str]:
        def number(value: float | None) -> str:
            return "-" if value is None else f"{value:g}"

        lines = [f"{'quota':<26}{'where':<14}{'needed':>9}{'used':>9}{'limit':>9}{'free':>9}"]
        for row in self.quotas:
            verdict = "" if row.enough else "  NOT ENOUGH"
            if row.limit is None:
                verdict = "  (not reported: not checked)"
            lines.append(
                f"{row.metric:<26}{row.scope:<14}{number(row.needed):>9}{number(row.usage):>9}"
                f"{number(row.limit):>9}{number(row.free):>9}{verdict}"
            )
        return lines


@dataclass(frozen=True)
class Environment:
    """What preflight learns about this machine: found credentials (None: none), whether the
    GKE auth plugin is on PATH, and a way to learn this machine's public IPv4."""

    credentials: str | None
    auth_plugin: bool
    public_ipv4: Callable[[], str]


def _check_local(config: ExperimentConfig, env: Environment, report: PreflightReport) -> None:
    if env.credentials is None:
        report.problems.append(
            Problem(
                "credentials",
                "no Google credentials: neither application-default credentials nor "
                "GOOGLE_CREDENTIALS",
                "run `gcloud auth login` and `gcloud auth application-default login` "
                "(or export GOOGLE_CREDENTIALS=<key file or its JSON>)",
            )
        )
    if not env.auth_plugin:
        report.problems.append(
            Problem(
                "credentials",
                f"{AUTH_PLUGIN} is not on PATH: kubectl and the Kubernetes provider need it "
                "to reach GKE",
                f"`gcloud components install {AUTH_PLUGIN}` (or apt-get install "
                "google-cloud-cli-gke-gcloud-auth-plugin)",
            )
        )
    _check_access(config, env, report)


def _check_access(config: ExperimentConfig, env: Environment, report: PreflightReport) -> None:
    try:
        text = env.public_ipv4().strip()
        address = ipaddress.ip_address(text)
        if address.version != 4:
            raise ValueError(f"{text} is not IPv4")
    except (ValueError, OSError) as error:
        report.problems.append(
            Problem(
                "access",
                f"cannot learn this machine's public IPv4 address ({error})",
                "check outbound HTTPS, or compare `curl -4 -s https://ifconfig.me` with "
                "access.adminCidrs yourself",
            )
        )
        return
    cidrs = [ipaddress.ip_network(cidr) for cidr in config.access.admin_cidrs]
    if not any(address in network for network in cidrs if network.version == 4):
        listed = ", ".join(config.access.admin_cidrs) or "nothing"
        report.problems.append(
            Problem(
                "access",
                f"this machine's address {address} is not in access.adminCidrs ({listed}): the "
                "GKE control plane will not answer pulumi or kubectl from here",
                "pulumi config set --path 'mina-itn:access.adminCidrs[0]' "
                f'"{address}/32" (or add it as another item)',
            )
        )


def _api_problem(check: str, error: GcpApiError, project: str, what: str) -> Problem:
    if error.service_disabled:
        service = error.metadata.get("service") or "the API"
        return Problem(
            check,
            f"{service} is disabled in {project}, so preflight cannot {what}",
            f"gcloud services enable {service} --project {project}",
        )
    if error.rate_limited:
        return Problem(
            check,
            f"API rate quota exhausted while trying to {what} ({error.message})",
            "wait a minute and run preflight again",
        )
    if error.http_status in {401, 403}:
        return Problem(
            check,
            f"permission denied: cannot {what} in {project} ({error.message})",
            f"check that the project id is right and grant your account {DEPLOYER_ROLES[0]} "
            "or a role that lets you read it",
        )
    return Problem(
        check,
        f"cannot {what} in {project}: {error}",
        "run preflight again; if it persists, check network access to *.googleapis.com",
    )


def _check_permissions(
    api: GcpApi,
    config: ExperimentConfig,
    project: str,
    resources: Sequence[Mapping[str, Any]],
    report: PreflightReport,
) -> None:
    wanted = dict(READ_PERMISSIONS)
    if uses_worker_vms(config):
        wanted.update(WAIT_PERMISSIONS)
    try:
        needed = permissions_for(resources)
    except UnknownResourceTypeError as error:
        report.problems.append(
            Problem(
                "permissions",
                f"cannot tell what the render needs: {error}",
                "add the type's row to the table (a program bug; please report it)",
            )
        )
        return
    for permission, uses in needed.items():
        wanted.setdefault(permission, ", ".join(uses))
    names = sorted(wanted)
    try:
        granted = api.test_project_permissions(project, names)
    except GcpApiError as error:
        report.problems.append(_api_problem("permissions", error, project, "test permissions"))
        return
    missing = [permission for permission in names if permission not in granted]
    for permission in missing:
        report.problems.append(
            Problem(
                "permissions",
                f"missing {permission} on project {project} (to {wanted[permission]})",
                f"have an owner grant you {_role_for(permission)} on {project}",
            )
        )


def _role_for(permission: str) -> str:
    if permission.startswith("resourcemanager.projects."):
        return "roles/resourcemanager.projectIamAdmin"
    if permission == "iam.serviceAccounts.actAs":
        return "roles/iam.serviceAccountUser"
    if permission.startswith("serviceusage."):
        return "roles/serviceusage.serviceUsageAdmin"
    return "roles/editor"


def _check_secrets_key(
    api: GcpApi,
    platform: GkePlatform,
    resources: Sequence[Mapping[str, Any]],
    report: PreflightReport,
) -> None:
    """`up` grants GKE's service agent encrypt/decrypt on platform.secretsKmsKey."""
    key = platform.secrets_kms_key
    if key is None:
        return
    try:
        wanted = sorted(permissions_for(resources, scope="key"))
    except UnknownResourceTypeError:
        return  # _check_permissions names the type
    if not wanted:
        return
    try:
        granted = api.test_key_permissions(key, wanted)
    except GcpApiError as error:
        if error.http_status in {403, 404} and not error.service_disabled:
            report.problems.append(
                Problem(
                    "permissions",
                    f"platform.secretsKmsKey {key} does not exist or you cannot see it "
                    f"({error.message})",
                    "create the key in the cluster's region, or have its owner grant you "
                    "roles/cloudkms.admin on it",
                )
            )
        else:
            report.problems.append(
                _api_problem("permissions", error, key.split("/")[1], "check the KMS key")
            )
        return
    for permission in wanted:
        if permission not in granted:
            report.problems.append(
                Problem(
                    "permissions",
                    f"missing {permission} on {key} (to let GKE's service agent use the key)",
                    "have the key's owner grant you roles/cloudkms.admin on it, or grant "
                    "roles/cloudkms.cryptoKeyEncrypterDecrypter to "
                    "service-<project number>@container-engine-robot.iam.gserviceaccount.com "
                    "themselves",
                )
            )


ORG_POLICY_READER = "roles/orgpolicy.policyViewer"
"""Grants orgpolicy.policy.get, which reading effective policies needs."""


def _check_org_policies(
    api: GcpApi,
    platform: GkePlatform,
    resources: Sequence[Mapping[str, Any]],
    report: PreflightReport,
) -> None:
    """Each organization policy constraint the render would run into, against the project's
    effective policy; unreadable policies are one note, not a failure."""
    project = platform.project
    needs = constraint_needs(resources, platform)
    for index, need in enumerate(needs):
        try:
            policy = api.effective_org_policy(project, need.constraint)
        except GcpApiError as error:
            unchecked = ", ".join(n.constraint for n in needs[index:])
            report.notes.append(
                f"organization policies: could not check {unchecked} ({error}); grant "
                f"{ORG_POLICY_READER} to see them before `pulumi up` does"
            )
            return
        verdict = judge(need, policy, project)
        if verdict.problem is not None:
            report.problems.append(Problem("org policy", verdict.problem, need.fix))
        if verdict.note is not None:
            report.notes.append(f"organization policies: {verdict.note}")


def _check_apis(
    api: GcpApi, platform: GkePlatform, project: str, report: PreflightReport
) -> set[str]:
    """The APIs not enabled (reported); the caller skips checks that need them."""
    wanted = list(required_apis(platform))
    try:
        states = api.service_states(project, wanted)
    except GcpApiError as error:
        report.problems.append(_api_problem("apis", error, project, "read enabled APIs"))
        return set()
    disabled = [service for service in wanted if states.get(service) != "ENABLED"]
    if disabled:
        report.problems.append(
            Problem(
                "apis",
                f"not enabled in {project}: {', '.join(disabled)} (pulumi up enables them, but "
                "that takes minutes and an organization policy may forbid it)",
                f"gcloud services enable {' '.join(disabled)} --project {project}",
            )
        )
    return set(disabled)


def _check_quotas(
    api: GcpApi, config: ExperimentConfig, platform: GkePlatform, report: PreflightReport
) -> None:
    project, region = platform.project, platform.region
    try:
        regional = {q["metric"]: q for q in api.region(project, region).get("quotas") or []}
        overall = {q["metric"]: q for q in api.compute_project(project).get("quotas") or []}
    except GcpApiError as error:
        report.problems.append(_api_problem("quota", error, project, "read quotas"))
        return
    preemptible = float((regional.get(PREEMPTIBLE_CPUS) or {}).get("limit") or 0) > 0
    demand = quota_demand(config, platform, preemptible_quota=preemptible)
    vcpus = sum(
        machine_shape(group.machine_type).vcpus * group.count
        for group in machines(config, platform)
    )
    rows = [(metric, region, needed, regional.get(metric)) for metric, needed in demand.items()]
    rows.append((GLOBAL_CPUS, "all regions", float(vcpus), overall.get(GLOBAL_CPUS)))
    for metric, scope, needed, quota in rows:
        row = QuotaRow(
            metric,
            scope,
            needed,
            float(quota["usage"]) if quota else None,
            float(quota["limit"]) if quota else None,
        )
        report.quotas.append(row)
        if not row.enough:
            report.problems.append(
                Problem(
                    "quota",
                    f"{metric} in {scope}: this experiment needs {needed:g}, but {row.usage:g} "
                    f"of {row.limit:g} are in use ({row.free:g} free)",
                    f"request {metric} >= {(row.usage or 0) + needed:g} for {scope} "
                    f"(console: IAM & Admin > Quotas & System Limits, filter '{metric}'), or "
                    "shrink the experiment",
                )
            )


def _check_zone(
    api: GcpApi, config: ExperimentConfig, platform: GkePlatform, report: PreflightReport
) -> None:
    project, zone = platform.project, platform.zone
    try:
        status = api.zone(project, zone).get("status")
    except GcpApiError as error:
        if error.not_found:
            report.problems.append(
                Problem("zone", f"zone {zone} does not exist", "set platform.zone to a real zone")
            )
        else:
            report.problems.append(_api_problem("zone", error, project, f"read zone {zone}"))
        return
    if status != "UP":
        report.problems.append(
            Problem("zone", f"zone {zone} is {status}", "choose another zone (platform.zone)")
        )
    seen: set[str] = set()
    for group in machines(config, platform):
        if group.machine_type in seen:
            continue
        seen.add(group.machine_type)
        try:
            offered = api.machine_type(project, zone, group.machine_type)
        except GcpApiError as error:
            if error.not_found:
                report.problems.append(
                    Problem(
                        "zone",
                        f"{group.machine_type} ({group.role}) is not offered in {zone}",
                        "choose a zone that offers it (gcloud compute machine-types list "
                        f"--filter name={group.machine_type}) or another machine type",
                    )
                )
            else:
                report.problems.append(
                    _api_problem("zone", error, project, f"read machine type {group.machine_type}")
                )
            continue
        deprecated = (offered.get("deprecated") or {}).get("state")
        if deprecated in {"OBSOLETE", "DELETED"}:
            report.problems.append(
                Problem(
                    "zone",
                    f"{group.machine_type} is {deprecated} in {zone}",
                    "choose a current machine type",
                )
            )
    _check_worker_image(api, config, platform, report)


def _check_worker_image(
    api: GcpApi, config: ExperimentConfig, platform: GkePlatform, report: PreflightReport
) -> None:
    workers = config.worker_pool
    if not workers.servers or not config.nodes.snark_coordinators:
        return
    shape = machine_shape(workers.machine_type)
    family = workers.machine_type.split("-", 1)[0]
    needed = "IDPF" if shape.bare_metal else "GVNIC" if family in {"c3", "c3d", "n4"} else None
    if needed is None:
        return
    try:
        image = api.image_from_family(*WORKER_IMAGE)
    except GcpApiError as error:
        report.problems.append(
            _api_problem("zone", error, platform.project, "read the worker image")
        )
        return
    features = {feature.get("type") for feature in image.get("guestOsFeatures") or []}
    if needed not in features:
        report.problems.append(
            Problem(
                "zone",
                f"the worker image {'/'.join(WORKER_IMAGE)} ({image.get('name')}) lacks {needed}, "
                f"which {workers.machine_type} needs",
                "choose a VM machine type for workerPool.machineType",
            )
        )


def _note_kept_disks(
    api: GcpApi, config: ExperimentConfig, platform: GkePlatform, report: PreflightReport
) -> None:
    if config.postgres.existing_disk is not None:
        return
    pattern = data_disk_pattern(config.name)
    try:
        disks = api.disks(platform.project, platform.zone, pattern)
    except GcpApiError:
        return  # Only a note; the permission and API checks report why.
    for disk in sorted(disks, key=lambda item: str(item.get("creationTimestamp", ""))):
        if disk.get("users"):
            continue
        path = f"projects/{platform.project}/zones/{platform.zone}/disks/{disk.get('name')}"
        report.notes.append(
            f"kept disk {path} ({disk.get('sizeGb')} GB, created "
            f"{disk.get('creationTimestamp')}) holds PostgreSQL data of an earlier deploy; "
            "pulumi up makes a new disk, or reuse this one with `pulumi config set --path "
            f"mina-itn:postgres.existingDisk {path}`"
        )


def pin_command(config: ExperimentConfig) -> str:
    return f"python -m scripts.pin --stack {config.name} --write"


def _check_supply_chain(config: ExperimentConfig, report: PreflightReport) -> None:
    """Every image pinned by digest and, with worker VMs, the apt signing key by fingerprint:
    a tag or a first-fetched key is whatever the registry or repository serves that day."""
    for key, image in config.images.model_dump(by_alias=True).items():
        if "@sha256:" not in str(image):
            report.problems.append(
                Problem(
                    "images",
                    f"images.{key} ({image}) has no digest, so every node pulls whatever the "
                    "tag points to that day",
                    pin_command(config),
                )
            )
    if uses_worker_vms(config) and config.worker_pool.mina_package.signing_key_fingerprint is None:
        report.problems.append(
            Problem(
                "signing key",
                f"{FINGERPRINT_PATH} is not set, so the worker VMs would trust whatever key "
                "the repository serves on their first boot; `pulumi up` with the shipped pack "
                "config refuses it (policy worker-signing-key-pinned is mandatory there)",
                pin_command(config),
            )
        )


def preflight(
    config: ExperimentConfig,
    env: Environment,
    api: GcpApi | None,
    *,
    resources: Sequence[Mapping[str, Any]],
) -> PreflightReport:
    """Every check; the project checks only run with an API client (credentials found).

    `resources` are the stack's rendered resources (`resources.json` records): the permissions
    and organization policies checked are those they need."""
    report = PreflightReport()
    _check_supply_chain(config, report)
    platform = config.platform
    if not isinstance(platform, GkePlatform):
        report.notes.append("platform.kind is kubernetes: no GCP project to check")
        return report
    _check_local(config, env, report)
    if api is None:
        return report
    _check_permissions(api, config, platform.project, resources, report)
    _check_secrets_key(api, platform, resources, report)
    _check_org_policies(api, platform, resources, report)
    disabled = _check_apis(api, platform, platform.project, report)
    if "compute.googleapis.com" in disabled:
        report.notes.append("quota and zone checks skipped until compute.googleapis.com is on")
        return report
    _check_quotas(api, config, platform, report)
    _check_zone(api, config, platform, report)
    _note_kept_disks(api, config, platform, report)
    return report


def run_preflight(
    config: ExperimentConfig,
    env: Environment,
    api: GcpApi | None,
    *,
    resources: Sequence[Mapping[str, Any]],
) -> list[Problem]:
    """The problems only (empty: `pulumi up` can start)."""
    return preflight(config, env, api, resources=resources).problems
