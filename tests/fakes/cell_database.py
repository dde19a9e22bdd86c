"""A stack's PostgreSQL for the campaign tests: one database per stack on one real server, made
when the stand-in `pulumi up` creates the stack (its FAKE_PULUMI_UP_HOOK) and seeded with what the
stack's log consumers write during a run.

`python -m tests.fakes.cell_database STACK`, in the Pulumi project directory:
1. (re)creates database STACK from the server's `logs` template (the pinned upstream schema,
   tests/fakes/consumer_db.py `start_upstream_server`): a new stack's empty database;
2. inserts the deployment row named STACK (what pg-deployment-row.sh inserts);
3. runs the program's own minaperf/assets/pg-reader-role.sh (the log fetchers' `reader-role` init
   container) so the read-only role reads it, as `scripts.report` connects by default;
4. writes the consumers' rows through `Consumer` (upstream's statements): ten payments of the
   run's load (memo `<CELL_DB_LOAD_NAME>-0-<i>`) seen one every 4 s from a minute after now, each
   included after a latency that grows with the cell's `nodes.plainNodes` as `pulumi up` was
   configured (Pulumi.STACK.yaml): 10 s per plain node plus the repeat (the stack name's last
   number); every block reaches two more nodes; some snark work.

Environment: CELL_DB_PORT, CELL_DB_BINDIR, CELL_DB_PASSWORD (the superuser's), CELL_DB_READER and
CELL_DB_READER_PASSWORD (the outputs' `postgres.readerUser` and `postgresReaderPassword`),
CELL_DB_LOAD_NAME (the script's `experimentName`).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from minaperf.workloads.postgres_access import scram_verifier
from tests.fakes.consumer_db import Consumer, add_deployment, block_meta, tx

ROOT = Path(__file__).resolve().parents[2]
READER_ROLE_SCRIPT = ROOT / "minaperf" / "assets" / "pg-reader-role.sh"
PRODUCER, OTHERS = "AAAAAAAA-10.0.0.1-3085", ("CCCCCCCC-10.0.0.3-3085", "DDDDDDDD-10.0.0.4-3085")
SECONDS_PER_PLAIN_NODE = 10.0


def plain_nodes(stack: str) -> int:
    """`nodes.plainNodes` as `experiment up` set it (`config set-all` → Pulumi.STACK.yaml)."""
    document = yaml.safe_load(Path(f"Pulumi.{stack}.yaml").read_text())
    return int(document["config"]["mina-itn:nodes"]["plainNodes"])


def latency(stack: str) -> float:
    return SECONDS_PER_PLAIN_NODE * plain_nodes(stack) + int(stack.rsplit("-", 1)[1])


def _connect(database: str) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1",
        port=int(os.environ["CELL_DB_PORT"]),
        user="postgres",
        password=os.environ["CELL_DB_PASSWORD"],
        dbname=database,
        autocommit=True,
    )


def create(stack: str) -> None:
    ident = sql.Identifier(stack)
    with _connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE logs").format(ident))


def admit_reader(stack: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        scram = Path(directory) / "scram"
        scram.write_text(scram_verifier(os.environ["CELL_DB_READER_PASSWORD"], os.urandom(16)))
        done = subprocess.run(
            ["sh", str(READER_ROLE_SCRIPT)],
            env={
                "PATH": f"{os.environ['CELL_DB_BINDIR']}:/usr/bin:/bin",
                "PGHOST": "127.0.0.1",
                "PGPORT": os.environ["CELL_DB_PORT"],
                "PGUSER": "postgres",
                "PGDATABASE": stack,
                "PGPASSWORD": os.environ["CELL_DB_PASSWORD"],
                "READER": os.environ["CELL_DB_READER"],
                "READER_SCRAM_FILE": str(scram),
                "WAIT_TIMEOUT": "10",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"pg-reader-role.sh: {done.stderr.strip()}")


def seed(conn: psycopg.Connection, stack: str, t0: float, delay: float) -> None:
    add_deployment(conn, stack)
    producer = Consumer(conn, PRODUCER)
    others = [Consumer(conn, name) for name in OTHERS]
    name = os.environ["CELL_DB_LOAD_NAME"]
    for i in range(10):
        seen = t0 + 60 + 4 * i
        payment = f"Tx{i}"
        others[i % 2].tx_event("received", seen, [tx("payment", payment, f"{name}-0-{i}")])
        begin = seen + delay
        # [type, hash, memo, [result]] as consumer_db.block_tx, with the load's memo
        txs = [[*tx("payment", payment, f"{name}-0-{i}"), ["Applied"]]]
        meta = block_meta(10 + i, 100 + i, txs)
        producer.produce(f"slot-{100 + i}", f"3N{i}", begin, begin + 3, meta)
        for k, other in enumerate(others):
            other.receive(f"3N{i}", begin + 4 + k, begin + 5 + k, block_meta(10 + i, 100 + i))
    others[0].snark_event("scheduled", t0 + 70, [1, 2])
    others[0].snark_event("received", t0 + 90, [1, 2])
    others[0].snark_event("accepted", t0 + 91, [1, 2])


def main(stack: str) -> None:
    # Each stack has a server of its own; here they share one, whose roles are the server's:
    # pg-reader-role.sh's advisory lock is per database, so stacks coming up together take
    # turns making the role (or race on CREATE ROLE).
    lock = Path(tempfile.gettempdir()) / f"minaperf-cell-db-{os.environ['CELL_DB_PORT']}.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        create(stack)
        admit_reader(stack)
    with _connect(stack) as conn:
        seed(conn, stack, time.time(), latency(stack))


if __name__ == "__main__":
    main(sys.argv[1])
