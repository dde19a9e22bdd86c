"""Asking a daemon itself about a schedule handle, after a stop step failed.

The orchestrator drops a stop step's error text (itn_orchestrator/main.go:48), so a stop that
failed because the daemon had already forgotten the handle (it restarted, or the load was stopped
elsewhere) reads the same as one that could not reach it. The runner then asks the daemon
directly, signed with the orchestrator's ITN key as the orchestrator signs (graphql.go
NewGqlClient: the unsequenced `auth`, then each request sequenced), with the very mutation
`stop` sends (genqlient.graphql `stopScheduledTransactions`): either the daemon knew the handle
and stops it now, or it answers "Could not find scheduled transactions with handle …"
(MinaProtocol/mina mina_graphql.ml, stop_scheduled_transactions) and that load is over.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx

from minaperf.keys.itn import ItnKey
from minaperf.orchestrator.readiness import itn_auth

STOP_MUTATION = "mutation ($handle: String!) { stopScheduledTransactions(handle: $handle) }"
FORGOTTEN = "Could not find scheduled transactions with handle"

Verdict = Literal["stopped", "forgotten"]


def _messages(payload: Any) -> list[str]:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("message", "")) for e in errors if isinstance(e, dict)] or ["error"]


def stop_or_learn(client: httpx.Client, url: str, key: ItnKey, handle: str) -> Verdict:
    """`stopped` when the daemon knew `handle` (and has stopped it), `forgotten` when it does not
    know it; any other answer is a ValueError or httpx.HTTPError naming it."""
    info = itn_auth(client, url, key.authorization_header)
    body = json.dumps({"query": STOP_MUTATION, "variables": {"handle": handle}}).encode()
    header = key.sequenced_authorization_header(body, info.server_uuid, info.signer_sequence_number)
    response = client.post(
        url, content=body, headers={"Content-Type": "application/json", "Authorization": header}
    )
    if response.status_code != 200:
        raise ValueError(f"the daemon answered HTTP {response.status_code}")
    payload = response.json()
    messages = _messages(payload)
    if any(FORGOTTEN in message for message in messages):
        return "forgotten"
    if messages:
        raise ValueError(f"the daemon answered: {messages[0][:200]}")
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("stopScheduledTransactions"), str):
        raise ValueError("the daemon's answer has no data.stopScheduledTransactions")
    return "stopped"
