"""A real PostgreSQL with upstream's pinned schema, and rows written the way the log consumer does.

The pinned schema files come from tests/fakes/upstream_schema.py (never copied into the project;
without them the test is skipped and says how to provide them) and are applied one by one with
psql and ON_ERROR_STOP, as the postgres image's entrypoint applies /docker-entrypoint-initdb.d
(MPT load-tests-cluster/docker-compose.yaml mounts them there).

`Consumer` issues exactly the statements of o1-labs/mina-internal-trace-consumer@46be56f
src/store.ml (add_block_trace :430, add_block_trace_checkpoint :594 with the row encoding of
:387-399, update_block_trace :444, update_block_trace_block_id :460), in the order
src/persistent_registry.ml (:20 add, :36 get_or_add, :56 push_block_metadata, :76 produced
state hash) and src/internal_trace_consumer.ml (:5 `current_block` "0", :299-318 controls) issue
them, so every derived table (tx_traces, sw_traces,
unique_txs, block_txs, uniq_sws, sw_interruptions, trace times, status and source) comes from
upstream's own triggers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.fakes.upstream_schema import schema_files
from tests.minaperf.workloads.conftest import PgImage, find_pg_bindir, pick_run_as

PASSWORD = "report-test-password"

# src/block_tracing.ml compute_source: the checkpoint that creates a trace names its source.
_SOURCE_OF_FIRST = {
    "External_block_received": "External",
    "Begin_block_production": "Internal",
    "To_download": "Catchup",
    "Loaded_transition_from_storage": "Reconstruct",
}


def start_upstream_server(server_args: tuple[str, ...] = ()) -> PgImage:
    """A server whose `logs` database holds the pinned upstream schema (the test template)."""
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    files = schema_files()
    base = Path(tempfile.mkdtemp(prefix="minaperf-report-pg-"))
    server = PgImage(
        bindir=bindir,
        run_as=pick_run_as(),
        base=base,
        password=PASSWORD,
        server_args=["-c", "max_connections=40", "-c", "fsync=off", *server_args],
        db="logs",
    )
    server.start()
    for path in files:
        result = subprocess.run(
            [str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)],
            env=server.client_env("logs"),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            server.stop()
            raise RuntimeError(f"{path.name} failed:\n{result.stderr}")
    return server


def stop_server(server: PgImage) -> None:
    server.stop()
    shutil.rmtree(server.base, ignore_errors=True)


def fresh_database(server: PgImage, name: str) -> Iterator[str]:
    ident = sql.Identifier(name)
    with server.connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE logs").format(ident))
    yield name
    with server.connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def add_deployment(conn: psycopg.Connection, name: str) -> int:
    """The row pg-deployment-row.sh / experiments-api `POST /api/deployments` insert."""
    row = conn.execute(
        "INSERT INTO deployment (metadata_json) VALUES (%s) RETURNING deployment_id",
        (json.dumps({"name": name, "comment": f"mina-itn experiment {name}"}),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def add_restart(conn: psycopg.Connection, node: str, reason: str, code: int) -> datetime:
    """experiments-api `POST /api/node-restarts` (MPT experiments-api/index.js:75-96): the
    database fills `deployment_id` and `time` from their defaults (004-node-restarts.sql)."""
    row = conn.execute(
        "INSERT INTO node_restarts (node_name, reason, code, object_name, object_namespace,"
        " container_name, restart_count) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING time",
        (node, reason, code, f"{node}-0", "exp", "mina", 1),
    ).fetchone()
    assert row is not None
    return row[0]


class Consumer:
    """One node's consumer process (`MINA_NODE_NAME` = `<pk[-8:]>-<ip>-<port>`)."""

    def __init__(self, conn: psycopg.Connection, node_name: str) -> None:
        self.conn = conn
        self.node = node_name
        self.traces: dict[str, int] = {}  # persistent_registry.ml block_id_trace_id_mapping

    def trace(self, block_id: str, first_checkpoint: str | None = None) -> int:
        """get_or_add_block_trace: an empty trace (block_trace.ml `empty`: status Pending,
        started_at -1, total_time 0) under the newest deployment (store.ml add_block_trace)."""
        if block_id in self.traces:
            return self.traces[block_id]
        deployment = self.conn.execute("SELECT get_max_deployment_id()").fetchone()
        assert deployment is not None
        assert deployment[0] is not None, "Deployment table is empty!"
        row = self.conn.execute(
            "INSERT INTO block_trace (node_name, block_id, trace_started_at, trace_completed_at,"
            " total_time, source, blockchain_length, global_slot, status, metadata_json,"
            " deployment_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING block_trace_id",
            (
                self.node,
                block_id,
                -1.0,
                -1.0,  # completed_at = started_at + total_time (store.ml block_trace encode)
                0.0,
                _SOURCE_OF_FIRST.get(first_checkpoint or "", "Unknown"),
                0,
                0,
                "Pending",
                "{}",
                deployment[0],
            ),
        ).fetchone()
        assert row is not None
        self.traces[block_id] = int(row[0])
        return self.traces[block_id]

    def checkpoint(self, block_id: str, name: str, at: float) -> None:
        """push_checkpoint: `Checkpoint (name, timestamp)` → is_control false, metadata `[]`."""
        trace_id = self.trace(block_id, name)
        self.conn.execute(
            "INSERT INTO block_trace_checkpoint (block_trace_id, main_trace, source, call_id,"
            " is_control, name, started_at, metadata_json) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (trace_id, True, "M", 0, False, name, at, "[]"),
        )

    def control(self, block_id: str, name: str, metadata: dict[str, Any]) -> None:
        """push_control: `Control (name, metadata)` → is_control true, started_at -1."""
        trace_id = self.trace(block_id)
        self.conn.execute(
            "INSERT INTO block_trace_checkpoint (block_trace_id, main_trace, source, call_id,"
            " is_control, name, started_at, metadata_json) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (trace_id, True, "M", 0, True, name, -1.0, json.dumps(metadata)),
        )

    def block_metadata(self, block_id: str, metadata: dict[str, Any]) -> None:
        """`block_metadata` control, then push_block_metadata: read the trace, merge, update."""
        self.control(block_id, "block_metadata", metadata)
        trace_id = self.trace(block_id)
        row = self.conn.execute(
            "SELECT trace_started_at, total_time, source, blockchain_length, global_slot,"
            " status, CAST(metadata_json AS text), deployment_id FROM block_trace"
            " WHERE block_trace_id = %s",
            (trace_id,),
        ).fetchone()
        assert row is not None
        started, total, source, length, slot, status, meta_text, deployment = row
        merged = {**json.loads(meta_text), **metadata}
        if "blockchain_length" in metadata:  # block_trace.ml extract_blockchain_length
            length = int(metadata["blockchain_length"])
        gslot = metadata.get("global_slot")  # extract_global_slot: "n" or ["Since_genesis","n"]
        if isinstance(gslot, list):
            slot = int(gslot[1])
        elif isinstance(gslot, str):
            slot = int(gslot)
        self.conn.execute(
            "UPDATE block_trace SET trace_started_at = %s, trace_completed_at = %s,"
            " total_time = %s, source = %s, blockchain_length = %s, global_slot = %s,"
            " status = %s, metadata_json = %s, deployment_id = %s WHERE block_trace_id = %s",
            (
                started,
                started + total,
                total,
                source,
                length,
                slot,
                status,
                json.dumps(merged),
                deployment,
                trace_id,
            ),
        )

    def produced(self, block_id: str, state_hash: str) -> None:
        """`produced_block_state_hash`: the producer's trace takes the block's state hash."""
        trace_id = self.trace(block_id)
        self.traces[state_hash] = trace_id
        self.conn.execute(
            "UPDATE block_trace SET block_id = %s WHERE block_trace_id = %s"
            " AND deployment_id = get_max_deployment_id()",
            (state_hash, trace_id),
        )

    # -- what the daemon logs, as sequences of the calls above ------------------------------
    def tx_event(self, action: str, at: float, txs: list[list[Any]], reason: str | None = None):
        """A transaction pool event outside any block (`current_block` "0")."""
        self.checkpoint("0", f"Transaction_diff_{action}", at)
        meta: dict[str, Any] = {"diff": txs, "sender": "12D3KooWPeer"}
        if reason is not None:
            meta["reason"] = reason
        self.control("0", "metadata", meta)

    def snark_event(self, action: str, at: float, work_ids: list[int], reason: str | None = None):
        self.checkpoint("0", f"Snark_work_{action}", at)
        meta: dict[str, Any] = {"work_ids": work_ids, "fee": "0.001", "prover": "B62qProver"}
        if reason is not None:
            meta["reason"] = reason
        self.control("0", "metadata", meta)

    def produce(
        self, slot_id: str, state_hash: str, begin: float, integrated: float, meta: dict[str, Any]
    ) -> None:
        self.checkpoint(slot_id, "Begin_block_production", begin)
        self.checkpoint(slot_id, "Produce_state_transition_proof", begin + 1)
        self.produced(slot_id, state_hash)
        self.checkpoint(state_hash, "Breadcrumb_integrated", integrated)
        self.block_metadata(state_hash, meta)

    def receive(self, state_hash: str, at: float, integrated: float, meta: dict[str, Any]):
        self.checkpoint(state_hash, "External_block_received", at)
        self.checkpoint(state_hash, "Breadcrumb_integrated", integrated)
        self.block_metadata(state_hash, meta)

    def catchup(self, state_hash: str, at: float) -> None:
        self.checkpoint(state_hash, "To_download", at)
        self.checkpoint(state_hash, "Breadcrumb_integrated", at + 2)


