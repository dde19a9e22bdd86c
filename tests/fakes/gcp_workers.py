"""The Compute v1 calls `wait` makes for the snark worker VMs, added to the preflight stand-in.

Behaviours copied from the Compute v1 reference (instanceGroupManagers.listManagedInstances,
instances.getGuestAttributes) and the error shapes `tests.fakes.gcp_apis` already follows:

* listManagedInstances is a POST (a GET is no such method); it needs
  compute.instanceGroupManagers.get (403 `forbidden` otherwise); an unknown group is 404
  `notFound`; `maxResults` pages the list with `nextPageToken`; an empty group answers
  without the `managedInstances` field (proto3 JSON omits empty repeated fields).
* A member (Compute v1 reference, ManagedInstance): `name` "always exists even if the instance
  has not yet been created", `instance` (URL) "can exist even if the instance has not yet been
  created"; `id` and `instanceStatus` are "empty when the instance does not exist";
  `currentAction` (NONE, CREATING, RECREATING, ...); `version.instanceTemplate`; `lastAttempt`
  = ManagedInstanceLastAttempt {errors: ManagedInstanceLastAttemptErrors {errors: [Errors
  {code, location, message}]}} (location only when set), "errors encountered during the last
  attempt to create or delete the instance", absent when there were none.
* getGuestAttributes needs compute.instances.getGuestAttributes; an unknown instance is 404; a
  query path under which the VM published nothing is 404 for
  `.../instances/<vm>/guestAttributes/<path>`; otherwise `{kind: compute#guestAttributes,
  queryPath, queryValue: {items: [{namespace, key, value}]}}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.fakes.gcp_apis import FakeGcp, FakeProject

COMPUTE_URL = "https://www.googleapis.com/compute/v1"


@dataclass
class FakeVm:
    name: str
    status: str | None = "RUNNING"
    """None: the VM does not exist (yet): no id, no instanceStatus, no guest attributes."""
    action: str = "NONE"
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    """namespace -> key -> value, as the VM PUT them to its metadata server."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(code, message) of the group's last attempt to create it, e.g. ("QUOTA_EXCEEDED",
    "Quota 'C3_CPUS' exceeded.  Limit: 24.0 in region us-central1.")."""


@dataclass
class WorkerProject(FakeProject):
    groups: dict[tuple[str, str], list[FakeVm]] = field(default_factory=dict)
    """(zone, group name) -> members."""


class FakeWorkerCompute(FakeGcp):
    project: WorkerProject

    def _compute(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        project = self.project
        segments = path.split("/")
        if segments[:2] == ["projects", project.project_id] and segments[2:3] == ["zones"]:
            rest = segments[3:]
            if len(rest) == 4 and rest[1] == "instanceGroupManagers":
                if rest[3] != "listManagedInstances" or method != "POST":
                    return self._not_found(path)
                return self._list_managed(path, rest[0], rest[2], query)
            if len(rest) == 4 and rest[1] == "instances" and rest[3] == "getGuestAttributes":
                return self._guest_attributes(path, rest[0], rest[2], query)
        return super()._compute(method, path, query)

    def _list_managed(
        self, path: str, zone: str, group: str, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        project = self.project
        resource = f"projects/{project.project_id}/zones/{zone}/instanceGroupManagers/{group}"
        if "compute.instanceGroupManagers.get" not in project.granted:
            return self._forbidden("compute.instanceGroupManagers.get", resource)
        if (zone, group) not in project.groups:
            return self._not_found(resource)
        members = []
        for index, vm in enumerate(project.groups[(zone, group)]):
            member: dict[str, Any] = {
                "name": vm.name,
                "instance": (
                    f"{COMPUTE_URL}/projects/{project.project_id}/zones/{zone}/instances/{vm.name}"
                ),
                "currentAction": vm.action,
                "version": {
                    "instanceTemplate": f"{COMPUTE_URL}/projects/{project.project_id}/global/"
                    f"instanceTemplates/{group}-template-1"
                },
            }
            if vm.status is not None:
                member["id"] = str(1000 + index)
                member["instanceStatus"] = vm.status
            if vm.errors:
                member["lastAttempt"] = {
                    "errors": {
                        "errors": [
                            {"code": code, "message": message} for code, message in vm.errors
                        ]
                    }
                }
            members.append(member)
        size = int((query.get("maxResults") or ["500"])[0])
        start = int((query.get("pageToken") or ["0"])[0])
        body: dict[str, Any] = {}
        if members[start : start + size]:
            body["managedInstances"] = members[start : start + size]
        if start + size < len(members):
            body["nextPageToken"] = str(start + size)
        return 200, body

    def _guest_attributes(
        self, path: str, zone: str, name: str, query: dict[str, list[str]]
    ) -> tuple[int, Any]:
        project = self.project
        resource = f"projects/{project.project_id}/zones/{zone}/instances/{name}"
        if "compute.instances.getGuestAttributes" not in project.granted:
            return self._forbidden("compute.instances.getGuestAttributes", resource)
        vm = next(
            (
                vm
                for (vm_zone, _), members in project.groups.items()
                for vm in members
                if vm_zone == zone and vm.name == name and vm.status is not None
            ),
            None,
        )
        if vm is None:
            return self._not_found(resource)
        query_path = (query.get("queryPath") or [""])[0]
        namespace = query_path.rstrip("/")
        values = vm.attributes.get(namespace) or {}
        if not values:
            return self._not_found(f"{resource}/guestAttributes/{query_path}")
        return 200, {
            "kind": "compute#guestAttributes",
            "selfLink": f"{COMPUTE_URL}/{resource}/guestAttributes/{query_path}",
            "queryPath": query_path,
            "queryValue": {
                "items": [
                    {"namespace": namespace, "key": key, "value": value}
                    for key, value in sorted(values.items())
                ]
            },
        }
