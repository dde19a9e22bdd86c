"""Report aggregation time on a generated experiment (default: 24 h, 250 nodes, 10 M tx_traces).

    python -m benchmarks.bench_report [--rows N] [--nodes 250] [--hours 24] [--repeat 3]

Fills a throw-away PostgreSQL 15 (upstream's pinned schema, the stack's shared_buffers) with rows
shaped as the log consumer and its triggers leave them, then times
`minaperf.report.queries.collect` (every figure, in SQL) and each query alone.
See docs/report.md#running-it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from minaperf.report import queries
from minaperf.workloads.services import POSTGRES_SHARED_BUFFERS
from tests.fakes.consumer_db import (
    PgImage,
    find_pg_bindir,
    pick_run_as,
    start_upstream_server,
    stop_server,
)

# The rows are generated in SQL with triggers off (`session_replication_role = replica`): going
# through the triggers costs a round of trigger work per row, which is the consumer's cost, not
# the report's. What the triggers would have derived is generated directly with the same shape:
# per tx_traces row, its gossip checkpoint and its control checkpoint (metadata with the diff);
# one `0` trace per node; one trace per node per block (Internal on the producer, External
# elsewhere); `unique_txs` / `block_txs` one row per transaction. A second deployment with its
# own rows in the same window checks nothing leaks into the timing by accident.
GENERATE = """
SET session_replication_role = replica;
INSERT INTO deployment (metadata_json) VALUES ('{"name": "exp-41"}'), ('{"name": "exp-42"}');

-- one `0` trace per node (checkpoints outside blocks), ids 1..nodes for deployment 2
INSERT INTO block_trace (block_trace_id, deployment_id, node_name, block_id, trace_started_at,
  trace_completed_at, total_time, source, blockchain_length, global_slot, status, metadata_json)
SELECT n, 2, lpad(n::text, 8, '0') || '-10.0.' || n || '-3085', '0', -1, -1, 0, 'Unknown', 0, 0,
  'Pending', '{}'
FROM generate_series(1, %(nodes)s) n;
SELECT setval('block_trace_block_trace_id_seq', %(nodes)s);

-- blocks: 90%% of 180 s slots filled, 10 producers; Internal on the producer, External elsewhere
INSERT INTO block_trace (deployment_id, node_name, block_id, trace_started_at, trace_completed_at,
  total_time, source, blockchain_length, global_slot, status, metadata_json)
SELECT 2, lpad(n::text, 8, '0') || '-10.0.' || n || '-3085', '3N' || s,
  CASE WHEN n = 1 + s %% 10 THEN %(e0)s + s * 180 + 1
       ELSE %(e0)s + s * 180 + 7 + random() * 4 END,
  CASE WHEN n = 1 + s %% 10 THEN %(e0)s + s * 180 + 6
       ELSE %(e0)s + s * 180 + 12 + random() * 4 END,
  5, CASE WHEN n = 1 + s %% 10 THEN 'Internal' ELSE 'External' END, s + 1, s, 'Success', '{}'
FROM generate_series(0, %(slots)s - 1) s, generate_series(1, %(nodes)s) n
WHERE s %% 10 <> 9;
SELECT setval('block_trace_block_trace_id_seq', (SELECT max(block_trace_id) FROM block_trace));

-- transactions: first sighting, inclusion (95%%), results
INSERT INTO unique_txs (hash, deployment_id, type, memo, time)
SELECT 'Ckp' || i, 2, CASE WHEN i %% 20 = 0 THEN 'zkapp_command' ELSE 'payment' END,
  'exp-1-0-' || i, %(t0)s + (i * %(spacing)s) * interval '1 second'
FROM generate_series(1, %(txs)s) i;
INSERT INTO block_txs (hash, deployment_id, type, memo, block_received, result)
SELECT hash, 2, type, memo, time + (5 + random() * 300) * interval '1 second',
  CASE WHEN random() < 0.01 THEN 'Failed' ELSE 'Applied' END
