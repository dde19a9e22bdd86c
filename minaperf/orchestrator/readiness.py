"""The readiness gate of `experiment wait`: an experiment only starts once every node can take part.

Each sweep checks every node (`check_once`) and runs every cluster check (`ClusterCheck`);
`wait_ready` repeats sweeps until all pass or the time is up. See docs/runner.md#readiness.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from minaperf.model.outputs import NodeEndpoint, StackOutputs
from minaperf.orchestrator.access import Access, PortForwardError, kubectl_error_line, url_parts

AUTH_QUERY = "query { auth { serverUuid signerSequenceNumber libp2pPort peerId isBlockProducer } }"
SYNC_QUERY = "{ syncStatus }"
DEFAULT_PARALLELISM = 16

AuthHeader = Callable[[bytes], str]


@dataclass
class NodeReadiness:
    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class CheckStatus:
    """One cluster check's verdict in one sweep: `line` says what it saw or is waiting for."""

    name: str
    ok: bool
    line: str


ClusterCheck = Callable[[], CheckStatus]
"""Whatever else must be up before load starts (rollouts Pulumi no longer awaits, the snark
worker pool, trace flow). `wait` is done only when every node is ready AND every check is ok. A
check must not raise for "not ready yet" (return ok=False with the reason); raising
`ClusterUnreachableError` ends the wait, and so does `CheckFailedError` (the check saw something
no amount of waiting fixes)."""


class ClusterUnreachableError(RuntimeError):
    """kubectl cannot talk to the API server: polling again would only repeat the error."""


class CheckFailedError(RuntimeError):
    """A check saw a permanent failure (e.g. a VM the cloud refuses to create): stop waiting."""


@dataclass
class Sweep:
    """One pass over every node and every cluster check."""

    nodes: list[NodeReadiness]
    checks: list[CheckStatus] = field(default_factory=list)

    @property
    def waiting(self) -> list[NodeReadiness]:
        return [n for n in self.nodes if not n.ready]

    @property
    def failing(self) -> list[CheckStatus]:
        return [c for c in self.checks if not c.ok]

    @property
    def ready(self) -> bool:
        return not self.waiting and not self.failing


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


