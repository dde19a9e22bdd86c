"""What a config change would do, as `pulumi preview --diff` shows it, from two renders.

Resources are matched by URN; a changed input replaces the resource when the provider cannot
update it in place (the replace-on-change inputs below, cited per provider and type), and a change
under `ignoreChanges` is listed as ignored. The rules and citations: docs/cli.md,
"How `--diff` decides".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from minaperf.model.outputs import SECRET_MARKER

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
    # networking_mode :2062, private_cluster_config.master_ipv4_cidr_block :2172; node_config
    # (:1712) is schemaNodeConfig, ForceNew as a block (node_config.go:284) and in the same
    # fields as a node pool's; its other fields update the default pool (:4780). node_pool
    # (:1714) is ForceNew as a list, which the SDK applies to its length only (schema.go
    # diffList: the `.#` count takes the list's ForceNew, each element its own schema): adding
    # or removing a pool replaces the cluster. In a pool, the fields ForceNew on a NodePool
    # replace the cluster (resource_container_node_pool.go schemaNodePool: name :510,
    # initial_node_count :463); node_count and node_config's updatable fields update in place
    # (:4670 nodePoolUpdate with the prefix `node_pool.N.`).
    "gcp:container/cluster:Cluster": (
        *_GCP_IDENTITY,
        "location",
        "network",
        "subnetwork",
        "ipAllocationPolicy",
        "initialNodeCount",
        "networkingMode",
        "privateClusterConfig.masterIpv4CidrBlock",
        "nodeConfig.spot",
        "nodeConfig.preemptible",
        "nodeConfig.oauthScopes",
        "nodeConfig.serviceAccount",
        "nodePools.name",
        "nodePools.initialNodeCount",
        "nodePools.nodeConfig.spot",
        "nodePools.nodeConfig.preemptible",
        "nodePools.nodeConfig.oauthScopes",
        "nodePools.nodeConfig.serviceAccount",
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


def parse_property_path(text: str) -> Path:
    """A Pulumi property path (`a.b`, `a["k.e\\"y"]`, `a[0]`, `a[*]`) as its keys, read the way
    the engine reads `ignoreChanges` (pulumi/pulumi@1b594989
    sdk/go/common/resource/properties_path.go:68-143): any run of characters up to the next '.'
    or '[' is a name, `[*]` is the wildcard "*". Raises ValueError where the engine errors."""
    if text.startswith("."):
        raise ValueError("expected property path to start with a name or index")
    keys: list[str | int] = []
    rest = text
    while rest:
        if rest[0] == ".":
            rest = rest[1:]
            if not rest:
                raise ValueError("expected property path to end with a name or index")
        elif rest.startswith('["'):
            key, index = "", 2
            while True:
                if index >= len(rest):
                    raise ValueError("missing closing quote in property name")
                if rest[index] == '"':
                    index += 1
                    break
                if rest[index] == "\\" and rest[index + 1 : index + 2] == '"':
                    key, index = key + '"', index + 2
                else:
                    key, index = key + rest[index], index + 1
            if rest[index : index + 1] != "]":
                raise ValueError("missing closing bracket in property access")
            keys.append(key)
            rest = rest[index + 1 :]
        elif rest[0] == "[":
            end = rest.find("]")
            if end == -1:
                raise ValueError("missing closing bracket in array index")
            segment = rest[1:end]
            if segment != "*" and not segment.isdigit():
                raise ValueError(f"invalid array index: {segment!r}")
            keys.append("*" if segment == "*" else int(segment))
            rest = rest[end + 1 :]
        else:
            end = min((i for i in (rest.find("."), rest.find("[")) if i != -1), default=len(rest))
            keys.append(rest[:end])
            rest = rest[end:]
    return tuple(keys)


_ABSENT = object()


def _reset(path: Path, old: Any, new: Any) -> bool:
    """Set `new` at `path` to `old`'s value there, in place; False on a path error. The engine's
    PropertyPath.reset (properties_path.go:354-566): a key absent from `old` is deleted from
    `new`; arrays never grow or shrink; `*` resets every key or element."""
    key, below = path[0], path[1:]
    if isinstance(key, int):
        if key < 0:
            return False
        old_list, new_list = isinstance(old, list), isinstance(new, list)
        if not (old_list and new_list):
            return not old_list and not new_list
        if key >= len(old) and key >= len(new) and not below:
            return True
        if key >= len(old) or key >= len(new):
            return False
        if not below:
            new[key] = copy.deepcopy(old[key])
            return True
        return _reset(below, old[key], new[key])
    if key == "*":
        if not below:
            if isinstance(new, dict):
                if isinstance(old, dict):
                    new.clear()
                    new.update(copy.deepcopy(old))
                return True
            if isinstance(new, list):
                if isinstance(old, list):
                    for index in range(min(len(old), len(new))):
                        new[index] = copy.deepcopy(old[index])
                    return len(old) == len(new)
                return True
            return False
        if isinstance(old, dict) and isinstance(new, dict):
            return all(name in new and _reset(below, old[name], new[name]) for name in old)
        if isinstance(old, list) and isinstance(new, list):
            paired = all(_reset(below, a, b) for a, b in zip(old, new, strict=False))
            return paired and len(old) == len(new)
        return False
    if not below:
        value = old.get(key, _ABSENT) if isinstance(old, dict) else _ABSENT
        if value is not _ABSENT:
            if not isinstance(new, dict):
                return False
            new[key] = copy.deepcopy(value)
        elif isinstance(new, dict):
            new.pop(key, None)
        return True
    if not isinstance(old, dict) or not isinstance(new, dict):
        return not isinstance(old, dict) and not isinstance(new, dict)
    if key in old and key not in new:
        return False
    if key not in old and key not in new:
        return True
    return _reset(below, old.get(key), new[key])


def apply_ignore_changes(
    old_inputs: Mapping[str, Any], new_inputs: Mapping[str, Any], ignore: Sequence[str]
) -> dict[str, Any]:
    """The inputs the engine diffs: `new_inputs` with each ignored path reset to the old value
    (step_generator.go:3076; a path it cannot parse is skipped, one it cannot reset is left)."""
    result = copy.deepcopy(dict(new_inputs))
    for text in ignore:
        try:
            path = parse_property_path(text)
        except ValueError:
            continue
        if path:
            _reset(path, dict(old_inputs), result)
    return result


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
    ignored = []
    for urn in sorted(set(before) & set(after)):
        record = after[urn]
        old_inputs = before[urn].get("inputs") or {}
        new_inputs = record.get("inputs") or {}
        ignore = (record.get("options") or {}).get("ignoreChanges") or []
        paths = changed_paths(old_inputs, apply_ignore_changes(old_inputs, new_inputs, ignore))
        sent = {_dotted(path) for path in paths}
        asked = [_dotted(path) for path in changed_paths(old_inputs, new_inputs)]
        if unsent := [text for text in asked if text not in sent]:
            ignored.append({**_brief(record), "paths": unsent})
        if not paths:
            unchanged += 1
            continue
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
        "ignored": ignored,
        "unchanged": unchanged,
    }


def format_diff(diff: Mapping[str, Any], *, max_paths: int = 8) -> str:
    def listed(paths: Sequence[str]) -> str:
        more = len(paths) - max_paths
        return ", ".join(paths[:max_paths]) + (f", … {more} more" if more > 0 else "")

    lines = []
    for item in diff["added"]:
        lines.append(f"  + create   {item['type']} {item['name']}")
    for item in diff["removed"]:
        lines.append(f"  - delete   {item['type']} {item['name']}")
    for item in diff["changed"]:
        shown = listed(item["paths"])
        if item["action"] == "replace":
            lines.append(f"  +- replace {item['type']} {item['name']}: {shown}")
            lines.append(f"       replaced because of {', '.join(item['replaceBecause'][:4])}")
        else:
            lines.append(f"  ~ update   {item['type']} {item['name']}: {shown}")
    for item in diff.get("ignored", []):
        lines.append(f"  = ignored  {item['type']} {item['name']}: {listed(item['paths'])}")
        lines.append("       in ignoreChanges: the deployed value stays")
    replaced = sum(1 for item in diff["changed"] if item["action"] == "replace")
    lines.append(
        f"  {len(diff['added'])} to create, {len(diff['removed'])} to delete, "
        f"{len(diff['changed']) - replaced} to update in place, {replaced} to replace, "
        f"{diff['unchanged']} unchanged"
    )
    return "\n".join(lines) + "\n"
