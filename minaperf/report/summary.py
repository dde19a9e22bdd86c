"""The report's figures: database aggregates plus the run's schedule, with every ratio guarded.

`summary.json` is this structure. Each section carries `status` (`ok` or `no data`) and, when
there is nothing to show, a `note` saying what is missing, so a half-failed run or an empty window
reads as "no data" instead of a zero or a division error.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from minaperf.model.outputs import StackOutputs
from minaperf.orchestrator.restarts import last_termination
from minaperf.report.run import RunStory
from minaperf.rfc3339 import format_utc

SUMMARY_VERSION = 1
NO_DATA = "no data"
SECTIONS = ("load", "latency", "propagation", "production", "snark", "health")
"""A report with any of these sections without data is incomplete (`complete: false`)."""

# Headline figures: (section, key, label, unit) — the page's headlines, the --compare table and
# the names a verdict's limits use (minaperf/report/verdict.py).
HEADLINES: tuple[tuple[str, str, str, str], ...] = (
    ("load", "scheduled", "transactions scheduled", ""),
    ("load", "seen", "transactions seen in pools", ""),
    ("load", "included", "transactions included", ""),
    ("load", "achievedTps", "achieved TPS", "tx/s"),
    ("load", "shareIncluded", "share of seen included", "%"),
    ("latency", "p50", "inclusion latency p50", "s"),
    ("latency", "p90", "inclusion latency p90", "s"),
    ("latency", "p99", "inclusion latency p99", "s"),
    ("latency", "max", "inclusion latency max", "s"),
    ("propagation", "p50", "block propagation p50", "s"),
    ("propagation", "p90", "block propagation p90", "s"),
    ("production", "blocks", "blocks (all forks)", ""),
    ("production", "slotFillRate", "slots filled", "%"),
    ("production", "orphans", "orphaned blocks", ""),
    ("snark", "produced", "snark works", ""),
    ("snark", "requestToProofP50", "snark request→proof p50", "s"),
    ("health", "restartsTotal", "node restarts", ""),
)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def iso(t: datetime | None) -> str | None:
    return format_utc(t) if t else None


def _section(ok: bool, note: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok" if ok else NO_DATA, **({} if ok else {"note": note}), **body}


def node_labels(outputs: StackOutputs | None, names: list[str]) -> dict[str, str]:
    """Consumer node names (`<last 8 chars of pk>-<ip>-<port>`, perf-services §2.2) → `bp-1 (…)`."""
    by_suffix = {n.public_key[-8:]: n.name for n in outputs.nodes} if outputs else {}
    labels = {}
    for name in names:
        ours = by_suffix.get(name.split("-", 1)[0])
        labels[name] = f"{ours} ({name})" if ours else name
    return labels


def window(story: RunStory, grace: timedelta) -> tuple[datetime, datetime]:
    """From the run's start to the end of its effect (finish or scheduled load) plus a grace."""
    return story.started, story.window_end + grace


def build_summary(
    *,
    story: RunStory,
    start: datetime,
    end: datetime,
    db: dict[str, Any] | None,
    db_note: str | None,
    outputs: StackOutputs | None,
    deployment: dict[str, Any] | None,
    generated: datetime,
    restarts: tuple[list[dict[str, Any]] | None, str] = (None, "no snapshot was taken"),
) -> dict[str, Any]:
    minutes = max(1, math.ceil((end - start).total_seconds() / 60))
    summary: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "generated": iso(generated),
        "experiment": outputs.experiment if outputs else None,
        "deployment": deployment,
        "window": {"start": iso(start), "end": iso(end), "minutes": minutes},
        "sources": {"run": "ok", "database": db_note or "ok"},
        "run": story.as_json(),
    }
    missing = db_note or "the database was not read"
    raw = db or {}
    summary["load"] = _load(story, start, minutes, raw.get("load"), missing)
    summary["latency"] = _latency(raw.get("latency"), missing)
    summary["propagation"] = _propagation(raw.get("propagation"), outputs, missing)
    summary["production"] = _production(
        raw.get("production"), outputs, end - start, missing, raw.get("propagation")
    )
    summary["snark"] = _snark(raw.get("snark"), missing)
    summary["health"] = _health(raw.get("health"), outputs, start, missing, restarts)
    empty = [name for name in SECTIONS if summary[name]["status"] == NO_DATA]
    summary["complete"] = not empty
    summary["incomplete"] = [f"{name}: {summary[name]['note']}" for name in empty]
    return summary


