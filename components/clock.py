"""A moment fixed at first deploy and kept on every later `pulumi up`.

The genesis timestamp and the expiry label must not move between runs (a new genesis means a new
chain; a moving label means churn), yet their natural origin is "when this experiment was
deployed". A tiny dynamic resource records that moment once, in state.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi.dynamic

from minaperf.rfc3339 import format_utc


class _ClockProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        moment = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(
            minutes=float(props["delayMinutes"]) + 1
        )
        return pulumi.dynamic.CreateResult(
            id_=str(uuid.uuid4()),
            outs={**props, "timestamp": format_utc(moment)},
        )

    def diff(
        self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]
    ) -> pulumi.dynamic.DiffResult:
        # The moment is the point: never move it. `pulumi up --replace <urn>` starts over.
        return pulumi.dynamic.DiffResult(changes=False)


class Clock(pulumi.dynamic.Resource):
    """`timestamp` = creation time + `delay_minutes`, rounded up to the minute, RFC 3339 UTC."""

    timestamp: pulumi.Output[str]

    def __init__(
        self, name: str, *, delay_minutes: int, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            _ClockProvider(),
            name,
            {"delayMinutes": delay_minutes, "timestamp": None},
            opts,
        )
