"""Internal log fetcher (+ disk quota) and the log API (to be built)."""

from __future__ import annotations

import pulumi

from components.context import ExperimentContext
from components.postgres import Postgres

LOG_API_PORT = 9080


class LogFetcher(pulumi.ComponentResource):
    log_api_url: str
    fetcher_url: str

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        postgres: Postgres,
        online_url: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:services:LogFetcher", name, None, opts)
        self.log_api_url = f"http://{ctx.service_host('log-api')}:{LOG_API_PORT}/graphql"
        self.fetcher_url = f"http://{ctx.service_host('log-fetcher')}:4000"
        self.register_outputs({})