def kubectl_json(kubectl: str, *args: str) -> Any:
    """`kubectl ARGS -o json`, parsed; any failure means the cluster cannot be asked at all."""
    try:
        result = subprocess.run(
            [kubectl, *args, "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ClusterUnreachableError(f"{kubectl}: {error}") from error
    if result.returncode != 0:
        raise ClusterUnreachableError(kubectl_error_line(result.stderr))
    try:
        return json.loads(result.stdout)
    except ValueError as error:
        raise ClusterUnreachableError(f"kubectl printed no JSON ({error})") from error


def ready_pods(kubectl: str, namespace: str) -> dict[str, bool]:
    """Pod name → Ready condition, from `kubectl get pods -o json`."""
    pods: dict[str, bool] = {}
    for item in kubectl_json(kubectl, "get", "pods", "-n", namespace).get("items", []):
        name = item.get("metadata", {}).get("name", "")
        conditions = item.get("status", {}).get("conditions") or []
        pods[name] = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return pods


def _rollout_gap(item: dict[str, Any]) -> str | None:
    """Why a Deployment/StatefulSet is not rolled out yet, or None when it is.

    The same conditions `kubectl rollout status` waits for (kubectl
    pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer / StatefulSetStatusViewer):
    the controller has seen the latest spec, every replica runs it, and every replica is ready.
    """
    meta, spec, status = item.get("metadata", {}), item.get("spec", {}), item.get("status", {})
    wanted = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return "spec change not yet observed"
    updated = status.get("updatedReplicas", 0)
    if updated < wanted:
        return f"{updated}/{wanted} replicas updated"
    ready = status.get("readyReplicas", 0)
    if ready < wanted:
        return f"{ready}/{wanted} replicas ready"
    return None


def rollout_check(kubectl: str, namespace: str) -> ClusterCheck:
    """Every Deployment and StatefulSet of the experiment is rolled out.

    `pulumi up` does not await the service rollouts (PostgreSQL, log fetcher, uptime backend,
    log API, dashboard carry skipAwait), so the gate waits for them here, by name.
    """

    def check() -> CheckStatus:
        listing = kubectl_json(kubectl, "get", "deployments,statefulsets", "-n", namespace)
        pending = []
        items = listing.get("items", [])
        for item in items:
            gap = _rollout_gap(item)
            if gap:
                kind = str(item.get("kind", "workload")).lower()
                pending.append(f"{kind}/{item.get('metadata', {}).get('name')} ({gap})")
        if not pending:
            return CheckStatus("rollouts", True, f"{len(items)} workloads rolled out")
        return CheckStatus("rollouts", False, ", ".join(pending))

    return check


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
    checks: Sequence[ClusterCheck] = (),
    parallelism: int = DEFAULT_PARALLELISM,
) -> Sweep:
    """One pass over all four node conditions and every cluster check.

    A node is ready when (a) its pod is Ready, (b) the uptime backend lists its key as a
    submitter (that is how the orchestrator's `discovery` finds it), (c) it answers a signed ITN
    `auth` query with our orchestrator key (so `--itn-keys` is right and the ITN port is
    reachable), and (d) its GraphQL reports `syncStatus == SYNCED` (payments to an unsynced node
    fail).

    Nodes are queried concurrently, at most `parallelism` at a time, so one sweep over hundreds
    of nodes takes seconds, not the sum of every node's round trips.
    """
    results = {node.name: NodeReadiness(node.name) for node in outputs.nodes}
    pods = ready_pods(kubectl, outputs.namespace)
    try:
        host, port, path = url_parts(outputs.uptime_online_url)
        with access.open(host, [port]) as base:
            submitters: set[str] | None = online_submitters(client, base[port] + path)
    except (httpx.HTTPError, ValueError, PortForwardError) as error:
        submitters = None
        for r in results.values():
            r.problems.append(f"uptime backend unreachable ({error})")
    reachable = []
    for node in outputs.nodes:
        result = results[node.name]
        if not pods.get(node.pod, False):
            result.problems.append(
                "pod not Ready" if node.pod in pods else f"pod {node.pod} not found"
            )
        else:
            reachable.append(node)
        if submitters is not None and node.public_key not in submitters:
            result.problems.append("not listed by uptime backend /v1/online")
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        node_checks = [
            pool.submit(_check_node_http, node, access, auth_header, client, results[node.name])
            for node in reachable
        ]
        statuses = [check() for check in checks]
        for future in node_checks:
            future.result()
    return Sweep(list(results.values()), statuses)


def _check_node_http(
    node: NodeEndpoint,
    access: Access,
    auth_header: AuthHeader,
    client: httpx.Client,
    result: NodeReadiness,
) -> None:
    """The signed ITN `auth` query and `syncStatus`, through one tunnel to the node's pod."""
    try:
        with access.open(node.service, [node.itn_port, node.graphql_port], pod=node.pod) as base:
            try:
                itn_auth(client, base[node.itn_port] + "/graphql", auth_header)
            except (httpx.HTTPError, ValueError) as error:
                result.problems.append(f"ITN auth failed: {error}")
            try:
                status = sync_status(client, base[node.graphql_port] + "/graphql")
                if status != "SYNCED":
                    result.problems.append(f"not synced (syncStatus {status})")
            except (httpx.HTTPError, ValueError) as error:
                result.problems.append(f"GraphQL syncStatus failed: {error}")
    except PortForwardError as error:
        result.problems.append(f"unreachable ({error})")


def progress_line(sweep: Sweep, elapsed: float) -> str:
    """`[wait 12s] ready 3/5; waiting: …`, naming at most four nodes and every failing check."""
    waiting = sweep.waiting
    parts = [f"[wait {elapsed:5.0f}s] ready {len(sweep.nodes) - len(waiting)}/{len(sweep.nodes)}"]
    if waiting:
        detail = "; ".join(f"{r.name}: {r.problems[0]}" for r in waiting[:4])
        more = f" (+{len(waiting) - 4} more)" if len(waiting) > 4 else ""
        parts.append(f"waiting: {detail}{more}")
    parts.extend(f"waiting for {c.name}: {c.line}" for c in sweep.failing)
    return "; ".join(parts)


def wait_ready(
    outputs: StackOutputs,
    access: Access,
    auth_header: AuthHeader,
    *,
    kubectl: str,
    timeout: float,
    checks: Sequence[ClusterCheck] = (),
    parallelism: int = DEFAULT_PARALLELISM,
    out: TextIO | None = None,
    first_interval: float = 1.0,
    max_interval: float = 15.0,
) -> Sweep:
    """Poll with exponential backoff; return the last sweep (all ready, or the timeout's)."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    interval = first_interval
    with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), trust_env=False) as client:
        while True:
            sweep = check_once(
                outputs,
                access,
                auth_header,
                kubectl=kubectl,
                client=client,
                checks=checks,
                parallelism=parallelism,
            )
            print(
                progress_line(sweep, time.monotonic() - started),
                file=out or sys.stderr,
                flush=True,
            )
            if sweep.ready:
                return sweep
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return sweep
            time.sleep(min(interval, remaining))
            interval = min(interval * 2, max_interval)
