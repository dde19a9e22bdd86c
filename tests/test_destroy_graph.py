"""What `pulumi destroy` will do, read from the graph and options the render records.

Pulumi deletes a resource only after everything that depends on it, and never deletes a resource
marked retainOnDelete. So: every namespaced object depending on the namespace means no namespace
stuck terminating; the data disk retained (and not depending on the namespace) outlives it.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import ROOT, Rendered, render

NAMESPACE = "kubernetes:core/v1:Namespace"
DISK = "gcp:compute/disk:Disk"


def _depends_on(resource: dict[str, Any], urn: str) -> bool:
    direct = set(resource["dependencies"])
    for urns in resource["propertyDependencies"].values():
        direct.update(urns)
    return urn in direct


def _namespace(rendered: Rendered) -> dict[str, Any]:
    (namespace,) = rendered.of_type(NAMESPACE)
    return namespace


def test_every_namespaced_object_is_deleted_before_the_namespace(dev: Rendered) -> None:
    namespace = _namespace(dev)
    namespaced = [
        r
        for r in dev.resources
        if r["type"].startswith("kubernetes:") and r["custom"] and r["type"] != NAMESPACE
        and (r["inputs"].get("metadata") or {}).get("namespace")
    ]  # fmt: skip
    assert len(namespaced) > 30
    assert [r["urn"] for r in namespaced if not _depends_on(r, namespace["urn"])] == []


def test_namespace_deletion_has_time_and_the_cluster_is_deletable(dev: Rendered) -> None:
    assert _namespace(dev)["options"]["customTimeouts"]["delete"] == "20m"
    (cluster,) = dev.of_type("gcp:container/cluster:Cluster")
    assert cluster["inputs"]["deletionProtection"] is False
    assert cluster["options"]["protect"] is False


def test_postgres_disk_outlives_the_namespace_by_default(dev: Rendered) -> None:
    (disk,) = dev.of_type(DISK)
    assert disk["options"]["retainOnDelete"] is True
    assert not _depends_on(disk, _namespace(dev)["urn"])
    (volume,) = dev.of_type("kubernetes:core/v1:PersistentVolume")
    assert volume["inputs"]["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert disk["inputs"]["name"] in volume["inputs"]["spec"]["csi"]["volumeHandle"]
    assert dev.outputs["postgres"]["dataDisk"].endswith(f"/disks/{disk['inputs']['name']}")


def test_asking_to_delete_the_data_deletes_the_disk() -> None:
    rendered = render("dev", overrides=["postgres.keepDataOnDestroy=false"])
    (disk,) = rendered.of_type(DISK)
    assert disk["options"]["retainOnDelete"] is False


def test_an_existing_cluster_keeps_the_namespace_holding_the_data() -> None:
    kept = render(config_file=ROOT / "stacks" / "kind.yaml")
    assert _namespace(kept)["options"]["retainOnDelete"] is True
    dropped = render(
        config_file=ROOT / "stacks" / "kind.yaml", overrides=["postgres.keepDataOnDestroy=false"]
    )
    assert _namespace(dropped)["options"]["retainOnDelete"] is False
    assert dropped.of_type(DISK) == []


def test_workloads_wait_for_the_node_pools(dev: Rendered) -> None:
    """The pools are the cluster's own: the namespace waits for the cluster, so workloads are
    deleted before their nodes."""
    (cluster,) = dev.of_type("gcp:container/cluster:Cluster")
    assert [pool["name"] for pool in cluster["inputs"]["nodePools"]] == ["mina", "services"]
    assert dev.of_type("gcp:container/nodePool:NodePool") == []
    assert cluster["urn"] in _namespace(dev)["dependencies"]
