"""In-memory uptime backend: node discovery for the orchestrator and log fetcher (to be built)."""

from __future__ import annotations

import pulumi

from components.context import ExperimentContext

UPTIME_PORT = 8080


class UptimeBackend(pulumi.ComponentResource):
    submit_url: str
    online_url: str

    def __init__(
        self, name: str, ctx: ExperimentContext, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:services:UptimeBackend", name, None, opts)
        base = f"http://{ctx.service_host('uptime-backend')}:{UPTIME_PORT}"
        self.submit_url = f"{base}/v1/submit"
        self.online_url = f"{base}/v1/online"
        self.register_outputs({})
