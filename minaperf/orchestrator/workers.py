"""The `wait` check for the snark worker pool: are the workers running and reaching the coordinator?

On GCE each VM publishes its workers' state as guest attributes, read for every member the group
lists; on `kubernetes` the worker pods' Ready condition. Why (the coordinator cannot count them):
docs/design.md; creation errors: docs/gcp-deploy.md. Raises `CheckFailedError` for a permanent
creation error and `ClusterUnreachableError` when Compute refuses the credentials.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from minaperf.cloud.gcp_api import GcpApiError
from minaperf.model.outputs import StackOutputs
from minaperf.orchestrator.readiness import (
    CheckFailedError,
    CheckStatus,
    ClusterCheck,
    ClusterUnreachableError,
    kubectl_json,
)

NAME = "snark workers"
GUEST_ATTRIBUTES_NAMESPACE = "mina-workers"
"""Must match components/worker_pool.py and snark-worker-status.sh."""
STALE_AFTER_SECONDS = 120.0
"""The VM reports every 30 s; four missed reports mean its publisher (or the VM) is stuck."""
WORKER_POD_SELECTOR = "app.kubernetes.io/component=snark-worker"
PARALLEL_QUERIES = 8
CREATE_ACTIONS = frozenset({"CREATING", "CREATING_WITHOUT_RETRIES", "RECREATING"})
SHOWN_PROBLEMS = 4
PERMANENT_ERROR_CODES = frozenset(
    {
        "CONDITION_NOT_MET",  # an organization policy constraint refused the VM
        "INVALID_FIELD_VALUE",  # e.g. a machine type the zone does not offer
        "RESOURCE_NOT_FOUND",  # the template's image, subnet or machine type is gone
        "UNSUPPORTED_OPERATION",  # e.g. a VM option the machine type does not support
        "PERMISSION_DENIED",  # the Google APIs service agent may not use the template
    }
)
"""Creation errors retrying cannot fix. Anything else (ZONE_RESOURCE_POOL_EXHAUSTED[_WITH_DETAILS],
QUOTA_EXCEEDED, rate limits) may clear by itself: shown and waited on."""
ORG_POLICY_MARK = "constraints/"
"""Compute names the violated constraint in the message ("Constraint constraints/<name> violated
for project ..."), whatever the code."""


class WorkerCompute(Protocol):
    """The two Compute v1 calls this check makes (`minaperf.cloud.gcp_api.GcpApi` has them)."""

    def managed_instances(self, project: str, zone: str, group: str) -> list[dict[str, Any]]: ...

    def guest_attributes(
        self, project: str, zone: str, instance: str, query_path: str
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CreationError:
    code: str
    message: str

    @property
    def permanent(self) -> bool:
        return self.code in PERMANENT_ERROR_CODES or ORG_POLICY_MARK in self.message

    def line(self) -> str:
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.code}: {first}" if first else self.code


def last_creation_error(member: dict[str, Any]) -> CreationError | None:
    """The latest error of the group's last attempt to create this VM (`lastAttempt.errors.errors`
    in listManagedInstances), or None."""
    errors = ((member.get("lastAttempt") or {}).get("errors") or {}).get("errors") or []
    found = [e for e in errors if isinstance(e, dict)]
    if not found:
        return None
    latest = found[-1]
    return CreationError(str(latest.get("code") or "UNKNOWN"), str(latest.get("message") or ""))


@dataclass(frozen=True)
class VmStatus:
    """What one worker VM published, or why there is nothing to count."""

    name: str
    running: int = 0
    connected: int = 0
    problem: str | None = None
    error: CreationError | None = None
    """The group's latest error creating this VM, while it is still trying."""


def instance_name(member: dict[str, Any]) -> str:
    """The VM's name: `name` (set even before the VM exists, ManagedInstance reference), else the
    last part of its `instance` URL (…/zones/<z>/instances/<name>)."""
    name = str(member.get("name") or "") or str(member.get("instance") or "").rsplit("/", 1)[-1]
    return name or "(unnamed)"


def _count(values: dict[str, str], key: str) -> int | None:
    value = values.get(key, "")
    return int(value) if value.isdigit() else None


def vm_status(
    name: str, attributes: dict[str, Any], processes: int, now: float, package_version: str | None
) -> VmStatus:
    """Judge one VM's published guest attributes (`getGuestAttributes` response body)."""
    items = (attributes.get("queryValue") or {}).get("items") or []
    values = {
        str(item.get("key")): str(item.get("value", ""))
        for item in items
        if isinstance(item, dict) and item.get("namespace") == GUEST_ATTRIBUTES_NAMESPACE
    }
    running, connected = _count(values, "running"), _count(values, "connected")
    updated, configured = _count(values, "updated"), _count(values, "configured")
    if running is None or connected is None or updated is None:
        return VmStatus(name, problem="no complete status published yet")
    age = now - updated
    if age > STALE_AFTER_SECONDS:
        return VmStatus(name, problem=f"status is {age:.0f}s old (publisher or VM stuck)")
    problems = []
    if configured is not None and configured != processes:
        problems.append(f"configured for {configured} processes, stack says {processes}")
    version = values.get("version")
    if package_version and version and version != package_version:
        problems.append(f"runs package {version}, stack says {package_version}")
    if running < processes:
        problems.append(f"{running}/{processes} running")
    if connected < running:
        problems.append(f"{connected}/{running} connected")
    return VmStatus(
        name,
        running=min(running, processes),
        connected=min(connected, processes),
        problem="; ".join(problems) or None,
    )


def gce_worker_check(
    outputs: StackOutputs,
    compute: WorkerCompute,
    *,
    clock: Callable[[], float] = time.time,
) -> ClusterCheck:
    """The check for a GCE worker group (outputs.worker_pool.kind == "gce")."""
    pool = outputs.worker_pool
    package_version = pool.package_version
    if pool.group is None or pool.project is None or pool.zone is None:
        raise ValueError("outputs.workerPool names no managed instance group")
    group, project, zone = pool.group, pool.project, pool.zone
    processes = pool.processes_per_server
    wanted_total = pool.servers * processes

    def member_status(member: dict[str, Any], now: float) -> VmStatus:
        name = instance_name(member)
        status = member.get("instanceStatus")
        action = member.get("currentAction", "NONE")
        if status != "RUNNING" or action not in ("NONE", "VERIFYING"):
            state = str(status or "not created yet").lower()
            doing = f", {str(action).lower()}" if action != "NONE" else ""
            error = last_creation_error(member) if action in CREATE_ACTIONS else None
            if error is not None:
                return VmStatus(name, problem=f"VM {state}{doing}: {error.line()}", error=error)
            return VmStatus(name, problem=f"VM {state}{doing}")
        try:
            attributes = compute.guest_attributes(
                project, zone, name, f"{GUEST_ATTRIBUTES_NAMESPACE}/"
            )
        except GcpApiError as error:
            if error.not_found:
                return VmStatus(name, problem="no status published yet (startup script running?)")
            return VmStatus(name, problem=f"status unreadable ({error})")
        return vm_status(name, attributes, processes, now, package_version)

    def check() -> CheckStatus:
        try:
            members = compute.managed_instances(project, zone, group)
        except GcpApiError as error:
            if error.http_status == 401:
                raise ClusterUnreachableError(f"Compute API: {error}") from None
            return CheckStatus(NAME, False, f"group {group} unreadable ({error})")
        now = clock()
        with ThreadPoolExecutor(max_workers=PARALLEL_QUERIES) as pool_:
            statuses = list(pool_.map(lambda member: member_status(member, now), members))
        refused = [s for s in statuses if s.error is not None and s.error.permanent]
        if refused:
            first = refused[0]
            assert first.error is not None
            raise CheckFailedError(
                f"{NAME}: Compute refuses to create {first.name} in group {group} "
                f"({first.error.line()}); retrying will not help: fix the cause, then "
                f"`pulumi up` again"
                + (f" (+{len(refused) - 1} more VMs refused)" if len(refused) > 1 else "")
            )
        running = sum(s.running for s in statuses)
        connected = sum(s.connected for s in statuses)
        problems = [
            f"{s.name}: {s.problem}" for s in sorted(statuses, key=lambda s: s.name) if s.problem
        ]
        missing = pool.servers - len(members)
        if missing > 0:
            problems.insert(0, f"{missing} of {pool.servers} VMs not in group {group}")
        head = (
            f"{running}/{wanted_total} worker processes running, "
            f"{connected}/{wanted_total} connected to the coordinator"
        )
        ok = not problems and connected == wanted_total
        if ok:
            return CheckStatus(NAME, True, f"{head} on {pool.servers} VMs")
        more = (
            f" (+{len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
        )
        return CheckStatus(NAME, False, f"{head}; " + "; ".join(problems[:SHOWN_PROBLEMS]) + more)

    return check


def pod_worker_check(outputs: StackOutputs, kubectl: str) -> ClusterCheck:
    """The check for worker pods (outputs.worker_pool.kind == "pods")."""
    pool = outputs.worker_pool
    processes = pool.processes_per_server

    def check() -> CheckStatus:
        listing = kubectl_json(
            kubectl, "get", "pods", "-n", outputs.namespace, "-l", WORKER_POD_SELECTOR
        )
        ready, problems = 0, []
        for item in listing.get("items", []):
            name = item.get("metadata", {}).get("name", "?")
            if item.get("metadata", {}).get("deletionTimestamp"):
                continue  # a pod on its way out does not count
            conditions = item.get("status", {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                ready += 1
            else:
                phase = str(item.get("status", {}).get("phase", "Unknown")).lower()
                problems.append(f"{name}: not ready ({phase})")
        missing = pool.servers - ready - len(problems)
        if missing > 0:
            problems.insert(0, f"{missing} of {pool.servers} pods not created")
        head = (
            f"{ready}/{pool.servers} worker pods ready "
            f"({ready * processes}/{pool.servers * processes} processes)"
        )
        if not problems and ready >= pool.servers:
            return CheckStatus(NAME, True, head)
        return CheckStatus(NAME, False, f"{head}; " + "; ".join(problems[:SHOWN_PROBLEMS]))

    return check


def worker_pool_check(
    outputs: StackOutputs,
    kubectl: str,
    compute: Callable[[], WorkerCompute],
    *,
    clock: Callable[[], float] = time.time,
) -> ClusterCheck | None:
    """The `wait` check for this stack's worker pool, or None when it has no workers.

    `compute` makes the Compute API client; it is only called for a GCE pool.
    """
    pool = outputs.worker_pool
    if pool.servers == 0:
        return None
    if pool.kind == "pods":
        return pod_worker_check(outputs, kubectl)
    if pool.group is None:
        return None
    return gce_worker_check(outputs, compute(), clock=clock)
