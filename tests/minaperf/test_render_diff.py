"""Replace or update: the provider facts `render --diff` relies on."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minaperf.render_diff import (
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


def test_a_cluster_node_config_change_is_ignored_not_a_replacement(dev: Any) -> None:
    """The cluster's nodeConfig (the temporary default pool) is ForceNew, and in ignoreChanges
    (components/platform.py CLUSTER_IGNORED): a stack deployed before it had one, or one whose
    node account changes, is neither replaced nor updated."""
    cluster = "gcp:container/cluster:Cluster"
    assert classify(cluster, [("nodeConfig", "serviceAccount")], {}) == [
        "nodeConfig.serviceAccount"
    ]
    assert classify(cluster, [("nodeConfig",)], {}) == ["nodeConfig"]
    assert classify(cluster, [("nodeConfig", "shieldedInstanceConfig")], {}) == []
    new = dev.resources
    for old_config in ({}, {"serviceAccount": "other@p.iam.gserviceaccount.com"}):
        old = copy.deepcopy(new)
        (record,) = [r for r in old if r["type"] == cluster]
        if old_config:
            record["inputs"]["nodeConfig"].update(old_config)
        else:
            del record["inputs"]["nodeConfig"]
        diff = diff_records(old, new)
        assert (diff["changed"], diff["added"], diff["removed"]) == ([], [], [])
        (ignored,) = diff["ignored"]
        assert ignored["type"] == cluster
        assert ignored["paths"] == (
            ["nodeConfig"] if not old_config else ["nodeConfig.serviceAccount"]
        )
        assert "= ignored  gcp:container/cluster:Cluster itn-dev: nodeConfig" in format_diff(diff)
    # Without the option, the same change would replace the cluster.
    old, unignored = copy.deepcopy(new), copy.deepcopy(new)
    for record in (*old, *unignored):
        if record["type"] == cluster:
            record["options"]["ignoreChanges"] = []
    next(r for r in old if r["type"] == cluster)["inputs"]["nodeConfig"]["serviceAccount"] = "x"
    (changed,) = diff_records(old, unignored)["changed"]
    assert changed["action"] == "replace"
    assert changed["replaceBecause"] == ["nodeConfig.serviceAccount"]
