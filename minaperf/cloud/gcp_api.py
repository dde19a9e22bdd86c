"""The few Google Cloud REST calls preflight makes, over httpx, with Google's error shapes decoded.

Every call returns parsed JSON or raises `GcpApiError`, which says whether the service is
disabled, the call rate-limited or the object missing, whichever error body the API sent.
See docs/gcp-deploy.md#preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

CRM = "https://cloudresourcemanager.googleapis.com"
SERVICE_USAGE = "https://serviceusage.googleapis.com"
COMPUTE = "https://compute.googleapis.com"
KMS = "https://cloudkms.googleapis.com"
CONTAINER = "https://container.googleapis.com"
IAM = "https://iam.googleapis.com"
BATCH_GET_LIMIT = 20
"""services:batchGet takes at most 20 names per call (Service Usage v1 reference)."""
TIMEOUT_SECONDS = 20.0
WAIT_SECONDS = 150.0
"""Operations' `wait` answers within about two minutes (zoneOperations.wait reference)."""


@dataclass
class GcpApiError(Exception):
    """A failed call: HTTP status, canonical status, ErrorInfo reason, and the message."""

    http_status: int
    status: str
    reason: str
    message: str
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.http_status} {self.status or self.reason}: {self.message}"

    @property
    def service_disabled(self) -> bool:
        return self.reason in {"SERVICE_DISABLED", "accessNotConfigured"}

    @property
    def rate_limited(self) -> bool:
        return self.http_status == 429 or self.reason in {
            "RATE_LIMIT_EXCEEDED",
            "rateLimitExceeded",
        }

    @property
    def not_found(self) -> bool:
        return self.http_status == 404


