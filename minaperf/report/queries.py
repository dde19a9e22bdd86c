"""Every figure of the report, aggregated inside PostgreSQL over upstream's tables.

Schema: o1-labs/mina-perf-testing@7da1f2c `load-tests-cluster/init-sql/` (pinned in
minaperf/workloads/schema_pins.py; below "002:n" = 002-init-triggeres.sql line n). Every query is
scoped to one deployment and to the run's window; the run's load is told apart by its memo. What
each table's rows mean, with citations: docs/report.md, "Where the figures come from".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

# Params: d = deployment_id, t0/t1 = window (timestamptz), e0/e1 = the same in epoch seconds,
# load = the memo patterns of the run's load (`load_memo_patterns`).
# Queries are assembled from the constant fragments below only (S608 does not apply); every
# value is a bound parameter.

FIND_DEPLOYMENT = """
SELECT min(deployment_id), (SELECT max(deployment_id) FROM deployment)
FROM deployment WHERE metadata_json->>'name' = %(name)s
"""

SCHEMA_TABLES = (
    "deployment",
    "block_trace",
    "block_trace_checkpoint",
    "tx_traces",
    "unique_txs",
    "block_txs",
    "sw_traces",
    "uniq_sws",
    "sw_interruptions",
    "node_restarts",
)
MISSING_TABLES = """
SELECT t FROM unnest(%(tables)s::text[]) AS t WHERE to_regclass(t) IS NULL
"""

_MINUTE = "floor(extract(epoch FROM {col} - %(t0)s) / 60)::int"

_LOAD = "coalesce({col} ~ ANY(%(load)s::text[]), false)"

# Per minute: (load, other) transactions first seen / included.
SEEN_PER_MINUTE = f"""
SELECT {_MINUTE.format(col="time")} AS minute,
       count(*) FILTER (WHERE {_LOAD.format(col="memo")}),
       count(*) FILTER (WHERE NOT {_LOAD.format(col="memo")})
FROM unique_txs
WHERE deployment_id = %(d)s AND time >= %(t0)s AND time < %(t1)s
GROUP BY 1 ORDER BY 1
"""  # noqa: S608 (constant fragments, bound values)

INCLUDED_PER_MINUTE = f"""
SELECT {_MINUTE.format(col="block_received")} AS minute,
       count(*) FILTER (WHERE {_LOAD.format(col="memo")}),
       count(*) FILTER (WHERE NOT {_LOAD.format(col="memo")})
FROM block_txs
WHERE deployment_id = %(d)s AND block_received >= %(t0)s AND block_received < %(t1)s
GROUP BY 1 ORDER BY 1
"""  # noqa: S608 (constant fragments, bound values)

# Pool events across all nodes: how much gossip the load caused, and what the pools rejected.
# A tx_traces / sw_traces row belongs to the deployment of its control checkpoint's trace. Its
# `node_name` is copied from that trace (002:185-196 tx_traces_add selects `b.node_name` of the
# trace; sw_traces_add the same, 003), so when no other deployment has a trace with one of this
# deployment's node names, "node_name among this deployment's" selects exactly the same rows
# without joining the checkpoint table (two to three times faster at 10 M rows, see
# benchmarks/bench_report.py). NAMES_SHARED decides; otherwise the exact join runs.
NAMES_SHARED = """
SELECT EXISTS (
  SELECT 1 FROM block_trace o
  WHERE o.deployment_id <> %(d)s
    AND o.node_name IN (SELECT node_name FROM block_trace WHERE deployment_id = %(d)s)
)
"""

_TRACES_BY_JOIN = """
FROM {table} t
JOIN block_trace_checkpoint c ON c.block_trace_checkpoint_id = t.block_trace_checkpoint_id
JOIN block_trace b ON b.block_trace_id = c.block_trace_id
WHERE b.deployment_id = %(d)s AND t.time >= %(t0)s AND t.time < %(t1)s
"""

_TRACES_BY_NAME = """
FROM {table} t
WHERE t.node_name IN (SELECT node_name FROM block_trace WHERE deployment_id = %(d)s)
  AND t.time >= %(t0)s AND t.time < %(t1)s
