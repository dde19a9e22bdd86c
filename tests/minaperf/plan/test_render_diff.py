"""Replace or update: the provider facts `render --diff` relies on."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minaperf.plan.render_diff import (
    apply_ignore_changes,
    changed_paths,
    classify,
    diff_records,
    format_diff,
    parse_property_path,
)


def record(type_: str, name: str, inputs: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:dev::mina-itn::{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "inputs": inputs,
        "options": options,
    }


def test_changed_paths_name_the_leaves() -> None:
    old = {"spec": {"replicas": 1, "ports": [{"port": 1}], "keep": "x"}}
    new = {"spec": {"replicas": 2, "ports": [{"port": 2}], "keep": "x"}, "extra": True}
    assert changed_paths(old, new) == [
        ("extra",),
        ("spec", "ports", 0, "port"),
        ("spec", "replicas"),
    ]


def test_a_masked_secret_compares_equal() -> None:
    assert changed_paths({"data": {"key": "[secret]"}}, {"data": {"key": "clear"}}) == []


def test_node_pool_machine_type_updates_but_spot_replaces() -> None:
    pool = "gcp:container/nodePool:NodePool"
    assert classify(pool, [("nodeConfig", "machineType")], {}) == []
    assert classify(pool, [("nodeCount",)], {}) == []
    assert classify(pool, [("nodeConfig", "spot")], {}) == ["nodeConfig.spot"]


def test_a_cluster_s_own_pool_resizes_in_place_but_a_new_pool_replaces_the_cluster() -> None:
    """The pools are the cluster's `nodePools` (components/platform.py): what replaces a
    NodePool replaces the whole cluster, and so does adding or removing a pool."""
    cluster = "gcp:container/cluster:Cluster"
    assert classify(cluster, [("nodePools", 0, "nodeCount")], {}) == []
    assert classify(cluster, [("nodePools", 1, "nodeConfig", "machineType")], {}) == []
    assert classify(cluster, [("nodePools", 0, "nodeConfig", "spot")], {}) == [
        "nodePools[0].nodeConfig.spot"
    ]
    old = [record(cluster, "c", {"nodePools": [{"name": "mina", "nodeCount": 4}]})]
    grown = [record(cluster, "c", {"nodePools": [{"name": "mina", "nodeCount": 9}]})]
    added = [record(cluster, "c", {"nodePools": [{"name": "mina"}, {"name": "extra"}]})]
    assert [item["action"] for item in diff_records(old, grown)["changed"]] == ["update"]
    assert [item["action"] for item in diff_records(old, added)["changed"]] == ["replace"]


def test_kubernetes_identity_and_data_replace_template_updates() -> None:
    assert classify("kubernetes:apps/v1:Deployment", [("spec", "template", "x")], {}) == []
    assert classify("kubernetes:apps/v1:Deployment", [("metadata", "name")], {}) == [
        "metadata.name"
    ]
    assert classify("kubernetes:core/v1:ConfigMap", [("data", "a.json")], {}) == ["data.a.json"]
    assert classify(
        "kubernetes:apps/v1:StatefulSet",
        [("spec", "volumeClaimTemplates", 0, "spec", "resources")],
        {},
    ) == ["spec.volumeClaimTemplates[0].spec.resources"]
    assert classify("kubernetes:core/v1:Service", [("metadata", "labels", "a")], {}) == []


def test_the_replace_on_changes_option_is_honoured() -> None:
    assert classify("gcp:compute/network:Network", [("description",)], {}) == []
    options = {"replaceOnChanges": ["description"]}
    assert classify("gcp:compute/network:Network", [("description",)], options) == ["description"]


def test_diff_records_and_its_text() -> None:
    old = [
        record("kubernetes:core/v1:ConfigMap", "cfg", {"data": {"a": "1"}}),
        record("gcp:compute/disk:Disk", "disk", {"size": 10, "type": "pd-balanced"}),
        record("gcp:compute/network:Network", "gone", {}),
        record("gcp:compute/firewall:Firewall", "same", {"name": "fw"}),
    ]
    new = [
        record("kubernetes:core/v1:ConfigMap", "cfg", {"data": {"a": "2"}}),
        record("gcp:compute/disk:Disk", "disk", {"size": 20, "type": "pd-balanced"}),
        record("gcp:compute/firewall:Firewall", "same", {"name": "fw"}),
        record("gcp:compute/address:Address", "new", {}),
    ]
    diff = diff_records(old, new)
    assert [item["name"] for item in diff["added"]] == ["new"]
    assert [item["name"] for item in diff["removed"]] == ["gone"]
    actions = {item["name"]: item["action"] for item in diff["changed"]}
    assert actions == {"cfg": "replace", "disk": "update"}
    assert diff["unchanged"] == 1
    text = format_diff(diff)
    assert "1 to create, 1 to delete, 1 to update in place, 1 to replace, 1 unchanged" in text


# ------------------------------------------------------------------------------ ignoreChanges


def test_property_paths_parse_as_the_engine_reads_them() -> None:
    """pulumi/pulumi@1b594989 sdk/go/common/resource/properties_path.go:68-143."""
    assert parse_property_path("nodeConfig") == ("nodeConfig",)
    assert parse_property_path(
        'nodeConfig.resourceLabels["goog-gke-node-pool-provisioning-model"]'
    ) == ("nodeConfig", "resourceLabels", "goog-gke-node-pool-provisioning-model")
    assert parse_property_path('a["k.e\\"y"][2].b[*]') == ("a", 'k.e"y', 2, "b", "*")
    # Any run up to '.' or '[' is a name, even one the grammar would refuse.
    assert parse_property_path("foo-bar.x") == ("foo-bar", "x")
    for bad in (".a", "a.", 'a["b', 'a["b"', "a[1", "a[x]"):
        with pytest.raises(ValueError, match=r"property|bracket|quote|index"):
            parse_property_path(bad)


def test_an_ignored_path_keeps_the_old_value_and_an_absent_one_is_dropped() -> None:
    old = {"nodeConfig": {"a": 1}, "labels": {"x": "1", "y": "1"}, "list": [1, 2]}
    new = {"nodeConfig": {"a": 2}, "labels": {"x": "2", "y": "2"}, "list": [3, 4], "extra": 1}
    sent = apply_ignore_changes(old, new, ["nodeConfig", 'labels["x"]', "list[0]", "extra"])
    # An input absent from the old inputs is removed from the new ones (properties_path.go:538).
    assert sent == {"nodeConfig": {"a": 1}, "labels": {"x": "1", "y": "2"}, "list": [1, 4]}
    assert new["nodeConfig"] == {"a": 2}, "the caller's inputs are not modified"
    # The wildcard resets every key; a path that cannot be reset leaves the inputs as they were.
    assert apply_ignore_changes(old, new, ["labels.*"])["labels"] == old["labels"]
    assert apply_ignore_changes(old, new, ["list[5].a", "[bad"]) == new


def test_the_label_gke_writes_into_each_pool_is_ignored(dev: Any) -> None:
    """After `pulumi refresh` the recorded pools carry GKE's provisioning-model label
    (components/platform.py NODE_POOL_IGNORED, one path per pool): the next `up` keeps it."""
    cluster = "gcp:container/cluster:Cluster"
    new = dev.resources
    old = copy.deepcopy(new)
    (recorded,) = [r for r in old if r["type"] == cluster]
    key = "goog-gke-node-pool-provisioning-model"
    for pool in recorded["inputs"]["nodePools"]:
        pool["nodeConfig"]["resourceLabels"][key] = "on-demand"
    diff = diff_records(old, new)
    assert (diff["changed"], diff["added"], diff["removed"]) == ([], [], [])
    (ignored,) = diff["ignored"]
    assert ignored["paths"] == [
        f"nodePools[{index}].nodeConfig.resourceLabels.{key}" for index in (0, 1)
    ]


def test_a_stack_deployed_with_separate_node_pools_gets_a_new_cluster(dev: Any) -> None:
    """The earlier shape (a default pool removed at create, separate NodePools): moving to the
    cluster's own pools replaces the cluster (initial_node_count is ForceNew) and deletes the
    NodePool resources, which `render --diff` says before `up` does it."""
    cluster = "gcp:container/cluster:Cluster"
    new = dev.resources
    old = copy.deepcopy(new)
    (recorded,) = [r for r in old if r["type"] == cluster]
    pools = recorded["inputs"].pop("nodePools")
    recorded["inputs"].update(
        removeDefaultNodePool=True, initialNodeCount=1, nodeConfig={"serviceAccount": "a"}
    )
    pool_type = "gcp:container/nodePool:NodePool"
    old += [record(pool_type, f"itn-dev-{pool['name']}", pool) for pool in pools]
    diff = diff_records(old, new)
    (changed,) = diff["changed"]
    assert changed["type"] == cluster
    assert changed["action"] == "replace"
    assert "initialNodeCount" in changed["replaceBecause"]
    assert sorted(item["name"] for item in diff["removed"]) == ["itn-dev-mina", "itn-dev-services"]
