"""Orchestrator workspace: a pod an admin enters to run experiments (to be built)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.context import ExperimentContext


class OrchestratorWorkspace(pulumi.ComponentResource):
    workspace: dict[str, Any]

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        orchestrator_config: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:orchestrator:OrchestratorWorkspace", name, None, opts)
        self.workspace = {}
        self.register_outputs({})
