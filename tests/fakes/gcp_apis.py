"""A stand-in for the Google Cloud APIs preflight and the janitor call: Cloud Resource Manager
v1, Service Usage v1, Compute v1, GKE v1 and IAM v1, on 127.0.0.1, answering in their documented
shapes, errors first.

Behaviours copied (each where the real API documents or shows it):

* A missing or wrong bearer token: 401 UNAUTHENTICATED (AIP-193 error body).
* Errors are `{"error": {"code", "message", "status", "details"}}` with a `google.rpc.ErrorInfo`
  detail (googleapis/googleapis@2f8d204 google/api/error_reason.proto: SERVICE_DISABLED,
  RATE_LIMIT_EXCEEDED); Compute v1 adds its legacy `errors: [{domain, reason, message}]` list
  (`accessNotConfigured` for a disabled API, `notFound`, `forbidden`).
* A disabled API answers 403 PERMISSION_DENIED + SERVICE_DISABLED for every call to it.
* `rateLimited`: any call to that API answers 429 RESOURCE_EXHAUSTED + RATE_LIMIT_EXCEEDED.
* cryptoKeys.testIamPermissions (Cloud KMS): 403 "... (or it may not exist)" for a key the
  caller cannot see; otherwise the granted subset, `{}` when none.
* projects.testIamPermissions: 403 for a project the caller cannot see (Resource Manager does not
  reveal whether it exists); 400 INVALID_ARGUMENT for a malformed permission; otherwise the
  granted subset, and `{}` (the field omitted, proto3 JSON) when nothing is granted.
* projects.getEffectiveOrgPolicy (Resource Manager v1, a POST with `{"constraint":
  "constraints/<name>"}`): 403 PERMISSION_DENIED for a caller who may not read policies
  (`org_policy_readable`); otherwise the policy merged down the hierarchy, without an etag ("a
  computed Policy across multiple resources", method reference). OrgPolicy reference: a
  project's `booleanPolicy` or `listPolicy` supersedes the organization's, except that a
  `listPolicy` with `inheritFromParent: true` adds its values to the parent's; `restoreDefault`
  brings back the constraint's default; an unset constraint answers with an empty policy of its
  type.
* services.batchGet: at most 20 names, all under the request's parent (else 400); needs
  serviceusage.services.get (else 403 with an IAM_PERMISSION_DENIED ErrorInfo); a service
  never enabled comes back with state DISABLED.
* Compute reads need their `compute.<collection>.get/list` permission (403 `forbidden` with
  "Required '<permission>' permission for '<resource>'"); unknown resources are 404 `notFound`;
  list responses omit `items` when empty; `filter=name eq "<re>"` is a whole-name regex match.
* Compute `<collection>.aggregatedList` (instances, disks, instanceGroupManagers; reference
  https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList): `items` maps
  `zones/<zone>` or `regions/<region>` to `{<collection>: [...]}`, a scope without items on the
  page to `{warning: {code: NO_RESULTS_ON_PAGE}}`; `items` is left out when nothing matched;
  `maxResults` items a page, then `nextPageToken`; `filter=labels.<key>:*` keeps the items that
  have the label, any other expression is 400 `invalid`.
* Compute deletes (`instances.delete`, `instanceGroupManagers.delete`) answer a RUNNING
  Operation; `zoneOperations.wait`/`regionOperations.wait` answer it DONE, with `error.errors`
  and `httpErrorStatusCode` when the delete failed (`failing_deletes`). Unknown: 404.
* GKE `projects.locations.clusters.list` with location `-`: `{clusters, missingZones}`, unpaged;
  403 PERMISSION_DENIED without container.clusters.list.
* IAM `projects.serviceAccounts.list`: `accounts` (left out when empty), `pageSize` a page, then
  `nextPageToken`; 403 IAM_PERMISSION_DENIED without iam.serviceAccounts.list. `.delete`: `{}`,
  404 NOT_FOUND for an unknown account.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.servers import _Server  # pyright: ignore[reportPrivateUsage]

TOKEN = "stand-in-access-token"
LIST_CONSTRAINTS = frozenset(
    {
        "gcp.restrictNonCmekServices",
        "gcp.resourceLocations",
        "compute.restrictLoadBalancerCreationForTypes",
        "compute.vmExternalIpAccess",
        "compute.restrictVpcPeering",
    }
)
"""Constraints of the list type (the rest this stand-in knows are boolean)."""
_PERMISSION = re.compile(r"^[a-z][a-zA-Z0-9]*\.[a-zA-Z0-9]+\.[a-zA-Z0-9]+$")


@dataclass
class FakeProject:
    project_id: str = "my-project-1"
    number: str = "123456789012"
    granted: set[str] = field(default_factory=set)
    enabled: set[str] = field(default_factory=set)
    rate_limited: set[str] = field(default_factory=set)
    """API hosts ("compute", "crm", "serviceusage") that answer 429 to everything."""
    regional_quotas: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    project_quotas: list[dict[str, Any]] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)
    """zone -> status (UP, DOWN)."""
    machine_types: dict[str, set[str]] = field(default_factory=dict)
    """zone -> machine type names offered there."""
    images: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    disks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=dict)
    """Cloud KMS key name -> permissions the caller holds on it."""
    org_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Constraint (no `constraints/` prefix) -> the project's own v1 OrgPolicy body."""
    organization_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Constraint -> the organization's policy, which the project inherits."""
    org_policy_readable: bool = True
    instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """`zones/<zone>` -> instances (Compute v1 Instance bodies)."""
    instance_groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """`zones/<zone>` or `regions/<region>` -> InstanceGroupManager bodies."""
    clusters: list[dict[str, Any]] = field(default_factory=list)
    missing_zones: list[str] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    failing_deletes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Resource name -> (error code, message) its delete Operation ends with."""
    page_size: int = 0
    """Items per page of the janitor's lists (0: the caller's maxResults/pageSize)."""
    leaky: bool = False
    """Return every item known, ignoring `filter` and whose project it is: the worst a filter
    typo or a shared listing can do (the caller must check each item itself)."""
    requests: list[str] = field(default_factory=list)


def _error(
    code: int,
    status: str,
    message: str,
    *,
    reason: str = "",
    metadata: dict[str, str] | None = None,
    legacy: tuple[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "iam.googleapis.com"
                if reason == "IAM_PERMISSION_DENIED"
                else "googleapis.com",
                "metadata": metadata or {},
            }
        ]
    if legacy is not None:
        domain, legacy_reason = legacy
        error["errors"] = [{"message": message, "domain": domain, "reason": legacy_reason}]
    return code, {"error": error}


class FakeGcp:
    """One server for the three APIs (preflight's `base_url`); paths are the public ones."""

    def __init__(self, project: FakeProject) -> None:
        self.project = project
        self._server = _Server(self._handle)
        self.url = f"http://127.0.0.1:{self._server.port}"

    def close(self) -> None:
        self._server.close()

    # ------------------------------------------------------------------------ dispatch

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        self.project.requests.append(f"{method} {path}")
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        if path.startswith("/compute/v1/"):
            return self._guard("compute", "Compute Engine API") or self._compute(
                method, path.removeprefix("/compute/v1/"), query
            )
        if path.startswith("/v1/projects/") and path.endswith("/locations/-/clusters"):
            return self._guard("container", "Kubernetes Engine API") or self._clusters(path)
        if path.startswith("/v1/projects/") and "/serviceAccounts" in path:
            return self._guard("iam", "Identity and Access Management (IAM) API") or (
                self._accounts(method, path, query)
            )
        if "/cryptoKeys/" in path and path.endswith(":testIamPermissions"):
            return self._guard("kms", "Cloud Key Management Service (KMS) API") or (
                self._test_key_permissions(path, body)
            )
        if path.endswith(":getEffectiveOrgPolicy"):
            return self._guard("crm", "Cloud Resource Manager API") or self._effective_policy(
                path, body
            )
        if path.endswith(":testIamPermissions"):
            return self._guard("crm", "Cloud Resource Manager API") or self._test_permissions(
                path, body
            )
        if path.endswith("/services:batchGet"):
            return self._guard("serviceusage", "Service Usage API") or self._batch_get(path, query)
        return _error(404, "NOT_FOUND", f"no such method: {method} {path}")

    def _guard(self, api: str, title: str) -> tuple[int, Any] | None:
        project = self.project
        service = {
            "compute": "compute.googleapis.com",
            "crm": "cloudresourcemanager.googleapis.com",
            "serviceusage": "serviceusage.googleapis.com",
            "kms": "cloudkms.googleapis.com",
            "container": "container.googleapis.com",
            "iam": "iam.googleapis.com",
        }[api]
        consumer = {"consumer": f"projects/{project.number}", "service": service}
        if api in project.rate_limited:
            return _error(
                429,
                "RESOURCE_EXHAUSTED",
                f"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of "
                f"service '{service}' for consumer 'project_number:{project.number}'.",
                reason="RATE_LIMIT_EXCEEDED",
                metadata={**consumer, "quota_limit": "QueriesPerMinutePerProject"},
                legacy=("usageLimits", "rateLimitExceeded") if api == "compute" else None,
            )
        if service not in project.enabled:
            return _error(
                403,
                "PERMISSION_DENIED",
                f"{title} has not been used in project {project.number} before or it is "
                f"disabled. Enable it by visiting https://console.developers.google.com/apis/"
                f"api/{service}/overview?project={project.number} then retry.",
                reason="SERVICE_DISABLED",
                metadata=consumer,
                legacy=("usageLimits", "accessNotConfigured") if api == "compute" else None,
            )
        return None

    # ------------------------------------------------------------------------ CRM

    def _test_permissions(self, path: str, body: bytes) -> tuple[int, Any]:
        project_id = path.removeprefix("/v1/projects/").removesuffix(":testIamPermissions")
        if project_id != self.project.project_id:
            return _error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            )
        asked = json.loads(body or b"{}").get("permissions") or []
        for permission in asked:
            if not _PERMISSION.match(permission):
                return _error(400, "INVALID_ARGUMENT", f"Permission {permission} is not valid.")
        granted = sorted(p for p in asked if p in self.project.granted)
        return 200, ({"permissions": granted} if granted else {})

    def _effective_policy(self, path: str, body: bytes) -> tuple[int, Any]:
        project_id = path.removeprefix("/v1/projects/").removesuffix(":getEffectiveOrgPolicy")
        if project_id != self.project.project_id or not self.project.org_policy_readable:
            return _error(403, "PERMISSION_DENIED", "The caller does not have permission")
        constraint = str(json.loads(body or b"{}").get("constraint", ""))
        if not constraint.startswith("constraints/"):
            return _error(400, "INVALID_ARGUMENT", f"Invalid constraint name: {constraint}")
        name = constraint.removeprefix("constraints/")
        own = self.project.org_policies.get(name)
        parent = self.project.organization_policies.get(name)
        effective: dict[str, Any] = {"constraint": constraint}
        kind = "listPolicy" if name in LIST_CONSTRAINTS else "booleanPolicy"
        if own is None:
            chosen = parent
        elif "restoreDefault" in own:
            chosen = None
        elif (own.get("listPolicy") or {}).get("inheritFromParent") and parent is not None:
            mine, theirs = own["listPolicy"], parent.get("listPolicy") or {}
            merged: dict[str, Any] = {}
            for key in ("allowedValues", "deniedValues"):
                values = [*theirs.get(key, []), *mine.get(key, [])]
                if values:
                    merged[key] = values
            every = mine.get("allValues") or theirs.get("allValues")
            if every:
                merged["allValues"] = every
            chosen = {"listPolicy": merged}
        else:
            chosen = own
        effective[kind] = dict((chosen or {}).get(kind) or {})
        effective[kind].pop("inheritFromParent", None)
        return 200, effective

    def _test_key_permissions(self, path: str, body: bytes) -> tuple[int, Any]:
        key = path.removeprefix("/v1/").removesuffix(":testIamPermissions")
        asked = json.loads(body or b"{}").get("permissions") or []
        if key not in self.project.keys:
            # KMS does not say whether a key you cannot see exists.
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission '{asked[0] if asked else ''}' denied on resource '{key}' (or it "
                "may not exist).",
                reason="IAM_PERMISSION_DENIED",
                metadata={"resource": key, "permission": asked[0] if asked else ""},
            )
        granted = sorted(p for p in asked if p in self.project.keys[key])
        return 200, ({"permissions": granted} if granted else {})

    # ------------------------------------------------------------------------ Service Usage

    def _batch_get(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        parent = path.removeprefix("/v1/").removesuffix("/services:batchGet")
        names = query.get("names") or []
        if len(names) > 20:
            return _error(400, "INVALID_ARGUMENT", "Too many services requested (max 20).")
        if parent != f"projects/{self.project.project_id}":
            return _error(403, "PERMISSION_DENIED", "The caller does not have permission")
        if "serviceusage.services.get" not in self.project.granted:
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission denied to get service [{names[0] if names else ''}]",
                reason="IAM_PERMISSION_DENIED",
                metadata={"permission": "serviceusage.services.get"},
            )
        services = []
        for name in names:
            if not name.startswith(f"{parent}/services/"):
                return _error(400, "INVALID_ARGUMENT", f"Invalid service name {name}")
            service = name.rsplit("/", 1)[-1]
            services.append(
                {
                    "name": f"projects/{self.project.number}/services/{service}",
                    "config": {"name": service},
                    "state": "ENABLED" if service in self.project.enabled else "DISABLED",
                    "parent": f"projects/{self.project.number}",
                }
            )
        return 200, {"services": services}

    # ------------------------------------------------------------------------ Compute

    def _forbidden(self, permission: str, resource: str) -> tuple[int, Any]:
        message = f"Required '{permission}' permission for '{resource}'"
        return _error(403, "PERMISSION_DENIED", message, legacy=("global", "forbidden"))

    def _not_found(self, resource: str) -> tuple[int, Any]:
        return 404, {
            "error": {
                "code": 404,
                "message": f"The resource '{resource}' was not found",
                "errors": [
                    {
                        "message": f"The resource '{resource}' was not found",
                        "domain": "global",
                        "reason": "notFound",
                    }
                ],
            }
        }

    def _compute(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        project = self.project
        segments = path.split("/")
        if method != "GET" and len(segments) in {6, 7} and segments[0] == "projects":
            return self._compute_write(method, segments)
        if segments[:2] == ["projects", "debian-cloud"] and segments[2:4] == ["global", "images"]:
            image = project.images.get(("debian-cloud", segments[-1]))
            return (200, image) if image else self._not_found(path)
        if segments[:2] != ["projects", project.project_id]:
            return self._forbidden("compute.projects.get", "/".join(segments[:2]))
        rest = segments[2:]
        if rest[:1] == ["aggregated"] and len(rest) == 2:
            return self._aggregated(rest[1], query)
        if not rest:
            if "compute.projects.get" not in project.granted:
                return self._forbidden("compute.projects.get", path)
            return 200, {
                "kind": "compute#project",
                "name": project.project_id,
                "defaultServiceAccount": f"{project.number}-compute@developer.gserviceaccount.com",
                "quotas": project.project_quotas,
            }
        if rest[0] == "regions" and len(rest) == 2:
            if "compute.regions.get" not in project.granted:
                return self._forbidden("compute.regions.get", path)
            if rest[1] not in project.regional_quotas:
                return self._not_found(path)
            return 200, {
                "kind": "compute#region",
                "name": rest[1],
                "status": "UP",
                "quotas": project.regional_quotas[rest[1]],
            }
        if rest[0] == "zones" and len(rest) >= 2:
            zone = rest[1]
            if len(rest) == 2:
                if "compute.zones.get" not in project.granted:
                    return self._forbidden("compute.zones.get", path)
                if zone not in project.zones:
                    return self._not_found(path)
                return 200, {"kind": "compute#zone", "name": zone, "status": project.zones[zone]}
            if rest[2] == "machineTypes" and len(rest) == 4:
                if "compute.machineTypes.get" not in project.granted:
                    return self._forbidden("compute.machineTypes.get", path)
                if rest[3] not in project.machine_types.get(zone, set()):
                    return self._not_found(path)
                return 200, {"kind": "compute#machineType", "name": rest[3], "zone": zone}
            if rest[2] == "disks" and len(rest) == 3:
                if "compute.disks.list" not in project.granted:
                    return self._forbidden("compute.disks.list", path)
                return 200, self._list_disks(zone, query)
        return self._not_found(path)

    def _list_disks(self, zone: str, query: dict[str, list[str]]) -> dict[str, Any]:
        disks = self.project.disks.get(zone, [])
        expression = (query.get("filter") or [""])[0]
        match = re.fullmatch(r'name eq "(.*)"', expression)
        if match:
            pattern = re.compile(match[1])
            disks = [d for d in disks if pattern.fullmatch(d["name"])]
        body: dict[str, Any] = {"kind": "compute#diskList"}
        if disks:
            body["items"] = disks
        return body

    # ------------------------------------------------------------------------ the janitor's lists

    def _page(
        self, items: list[Any], query: dict[str, list[str]], size_key: str
    ) -> tuple[list[Any], str]:
        """One page of `items` from `pageToken` (an offset here; opaque to callers)."""
        size = self.project.page_size or int((query.get(size_key) or ["500"])[0])
        start = int((query.get("pageToken") or ["0"])[0])
        following = start + size
        return items[start:following], str(following) if following < len(items) else ""

    def _aggregated(self, collection: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        project = self.project
        known = {"instances": project.instances, "disks": project.disks}
        known["instanceGroupManagers"] = project.instance_groups
        if collection not in known:
            return self._not_found(f"projects/{project.project_id}/aggregated/{collection}")
        if f"compute.{collection}.list" not in project.granted:
            return self._forbidden(f"compute.{collection}.list", f"projects/{project.project_id}")
        expression = (query.get("filter") or [""])[0]
        has_label = re.fullmatch(r"labels\.([a-z][a-z0-9_-]*):\*", expression)
        if expression and not has_label:
            message = f"Invalid value for field 'filter': '{expression}'."
            return _error(400, "INVALID_ARGUMENT", message, legacy=("global", "invalid"))
        scoped = [
            (scope, item)
            for scope, items in known[collection].items()
            for item in items
            if project.leaky
            or (
                f"/projects/{project.project_id}/" in str(item.get("selfLink"))
                and (has_label is None or has_label[1] in (item.get("labels") or {}))
            )
        ]
        page, token = self._page(scoped, query, "maxResults")
        body: dict[str, Any] = {"kind": f"compute#{collection[:-1]}AggregatedList"}
        if scoped:
            items: dict[str, Any] = {
                "zones/us-east1-b": {"warning": {"code": "NO_RESULTS_ON_PAGE"}}
            }
            for scope, item in page:
                items.setdefault(scope, {}).setdefault(collection, []).append(item)
            body["items"] = items
        if token:
            body["nextPageToken"] = token
        return 200, body

    def _compute_write(self, method: str, segments: list[str]) -> tuple[int, Any]:
        """DELETE projects/P/<zones|regions>/W/<collection>/N, or POST .../operations/O/wait."""
        project = self.project
        _, project_id, scope, where, collection, name, *verb = segments
        path = "/".join(segments)
        if project_id != project.project_id:
            return self._forbidden(f"compute.{collection}.delete", path)
        if method == "POST" and collection == "operations" and verb == ["wait"]:
            return self._compute_wait(scope, where, name)
        if verb or method != "DELETE" or collection not in {"instances", "instanceGroupManagers"}:
            return self._not_found(path)
        if f"compute.{collection}.delete" not in project.granted:
            return self._forbidden(f"compute.{collection}.delete", path)
        store = project.instances if collection == "instances" else project.instance_groups
        items = store.get(f"{scope}/{where}", [])
        if not any(item["name"] == name for item in items):
            return self._not_found(path)
        if name not in project.failing_deletes:
            store[f"{scope}/{where}"] = [item for item in items if item["name"] != name]
        base = f"https://www.googleapis.com/compute/v1/projects/{project_id}/{scope}/{where}"
        return 200, {
            "kind": "compute#operation",
            "name": f"operation-delete-{name}",
            scope[:-1]: base,
            "operationType": "delete",
            "targetLink": f"{base}/{collection}/{name}",
            "status": "RUNNING",
            "selfLink": f"{base}/operations/operation-delete-{name}",
        }

    def _compute_wait(self, scope: str, where: str, operation: str) -> tuple[int, Any]:
        base = f"https://www.googleapis.com/compute/v1/projects/{self.project.project_id}"
        failure = self.project.failing_deletes.get(operation.removeprefix("operation-delete-"))
        error: dict[str, Any] = {}
        if failure is not None:
            code, message = failure
            error = {
                "error": {"errors": [{"code": code, "message": message}]},
                "httpErrorStatusCode": 400,
                "httpErrorMessage": "BAD REQUEST",
            }
        return 200, {
            **error,
            "kind": "compute#operation",
            "name": operation,
            scope[:-1]: f"{base}/{scope}/{where}",
            "operationType": "delete",
            "status": "DONE",
        }

    def _clusters(self, path: str) -> tuple[int, Any]:
        project = self.project
        if path != f"/v1/projects/{project.project_id}/locations/-/clusters" or (
            "container.clusters.list" not in project.granted
        ):
            return _error(
                403,
                "PERMISSION_DENIED",
                f'Required "container.clusters.list" permission(s) for "projects/'
                f'{path.split("/")[3]}".',
            )
        clusters = [
            c
            for c in project.clusters
            if project.leaky or f"/projects/{project.project_id}/" in str(c.get("selfLink"))
        ]
        body: dict[str, Any] = {"clusters": clusters} if clusters else {}
        return 200, {
            **body,
            **({"missingZones": project.missing_zones} if project.missing_zones else {}),
        }

    def _accounts(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        project = self.project
        parent = f"/v1/projects/{project.project_id}/serviceAccounts"
        permission = "iam.serviceAccounts.list" if method == "GET" else "iam.serviceAccounts.delete"
        if not path.startswith(parent) or permission not in project.granted:
            resource = path.removeprefix("/v1/")
            return _error(
                403,
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource (or it may not exist).",
                reason="IAM_PERMISSION_DENIED",
                metadata={"permission": permission, "resource": resource},
            )
        if method == "DELETE":
            email = path.removeprefix(parent + "/")
            if not any(a.get("email") == email for a in project.accounts):
                return _error(404, "NOT_FOUND", f"Unknown service account {email}")
            project.accounts = [a for a in project.accounts if a.get("email") != email]
            return 200, {}
        accounts = [
            a for a in project.accounts if project.leaky or a.get("projectId") == project.project_id
        ]
        page, token = self._page(accounts, query, "pageSize")
        body = {"accounts": page} if page else {}
        return 200, {**body, **({"nextPageToken": token} if token else {})}
