"""NetworkPolicies as the real program renders them, judged by Kubernetes' own semantics.

`admits` is a stand-in for an enforcing network plugin, written from the API's documented rules
(kubernetes/api@v0.34 networking/v1/types.go, NetworkPolicySpec and NetworkPolicyIngressRule):
- a pod is isolated for ingress once any policy with `Ingress` in `policyTypes` selects it, and
  then admits a connection only if some selecting policy has a rule that matches it;
- a rule matches when every list it has matches: `ports` (empty or missing: every port; a named
  port is looked up in the destination pod's container ports) and `from` (empty or missing:
  every source; otherwise any one peer);
- a `podSelector` peer without `namespaceSelector` means pods of the policy's own namespace; an
  `ipBlock` peer matches addresses inside `cidr` and outside every `except`;
- an empty `podSelector` (`{}`) selects every pod of the namespace.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ROOT, Rendered, render

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
COMPONENT = "app.kubernetes.io/component"
ROLE = "mina-itn/role"

SUBNET_HOST = "10.10.0.7"
"""A worker VM on the dev stack's subnet (10.10.0.0/20)."""
CONTROL_PLANE = "172.16.0.2"
"""An API server address in the dev stack's master range (172.16.0.0/28)."""
ADMIN = "203.0.113.9"
"""An address in the dev stack's admin range (203.0.113.0/24)."""
STRANGER = "198.51.100.1"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int]
    """Container port name -> number, over every container."""


def pods(rendered: Rendered) -> list[Pod]:
    found = []
    for resource_type in WORKLOAD_TYPES:
        for workload in rendered.of_type(resource_type):
            inputs = workload["inputs"]
            template = inputs["spec"]["template"]
            ports = {
                port["name"]: port["containerPort"]
                for container in template["spec"]["containers"]
                for port in container.get("ports", [])
                if "name" in port
            }
            found.append(
                Pod(
                    inputs["metadata"]["name"],
                    inputs["metadata"]["namespace"],
                    template["metadata"]["labels"],
                    ports,
                )
            )
    return found


def policies(rendered: Rendered) -> list[dict[str, Any]]:
    return [resource["inputs"] for resource in rendered.of_type(POLICY)]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        raise AssertionError(f"the stand-in only knows matchLabels: {selector}")
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


Source = Pod | str


def peer_matches(peer: dict[str, Any], policy_namespace: str, source: Source) -> bool:
    if set(peer) - {"podSelector", "ipBlock"}:
        raise AssertionError(f"the stand-in does not know this peer: {peer}")
    if "podSelector" in peer:
        return (
            isinstance(source, Pod)
            and source.namespace == policy_namespace
            and selects(peer["podSelector"], source.labels)
        )
    if isinstance(source, Pod):
        return False  # pod addresses are not in any range the program allows
    address = ipaddress.ip_address(source)
    block = peer["ipBlock"]
    return address in ipaddress.ip_network(block["cidr"]) and not any(
        address in ipaddress.ip_network(excluded) for excluded in block.get("except", [])
    )


def port_matches(entry: dict[str, Any], destination: Pod, port: int) -> bool:
    assert entry.get("protocol", "TCP") == "TCP"
    wanted = entry["port"]
    if isinstance(wanted, str):
        return destination.ports.get(wanted) == port
    return wanted == port


def admits(rendered: Rendered, source: Source, destination: Pod, port: int) -> bool:
    selecting = [
        policy
        for policy in policies(rendered)
        if policy["metadata"]["namespace"] == destination.namespace
        and "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], destination.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports") or []
            peers = rule.get("from") or []
            if ports and not any(port_matches(entry, destination, port) for entry in ports):
                continue
            if peers and not any(
                peer_matches(peer, policy["metadata"]["namespace"], source) for peer in peers
            ):
                continue
            return True
    return False


# --------------------------------------------------------------------------------------------


def dev() -> Rendered:
    return render("dev")


def kind() -> Rendered:
    return render(config_file=ROOT / "stacks" / "kind.yaml")


def large() -> Rendered:
    return render(config_file=ROOT / "stacks" / "large-200.yaml")


def pod(rendered: Rendered, component: str, role: str | None = None) -> Pod:
    for candidate in pods(rendered):
        if candidate.labels.get(COMPONENT) == component and (
            role is None or candidate.labels.get(ROLE) == role
        ):
            return candidate
    raise KeyError(f"no pod of {component} {role or ''}")