"""

_POOL_EVENTS = """
SELECT floor(extract(epoch FROM t.time - %(t0)s) / 60)::int AS minute, t.action::text, count(*)
{scope}
GROUP BY 1, 2 ORDER BY 1, 2
"""

_POOL_REJECTIONS = """
SELECT coalesce(t.reason, '(no reason)'), count(*)
{scope} AND t.action = 'rejected'
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10
"""

_SNARK_EVENTS = """
SELECT t.action::text, count(*)
{scope}
GROUP BY 1 ORDER BY 1
"""


def _traces(template: str, table: str) -> tuple[str, str]:
    """(exact join, by node name) variants of a query over tx_traces or sw_traces."""
    return (
        template.format(scope=_TRACES_BY_JOIN.format(table=table)),
        template.format(scope=_TRACES_BY_NAME.format(table=table)),
    )


POOL_EVENTS_PER_MINUTE, POOL_EVENTS_PER_MINUTE_BY_NAME = _traces(_POOL_EVENTS, "tx_traces")
POOL_REJECTIONS, POOL_REJECTIONS_BY_NAME = _traces(_POOL_REJECTIONS, "tx_traces")
SNARK_EVENTS, SNARK_EVENTS_BY_NAME = _traces(_SNARK_EVENTS, "sw_traces")

# Achieved throughput: load transactions included while the load ran ([l0, l1), exact times).
LOAD_INCLUDED_WHILE_RUNNING = f"""
SELECT count(*)
FROM block_txs
WHERE deployment_id = %(d)s AND block_received >= greatest(%(t0)s, %(l0)s)
  AND block_received < least(%(t1)s, %(l1)s) AND {_LOAD.format(col="memo")}
"""  # noqa: S608 (constant fragments, bound values)

# Load seen in the window, and of those, included (at any time) and with which result; then the
# other transactions (funding and anything not of the run's load) seen and of those included.
LOAD_TOTALS = f"""
WITH seen AS (
  SELECT u.type, b.hash AS included, b.result, {_LOAD.format(col="u.memo")} AS load
  FROM unique_txs u
  LEFT JOIN block_txs b ON b.hash = u.hash AND b.deployment_id = u.deployment_id
  WHERE u.deployment_id = %(d)s AND u.time >= %(t0)s AND u.time < %(t1)s
)
SELECT count(*) FILTER (WHERE load) AS seen,
       count(included) FILTER (WHERE load) AS included,
       count(*) FILTER (WHERE load AND result = 'Failed') AS failed,
       count(*) FILTER (WHERE load AND type <> 'payment') AS zkapps,
       count(*) FILTER (WHERE NOT load) AS other_seen,
       count(included) FILTER (WHERE NOT load) AS other_included
FROM seen
"""  # noqa: S608 (constant fragments, bound values)

_LATENCY = f"""
WITH lat AS (
  SELECT u.time, extract(epoch FROM b.block_received - u.time)::float8 AS s
  FROM unique_txs u
  JOIN block_txs b ON b.hash = u.hash AND b.deployment_id = u.deployment_id
  WHERE u.deployment_id = %(d)s AND u.time >= %(t0)s AND u.time < %(t1)s
    AND {_LOAD.format(col="u.memo")}
)
"""  # noqa: S608 (constant fragments, bound values)

LATENCY = (
    _LATENCY
    + """
SELECT count(*),
       percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY s),
       max(s)
FROM lat
"""
)

LATENCY_PER_MINUTE = (
    _LATENCY
    + f"""
SELECT {_MINUTE.format(col="time")} AS minute, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY s),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY s),
       max(s)
FROM lat GROUP BY 1 ORDER BY 1
"""  # noqa: S608 (constant fragments, bound values)
)

# A consumer that restarts reads its node's log again and writes a second `block_trace` row for a
# block it already traced (ITC src/persistent_registry.ml:20 keeps the block→trace map in memory
# only), so each (node, block) counts once: its first row (lowest `block_trace_id`).
_PRODUCED = """
WITH produced AS (
  SELECT DISTINCT ON (block_id) block_id, node_name AS producer, trace_completed_at AS at
  FROM block_trace
  WHERE deployment_id = %(d)s AND source = 'Internal' AND status = 'Success'
    AND block_id <> '0' AND trace_started_at >= %(e0)s AND trace_started_at < %(e1)s
  ORDER BY block_id, block_trace_id
),
received AS (
  SELECT DISTINCT ON (r.node_name, r.block_id) r.node_name, r.trace_started_at - p.at AS delay
  FROM produced p
  JOIN block_trace r ON r.block_id = p.block_id AND r.deployment_id = %(d)s
  WHERE r.source = 'External' AND r.node_name <> p.producer AND r.trace_started_at > 0
  ORDER BY r.node_name, r.block_id, r.block_trace_id
)
"""

# Production = the producer's trace end (its breadcrumb integrated, right before it broadcasts);
# receipt = the first checkpoint of the receiving node's trace (`External_block_received`).
PROPAGATION_PER_NODE = (
    _PRODUCED
    + """
SELECT node_name, count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY delay),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY delay),
       max(delay)
FROM received GROUP BY node_name
ORDER BY 4 DESC, node_name
"""
)

PROPAGATION_TOTAL = (
    _PRODUCED  # noqa: S608 (constant fragments, bound values)
    + """
SELECT (SELECT count(*) FROM produced), count(*),
       percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY delay),
       max(delay)
