"""The readiness gate: an experiment only starts once every node can really take part.

A node counts as ready when (a) its pod is Ready, (b) the uptime backend lists its key as a
submitter (that is how the orchestrator's `discovery` finds it), (c) it answers a signed ITN `auth`
query with our orchestrator key (so `--itn-keys` is right and the ITN port is reachable), and
(d) its GraphQL reports `syncStatus == SYNCED` (payments to an unsynced node fail).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from minaperf.orchestrator.access import Access
from minaperf.outputs import NodeEndpoint, StackOutputs

AUTH_QUERY = "query { auth { serverUuid signerSequenceNumber libp2pPort peerId isBlockProducer } }"
SYNC_QUERY = "{ syncStatus }"

AuthHeader = Callable[[bytes], str]


@dataclass
class NodeReadiness:
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class AuthInfo:
    server_uuid: str
    signer_sequence_number: int
    libp2p_port: int
    peer_id: str
    is_block_producer: bool


def _uint16(value: Any, what: str) -> int:
    """GraphQL UInt16 serialises as a JSON string in some daemons and a number in others."""
    if isinstance(value, bool):
        raise ValueError(f"{what} is not a UInt16: {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"{what} is not a UInt16: {value!r}")
    if not 0 <= number <= 0xFFFF:
        raise ValueError(f"{what} out of UInt16 range: {number}")
    return number


def parse_auth_response(payload: Any) -> AuthInfo:
    if not isinstance(payload, dict):
        raise ValueError("auth response is not a JSON object")
    if payload.get("errors"):
        raise ValueError(f"auth query returned errors: {payload['errors']}")
    auth = (payload.get("data") or {}).get("auth")
    if not isinstance(auth, dict):
        raise ValueError("auth response has no data.auth")
    uuid = auth.get("serverUuid")
    if not isinstance(uuid, str) or not uuid:
        raise ValueError("auth response has no serverUuid")
    return AuthInfo(
        server_uuid=uuid,
        signer_sequence_number=_uint16(auth.get("signerSequenceNumber"), "signerSequenceNumber"),
        libp2p_port=_uint16(auth.get("libp2pPort"), "libp2pPort"),
        peer_id=str(auth.get("peerId", "")),
        is_block_producer=bool(auth.get("isBlockProducer", False)),
    )


def itn_auth(client: httpx.Client, url: str, auth_header: AuthHeader) -> AuthInfo:
    """The unsequenced `auth` query, signed over the exact body bytes we send."""
    body = json.dumps({"query": AUTH_QUERY}).encode()
    response = client.post(
        url,
        content=body,
        headers={"Content-Type": "application/json", "Authorization": auth_header(body)},
    )
    if response.status_code == 401:
        raise ValueError("ITN auth rejected (401): is the orchestrator key in --itn-keys?")
    if response.status_code != 200:
        raise ValueError(f"ITN auth answered HTTP {response.status_code}")
    return parse_auth_response(response.json())


def sync_status(client: httpx.Client, url: str) -> str:
    response = client.post(url, json={"query": SYNC_QUERY})
    if response.status_code != 200:
        raise ValueError(f"GraphQL answered HTTP {response.status_code}")
    status = ((response.json() or {}).get("data") or {}).get("syncStatus")
    if not isinstance(status, str):
        raise ValueError("GraphQL response has no data.syncStatus")
    return status


def ready_pods(kubectl: str, namespace: str) -> dict[str, bool]:
    """Pod name → Ready condition, from `kubectl get pods -o json`."""
    result = subprocess.run(
        [kubectl, "get", "pods", "-n", namespace, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl get pods failed: {result.stderr.strip()[:300]}")
    pods: dict[str, bool] = {}
    for item in json.loads(result.stdout).get("items", []):
        name = item.get("metadata", {}).get("name", "")
        conditions = item.get("status", {}).get("conditions") or []
        pods[name] = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return pods


def online_submitters(client: httpx.Client, url: str) -> set[str]:
    response = client.get(url)
    if response.status_code != 200:
        raise ValueError(f"/v1/online answered HTTP {response.status_code}")
    entries = response.json()
    if not isinstance(entries, list):
        raise ValueError("/v1/online did not return a JSON array")
    return {str(e.get("submitter")) for e in entries if isinstance(e, dict)}


def check_once(
    outputs: StackOutputs,
    access: Access,
    auth_header: AuthHeader,
    *,
    kubectl: str,
    client: httpx.Client,
) -> list[NodeReadiness]:
    """One pass over all four conditions for every node."""
    results = {node.name: NodeReadiness(node.name) for node in outputs.nodes}
    try:
        pods = ready_pods(kubectl, outputs.namespace)
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as error:
        pods = None
        for r in results.values():
            r.problems.append(f"pods unknown ({error})")
    try:
        online_url = access.url(outputs.uptime_online_url)
        submitters: set[str] | None = online_submitters(client, online_url)
    except (httpx.HTTPError, ValueError) as error:
        submitters = None
        for r in results.values():
            r.problems.append(f"uptime backend unreachable ({error})")
    for node in outputs.nodes:
        result = results[node.name]
        if pods is not None and not pods.get(node.pod, False):
            result.problems.append(
                "pod not Ready" if node.pod in pods else f"pod {node.pod} not found"
            )
        if submitters is not None and node.public_key not in submitters:
            result.problems.append("not listed by uptime backend /v1/online")
        _check_node_http(node, access, auth_header, client, result)
    return list(results.values())


def _check_node_http(
    node: NodeEndpoint,
    access: Access,
    auth_header: AuthHeader,
    client: httpx.Client,
    result: NodeReadiness,
) -> None:
    try:
        itn_auth(client, access.service_url(node.service, node.itn_port, "/graphql"), auth_header)
    except (httpx.HTTPError, ValueError) as error:
        result.problems.append(f"ITN auth failed: {error}")
    try:
        graphql_url = access.service_url(node.service, node.graphql_port, "/graphql")
        status = sync_status(client, graphql_url)
        if status != "SYNCED":
            result.problems.append(f"not synced (syncStatus {status})")
    except (httpx.HTTPError, ValueError) as error:
        result.problems.append(f"GraphQL syncStatus failed: {error}")


def wait_ready(
    outputs: StackOutputs,
    access: Access,
    auth_header: AuthHeader,
    *,
    kubectl: str,
    timeout: float,
    out: TextIO = sys.stderr,
    first_interval: float = 1.0,
    max_interval: float = 15.0,
) -> list[NodeReadiness]:
    """Poll with exponential backoff; return the last results (all ready, or the timeout's)."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    interval = first_interval
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), trust_env=False) as client:
        while True:
            results = check_once(outputs, access, auth_header, kubectl=kubectl, client=client)
            waiting = [r for r in results if not r.ready]
            elapsed = time.monotonic() - started
            ready_count = len(results) - len(waiting)
            detail = "; ".join(f"{r.name}: {r.problems[0]}" for r in waiting[:4])
            more = f" (+{len(waiting) - 4} more)" if len(waiting) > 4 else ""
            print(
                f"[wait {elapsed:5.0f}s] ready {ready_count}/{len(results)}"
                + (f"; waiting: {detail}{more}" if waiting else ""),
                file=out,
                flush=True,
            )
            if not waiting:
                return results
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return results
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, max_interval)
