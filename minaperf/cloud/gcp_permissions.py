"""What the deployer must hold for each resource type the render contains: one table.

`PERMISSIONS_BY_TYPE` maps every cloud resource type the program can create to the IAM
permissions its create (with the provider's read-back), update and delete need. Preflight asks
for those of the types in the stack's own render (`permissions_for`), so the list follows the
program. See docs/gcp-deploy.md#permissions-come-from-the-render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

COMPUTE_REF = "https://cloud.google.com/compute/docs/reference/rest/v1"
GKE_PERMISSIONS = "https://cloud.google.com/kubernetes-engine/docs/reference/api-permissions"


@dataclass(frozen=True)
class TypePermissions:
    create: tuple[str, ...]
    update: tuple[str, ...]
    delete: tuple[str, ...]
    doc: str
    scope: str = "project"
    """Where the permissions are held: the project, or (`key`) platform.secretsKmsKey."""


def _k8s(plural: str, doc: str = GKE_PERMISSIONS) -> TypePermissions:
    """A Kubernetes object on GKE: IAM maps each API verb to `container.<plural>.<verb>` (the
    GKE API-permissions page, "Kubernetes API permissions"); RBAC grants it too."""
    return TypePermissions(
        create=(f"container.{plural}.create", f"container.{plural}.get"),
        update=(f"container.{plural}.update",),
        delete=(f"container.{plural}.delete",),
        doc=doc,
    )


PERMISSIONS_BY_TYPE: dict[str, TypePermissions] = {
    "gcp:projects/service:Service": TypePermissions(
        create=("serviceusage.services.enable", "serviceusage.services.get"),
        update=("serviceusage.services.enable",),
        # disableOnDestroy is false (components/platform.py ProjectApis): destroy calls nothing.
        delete=(),
        doc="https://cloud.google.com/service-usage/docs/access-control",
    ),
    "gcp:compute/network:Network": TypePermissions(
        create=("compute.networks.create", "compute.networks.get"),
        update=("compute.networks.update",),
        delete=("compute.networks.delete",),
        doc=f"{COMPUTE_REF}/networks/insert",
    ),
    "gcp:compute/subnetwork:Subnetwork": TypePermissions(
        create=("compute.subnetworks.create", "compute.subnetworks.get"),
        update=(
            "compute.subnetworks.update",
            "compute.subnetworks.setPrivateIpGoogleAccess",
            "compute.subnetworks.expandIpCidrRange",
        ),
        delete=("compute.subnetworks.delete",),
        doc=f"{COMPUTE_REF}/subnetworks/insert",
    ),
    "gcp:compute/router:Router": TypePermissions(
        create=("compute.routers.create", "compute.routers.get", "compute.networks.updatePolicy"),
        update=("compute.routers.update",),
        delete=("compute.routers.delete",),
        doc=f"{COMPUTE_REF}/routers/insert",
    ),
    # Cloud NAT is a part of its router: every change is a routers.patch.
    "gcp:compute/routerNat:RouterNat": TypePermissions(
        create=("compute.routers.update", "compute.routers.get"),
        update=("compute.routers.update",),
        delete=("compute.routers.update",),
        doc=f"{COMPUTE_REF}/routers/patch",
    ),
    "gcp:compute/firewall:Firewall": TypePermissions(
        create=(
            "compute.firewalls.create",
            "compute.firewalls.get",
            "compute.networks.updatePolicy",
        ),
        update=("compute.firewalls.update", "compute.networks.updatePolicy"),
        delete=("compute.firewalls.delete", "compute.networks.updatePolicy"),
        doc=f"{COMPUTE_REF}/firewalls/insert",
    ),
    # Internal addresses only (a test holds every rendered Address to addressType INTERNAL).
    "gcp:compute/address:Address": TypePermissions(
        create=(
            "compute.addresses.createInternal",
            "compute.addresses.get",
            "compute.subnetworks.use",
        ),
        update=("compute.addresses.setLabels",),
        delete=("compute.addresses.deleteInternal",),
        doc=f"{COMPUTE_REF}/addresses/insert",
    ),
    "gcp:compute/disk:Disk": TypePermissions(
        create=("compute.disks.create", "compute.disks.get"),
        update=("compute.disks.resize", "compute.disks.setLabels", "compute.disks.update"),
        delete=("compute.disks.delete",),
        doc=f"{COMPUTE_REF}/disks/insert",
    ),
    # Immutable: a change makes a new template (name_prefix) and deletes the old one.
    "gcp:compute/instanceTemplate:InstanceTemplate": TypePermissions(
        create=(
            "compute.instanceTemplates.create",
            "compute.instanceTemplates.get",
            "compute.subnetworks.use",
            "iam.serviceAccounts.actAs",
        ),
        update=(),
        delete=("compute.instanceTemplates.delete",),
        doc=f"{COMPUTE_REF}/instanceTemplates/insert",
    ),
    # The group creates the VMs as Google's API service agent: no compute.instances.create here.
    "gcp:compute/instanceGroupManager:InstanceGroupManager": TypePermissions(
        create=(
            "compute.instanceGroupManagers.create",
            "compute.instanceGroupManagers.get",
            "compute.instanceTemplates.useReadOnly",
        ),
        update=("compute.instanceGroupManagers.update", "compute.instanceTemplates.useReadOnly"),
        delete=("compute.instanceGroupManagers.delete",),
        doc=f"{COMPUTE_REF}/instanceGroupManagers/insert",
    ),
    "gcp:serviceaccount/account:Account": TypePermissions(
        create=("iam.serviceAccounts.create", "iam.serviceAccounts.get"),
        update=("iam.serviceAccounts.update",),
        delete=("iam.serviceAccounts.delete",),
        doc="https://cloud.google.com/iam/docs/service-accounts-create#permissions",
    ),
    "gcp:projects/iAMMember:IAMMember": TypePermissions(
        create=("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
        update=("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
        delete=("resourcemanager.projects.getIamPolicy", "resourcemanager.projects.setIamPolicy"),
        doc="https://cloud.google.com/resource-manager/reference/rest/v1/projects/setIamPolicy",
    ),
    # Create names the nodes' service account (actAs) and brings up the cluster's own node
    # pools in the same operation; resizing one of them later is a cluster update.
    "gcp:container/cluster:Cluster": TypePermissions(
        create=(
            "container.clusters.create",
            "container.clusters.get",
            "container.clusters.update",
            "container.operations.get",
            "iam.serviceAccounts.actAs",
        ),
        update=("container.clusters.update",),
        delete=("container.clusters.delete",),
        doc=GKE_PERMISSIONS,
    ),
    "gcp:artifactregistry/repository:Repository": TypePermissions(
        create=("artifactregistry.repositories.create", "artifactregistry.repositories.get"),
        update=("artifactregistry.repositories.update",),
        delete=("artifactregistry.repositories.delete",),
        doc="https://cloud.google.com/artifact-registry/docs/access-control#permissions",
    ),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": TypePermissions(
        create=("cloudkms.cryptoKeys.getIamPolicy", "cloudkms.cryptoKeys.setIamPolicy"),
        update=("cloudkms.cryptoKeys.getIamPolicy", "cloudkms.cryptoKeys.setIamPolicy"),
        delete=("cloudkms.cryptoKeys.getIamPolicy", "cloudkms.cryptoKeys.setIamPolicy"),
        doc="https://cloud.google.com/kms/docs/reference/permissions-and-roles",
        scope="key",
    ),
    "kubernetes:core/v1:Namespace": _k8s("namespaces"),
    "kubernetes:core/v1:ConfigMap": _k8s("configMaps"),
    "kubernetes:core/v1:Secret": _k8s("secrets"),
    "kubernetes:core/v1:Service": _k8s("services"),
    "kubernetes:core/v1:PersistentVolume": _k8s("persistentVolumes"),
    "kubernetes:core/v1:PersistentVolumeClaim": _k8s("persistentVolumeClaims"),
    "kubernetes:core/v1:ServiceAccount": _k8s("serviceAccounts"),
    "kubernetes:apps/v1:Deployment": _k8s("deployments"),
    "kubernetes:apps/v1:StatefulSet": _k8s("statefulSets"),
    "kubernetes:batch/v1:Job": _k8s("jobs"),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": _k8s("networkPolicies"),
    "kubernetes:policy/v1:PodDisruptionBudget": _k8s("podDisruptionBudgets"),
}
"""Resource type -> the permissions each of its operations needs, and where that is written."""

NO_CLOUD_CALL_PREFIXES = ("pulumi:", "pulumi-python:dynamic:", "random:")
"""Providers, the clock's dynamic resource and `random` run locally in the engine."""


