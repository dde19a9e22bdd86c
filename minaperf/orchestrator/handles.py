"""Asking a daemon itself about a schedule handle, after a stop step failed.

The orchestrator does not say why a stop step failed (itn_orchestrator/main.go:48), so a daemon
that had already forgotten the handle reads the same as one that could not be reached; asking
the daemon directly, as `stop` would, tells the two apart. See docs/runner.md#receipts-and-stopping.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx

from minaperf.keys.itn import ItnKey
from minaperf.orchestrator.readiness import itn_auth

# The very mutation the orchestrator's `stop` sends (genqlient.graphql `stopScheduledTransactions`).
STOP_MUTATION = "mutation ($handle: String!) { stopScheduledTransactions(handle: $handle) }"
# A daemon's answer for a handle it no longer knows: it restarted, or the load was stopped
# elsewhere (MinaProtocol/mina mina_graphql.ml, stop_scheduled_transactions).
FORGOTTEN = "Could not find scheduled transactions with handle"

Verdict = Literal["stopped", "forgotten"]


def _messages(payload: Any) -> list[str]:
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("message", "")) for e in errors if isinstance(e, dict)] or ["error"]


def stop_or_learn(client: httpx.Client, url: str, key: ItnKey, handle: str) -> Verdict:
    """`stopped` when the daemon knew `handle` (and has stopped it), `forgotten` when it does not
    know it; any other answer is a ValueError or httpx.HTTPError naming it.

    Signed with the orchestrator's ITN key as the orchestrator signs (graphql.go NewGqlClient:
    the unsequenced `auth`, then each request sequenced)."""
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
