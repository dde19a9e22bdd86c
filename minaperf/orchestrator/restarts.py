"""Daemon restarts as Kubernetes counts them, since upstream's `node_restarts` table is written only
by its experiments-api, which this stack does not deploy.

`experiment wait` prints a snapshot, `experiment run` saves one before and one after the run in
`<run>/restarts.json`, and the report counts restarts between them. See docs/report.md#restarts.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minaperf.files import read_regular_file
from minaperf.model.outputs import NodeEndpoint
from minaperf.orchestrator.readiness import ClusterUnreachableError, kubectl_json
from minaperf.rfc3339 import read_zoned

RESTARTS_FILE = "restarts.json"
DAEMON_CONTAINER = "mina"  # components/mina_network.py _daemon_container
_MAX_FILE_BYTES = 4 * 1024 * 1024


def pods_snapshot(listing: Any, nodes: list[NodeEndpoint], taken: str) -> dict[str, Any]:
    """One snapshot from a PodList: node name → its pod's daemon container state (a node whose
    pod is missing is absent): the `mina` container's `restartCount` and last termination
    (`lastState.terminated`: reason such as `OOMKilled` or `Error`, exit code, finish time;
    core/v1 ContainerStatus)."""
    by_pod = {node.pod: node.name for node in nodes}
    found: dict[str, dict[str, Any]] = {}
    items = listing.get("items") if isinstance(listing, dict) else None
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        meta = item.get("metadata") or {}
        node = by_pod.get(str(meta.get("name")))
        statuses = (item.get("status") or {}).get("containerStatuses") or []
        mine = [s for s in statuses if isinstance(s, dict) and s.get("name") == DAEMON_CONTAINER]
        if node is None or not mine:
            continue
        count = mine[0].get("restartCount")
        terminated = ((mine[0].get("lastState") or {}).get("terminated")) or {}
        found[node] = {
            "pod": meta.get("name"),
            "uid": meta.get("uid"),
            "restartCount": count if isinstance(count, int) and not isinstance(count, bool) else 0,
            "lastReason": terminated.get("reason"),
            "lastExitCode": terminated.get("exitCode"),
            "lastFinishedAt": terminated.get("finishedAt"),
        }
    return {"time": taken, "nodes": found}


def take(kubectl: str, namespace: str, nodes: list[NodeEndpoint], taken: str) -> dict[str, Any]:
    """A snapshot from the cluster, or `{"time", "error"}` saying why none could be read."""
    try:
        listing = kubectl_json(kubectl, "get", "pods", "-n", namespace)
    except ClusterUnreachableError as error:
        return {"time": taken, "error": str(error)[:300]}
    return pods_snapshot(listing, nodes, taken)


def describe(snapshot: dict[str, Any]) -> str:
    """One line for `experiment wait`: which daemons restarted so far, and why."""
    nodes = snapshot.get("nodes")
    if not isinstance(nodes, dict):
        return f"daemon restarts: not recorded ({snapshot.get('error')})"
    restarted = [
        f"{name} {row['restartCount']} (last {row['lastReason'] or '?'}, "
        f"exit {row['lastExitCode']})"
        for name, row in sorted(nodes.items())
        if row["restartCount"]
    ]
    return "daemon restarts so far: " + ("; ".join(restarted) if restarted else "none")


def save(run_dir: Path, snapshots: list[dict[str, Any]]) -> None:
    """Append snapshots to `<run>/restarts.json` (written whole, renamed into place)."""
    existing = load(run_dir)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{RESTARTS_FILE}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"version": 1, "snapshots": existing + snapshots}, f, indent=2)
        os.replace(tmp, run_dir / RESTARTS_FILE)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load(run_dir: Path) -> list[dict[str, Any]]:
    """The saved snapshots; a missing, oversized or malformed file holds none."""
    path = run_dir / RESTARTS_FILE
    try:
        data = json.loads(read_regular_file(path, limit=_MAX_FILE_BYTES, what="restarts").decode())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return []
    snapshots = data.get("snapshots") if isinstance(data, dict) else None
    if not isinstance(snapshots, list):
        return []
    return [s for s in snapshots if isinstance(s, dict) and isinstance(s.get("time"), str)]


def per_node(snapshots: list[dict[str, Any]]) -> tuple[list[dict[str, Any]] | None, str]:
    """(rows per node, how counted) from snapshots in time order; rows None when none was read.

    From the first snapshot holding a node's pod to the last: the rise of `restartCount` (the
    same pod uid), or the last count when the pod was replaced in between. A node seen in one
    snapshot only counts its restarts since its pod started."""
    readable = [s for s in snapshots if isinstance(s.get("nodes"), dict)]
    readable.sort(key=lambda s: read_zoned(s["time"]) or datetime.min.replace(tzinfo=UTC))
    if not readable:
        errors = [str(s["error"]) for s in snapshots if s.get("error")]
        return None, errors[-1] if errors else "no snapshot was taken"
    names = sorted({name for s in readable for name in s["nodes"]})
    rows = []
    for name in names:
        seen = [s["nodes"][name] for s in readable if isinstance(s["nodes"].get(name), dict)]
        first, last = seen[0], seen[-1]
        if len(seen) == 1:
            count, scope = last["restartCount"], "since the pod started"
        elif first.get("uid") == last.get("uid"):
            count, scope = last["restartCount"] - first["restartCount"], "during the run"
        else:
            count, scope = last["restartCount"], "pod replaced during the run; its restarts"
        rows.append(
            {
                "node": name,
                "pod": last.get("pod"),
                "restarts": max(0, count),
                "scope": scope,
                "lastReason": last.get("lastReason"),
                "lastExitCode": last.get("lastExitCode"),
                "lastFinishedAt": last.get("lastFinishedAt"),
            }
        )
    how = f"Kubernetes restartCount, {len(readable)} snapshot(s) from {readable[0]['time']}"
    return rows, how


def last_termination(row: dict[str, Any]) -> datetime | None:
    return read_zoned(row.get("lastFinishedAt"))
