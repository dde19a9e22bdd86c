"""What the components of one experiment share, built once by `Experiment`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.keys import ExperimentKeys
from components.labels import Labels
from minaperf.keys.material import NodeSpec
from minaperf.model.config import ExperimentConfig, node_names

CLUSTER_DOMAIN = "svc.cluster.local"
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
"""`pulumi up` creates the object and moves on instead of waiting for it to become ready
(pulumi-kubernetes provider/pkg/metadata/annotations.go; docs/upstream-facts.md pulumi-practice
§4.5): a Deployment/StatefulSet is not awaited for rollout, a Service not for ready endpoints.
Only for workloads `python -m scripts.experiment wait` gates instead (its rollout check covers
every Deployment and StatefulSet of the namespace), and never where another resource reads an
output only the awaited object has (status, load balancer address)."""
POOL_LABEL = "mina-itn/pool"
"""Node label naming a GKE node pool (`mina` or `services`); workloads select on it."""


def node_specs(config: ExperimentConfig) -> list[NodeSpec]:
    """Every daemon of the experiment, in a stable order: names are `<prefix>-<n>`, from 1."""
    return [NodeSpec(name=name, role=role) for name, role in node_names(config.nodes)]


@dataclass(frozen=True)
class GkeNetworking:
    """The experiment's VPC, for resources outside the cluster (worker VMs, data disk)."""

    project: str
    region: str
    zone: str
    network: pulumi.Output[str]
    subnet: pulumi.Output[str]
    subnet_cidr: str
    worker_tag: str


@dataclass(frozen=True)
class ExperimentNamespace:
    """Where a component puts its objects: the experiment's namespace and labels, and what the
    platform offers there (on GKE a `services` node pool and a cloud load balancer)."""

    name: str
    """Known before deploy: the namespace is named after the stack, not auto-named."""
    output: pulumi.Output[str]
    """The same name as an output of the Namespace object: what uses it waits for it."""
    labels: Labels
    on_gke: bool

    def service_host(self, service: str) -> str:
        return f"{service}.{self.name}.{CLUSTER_DOMAIN}"

    def metadata(
        self, name: str, component: str, instance: str | None = None
    ) -> k8s.meta.v1.ObjectMetaArgsDict:
        return {
            "name": name,
            "namespace": self.output,
            "labels": self.labels.k8s(component, instance),
        }

    def services_node_selector(self) -> dict[str, str] | None:
        """On GKE the perf services run on the `services` pool, never beside the daemons."""
        return {POOL_LABEL: "services"} if self.on_gke else None

    def load_balancer_annotations(self) -> dict[str, str]:
        """On an existing cluster there may be no load balancer implementation (kind): do not
        hold `pulumi up` waiting for an address that never comes; the output stays empty."""
        return {} if self.on_gke else {"pulumi.com/skipAwait": "true"}


@dataclass(frozen=True)
class ExperimentContext:
    """What `Experiment` builds once and hands out, piece by piece, as each component's args."""

    config: ExperimentConfig
    where: ExperimentNamespace
    keys: ExperimentKeys
    genesis_timestamp: pulumi.Output[str]
    trusted_cidrs: tuple[str, ...]
    """Who may use a daemon's client port: the pod range and the worker pool's range."""
    gke: GkeNetworking | None