FROM received
"""
)

# A block counts when it was produced inside the window: its production time is its earliest
# trace in the deployment (the producer's `Begin_block_production` when a producer of ours made
# it, else the first node to receive it), not when some node happened to receive it.
_BLOCKS = """
FROM (
  SELECT block_id, min(blockchain_length) AS blockchain_length, min(global_slot) AS global_slot
  FROM block_trace
  WHERE deployment_id = %(d)s AND status = 'Success' AND block_id <> '0'
    AND blockchain_length > 0 AND trace_started_at > 0
  GROUP BY block_id
  HAVING min(trace_started_at) >= %(e0)s AND min(trace_started_at) < %(e1)s
) blocks
"""

BLOCKS_PER_PRODUCER = """
SELECT node_name, count(DISTINCT block_id)
FROM block_trace
WHERE deployment_id = %(d)s AND source = 'Internal' AND status = 'Success' AND block_id <> '0'
  AND trace_started_at >= %(e0)s AND trace_started_at < %(e1)s
GROUP BY node_name ORDER BY node_name
"""

CHAIN_TOTALS = f"""
SELECT count(DISTINCT block_id), count(DISTINCT global_slot), count(DISTINCT blockchain_length),
       min(global_slot), max(global_slot)
{_BLOCKS}
"""

FORKS = f"""
SELECT blockchain_length, count(DISTINCT block_id)
{_BLOCKS}
GROUP BY 1 HAVING count(DISTINCT block_id) > 1 ORDER BY 1
"""

# Request to proof: from the work being scheduled to its proof arriving in a pool (upstream's
# sw_experiments view measures the same `time_received - time_scheduled`, 003:314).
SNARK_DELAY = """
WITH w AS (
  SELECT extract(epoch FROM time_received - time_scheduled)::float8 AS s
  FROM uniq_sws
  WHERE deployment_id = %(d)s AND time_received >= %(t0)s AND time_received < %(t1)s
    AND time_scheduled IS NOT NULL
)
SELECT count(*), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY s), max(s) FROM w
"""

SNARK_UNIQUE = """
SELECT count(*)
FROM uniq_sws
WHERE deployment_id = %(d)s AND time_received >= %(t0)s AND time_received < %(t1)s
"""

SNARK_INTERRUPTIONS = """
SELECT reason, count(*)
FROM sw_interruptions
WHERE deployment_id = %(d)s AND time >= %(t0)s AND time < %(t1)s
GROUP BY 1 ORDER BY 2 DESC, 1
"""

RESTARTS = """
SELECT node_name, time, reason, code
FROM node_restarts
WHERE deployment_id = %(d)s AND time >= %(t0)s AND time < %(t1)s
ORDER BY time, node_name LIMIT 1000
"""

RESTARTS_PER_NODE = """
SELECT node_name, count(*)
FROM node_restarts
WHERE deployment_id = %(d)s AND time >= %(t0)s AND time < %(t1)s
GROUP BY 1 ORDER BY 2 DESC, 1
"""

# Blocks a node had to fetch by catch-up instead of gossip: the database's trace of a node
# falling out of sync (source `Catchup` on `To_download`, 002 block_trace_update_source_trigger).
CATCHUP_PER_NODE = """
SELECT node_name, count(DISTINCT block_id),
       min(trace_started_at), max(trace_started_at)
FROM block_trace
WHERE deployment_id = %(d)s AND source = 'Catchup'
  AND trace_started_at >= %(e0)s AND trace_started_at < %(e1)s