FROM unique_txs WHERE random() < 0.95;

-- per pool event: gossip checkpoint (2k-1) and control checkpoint with the diff (2k)
INSERT INTO block_trace_checkpoint (block_trace_checkpoint_id, block_trace_id, source, main_trace,
  is_control, name, started_at, metadata_json, call_id, gossip)
SELECT 2 * g - 1 + c, 1 + g %% %(nodes)s, 'M', true, c = 1,
  CASE WHEN c = 1 THEN 'metadata' ELSE 'Transaction_diff_received' END,
  CASE WHEN c = 1 THEN -1 ELSE %(e0)s + (g / %(per_tx)s) * %(spacing)s END,
  CASE WHEN c = 1 THEN jsonb_build_object('diff', jsonb_build_array(jsonb_build_array(
    'payment', 'Ckp' || (1 + g / %(per_tx)s), 'exp-1-0-' || g)), 'sender', '12D3KooWPeer')
    ELSE '[]'::jsonb END,
  0, true
FROM generate_series(1, %(rows)s) g, generate_series(0, 1) c;
INSERT INTO tx_traces (block_trace_checkpoint_id, node_name, action, time, diff, sender, reason)
SELECT 2 * g, lpad((1 + g %% %(nodes)s)::text, 8, '0') || '-10.0.' || (1 + g %% %(nodes)s)
    || '-3085',
  (CASE WHEN g %% 100 = 0 THEN 'rejected' WHEN g %% 10 = 0 THEN 'accepted' ELSE 'received'
   END)::pool_action_t,
  %(t0)s + ((g / %(per_tx)s) * %(spacing)s + (g %% %(per_tx)s) * 0.05) * interval '1 second',
  jsonb_build_array(jsonb_build_array('payment', 'Ckp' || (1 + g / %(per_tx)s),
    'exp-1-0-' || g)),
  '12D3KooWPeer', CASE WHEN g %% 100 = 0 THEN 'Insufficient_fee' END
FROM generate_series(1, %(rows)s) g;

-- snark work: 1 event per 100 pool events, on their own checkpoints
INSERT INTO block_trace_checkpoint (block_trace_checkpoint_id, block_trace_id, source, main_trace,
  is_control, name, started_at, metadata_json, call_id, gossip)
SELECT 2 * %(rows)s + g, 1 + g %% %(nodes)s, 'M', true, true, 'metadata', -1,
  '{"work_ids": [1, 2]}', 0, true
FROM generate_series(1, %(rows)s / 100) g;
INSERT INTO sw_traces (block_trace_checkpoint_id, node_name, action, time, fst_work_id,
  snd_work_id, fee, prover)
SELECT 2 * %(rows)s + g, lpad((1 + g %% %(nodes)s)::text, 8, '0') || '-10.0.'
    || (1 + g %% %(nodes)s) || '-3085',
  (ARRAY['scheduled', 'received', 'accepted', 'added']::pool_action_t[])[1 + g %% 4],
  %(t0)s + (g * 100.0 * %(spacing)s / %(per_tx)s) * interval '1 second', g / 4, g / 4 + 1,
  '0.001', 'B62qProver'
FROM generate_series(1, %(rows)s / 100) g;
INSERT INTO uniq_sws (deployment_id, fst_work_id, snd_work_id, fee, prover, time_scheduled,
  time_received)
SELECT 2, w, w + 1, '0.001', 'B62qProver',
  %(t0)s + (w * 400.0 * %(spacing)s / %(per_tx)s) * interval '1 second',
  %(t0)s + (w * 400.0 * %(spacing)s / %(per_tx)s + 20 + random() * 60) * interval '1 second'
FROM generate_series(1, %(rows)s / 400) w;
INSERT INTO node_restarts (deployment_id, node_name, time, reason, code)
SELECT 2, lpad((1 + r %% %(nodes)s)::text, 8, '0') || '-10.0.' || (1 + r %% %(nodes)s) || '-3085',
  %(t0)s + r * interval '20 minutes', 'OOMKilled', 137