@pytest.mark.parametrize("make", [dev, kind, large], ids=["dev", "kind", "large-200"])
def test_every_policy_and_every_peer_selects_pods_of_the_render(make: Any) -> None:
    rendered = make()
    all_pods = pods(rendered)
    found = policies(rendered)
    assert found, "no NetworkPolicy rendered"
    for policy in found:
        name = policy["metadata"]["name"]
        in_namespace = [p for p in all_pods if p.namespace == policy["metadata"]["namespace"]]
        assert any(selects(policy["spec"]["podSelector"], p.labels) for p in in_namespace), (
            f"{name} selects no pod"
        )
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from"), f"{name}: a rule without sources admits everyone"
            assert rule.get("ports"), f"{name}: a rule without ports opens every port"
            for peer in rule["from"]:
                if "podSelector" in peer:
                    assert any(selects(peer["podSelector"], p.labels) for p in in_namespace), (
                        f"{name}: peer {peer} selects no pod"
                    )
            for entry in rule["ports"]:
                targets = [
                    p for p in in_namespace if selects(policy["spec"]["podSelector"], p.labels)
                ]
                assert all(entry["port"] in p.ports for p in targets), (
                    f"{name}: port {entry['port']} is not a port of every pod it selects"
                )


@pytest.mark.parametrize("make", [dev, kind, large], ids=["dev", "kind", "large-200"])
def test_one_default_deny_selects_every_pod(make: Any) -> None:
    rendered = make()
    denies = [
        p
        for p in policies(rendered)
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
    ]
    assert len(denies) == 1
    assert denies[0]["spec"]["policyTypes"] == ["Ingress"]
    namespaces = {p.namespace for p in pods(rendered)}
    assert namespaces == {denies[0]["metadata"]["namespace"]}


def test_dev_flows_allowed_and_denied() -> None:
    rendered = dev()
    seed = pod(rendered, "mina-daemon", "seed")
    producer = pod(rendered, "mina-daemon", "block-producer")
    coordinator = pod(rendered, "mina-daemon", "snark-coordinator")
    workspace = pod(rendered, "orchestrator")
    fetcher = pod(rendered, "log-fetcher")
    log_api = pod(rendered, "log-api")
    uptime = pod(rendered, "uptime-backend")
    postgres = pod(rendered, "postgres")
    libp2p, client, graphql, itn = (seed.ports[n] for n in ("libp2p", "client", "graphql", "itn"))

    allowed = [
        (producer, seed, libp2p),
        (seed, coordinator, libp2p),
        (workspace, producer, itn),
        (fetcher, producer, itn),
        (workspace, producer, client),
        (SUBNET_HOST, coordinator, client),
        (workspace, seed, graphql),
        (producer, uptime, 8080),
        (workspace, uptime, 8080),
        (fetcher, postgres, 5432),
        (log_api, postgres, 5432),
        (ADMIN, postgres, 5432),
    ]
    denied = [
        # GraphQL: unauthenticated, only the workspace (`wait --direct`).
        (fetcher, seed, graphql),
        (CONTROL_PLANE, seed, graphql),
        (producer, seed, graphql),
        (SUBNET_HOST, coordinator, graphql),
        # The client port: only the workspace, and the workers on the coordinator.
        (producer, seed, client),
        (SUBNET_HOST, producer, client),
        (fetcher, seed, client),
        # The fetcher's REST API (POST /reset): nobody.
        *((source, fetcher, 4000) for source in (workspace, seed, log_api, CONTROL_PLANE, ADMIN)),
        # PostgreSQL: never the daemons, the workers or strangers.
        (seed, postgres, 5432),
        (workspace, postgres, 5432),
        (SUBNET_HOST, postgres, 5432),
        (STRANGER, postgres, 5432),
        # Nothing from outside reaches a daemon or the uptime backend.
        (ADMIN, seed, libp2p),
        (STRANGER, coordinator, client),
        (ADMIN, uptime, 8080),
        (postgres, uptime, 8080),
        (producer, log_api, 9080),
        # The API-server proxy strips the ITN signature; nothing is reached through it.
        (CONTROL_PLANE, producer, itn),
        (CONTROL_PLANE, uptime, 8080),
        (CONTROL_PLANE, log_api, 9080),
    ]
    for source, destination, port in allowed:
        assert admits(rendered, source, destination, port), (source, destination.name, port)
    for source, destination, port in denied:
        assert not admits(rendered, source, destination, port), (source, destination.name, port)


def test_kind_workers_are_pods_and_no_control_plane_range_is_guessed() -> None:
    rendered = kind()
    coordinator = pod(rendered, "mina-daemon", "snark-coordinator")
    producer = pod(rendered, "mina-daemon", "block-producer")
    worker = pod(rendered, "snark-worker")
    client = coordinator.ports["client"]
    assert admits(rendered, worker, coordinator, client)
    assert not admits(rendered, worker, producer, client)
    assert not admits(rendered, worker, producer, coordinator.ports["graphql"])
    blocks = [
        peer["ipBlock"]["cidr"]
        for policy in policies(rendered)
        for rule in policy["spec"].get("ingress", [])
        for peer in rule["from"]
        if "ipBlock" in peer
    ]
    # Only the load balancers' client ranges (kind: 127.0.0.1/32), never a guessed cluster range.
    assert set(blocks) == {"127.0.0.1/32"}


def test_stand_in_refuses_what_it_does_not_model() -> None:
    with pytest.raises(AssertionError):
        selects({"matchExpressions": []}, {})
    with pytest.raises(AssertionError):
        peer_matches({"namespaceSelector": {}}, "ns", STRANGER)
