"""The Mina network: seed, block producers, plain nodes and snark coordinator (to be built)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.context import ExperimentContext


@dataclass(frozen=True)
class MinaNodeInfo:
    name: str
    role: str
    service_host: str
    pod: str
    public_key: pulumi.Output[str]


class MinaNetwork(pulumi.ComponentResource):
    nodes: list[MinaNodeInfo]
    seed_multiaddr: pulumi.Output[str]
    coordinator_host: pulumi.Output[str] | None
    runtime_config: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        uptime_submit_url: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:mina:MinaNetwork", name, None, opts)
        self.nodes = []
        self.seed_multiaddr = pulumi.Output.from_input("")
        self.coordinator_host = None
        self.runtime_config = pulumi.Output.from_input("{}")
        self.register_outputs({})
