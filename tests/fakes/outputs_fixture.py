"""Stack outputs for tests, as a dict using the wire (alias) names `outputs.json` has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# ITC test vector (mina-nodes §2.4): seed → public key.
ORCHESTRATOR_KEY = "SzhpFfwa6RMFQTLLTyoriUJrUXYY9kyYxbNu5DsCm1k="
ORCHESTRATOR_PUBLIC_KEY = "BaG9HYTNxkqyX7haFnz/HXL9FhYwS4gdQ7uYWiStgoY="
# Seed-issue vector, used as "some other key" (the fetcher's).
OTHER_PUBLIC_KEY = "gSsHGULVizunF+UC6z2p9/rJwLSwb4Y/wHYreSHUY+I="
RECEIVER = "B62qii4xfjQ3Vg5dsq7RakYTENQkdD8pFPMgqtUdC9FhgvBbwEbRoML"
GENESIS = "2026-01-02T03:04:05Z"


def node(
    name: str,
    *,
    role: str = "plain",
    host: str = "127.0.0.1",
    itn_port: int = 3086,
    graphql_port: int = 3085,
) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "publicKey": f"B62q-{name}",
        "service": host,
        "pod": f"{name}-0",
        "clientPort": 8301,
        "graphqlPort": graphql_port,
        "itnPort": itn_port,
        "libp2pPort": 8302,
    }


def make_outputs(
    *,
    nodes: list[dict[str, Any]] | None = None,
    online_url: str = "http://uptime-backend.exp1.svc.cluster.local:8080/v1/online",
    work_dir: str = "/work",
    orchestrator_key: str = ORCHESTRATOR_KEY,
) -> dict[str, Any]:
    if nodes is None:
        nodes = [
            node("seed", role="seed", host="seed.exp1.svc.cluster.local"),
            node("bp-1", role="block-producer", host="bp-1.exp1.svc.cluster.local"),
            node("plain-1", host="plain-1.exp1.svc.cluster.local"),
        ]
    return {
        "experiment": "exp1",
        "namespace": "exp1",
        "platform": "kubernetes",
        "expiresAt": "2026-12-31T00:00:00Z",
        "nodes": nodes,
        "seedMultiaddr": "/dns4/seed.exp1.svc.cluster.local/tcp/8302/p2p/12D3KooWSeed",
        "uptimeOnlineUrl": online_url,
        "uptimeSubmitUrl": online_url.replace("/v1/online", "/v1/submit"),
        "genesisTimestamp": GENESIS,
        "slotDurationMs": 20000,
        "proofLevel": "none",
        "fundDaemonPorts": [f"{n['service']}:{n['clientPort']}" for n in nodes],
        "orchestratorKey": orchestrator_key,
        "orchestratorPublicKey": ORCHESTRATOR_PUBLIC_KEY,
        "fetcherPublicKey": OTHER_PUBLIC_KEY,
        "fundingKeys": "[secret]",
        "workspace": {
            "namespace": "exp1",
            "pod": "orchestrator-0",
            "container": "orchestrator",
            "workDir": work_dir,
            "configPath": f"{work_dir}/orchestrator-config.json",
            "fundingKeyDir": f"{work_dir}/funding-keys",
            "minaExec": "/usr/local/bin/mina",
            "orchestratorExec": "/usr/local/bin/orchestrator",
        },
        "logApiUrl": "http://log-api.exp1.svc.cluster.local:9080",
        "postgres": {
            "host": "postgres.exp1.svc.cluster.local",
            "port": 5432,
            "database": "itn",
            "user": "itn",
            "keepDataOnDestroy": True,
        },
        "postgresPassword": "[secret]",
        "workerPool": {
            "kind": "pods",
            "servers": 1,
            "processesPerServer": 2,
            "coordinatorAddress": "snark-coordinator.exp1.svc.cluster.local:8301",
        },
        "estimatedHourlyCostUsd": 1.5,
    }


def write_outputs(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def worker_pod_item(
    name: str = "snark-workers-5d9c7-x2x7q", *, ready: bool = True
) -> dict[str, Any]:
    """A worker pod as `kubectl get pods -o json` lists it: what `wait` counts for the one
    worker pod `make_outputs` configures (`workerPool.servers`)."""
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "snark-worker"}},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
