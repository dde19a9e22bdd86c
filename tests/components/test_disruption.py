"""PodDisruptionBudgets in the render: each selects the pods it means, and no planned
disruption may take every daemon of a role (or any single-replica service) at once."""

from __future__ import annotations

from typing import Any

from components.disruption import daemon_max_unavailable
from tests.conftest import Rendered

PDB = "kubernetes:policy/v1:PodDisruptionBudget"
WORKLOADS = {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"}


def pods_of(rendered: Rendered) -> list[tuple[str, dict[str, str], int]]:
    """(workload name, pod template labels, replicas) of every workload."""
    found = []
    for resource in rendered.resources:
        if resource["type"] in WORKLOADS:
            spec = resource["inputs"]["spec"]
            labels = spec["template"]["metadata"]["labels"]
            found.append((resource["inputs"]["metadata"]["name"], labels, spec.get("replicas", 1)))
    return found


def selected(budget: dict[str, Any], rendered: Rendered) -> list[tuple[str, int]]:
    match = budget["inputs"]["spec"]["selector"]["matchLabels"]
    return [
        (name, replicas)
        for name, labels, replicas in pods_of(rendered)
        if all(labels.get(k) == v for k, v in match.items())
    ]


def test_every_budget_selects_pods_and_never_all_of_them(dev: Rendered) -> None:
    budgets = dev.of_type(PDB)
    assert len(budgets) == 9
    for budget in budgets:
        pods = selected(budget, dev)
        name = budget["inputs"]["metadata"]["name"]
        assert pods, f"{name} selects nothing"
        total = sum(replicas for _, replicas in pods)
        assert budget["inputs"]["spec"]["maxUnavailable"] < max(total, 1), name


def test_each_daemon_role_has_its_own_budget(dev: Rendered) -> None:
    by_name = {b["inputs"]["metadata"]["name"]: b for b in dev.of_type(PDB)}
    # dev: 1 seed, 3 block producers, 5 plain nodes, 1 coordinator
    expected = {"seed-budget": 1, "bp-budget": 3, "node-budget": 5, "coordinator-budget": 1}
    for budget_name, members in expected.items():
        budget = by_name[budget_name]
        pods = selected(budget, dev)
        assert len(pods) == members, budget_name
        assert budget["inputs"]["spec"]["maxUnavailable"] == daemon_max_unavailable(members)
        assert {labels_role for labels_role in [budget["inputs"]["spec"]["selector"]["matchLabels"]
                                                .get("mina-itn/role")]} != {None}  # fmt: skip


def test_single_replica_services_are_never_evicted(dev: Rendered) -> None:
    by_name = {b["inputs"]["metadata"]["name"]: b for b in dev.of_type(PDB)}
    for name in ("postgres-budget", "uptime-backend-budget", "log-api-budget",
                 "orchestrator-budget"):  # fmt: skip
        assert by_name[name]["inputs"]["spec"]["maxUnavailable"] == 0


def test_daemon_budget_rule() -> None:
    assert [daemon_max_unavailable(n) for n in (1, 2, 177)] == [0, 1, 1]
