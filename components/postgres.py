"""PostgreSQL for the experiment's logs, reachable from outside, data kept (to be built)."""

from __future__ import annotations

import pulumi

from components.context import ExperimentContext

POSTGRES_PORT = 5432


class Postgres(pulumi.ComponentResource):
    host: str
    port: int
    database: str
    user: str
    password: pulumi.Output[str]
    uri: pulumi.Output[str]
    secret_name: str
    external_address: pulumi.Output[str | None]
    data_disk: pulumi.Output[str | None]

    def __init__(
        self, name: str, ctx: ExperimentContext, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:services:Postgres", name, None, opts)
        self.host = ctx.service_host("postgres")
        self.port = POSTGRES_PORT
        self.database = ctx.config.postgres.database
        self.user = ctx.config.postgres.user
        self.password = pulumi.Output.secret("")
        self.uri = pulumi.Output.secret("")
        self.secret_name = "postgres-credentials"  # noqa: S105 (a Secret object name)
        self.external_address = pulumi.Output.from_input(None)
        self.data_disk = pulumi.Output.from_input(None)
        self.register_outputs({})