def decode_error(response: httpx.Response) -> GcpApiError:
    """A `GcpApiError` from any of the error bodies Google APIs send (or a non-JSON one).

    Google APIs answer `{"error": {"code", "message", "status", "details": [...]}}` (AIP-193);
    the `details` carry a `google.rpc.ErrorInfo` whose `reason` says why
    (googleapis/googleapis@2f8d204 google/api/error_reason.proto, enum ErrorReason:
    SERVICE_DISABLED, RATE_LIMIT_EXCEEDED, RESOURCE_QUOTA_EXCEEDED). Compute's v1 API also keeps
    its older `errors: [{"domain", "reason", "message"}]` list (e.g. `accessNotConfigured`,
    `notFound`).
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
        return GcpApiError(response.status_code, "", "", text or response.reason_phrase)
    reason, metadata = "", {}
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(
            "google.rpc.ErrorInfo"
        ):
            reason = str(detail.get("reason", ""))
            metadata = {str(k): str(v) for k, v in (detail.get("metadata") or {}).items()}
            break
    if not reason:
        legacy = error.get("errors") or []
        if legacy and isinstance(legacy[0], dict):
            reason = str(legacy[0].get("reason", ""))
    return GcpApiError(
        http_status=response.status_code,
        status=str(error.get("status", "")),
        reason=reason,
        message=str(error.get("message", "")).strip(),
        metadata=metadata,
    )


class GcpApi:
    """Cloud Resource Manager, Service Usage, Compute, Cloud KMS, GKE and IAM, with one token.

    `base_url` replaces every host (a stand-in in tests, a private endpoint in a VPC-SC
    perimeter); the paths are the public ones.
    """

    def __init__(self, token: str, *, base_url: str | None = None) -> None:
        self._hosts = {
            "crm": base_url or CRM,
            "serviceusage": base_url or SERVICE_USAGE,
            "compute": base_url or COMPUTE,
            "kms": base_url or KMS,
            "container": base_url or CONTAINER,
            "iam": base_url or IAM,
        }
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_SECONDS
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, api: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self._hosts[api].rstrip("/") + path
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise GcpApiError(0, "UNAVAILABLE", "", f"{url}: {error}") from None
        if response.status_code >= 400:
            raise decode_error(response)
        try:
            body = response.json()
        except ValueError:
            raise GcpApiError(response.status_code, "", "", f"{url}: not JSON") from None
        return body if isinstance(body, dict) else {}

    def _pages(
        self, api: str, path: str, params: dict[str, str], method: str = "GET"
    ) -> list[dict[str, Any]]:
        """Every page of a list call: each response, until one has no `nextPageToken`."""
        pages: list[dict[str, Any]] = []
        token = ""
        while True:
            body = self._call(
                api, method, path, params={**params, **({"pageToken": token} if token else {})}
            )
            pages.append(body)
            token = str(body.get("nextPageToken") or "")
            if not token:
                return pages

    # ------------------------------------------------------------------ Resource Manager

    def test_project_permissions(self, project: str, permissions: list[str]) -> set[str]:
        """The subset of `permissions` the caller holds on the project. An empty subset comes
        back as `{}`: proto3 JSON omits an empty repeated field."""
        body = self._call(
            "crm",
            "POST",
            f"/v1/projects/{quote(project)}:testIamPermissions",
            json={"permissions": permissions},
        )
        return set(body.get("permissions") or [])

    def effective_org_policy(self, project: str, constraint: str) -> dict[str, Any]:
        """`projects.getEffectiveOrgPolicy` (v1): the policy merged down the hierarchy for
        `constraints/<constraint>`, as `booleanPolicy` or `listPolicy`."""
        return self._call(
            "crm",
            "POST",
            f"/v1/projects/{quote(project)}:getEffectiveOrgPolicy",
            json={"constraint": f"constraints/{constraint}"},
        )

    def test_key_permissions(self, key: str, permissions: list[str]) -> set[str]:
        """The subset of `permissions` the caller holds on a Cloud KMS key."""
        body = self._call(
            "kms", "POST", f"/v1/{quote(key)}:testIamPermissions", json={"permissions": permissions}
        )
        return set(body.get("permissions") or [])

    # ------------------------------------------------------------------ Service Usage

    def service_states(self, project: str, services: list[str]) -> dict[str, str]:
        """`ENABLED` or `DISABLED` for each service name (e.g. compute.googleapis.com)."""
        states: dict[str, str] = {}
        for start in range(0, len(services), BATCH_GET_LIMIT):
            names = [
                ("names", f"projects/{project}/services/{service}")
                for service in services[start : start + BATCH_GET_LIMIT]
            ]
            body = self._call(
                "serviceusage",
                "GET",
                f"/v1/projects/{quote(project)}/services:batchGet",
                params=names,
            )
            for service in body.get("services") or []:
                name = str((service.get("config") or {}).get("name") or "")
                name = name or str(service.get("name", "")).rsplit("/", 1)[-1]
                states[name] = str(service.get("state", "STATE_UNSPECIFIED"))
        return states

    # ------------------------------------------------------------------ Compute

    def compute_project(self, project: str) -> dict[str, Any]:
        return self._call("compute", "GET", f"/compute/v1/projects/{quote(project)}")

    def region(self, project: str, region: str) -> dict[str, Any]:
        return self._call(
            "compute", "GET", f"/compute/v1/projects/{quote(project)}/regions/{quote(region)}"
        )

    def zone(self, project: str, zone: str) -> dict[str, Any]:
        return self._call(
            "compute", "GET", f"/compute/v1/projects/{quote(project)}/zones/{quote(zone)}"
        )

    def machine_type(self, project: str, zone: str, machine_type: str) -> dict[str, Any]:
        return self._call(
            "compute",
            "GET",
            f"/compute/v1/projects/{quote(project)}/zones/{quote(zone)}"
            f"/machineTypes/{quote(machine_type)}",
        )

    def image_from_family(self, project: str, family: str) -> dict[str, Any]:
        return self._call(
            "compute",
            "GET",
            f"/compute/v1/projects/{quote(project)}/global/images/family/{quote(family)}",
        )

    def disks(self, project: str, zone: str, name_regex: str) -> list[dict[str, Any]]:
        """Disks in the zone whose whole name matches `name_regex` (Compute's `eq` filter)."""
        pages = self._pages(
            "compute",
            f"/compute/v1/projects/{quote(project)}/zones/{quote(zone)}/disks",
            {"filter": f'name eq "{name_regex}"', "maxResults": "500"},
        )
        return [disk for page in pages for disk in page.get("items") or []]

    def managed_instances(self, project: str, zone: str, group: str) -> list[dict[str, Any]]:
        """`instanceGroupManagers.listManagedInstances` (a POST, paged by `nextPageToken`):
        every member with `name`, `instance` (URL), `instanceStatus` (absent until the VM
        exists), `currentAction` and `lastAttempt.errors.errors` (why the last create failed).
        An empty group comes back without the field."""
        pages = self._pages(
            "compute",
            f"/compute/v1/projects/{quote(project)}/zones/{quote(zone)}"
            f"/instanceGroupManagers/{quote(group)}/listManagedInstances",
            {"maxResults": "500"},
            method="POST",
        )
        return [member for page in pages for member in page.get("managedInstances") or []]

    def guest_attributes(
        self, project: str, zone: str, instance: str, query_path: str
    ) -> dict[str, Any]:
        """`instances.getGuestAttributes` for a namespace path (`<namespace>/`): the body has
        `queryValue.items[] = {namespace, key, value}`; 404 when nothing is published there."""
        return self._call(
            "compute",
            "GET",
            f"/compute/v1/projects/{quote(project)}/zones/{quote(zone)}"
            f"/instances/{quote(instance)}/getGuestAttributes",
            params={"queryPath": query_path},
        )

    def aggregated(self, project: str, collection: str, filter_: str = "") -> list[dict[str, Any]]:
        """`<collection>.aggregatedList` (instances, disks, instanceGroupManagers): the items of
        every zone and region, paged by `nextPageToken`. `items` maps a scope (`zones/<zone>`,
        `regions/<region>`) to `{<collection>: [...]}`, or to `{warning: {code:
        NO_RESULTS_ON_PAGE}}` when it has none; `items` itself is left out when nothing matched
        (https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList)."""
        params = {"maxResults": "500", **({"filter": filter_} if filter_ else {})}
        found: list[dict[str, Any]] = []
        for page in self._pages(
            "compute", f"/compute/v1/projects/{quote(project)}/aggregated/{collection}", params
        ):
            scopes = page.get("items") or {}
            for scoped in scopes.values() if isinstance(scopes, dict) else []:
                listed = scoped.get(collection) if isinstance(scoped, dict) else None
                found.extend(item for item in listed or [] if isinstance(item, dict))
        return found

    def delete_compute(
        self, project: str, scope: str, where: str, collection: str, name: str
    ) -> None:
        """Delete a zonal or regional Compute resource (`scope` is `zones` or `regions`) and
        wait for its Operation (`zoneOperations.wait` / `regionOperations.wait` answer when it is
        DONE or after about two minutes, so they are asked again until DONE); an Operation that
        ends with `error.errors` is a `GcpApiError`
        (https://cloud.google.com/compute/docs/reference/rest/v1/zoneOperations/wait)."""
        base = f"/compute/v1/projects/{quote(project)}/{scope}/{quote(where)}"
        operation = self._call("compute", "DELETE", f"{base}/{collection}/{quote(name)}")
        while operation.get("status") != "DONE":
            operation = self._call(
                "compute",
                "POST",
                f"{base}/operations/{quote(str(operation.get('name')))}/wait",
                timeout=WAIT_SECONDS,
            )
        errors = (operation.get("error") or {}).get("errors") or []
        if errors and isinstance(errors[0], dict):
            raise GcpApiError(
                int(operation.get("httpErrorStatusCode") or 0),
                "",
                str(errors[0].get("code", "")),
                str(errors[0].get("message", "")),
            )

    # ------------------------------------------------------------------ GKE

    def clusters(self, project: str) -> tuple[list[dict[str, Any]], list[str]]:
        """`projects.locations.clusters.list` over every location (`-`), unpaged: the clusters
        and `missingZones`, the zones that could not answer
        (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/list)."""
        body = self._call("container", "GET", f"/v1/projects/{quote(project)}/locations/-/clusters")
        clusters = [c for c in body.get("clusters") or [] if isinstance(c, dict)]
        return clusters, [str(zone) for zone in body.get("missingZones") or []]

    # ------------------------------------------------------------------ IAM

    def service_accounts(self, project: str) -> list[dict[str, Any]]:
        """`projects.serviceAccounts.list`, paged by `nextPageToken` (`accounts` is left out of
        an empty page; there is no filter parameter)
        (https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/list)."""
        found: list[dict[str, Any]] = []
        for page in self._pages(
            "iam", f"/v1/projects/{quote(project)}/serviceAccounts", {"pageSize": "100"}
        ):
            found.extend(a for a in page.get("accounts") or [] if isinstance(a, dict))
        return found

    def delete_service_account(self, project: str, email: str) -> None:
        """`projects.serviceAccounts.delete`: an empty body on success
        (https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/delete)."""
        self._call("iam", "DELETE", f"/v1/projects/{quote(project)}/serviceAccounts/{quote(email)}")