GROUP BY 1 ORDER BY 2 DESC, 1
"""


def load_memo_patterns(experiment_names: Iterable[str]) -> list[str]:
    """PostgreSQL regular expressions matching the memos of the load of these `experimentName`s:
    `{experimentName}-<batch>-<i>` (see the module docstring), the name matched literally."""
    patterns = []
    for name in sorted(set(experiment_names)):
        literal = "".join(c if c.isalnum() else "\\" + c for c in name)
        patterns.append(f"^{literal}-[0-9]+-[0-9]+$")
    return patterns


@dataclass(frozen=True)
class Scope:
    deployment_id: int
    start: datetime
    end: datetime
    experiment_names: tuple[str, ...] = ()
    load_span: tuple[datetime, datetime] | None = None  # first load start, last load end

    def params(self) -> dict[str, Any]:
        l0, l1 = self.load_span or (self.start, self.end)
        return {
            "l0": l0,
            "l1": l1,
            "d": self.deployment_id,
            "t0": self.start,
            "t1": self.end,
            "e0": self.start.timestamp(),
            "e1": self.end.timestamp(),
            "load": load_memo_patterns(self.experiment_names),
        }


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _pcts(values: Any, names: tuple[str, ...]) -> dict[str, float | None]:
    values = values or [None] * len(names)
    return {name: _num(v) for name, v in zip(names, values, strict=True)}


def collect(conn: psycopg.Connection, scope: Scope) -> dict[str, Any]:
    """Raw figures from the database for one deployment and window (no derived ratios)."""
    p = scope.params()

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql, p).fetchall())  # type: ignore[arg-type]

    def one(sql: str) -> tuple[Any, ...]:
        row = conn.execute(sql, p).fetchone()  # type: ignore[arg-type]
        assert row is not None  # aggregates without GROUP BY always return one row
        return tuple(row)

    conn.execute("SET jit = off")  # compiling costs more than it saves on these one-off scans
    conn.execute("SET work_mem = '64MB'")  # per-minute groups sort in memory
    exclusive = not one(NAMES_SHARED)[0]
    pool_sql = POOL_EVENTS_PER_MINUTE_BY_NAME if exclusive else POOL_EVENTS_PER_MINUTE
    rejections_sql = POOL_REJECTIONS_BY_NAME if exclusive else POOL_REJECTIONS
    snark_sql = SNARK_EVENTS_BY_NAME if exclusive else SNARK_EVENTS
    seen, included, failed, zkapps, other_seen, other_included = one(LOAD_TOTALS)
    seen_pm = rows(SEEN_PER_MINUTE)
    included_pm = rows(INCLUDED_PER_MINUTE)
    pool: dict[int, dict[str, int]] = {}
    for minute, action, count in rows(pool_sql):
        pool.setdefault(minute, {})[action] = count
    lat_n, lat_p, lat_max = one(LATENCY)
    prod_blocks, recv_n, prop_p, prop_max = one(PROPAGATION_TOTAL)
    blocks, slots_filled, heights, slot_min, slot_max = one(CHAIN_TOTALS)
    sw_n, sw_p, sw_max = one(SNARK_DELAY)
    return {
        "scoping": "node names" if exclusive else "checkpoint join",
        "load": {
            "seenPerMinute": {m: c for m, c, _ in seen_pm if c},
            "includedPerMinute": {m: c for m, c, _ in included_pm if c},
            "otherSeenPerMinute": {m: c for m, _, c in seen_pm if c},
            "otherIncludedPerMinute": {m: c for m, _, c in included_pm if c},
            "includedWhileRunning": one(LOAD_INCLUDED_WHILE_RUNNING)[0],
            "otherSeen": other_seen,
            "otherIncluded": other_included,
            "poolEventsPerMinute": pool,
            "rejections": [{"reason": r, "count": c} for r, c in rows(rejections_sql)],
            "seen": seen,
            "includedOfSeen": included,
            "failedOfSeen": failed,
            "zkappsOfSeen": zkapps,
        },
        "latency": {
            "count": lat_n,
            **_pcts(lat_p, ("p50", "p90", "p99")),
            "max": _num(lat_max),
            "perMinute": [
                {"minute": m, "count": n, "p50": _num(a), "p90": _num(b), "max": _num(c)}
                for m, n, a, b, c in rows(LATENCY_PER_MINUTE)
            ],
        },
        "propagation": {
            "blocksProduced": prod_blocks,
            "receipts": recv_n,
            **_pcts(prop_p, ("p50", "p90", "p99")),
            "max": _num(prop_max),
            "perNode": [
                {"node": node, "blocks": n, "p50": _num(a), "p90": _num(b), "max": _num(c)}
                for node, n, a, b, c in rows(PROPAGATION_PER_NODE)
            ],
        },
        "production": {
            "perProducer": {node: n for node, n in rows(BLOCKS_PER_PRODUCER)},
            "blocks": blocks,
            "slotsFilled": slots_filled,
            "heights": heights,
            "firstSlot": slot_min,
            "lastSlot": slot_max,
            "forks": [{"height": h, "blocks": n} for h, n in rows(FORKS)],
        },
        "snark": {
            "events": {action: n for action, n in rows(snark_sql)},
            "uniqueWorks": one(SNARK_UNIQUE)[0],
            "delayCount": sw_n,
            **_pcts(sw_p, ("delayP50", "delayP90")),
            "delayMax": _num(sw_max),
            "interruptions": [{"reason": r, "count": n} for r, n in rows(SNARK_INTERRUPTIONS)],
        },
        "health": {
            "restarts": [
                {"node": node, "time": t, "reason": reason, "code": code}
                for node, t, reason, code in rows(RESTARTS)
            ],
            "restartsPerNode": {node: n for node, n in rows(RESTARTS_PER_NODE)},
            "catchupPerNode": [
                {"node": node, "blocks": n, "first": _num(a), "last": _num(b)}
                for node, n, a, b in rows(CATCHUP_PER_NODE)
            ],
        },
    }
