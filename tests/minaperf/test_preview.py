"""The render summary, on small hand-made record sets."""

from __future__ import annotations

from typing import Any

from minaperf.preview import component_tree, cost, endpoints, format_summary, summarize


def record(
    type_: str, name: str, inputs: dict[str, Any], *, parent: str | None = None, custom: bool = True
) -> dict[str, Any]:
    return {
        "urn": f"urn:{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": custom,
        "parent": parent,
        "inputs": inputs,
    }


ROOT = record("mina-itn:index:Experiment", "exp", {}, custom=False)
GROUP = record("mina-itn:mina:MinaNodeGroup", "group", {}, parent=ROOT["urn"], custom=False)
POOL = record(
    "gcp:container/nodePool:NodePool",
    "pool",
    {
        "name": "mina",
        "nodeCount": 2,
        "nodeConfig": {"machineType": "n2-standard-16", "labels": {"mina-itn/pool": "mina"}},
    },
    parent=ROOT["urn"],
)
NODE = record(
    "kubernetes:apps/v1:StatefulSet",
    "node-1",
    {
        "metadata": {"name": "node-1"},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"nodeSelector": {"mina-itn/pool": "mina"}}},
            "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "20Gi"}}}}],
        },
    },
    parent=GROUP["urn"],
)
CLUSTER = record(
    "gcp:container/cluster:Cluster",
    "cluster",
    {"name": "c", "masterAuthorizedNetworksConfig": {"cidrBlocks": []}},
    parent=ROOT["urn"],
)
OPEN_FIREWALL = record(
    "gcp:compute/firewall:Firewall", "fw", {"name": "fw", "allows": [{"protocol": "tcp"}]}
)
RECORDS = [ROOT, GROUP, POOL, NODE, CLUSTER, OPEN_FIREWALL]


def test_component_tree_counts_resources_below_each_component() -> None:
    tree = component_tree(RECORDS)
    assert [node["name"] for node in tree] == ["exp", "(stack)"]
    experiment = tree[0]
    assert experiment["resources"] == 4  # pool, cluster, the group and its StatefulSet
    assert experiment["children"][0]["owns"] == {"StatefulSet": 1}
    assert tree[1]["owns"] == {"Firewall": 1}


def test_endpoints_judge_missing_sources_as_everyone() -> None:
    found = {endpoint["name"]: endpoint for endpoint in endpoints(RECORDS)}
    # GCP's default sourceRanges is everything when none is given.
    assert found["firewall/fw"]["reachableFrom"] == ["0.0.0.0/0"]
    # An empty authorized-networks list lets nobody in; a missing one lets everyone in.
    assert found["cluster/c API"]["reachableFrom"] == []


def test_cost_counts_pool_machines_and_volume_claims() -> None:
    money = cost(RECORDS, ttl_hours=10)
    parts = {part["part"]: part for part in money["parts"]}
    assert parts["cluster pools"]["lines"][0]["quantity"] == 2
    disks = {line["item"]: line["quantity"] for line in parts["disks"]["lines"]}
    assert disks["pd-balanced 20 GB"] == 1
    assert money["usdOverTtl"] == round(money["usdPerHour"] * 10, 2)


def test_an_existing_cluster_costs_nothing_here() -> None:
    money = cost([NODE], ttl_hours=48)
    assert money["parts"] == []
    assert money["usdPerHour"] == 0


def test_summary_text_names_pools_and_the_mock_clock() -> None:
    summary = summarize(
        RECORDS,
        {"experiment": "exp", "platform": "gke", "genesisTimestamp": "t", "expiresAt": "e"},
        ttl_hours=48,
        mock_values=["genesisTimestamp"],
    )
    text = format_summary(summary)
    assert "mina: 2 x n2-standard-16 (on-demand" in text
    assert "runs 1 node" in text
    assert "genesis: t (mock clock)" in text
    assert "expires: e\n" in text
