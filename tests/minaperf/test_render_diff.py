"""Replace or update: the provider facts `render --diff` relies on."""

from __future__ import annotations

from typing import Any

from minaperf.render_diff import changed_paths, classify, diff_records, format_diff


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
