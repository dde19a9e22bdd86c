"""What a config change would do, as `pulumi preview --diff` shows it, from two renders.

Resources are matched by URN: a URN only in the new render is created, one only in the old is
deleted, and one in both with different inputs is changed. A change replaces the resource (delete
and create, or create then delete) when a changed input is one the provider cannot update in
place; otherwise it is an update. The replace-on-change inputs below are the provider's own, for
the resource types this program creates:

- pulumi-kubernetes: `forceNewProperties` in pulumi/pulumi-kubernetes@94977969
  provider/pkg/provider/diff.go:23 (metadata.name/namespace for every kind, :207; Secret and
  ConfigMap data unless the provider is configured mutable, :28-33; `core` :85, `deployment`
  :171, `statefulSet` :196).
- pulumi-gcp bridges terraform-provider-google, so an input replaces when the Terraform schema
  marks it `ForceNew` (hashicorp/terraform-provider-google@e03b7622, cited per type below).

An input not listed is treated as an in-place update. Values masked as `[secret]` in either
render compare equal: a masked secret cannot be compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from minaperf.outputs import SECRET_MARKER

Record = Mapping[str, Any]
Path = tuple[str | int, ...]

_GCP_IDENTITY = ("name", "project")
"""ForceNew on every GCP type we create (e.g. node pool name resource_container_node_pool.go:510,
instance name resource_compute_instance.go:642, disk name resource_compute_disk.go:486)."""

REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    # google/services/container/resource_container_node_pool.go:239-256 (project, cluster,
    # location); node_config.go:576 preemptible, :616 spot, :560 oauth_scopes,
    # :624 service_account. machine_type (:536), disk_size_gb (:291) update in place.
    "gcp:container/nodePool:NodePool": (
        *_GCP_IDENTITY,
        "cluster",
        "location",
        "nodeConfig.spot",
        "nodeConfig.preemptible",
        "nodeConfig.oauthScopes",
        "nodeConfig.serviceAccount",
    ),
    # google/services/container/resource_container_cluster.go: name :293, location :326,
    # network :1678, subnetwork :1876, ip_allocation_policy :1909, initial_node_count :1156,
    # networking_mode :2062, private_cluster_config.master_ipv4_cidr_block :2172.
    "gcp:container/cluster:Cluster": (
        *_GCP_IDENTITY,
        "location",
        "network",
        "subnetwork",
        "ipAllocationPolicy",
        "initialNodeCount",
        "networkingMode",
        "privateClusterConfig.masterIpv4CidrBlock",
    ),
    # google/services/compute/resource_compute_instance.go: boot_disk :278, name :642,
    # network_interface :650, scheduling.preemptible :1110, scheduling.provisioning_model :1134,
    # zone :1447. machine_type (:635) and metadata (:1052) update in place.
    "gcp:compute/instance:Instance": (
        *_GCP_IDENTITY,
        "zone",
        "bootDisk",
        "networkInterfaces",
        "scheduling.preemptible",
        "scheduling.provisioningModel",
    ),
    # google/services/compute/resource_compute_instance_template.go (@00b984c6): a template is
    # immutable, every argument but labels is ForceNew (name, name_prefix, disk, machine_type,
    # description, metadata, network_interface, scheduling, service_account, tags, ...).
    "gcp:compute/instanceTemplate:InstanceTemplate": (
        *_GCP_IDENTITY,
        "namePrefix",
        "disks",
        "machineType",
        "description",
        "metadata",
        "networkInterfaces",
        "scheduling",
        "serviceAccount",
        "shieldedInstanceConfig",
        "tags",
    ),
    # google/services/compute/resource_compute_instance_group_manager.go: name and zone;
    # versions, target_size and the policies update in place (the group rolls its VMs).
    "gcp:compute/instanceGroupManager:InstanceGroupManager": (*_GCP_IDENTITY, "zone"),
    # google/services/compute/resource_compute_disk.go: name :486, type :876, zone :885;
    # size (:705) grows in place.
    "gcp:compute/disk:Disk": (*_GCP_IDENTITY, "type", "zone"),
    # google/services/compute/resource_compute_firewall.go: name :246, direction :302.
    "gcp:compute/firewall:Firewall": (*_GCP_IDENTITY, "direction"),
    # google/services/compute/resource_compute_address.go: name :172, address :184,
    # address_type :193, description :202, region :301, subnetwork :310.
    "gcp:compute/address:Address": (
        *_GCP_IDENTITY,
        "address",
        "addressType",
        "description",
        "region",
        "subnetwork",
    ),
    # google/services/compute/resource_compute_subnetwork.go: network :430, region :617.
    "gcp:compute/subnetwork:Subnetwork": (*_GCP_IDENTITY, "network", "region"),
    "gcp:compute/network:Network": _GCP_IDENTITY,
    "gcp:compute/router:Router": (*_GCP_IDENTITY, "network", "region"),
    "gcp:compute/routerNat:RouterNat": (*_GCP_IDENTITY, "router", "region"),
    # google/services/resourcemanager/resource_google_service_account.go:90 account_id.
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    # google/tpgiamresource/resource_iam_member.go:63-80: role, member and condition.
    "gcp:projects/iAMMember:IAMMember": ("role", "member", "condition", "project"),
    # pulumi-kubernetes diff.go (see the module docstring).
    "kubernetes:core/v1:ConfigMap": ("binaryData", "data"),
    "kubernetes:core/v1:Secret": ("type", "stringData", "data"),
    "kubernetes:core/v1:Service": ("spec.clusterIP",),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec",),
    "kubernetes:core/v1:PersistentVolume": (
        "spec.csi",
        "spec.gcePersistentDisk",
        "spec.hostPath",
        "spec.local",
        "spec.nfs",
    ),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
}
_KUBERNETES_IDENTITY = ("metadata.name", "metadata.namespace")


def replace_on_change(resource_type: str) -> tuple[str, ...]:
    """The input paths whose change replaces a resource of this type."""
    known = REPLACE_ON_CHANGE.get(resource_type, ())
    if resource_type.startswith("kubernetes:") and not resource_type.startswith("kubernetes:index"):
        return (*_KUBERNETES_IDENTITY, *known)
    return known


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def changed_paths(old: Any, new: Any, path: Path = ()) -> list[Path]:
    """Leaf paths where two input trees differ (a masked secret on either side is equal)."""
    if old == new or SECRET_MARKER in (old, new):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            found
            for key in sorted(set(old) | set(new))
            for found in changed_paths(old.get(key), new.get(key), (*path, key))
        ]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            found
            for index, (a, b) in enumerate(zip(old, new, strict=True))
            for found in changed_paths(a, b, (*path, index))
        ]
    return [path]


def _covers(rule: str, path: Path) -> bool:
    """A rule `a.b` covers a change at `a.b`, below it (`a.b.c`, `a.b[0]`), or above it (`a`,
    when the whole object changed shape)."""
    names = [part for part in path if isinstance(part, str)]
    parts = rule.split(".")
    depth = min(len(parts), len(names))
    return names[:depth] == parts[:depth]


def classify(record_type: str, paths: Sequence[Path], options: Mapping[str, Any]) -> list[str]:
    """The changed paths that force a replacement (empty: the update is in place)."""
    rules = [*replace_on_change(record_type), *(options.get("replaceOnChanges") or [])]
    if "*" in rules:
        return [_dotted(path) for path in paths]
    return [_dotted(path) for path in paths if any(_covers(rule, path) for rule in rules)]


def _brief(record: Record) -> dict[str, Any]:
    return {"urn": record["urn"], "type": record["type"], "name": record["name"]}


def diff_records(old: Sequence[Record], new: Sequence[Record]) -> dict[str, Any]:
    before = {record["urn"]: record for record in old}
    after = {record["urn"]: record for record in new}
    changed = []
    unchanged = 0
    for urn in sorted(set(before) & set(after)):
        paths = changed_paths(before[urn].get("inputs") or {}, after[urn].get("inputs") or {})
        if not paths:
            unchanged += 1
            continue
        record = after[urn]
        replaces = classify(record["type"], paths, record.get("options") or {})
        changed.append(
            {
                **_brief(record),
                "paths": [_dotted(path) for path in paths],
                "action": "replace" if replaces else "update",
                "replaceBecause": replaces,
            }
        )
    return {
        "added": [_brief(after[urn]) for urn in sorted(set(after) - set(before))],
        "removed": [_brief(before[urn]) for urn in sorted(set(before) - set(after))],
        "changed": changed,
        "unchanged": unchanged,
    }


def format_diff(diff: Mapping[str, Any], *, max_paths: int = 8) -> str:
    lines = []
    for item in diff["added"]:
        lines.append(f"  + create   {item['type']} {item['name']}")
    for item in diff["removed"]:
        lines.append(f"  - delete   {item['type']} {item['name']}")
    for item in diff["changed"]:
        paths = item["paths"]
        shown = ", ".join(paths[:max_paths]) + (
            f", … {len(paths) - max_paths} more" if len(paths) > max_paths else ""
        )
        if item["action"] == "replace":
            lines.append(f"  +- replace {item['type']} {item['name']}: {shown}")
            lines.append(f"       replaced because of {', '.join(item['replaceBecause'][:4])}")
        else:
            lines.append(f"  ~ update   {item['type']} {item['name']}: {shown}")
    replaced = sum(1 for item in diff["changed"] if item["action"] == "replace")
    lines.append(
        f"  {len(diff['added'])} to create, {len(diff['removed'])} to delete, "
        f"{len(diff['changed']) - replaced} to update in place, {replaced} to replace, "
        f"{diff['unchanged']} unchanged"
    )
    return "\n".join(lines) + "\n"
