"""Optional dashboard and experiments API, reachable only from the admin ranges (to be built)."""

from __future__ import annotations

import pulumi

from components.context import ExperimentContext
from components.postgres import Postgres


class Dashboard(pulumi.ComponentResource):
    url: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        postgres: Postgres,
        log_api_url: str,
        fetcher_url: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:services:Dashboard", name, None, opts)
        self.url = pulumi.Output.from_input(None)
        self.register_outputs({})
