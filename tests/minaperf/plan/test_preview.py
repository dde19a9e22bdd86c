"""The render summary, on small hand-made record sets."""

from __future__ import annotations

from typing import Any

from minaperf.model.cost import DiskLine, MachineLine, MissingPriceError, estimate_hourly_cost
from minaperf.plan.preview import component_tree, cost, endpoints, format_summary, summarize


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
POOL = {
    "name": "mina",
    "nodeCount": 2,
    "nodeConfig": {"machineType": "n2-standard-16", "labels": {"mina-itn/pool": "mina"}},
}
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
    {"name": "c", "masterAuthorizedNetworksConfig": {"cidrBlocks": []}, "nodePools": [POOL]},
    parent=ROOT["urn"],
)
OPEN_FIREWALL = record(
    "gcp:compute/firewall:Firewall", "fw", {"name": "fw", "allows": [{"protocol": "tcp"}]}
)
RECORDS = [ROOT, GROUP, NODE, CLUSTER, OPEN_FIREWALL]


def test_component_tree_counts_resources_below_each_component() -> None:
    tree = component_tree(RECORDS)
    assert [node["name"] for node in tree] == ["exp", "(stack)"]
    experiment = tree[0]
    assert experiment["resources"] == 3  # the cluster, the group and its StatefulSet
    assert experiment["children"][0]["owns"] == {"StatefulSet": 1}
    assert tree[1]["owns"] == {"Firewall": 1}


def test_endpoints_judge_missing_sources_as_everyone() -> None:
    found = {endpoint["name"]: endpoint for endpoint in endpoints(RECORDS)}
    # GCP's default sourceRanges is everything when none is given.
    assert found["firewall/fw"]["reachableFrom"] == ["0.0.0.0/0"]
    # An empty authorized-networks list lets nobody in; a missing one lets everyone in.
    assert found["cluster/c API"]["reachableFrom"] == []


ESTIMATE = estimate_hourly_cost(
    [MachineLine("n2-standard-16", 2, part="cluster pools")],
    [DiskLine("pd-balanced", 20)],
    gke_cluster=True,
    forwarding_rules=1,
)


def test_cost_shows_the_estimate_by_part() -> None:
    money = cost(ESTIMATE, ttl_hours=10)
    parts = {part["part"]: part for part in money["parts"]}
    assert list(parts) == ["cluster pools", "disks", "load balancers", "GKE cluster fee"]
    assert parts["cluster pools"]["lines"][0]["quantity"] == 2
    assert parts["disks"]["lines"] == [
        {"item": "pd-balanced 20 GB", "quantity": 1, "usdPerHour": round(0.1 * 20 / 730, 4)}
    ]
    assert money["usdPerHour"] == ESTIMATE.usd_per_hour
    assert money["usdOverTtl"] == round(ESTIMATE.total_usd_per_hour * 10, 2)


def test_a_missing_price_is_shown_not_a_zero() -> None:
    reason = MissingPriceError("no list price 'forwardingRulePerHour' in gcp_prices.json")
    money = cost(reason, ttl_hours=10)
    assert money["usdPerHour"] is None
    assert money["error"] == str(reason)
    text = format_summary(
        summarize(
            RECORDS,
            {"experiment": "exp", "platform": "gke"},
            estimate=reason,
            ttl_hours=10,
        )
    )
    assert "cost: not estimated: no list price 'forwardingRulePerHour' in gcp_prices.json" in text
    assert "total:" not in text


def test_summary_text_names_pools_and_the_mock_clock() -> None:
    summary = summarize(
        RECORDS,
        {"experiment": "exp", "platform": "gke", "genesisTimestamp": "t", "expiresAt": "e"},
        estimate=ESTIMATE,
        ttl_hours=48,
        mock_values=["genesisTimestamp"],
    )
    text = format_summary(summary)
    assert "mina: 2 x n2-standard-16 (on-demand" in text
    assert "runs 1 node" in text
    assert "genesis: t (mock clock)" in text
    assert "expires: e\n" in text


def _daemons(count: int, cpu: str, sidecar: bool = False) -> dict[str, Any]:
    container = {"name": "mina", "resources": {"requests": {"cpu": cpu, "memory": "16Gi"}}}
    init = {"name": "side", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
    if sidecar:
        init["restartPolicy"] = "Always"
    return record(
        "kubernetes:apps/v1:StatefulSet",
        "daemons",
        {
            "metadata": {"name": "daemons"},
            "spec": {
                "replicas": count,
                "template": {
                    "spec": {
                        "nodeSelector": {"mina-itn/pool": "mina"},
                        "containers": [container],
                        "initContainers": [init],
                    }
                },
            },
        },
    )


def _pool_line(records: list[dict[str, Any]]) -> str:
    text = format_summary(
        summarize(records, {"experiment": "exp", "platform": "gke"}, estimate=ESTIMATE, ttl_hours=1)
    )
    return text.split("  mina: ", 1)[1].splitlines()[1].strip()


def test_pool_line_shows_pods_per_node_and_what_is_left() -> None:
    # n2-standard-16: 15.441 CPU for pods; 4-CPU daemons (the 1-CPU init container runs first).
    assert _pool_line([CLUSTER, _daemons(5, "4")]) == (
        "pods per node: 3, 2; room for pods 15.441 CPU / 56.37 GiB per node, "
        "least left 2.624 CPU / 7.37 GiB (GKE add-ons counted)"
    )


def test_pool_line_says_when_the_pool_is_too_small() -> None:
    # As a sidecar the 1-CPU container runs beside the daemon: 5 CPU each, 3 a node.
    assert _pool_line([CLUSTER, _daemons(7, "4", sidecar=True)]).endswith("; NEEDS 3 nodes")
    assert _pool_line([CLUSTER, _daemons(1, "16")]).startswith("packing: pod daemons (16 CPU")
