"""The Compute v1 calls `wait` makes for the snark worker VMs, added to the preflight stand-in.

Behaviours copied from the Compute v1 reference (instanceGroupManagers.listManagedInstances,
instances.getGuestAttributes) and the error shapes `tests.fakes.gcp_apis` already follows:

* listManagedInstances is a POST (a GET is no such method); it needs
  compute.instanceGroupManagers.get (403 `forbidden` otherwise); an unknown group is 404
  `notFound`; members carry `instance` (URL) only once the VM exists, plus `instanceStatus` and
  `currentAction`; `maxResults` pages the list with `nextPageToken`; an empty group answers
  without the `managedInstances` field (proto3 JSON omits empty repeated fields).
* getGuestAttributes needs compute.instances.getGuestAttributes; an unknown instance is 404; a
  query path under which the VM published nothing is 404 for
  `.../instances/<vm>/guestAttributes/<path>`; otherwise `{kind: compute#guestAttributes,
  queryPath, queryValue: {items: [{namespace, key, value}]}}`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.gcp_apis import FakeGcp, FakeProject

COMPUTE_URL = "https://www.googleapis.com/compute/v1"


@dataclass
class FakeVm:
    name: str | None
    """None: the group is still creating it (no instance URL yet)."""
    status: str | None = "RUNNING"
    action: str = "NONE"
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    """namespace -> key -> value, as the VM PUT them to its metadata server."""


@dataclass
class WorkerProject(FakeProject):
    groups: dict[tuple[str, str], list[FakeVm]] = field(default_factory=dict)
    """(zone, group name) -> members."""


class FakeWorkerCompute(FakeGcp):
    project: WorkerProject

    def __init__(self, project: WorkerProject) -> None:
        self._method = threading.local()
        super().__init__(project)

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        self._method.value = method
        return super()._handle(method, target, headers, body)

    def _compute(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        project = self.project
        segments = path.split("/")
        if segments[:2] == ["projects", project.project_id] and segments[2:3] == ["zones"]:
            rest = segments[3:]
            if len(rest) == 4 and rest[1] == "instanceGroupManagers":
                if rest[3] != "listManagedInstances" or self._method.value != "POST":
                    return self._not_found(path)
                return self._list_managed(path, rest[0], rest[2], query)
            if len(rest) == 4 and rest[1] == "instances" and rest[3] == "getGuestAttributes":
                return self._guest_attributes(path, rest[0], rest[2], query)
        return super()._compute(path, query)

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
            member: dict[str, Any] = {"id": str(1000 + index), "currentAction": vm.action}
            if vm.name is not None:
                member["instance"] = (
                    f"{COMPUTE_URL}/projects/{project.project_id}/zones/{zone}/instances/{vm.name}"
                )
            if vm.status is not None:
                member["instanceStatus"] = vm.status
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
                if vm_zone == zone and vm.name == name
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
