"""PodDisruptionBudgets: what a planned disruption (a node drain, a GKE upgrade) may take at once.

A daemon role loses at most one member at a time and a role of one member none, so a drain
waits rather than cut the network off its seed or the workers off their coordinator. The
single-replica services may lose none, the log fetcher shards one at a time.
See docs/design.md#disruption-budgets.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.context import ExperimentNamespace
from components.labels import Labels

COMPONENT = "disruption-budget"


def daemon_max_unavailable(members: int) -> int:
    """At most one daemon of a role at a time, and none when it is the role's only member."""
    return 1 if members > 1 else 0


def disruption_budget(
    name: str,
    where: ExperimentNamespace,
    *,
    budget_name: str,
    selector: dict[str, str],
    max_unavailable: int,
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata=where.metadata(budget_name, COMPONENT),
        spec={"max_unavailable": max_unavailable, "selector": {"match_labels": selector}},
        opts=opts,
    )


SERVICE_BUDGETS: tuple[tuple[str, str, int], ...] = (
    ("postgres", "postgres", 0),
    ("uptime-backend", "uptime-backend", 0),
    ("log-api", "log-api", 0),
    ("log-fetcher", "log-fetcher", 1),
    ("orchestrator", "orchestrator", 0),
)
"""(budget name, component label of the pods, maxUnavailable).

Each service is one replica holding state a restart loses (PostgreSQL connections, the uptime
backend's in-memory submissions, a run in the workspace), so none may be evicted."""


class ServiceDisruptionBudgets(pulumi.ComponentResource):
    """One budget per perf service (components as in their own modules)."""

    def __init__(
        self, name: str, namespace: ExperimentNamespace, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:services:DisruptionBudgets", name, None, opts)
        for budget, component, max_unavailable in SERVICE_BUDGETS:
            disruption_budget(
                f"{name}-{budget}",
                namespace,
                budget_name=f"{budget}-budget",
                selector=Labels.selector(component),
                max_unavailable=max_unavailable,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