def block_meta(length: int, slot: int, txs: list[list[Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "blockchain_length": str(length),
        "global_slot": ["Since_genesis", str(slot)],
    }
    if txs is not None:
        meta["transactions"] = txs
    return meta


# ------------------------------------------------------------------ a run directory on disk


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_run_dir(
    directory: Path,
    start: datetime,
    *,
    steps: list[dict[str, Any]],
    step_starts: list[float],
    receipts: list[tuple[int, float, str]],
    outcome: str = "succeeded",
    reason: str | None = "all steps completed",
    finished: float | None = None,
    stops: list[dict[str, Any]] | None = None,
    error_lines: list[str] = (),  # type: ignore[assignment]
    receipt_states: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """What `scripts.experiment run` leaves (minaperf/orchestrator/runner.py): the script with
    its sentinel, run.json, stdout.jsonl (orchestrator outputs), orchestrator.log (stderr)."""
    directory.mkdir(parents=True, exist_ok=True)
    sentinel = {"action": "wait", "params": {"sec": 0}}
    script = [json.dumps(s) for s in steps] + ['"sentinel"', json.dumps(sentinel)]
    (directory / "script.jsonl").write_text("\n".join(script) + "\n")
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    log = []
    for index, offset in enumerate(step_starts):
        action = ([*steps, sentinel])[index]["action"]
        log.append(
            f"{stamp(at(offset))}\tINFO\titn orchestrator\tPerforming step {action} ({index})"
        )
    log += [f"{stamp(at(step_starts[-1]))}\tERROR\titn orchestrator\t{e}" for e in error_lines]
    (directory / "orchestrator.log").write_text("\n".join(log) + "\n")
    out = []
    for step, offset, handle in receipts:
        value = {"address": f"10.0.0.{step + 1}:3086", "handle": handle}
        out.append(
            json.dumps(
                {
                    "time": stamp(at(offset)),
                    "step": step,
                    "name": "receipt",
                    "multi": True,
                    "value": value,
                }
            )
        )
    (directory / "stdout.jsonl").write_text("".join(line + "\n" for line in out))
    issued = [
        {"step": s, "time": stamp(at(o)), "address": f"10.0.0.{s + 1}:3086", "handle": h}
        for s, o, h in receipts
    ]
    stopped = [
        {"address": r["address"], "handle": r["handle"]}
        for stop in stops or []
        if stop.get("ok")
        for r in stop["receipts"]
    ]
    state = {
        "version": 1,
        "script": "stacks/scripts/test.jsonl",
        "scriptCopy": "script.jsonl",
        "steps": [{"index": i, "action": s["action"], "line": i + 1} for i, s in enumerate(steps)],
        "target": {"kind": "local", "executable": "/bin/true"},
        "started": stamp(start),
        "finished": stamp(at(finished)) if finished is not None else None,
        "exitStatus": 0 if outcome == "succeeded" else 1,
        "outcome": outcome,
        "reason": reason,
        "pid": 4242,
        "stepsStarted": list(range(len(step_starts))),
        "receiptsIssued": issued,
        "receiptsStopped": stopped,
        "stops": stops or [],
    }
    if receipt_states is not None:  # minaperf/orchestrator/stopping.py _set_state
        state["receiptStates"] = receipt_states
        state["receiptsStopped"] = [
            {"address": key.split(" ")[0], "handle": key.split(" ")[1]}
            for key, fate in receipt_states.items()
            if fate["state"] == "stopped"
        ]
    (directory / "run.json").write_text(json.dumps(state, indent=2))
    return directory


def tx(kind: str, tx_hash: str, memo: str = "exp-0-0-0") -> list[Any]:
    """A diff element as the triggers read it: [type, hash, memo] (002 unique_txs_trigger)."""
    return [kind, tx_hash, memo]


def block_tx(kind: str, tx_hash: str, result: str) -> list[Any]:
    """A block's transaction: [type, hash, memo, [result, …]] (002 block_txs_trigger)."""
    return [kind, tx_hash, "exp-0-0-0", [result]]


def node_pk(suffix: str) -> str:
    return "B62q" + "x" * 47 + suffix  # only the last 8 characters name the node


# ------------------------------------------------------------------ pytest fixtures


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[PgImage]:
    """One server per session; each test clones the schema-only `logs` database."""
    server = start_upstream_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def upstream_db(upstream_server: PgImage, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "r_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    yield from fresh_database(upstream_server, name)
