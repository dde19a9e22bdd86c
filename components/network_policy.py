"""Who may open a connection to whom inside the experiment's namespace: deny, then allow flows.

One `default-deny-ingress` policy, then one policy per target workload (matched by its
`app.kubernetes.io/component` label) holding the flows in `flows`, each with its reason. Why each
flow exists, and what nothing reaches: docs/security.md, "What reaches what, and why".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import log_fetcher, orchestrator, postgres, uptime, worker_pool
from components.context import ExperimentNamespace
from components.mina_network import COMPONENT as DAEMON
from components.mina_network import ROLE_LABEL
from minaperf.model.config import ExperimentConfig, GkePlatform
from minaperf.workloads import daemon
from policy.markers import K8S_COMPONENT_LABEL as COMPONENT_LABEL

DEFAULT_DENY = "default-deny-ingress"
COORDINATOR = "snark-coordinator"


@dataclass(frozen=True)
class Target:
    """Pods that receive a flow: a component, optionally narrowed by more labels."""

    name: str
    """Names the policy: `allow-<name>`."""
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Flow:
    """Connections to `port` (a container port name) of `target` from `pods` or `cidrs`."""

    target: Target
    port: str
    why: str
    pods: Sequence[str] = ()
    """Source components, in the same namespace."""
    cidrs: Sequence[str] = ()
    """Source address ranges (load-balancer clients, worker VMs)."""

    def peers(self) -> list[k8s.networking.v1.NetworkPolicyPeerArgsDict]:
        return [
            *({"pod_selector": {"match_labels": {COMPONENT_LABEL: pod}}} for pod in self.pods),
            *({"ip_block": {"cidr": cidr}} for cidr in self.cidrs),
        ]


def _component(component: str) -> Target:
    return Target(component, {COMPONENT_LABEL: component})


def flows(config: ExperimentConfig) -> list[Flow]:
    """Every connection the experiment needs, and nothing else (flows without any source, e.g.
    worker pods on a stack without them, are left out)."""
    daemons = _component(DAEMON)
    coordinator = Target(
        COORDINATOR, {COMPONENT_LABEL: DAEMON, ROLE_LABEL: daemon.SNARK_COORDINATOR}
    )
    platform = config.platform
    workspace = orchestrator.COMPONENT
    fetcher = log_fetcher.FETCHER
    if isinstance(platform, GkePlatform):
        workers = Flow(
            coordinator,
            "client",
            "snark workers on the worker VMs (internal load balancer keeps their addresses)",
            cidrs=[platform.network.subnet_cidr],
        )
    else:
        workers = Flow(
            coordinator,
            "client",
            "snark worker pods",
            pods=[worker_pool.COMPONENT] if platform.worker_pods > 0 else [],
        )
    all_flows = [
        Flow(daemons, "libp2p", "gossip and sync between daemons", pods=[DAEMON]),
        Flow(
            daemons,
            "itn",
            "signed ITN queries: the orchestrator, the log fetcher, `wait --direct`",
            pods=[workspace, fetcher],
        ),
        Flow(daemons, "client", "the mina CLI of fund-keys in the workspace", pods=[workspace]),
        workers,
        Flow(
            daemons,
            "graphql",
            "syncStatus for `wait --direct` in the workspace; nothing else",
            pods=[workspace],
        ),
        Flow(
            _component(uptime.COMPONENT),
            "http",
            "daemons submit; the orchestrator and `wait --direct` list who is online",
            pods=[DAEMON, workspace],
        ),
        Flow(
            _component(postgres.COMPONENT),
            "postgres",
            "the log fetcher and its consumers, the log API",
            pods=[fetcher, log_fetcher.LOG_API],
        ),
        Flow(
            _component(postgres.COMPONENT),
            "postgres",
            "people outside, through the load balancer (it keeps their addresses)",
            cidrs=config.postgres_cidrs,
        ),
    ]
    return [flow for flow in all_flows if flow.pods or flow.cidrs]


def policy_specs(
    allowed: Sequence[Flow],
) -> dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict]:
    """Policy name -> NetworkPolicy spec: the default deny, then one policy per target."""
    specs: dict[str, k8s.networking.v1.NetworkPolicySpecArgsDict] = {
        DEFAULT_DENY: {"pod_selector": {}, "policy_types": ["Ingress"]},
    }
    rules: dict[str, list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]] = {}
    for flow in allowed:
        name = f"allow-{flow.target.name}"
        if name not in rules:
            rules[name] = []
            specs[name] = {
                "pod_selector": {"match_labels": dict(flow.target.labels)},
                "policy_types": ["Ingress"],
                "ingress": rules[name],
            }
        rules[name].append(
            {"ports": [{"port": flow.port, "protocol": "TCP"}], "from_": flow.peers()}
        )
    return specs


@dataclass(frozen=True)
class NetworkPolicyArgs:
    """What the policies read: the namespace, and the flows the wiring derives from the config."""

    namespace: ExperimentNamespace
    flows: list[Flow]
    """What may connect to what (`flows` of the config)."""


class NetworkPolicies(pulumi.ComponentResource):
    """The namespace's NetworkPolicies (see the module doc)."""

    def __init__(
        self, name: str, args: NetworkPolicyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:security:NetworkPolicies", name, None, opts)
        reasons: dict[str, list[str]] = {}
        for flow in args.flows:
            reasons.setdefault(f"allow-{flow.target.name}", []).append(f"{flow.port}: {flow.why}")
        for policy, spec in policy_specs(args.flows).items():
            why = "\n".join(reasons.get(policy, ["every pod: only what another policy allows"]))
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy}",
                metadata={
                    **args.namespace.metadata(policy, "network-policy"),
                    "annotations": {"mina-itn/allows": why},
                },
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
