"""Snark worker pool: bare GCE VMs with N worker processes each, or pods (to be built)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.context import ExperimentContext


class SnarkWorkerPool(pulumi.ComponentResource):
    summary: dict[str, Any]

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        coordinator_host: pulumi.Output[str],
        coordinator_port: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:workers:SnarkWorkerPool", name, None, opts)
        self.summary = {}
        self.register_outputs({})