def _load(
    story: RunStory, start: datetime, minutes: int, raw: dict[str, Any] | None, missing: str
) -> dict[str, Any]:
    scheduled = story.scheduled_per_minute(start, minutes)
    total_scheduled = sum(scheduled)
    raw = raw or {}
    seen_pm = raw.get("seenPerMinute", {})
    incl_pm = raw.get("includedPerMinute", {})
    pool_pm = raw.get("poolEventsPerMinute", {})
    other_seen_pm = raw.get("otherSeenPerMinute", {})
    per_minute = [
        {
            "minute": m,
            "scheduled": round(scheduled[m], 3),
            "seen": seen_pm.get(m, 0),
            "included": incl_pm.get(m, 0),
            "poolReceived": pool_pm.get(m, {}).get("received", 0),
            "poolAccepted": pool_pm.get(m, {}).get("accepted", 0),
            "poolRejected": pool_pm.get(m, {}).get("rejected", 0),
            "otherSeen": other_seen_pm.get(m, 0),
        }
        for m in range(minutes)
    ]
    included = sum(incl_pm.values())
    seen = raw.get("seen", 0)
    # Achieved TPS over the load itself (first receipt to last stop or planned end, to the
    # second), not the set-up steps before it nor whole minutes around it.
    span = story.load_span
    load_seconds = (span[1] - span[0]).total_seconds() if span else minutes * 60
    load_included = raw.get("includedWhileRunning", included)
    has_data = bool(seen or included or total_scheduled)
    note = missing if raw == {} else "no transactions were scheduled, seen or included"
    return _section(
        has_data,
        note,
        {
            "scheduled": round(total_scheduled, 3),
            "scheduledTps": max(story.step_tps.values(), default=None),
            "seen": seen,
            "included": included,
            "includedOfSeen": raw.get("includedOfSeen", 0),
            "failedOfSeen": raw.get("failedOfSeen", 0),
            "zkappsOfSeen": raw.get("zkappsOfSeen", 0),
            "includedWhileRunning": load_included,
            "loadSeconds": load_seconds,
            "achievedTps": ratio(load_included, load_seconds),
            "experimentNames": list(story.experiment_names),
            "other": {
                "note": "funding and every transaction without the load's memo; not load",
                "seen": raw.get("otherSeen", 0),
                "included": raw.get("otherIncluded", 0),
            },
            "shareIncluded": ratio(raw.get("includedOfSeen"), seen),
            "shareOfScheduled": ratio(included, total_scheduled),
            "rejections": raw.get("rejections", []),
            "perMinute": per_minute,
        },
    )


def _latency(raw: dict[str, Any] | None, missing: str) -> dict[str, Any]:
    raw = raw or {}
    count = raw.get("count", 0)
    note = missing if not raw else "no transaction was both seen in a pool and included"
    return _section(
        bool(count),
        note,
        {
            "unit": "s",
            "count": count,
            **{k: raw.get(k) for k in ("p50", "p90", "p99", "max")},
            "perMinute": raw.get("perMinute", []),
        },
    )


def _propagation(
    raw: dict[str, Any] | None, outputs: StackOutputs | None, missing: str
) -> dict[str, Any]:
    raw = raw or {}
    per_node = raw.get("perNode", [])
    labels = node_labels(outputs, [n["node"] for n in per_node])
    nodes = [{**n, "label": labels[n["node"]]} for n in per_node]
    note = missing if not raw else "no block produced in the window reached another node"
    return _section(
        bool(raw.get("receipts")),
        note,
        {
            "unit": "s",
            "blocksProduced": raw.get("blocksProduced", 0),
            "receipts": raw.get("receipts", 0),
            **{k: raw.get(k) for k in ("p50", "p90", "p99", "max")},
            "perNode": nodes,
            "slowest": [n["label"] for n in nodes[:5]],
        },
    )