class UnknownResourceTypeError(ValueError):
    """The render holds a type the table does not cover: add its row."""


def needs_no_permission(resource: Mapping[str, Any]) -> bool:
    """Components (not custom) and the locally run types make no cloud call."""
    return not resource.get("custom", True) or str(resource["type"]).startswith(
        NO_CLOUD_CALL_PREFIXES
    )


def permissions_for(
    resources: Iterable[Mapping[str, Any]], *, scope: str = "project"
) -> dict[str, list[str]]:
    """permission -> the operations that need it ("create gcp:compute/disk:Disk", ...), for the
    rendered resources whose permissions are held on `scope`. Kubernetes objects count only when
    the render has a GKE cluster (elsewhere RBAC of the given kubeconfig decides)."""
    records = [r for r in resources if not needs_no_permission(r)]
    on_gke = any(r["type"] == "gcp:container/cluster:Cluster" for r in records)
    wanted: dict[str, list[str]] = {}
    for resource_type in sorted({str(r["type"]) for r in records}):
        row = PERMISSIONS_BY_TYPE.get(resource_type)
        if row is None:
            raise UnknownResourceTypeError(
                f"{resource_type} is not in minaperf.cloud.gcp_permissions.PERMISSIONS_BY_TYPE"
            )
        if row.scope != scope or (resource_type.startswith("kubernetes:") and not on_gke):
            continue
        short = resource_type.rsplit(":", 1)[-1]
        for action, permissions in (
            ("create", row.create),
            ("update", row.update),
            ("delete", row.delete),
        ):
            for permission in permissions:
                uses = wanted.setdefault(permission, [])
                if f"{action} {short}" not in uses:
                    uses.append(f"{action} {short}")
    return wanted