FROM generate_series(1, 50) r;

-- the other deployment, same window
INSERT INTO unique_txs (hash, deployment_id, type, memo, time)
SELECT 'Other' || i, 1, 'payment', 'x', %(t0)s + i * interval '1 second'
FROM generate_series(1, 10000) i;
SET session_replication_role = DEFAULT;
"""


def start_server() -> PgImage:
    if find_pg_bindir() is None:
        raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
    pick_run_as()
    return start_upstream_server(
        ("-c", f"shared_buffers={POSTGRES_SHARED_BUFFERS}", "-c", "max_wal_size=8GB")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="tx_traces rows")
    parser.add_argument("--nodes", type=int, default=250)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--per-tx", type=int, default=50, help="pool events per transaction")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    seconds = args.hours * 3600
    txs = args.rows // args.per_tx
    params = {
        "nodes": args.nodes,
        "rows": args.rows,
        "per_tx": args.per_tx,
        "txs": txs,
        "spacing": seconds / txs,
        "slots": int(seconds // 180),
        "t0": t0,
        "e0": t0.timestamp(),
    }
    server = start_server()
    try:
        with server.connect("logs") as conn:
            started = time.perf_counter()
            for statement in GENERATE.split(";\n"):
                if any(
                    not line.startswith("--") and line.strip() for line in statement.split("\n")
                ):
                    conn.execute(statement, params)  # type: ignore[arg-type]
            conn.execute("VACUUM ANALYZE")
            load_s = time.perf_counter() - started
            row = conn.execute(
                "SELECT (SELECT count(*) FROM tx_traces), (SELECT count(*) FROM"
                " block_trace_checkpoint), (SELECT count(*) FROM block_trace),"
                " (SELECT count(*) FROM unique_txs)"
            ).fetchone()
            counts = dict(
                zip(
                    ("tx_traces", "checkpoints", "block_trace", "unique_txs"),
                    row or (),
                    strict=False,
                )
            )
            size = conn.execute("SELECT pg_size_pretty(pg_database_size('logs'))").fetchone()
            print(f"generated in {load_s:.0f} s: {counts}, database {size and size[0]}")
            scope = queries.Scope(2, t0, t0 + timedelta(seconds=seconds), ("exp-1",))
            per_query: dict[str, list[float]] = {}
            totals = []
            started = time.perf_counter()
            figures = queries.collect(conn, scope)  # warm-up: caches as a second report would see
            cold_s = time.perf_counter() - started
            for _ in range(args.repeat):
                started = time.perf_counter()
                queries.collect(conn, scope)
                totals.append(time.perf_counter() - started)
                for name, sql in vars(queries).items():
                    if name[0] != "_" and name.isupper() and "%(d)s" in str(sql):
                        q_start = time.perf_counter()
                        conn.execute(sql, scope.params()).fetchall()  # type: ignore[arg-type]
                        per_query.setdefault(name, []).append(time.perf_counter() - q_start)
        print(
            f"figures: load seen {figures['load']['seen']} (other {figures['load']['otherSeen']}),"
            f" latency p50 {figures['latency']['p50']:.1f} s, propagation p90 "
            f"{figures['propagation']['p90']:.2f} s; collected in {cold_s:.1f} s cold, "
            f"{statistics.median(totals):.1f} s warm (median of {args.repeat})"
        )
        print(f"{'query':<24} median s")
        for name, times in sorted(per_query.items(), key=lambda kv: -statistics.median(kv[1])):
            print(f"{name:<24} {statistics.median(times):8.2f}")
        print(
            f"report aggregation (collect, {args.rows:,} tx_traces, {args.nodes} nodes, "
            f"{args.hours:g} h): median {statistics.median(totals):.1f} s over {args.repeat} runs"
        )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