def _production(
    raw: dict[str, Any] | None,
    outputs: StackOutputs | None,
    span: timedelta,
    missing: str,
    propagation: dict[str, Any] | None,
) -> dict[str, Any]:
    raw = raw or {}
    per_producer: dict[str, int] = raw.get("perProducer", {})
    labels = node_labels(outputs, list(per_producer))
    total = sum(per_producer.values())
    producers = [n for n in outputs.nodes if n.role == "block-producer"] if outputs else []
    # Every producer holds `network.blockProducerStake` in the genesis ledger the stack builds
    # (minaperf/workloads/genesis.py); funding accounts are delegated round-robin, so shares are
    # ~equal.
    stake_share = ratio(1, len(producers))
    seen_names = {labels[n].split(" ", 1)[0] for n in per_producer}
    rows = [
        {
            "node": node,
            "label": labels[node],
            "blocks": count,
            "blockShare": ratio(count, total),
            "stakeShare": stake_share,
        }
        for node, count in sorted(per_producer.items())
    ]
    rows += [
        {"node": p.name, "label": p.name, "blocks": 0, "blockShare": 0.0, "stakeShare": stake_share}
        for p in producers
        if p.name not in seen_names and total
    ]
    slot_ms = outputs.slot_duration_ms if outputs else None
    elapsed = math.floor(span.total_seconds() * 1000 / slot_ms) if slot_ms else None
    blocks = raw.get("blocks", 0)
    heights = raw.get("heights", 0)
    note = missing if not raw else "no block was produced or received in the window"
    return _section(
        bool(blocks or total),
        note,
        {
            "producers": rows,
            "blocks": blocks,
            "slotsFilled": raw.get("slotsFilled", 0),
            "slotsElapsed": elapsed,
            "slotFillRate": ratio(raw.get("slotsFilled", 0), elapsed),
            "heights": heights,
            "forks": raw.get("forks", []),
            "orphans": max(0, blocks - heights),
            "blocksProducedTraced": (propagation or {}).get("blocksProduced", 0),
        },
    )


def _snark(raw: dict[str, Any] | None, missing: str) -> dict[str, Any]:
    raw = raw or {}
    events: dict[str, int] = raw.get("events", {})
    has = bool(sum(events.values()) or raw.get("uniqueWorks") or raw.get("interruptions"))
    note = missing if not raw else "no snark work was recorded in the window"
    return _section(
        has,
        note,
        {
            "unit": "s",
            "events": events,
            "produced": raw.get("uniqueWorks", 0),
            "accepted": events.get("accepted", 0),
            "rejected": events.get("rejected", 0),
            "requestToProofCount": raw.get("delayCount", 0),
            "requestToProofP50": raw.get("delayP50"),
            "requestToProofP90": raw.get("delayP90"),
            "requestToProofMax": raw.get("delayMax"),
            "interruptions": raw.get("interruptions", []),
        },
    )


def _health(
    raw: dict[str, Any] | None,
    outputs: StackOutputs | None,
    start: datetime,
    missing: str,
    kube: tuple[list[dict[str, Any]] | None, str],
) -> dict[str, Any]:
    """Restarts from Kubernetes (minaperf/report/restarts.py), else from upstream's
    `node_restarts` table when something wrote it, else "not recorded"; catch-up from traces."""
    raw = raw or {}
    rows, how = kube
    db_restarts = raw.get("restarts", [])
    catchup = raw.get("catchupPerNode", [])
    labels = node_labels(outputs, [r["node"] for r in db_restarts] + [c["node"] for c in catchup])
    events = []
    if rows is not None:  # one source of restarts: Kubernetes when it could be read
        source = "kubernetes"
        per_node = {r["node"]: r["restarts"] for r in rows if r["restarts"]}
        for r in rows:
            at = last_termination(r)
            if r["restarts"] and at is not None and at >= start:
                events.append(
                    {
                        "node": r["node"],
                        "label": r["node"],
                        "time": at,
                        "reason": r["lastReason"],
                        "code": r["lastExitCode"],
                    }
                )
    elif db_restarts:
        source, how = "node_restarts table", "upstream's node_restarts table (experiments-api)"
        per_node = raw.get("restartsPerNode", {})
        events = [
            {
                "node": r["node"],
                "label": labels[r["node"]],
                "time": r["time"],
                "reason": r["reason"],
                "code": r["code"],
            }
            for r in db_restarts
        ]
    else:
        source, per_node = None, {}
    note = missing if not raw else "no restarts and no catch-up recorded in the window"
    return _section(
        bool(raw) or rows is not None,
        note,
        {
            "restartsRecorded": source is not None,
            "restartSource": source,
            "restartsHow": how,
            "restartsTotal": sum(per_node.values()) if source is not None else None,
            "restartsPerNode": per_node,
            "restartNodes": rows or [],
            "restarts": [
                {**e, "time": iso(e["time"]), "minute": (e["time"] - start).total_seconds() / 60}
                for e in sorted(events, key=lambda e: e["time"])
            ],
            "catchup": [{**c, "label": labels[c["node"]]} for c in catchup],
            "syncStatus": "not recorded in the database; catch-up blocks per node stand in",
        },
    )
