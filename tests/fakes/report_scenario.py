"""One small experiment written through the consumer stand-in, every figure worked out by hand.

Run start T0 (a whole second, four minutes before "now" so that rows the database time-stamps
itself — node restarts, snark interruptions — fall inside the window). Offsets are seconds from T0.

Nodes (consumer names `<pk[-8:]>-<ip>-<port>`): P1 = bp-1, P2 = bp-2, N1 = plain-1, N2 = plain-2.
Run: step 0 `payments` tps 2 for 5 min, receipts at +60 → scheduled 2 tx/s over [+60, +360);
step 1 `wait`; sentinel at +420; finished +420. Window = [T0, +420 + 5 min grace) = 12 minutes.

Before our deployment exists, deployment "exp-41" writes a node, a transaction and a block in the
same window: none of it may count. Our deployment also has rows outside the window (a transaction
seen at -120, a block at +1200).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.fakes.consumer_db import (
    Consumer,
    add_deployment,
    add_restart,
    block_meta,
    block_tx,
    node_pk,
    tx,
    write_run_dir,
)
from tests.fakes.outputs_fixture import make_outputs, node

EXPERIMENT = "exp-42"
P1, P2 = "AAAAAAAA-10.0.0.1-3085", "BBBBBBBB-10.0.0.2-3085"
N1, N2 = "CCCCCCCC-10.0.0.3-3085", "DDDDDDDD-10.0.0.4-3085"
OTHER = "EEEEEEEE-10.9.9.9-3085"


def run_start() -> datetime:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(minutes=4)


def outputs(port: int, password: str) -> dict[str, Any]:
    nodes = []
    for name, role, suffix in (
        ("seed", "seed", "SSSSSSSS"),
        ("bp-1", "block-producer", "AAAAAAAA"),
        ("bp-2", "block-producer", "BBBBBBBB"),
        ("plain-1", "plain", "CCCCCCCC"),
        ("plain-2", "plain", "DDDDDDDD"),
    ):
        entry = node(name, role=role, host=f"{name}.exp.svc.cluster.local")
        entry["publicKey"] = node_pk(suffix)
        nodes.append(entry)
    data = make_outputs(nodes=nodes)
    data["experiment"] = EXPERIMENT
    data["slotDurationMs"] = 20000
    data["postgres"] = {
        "host": "postgres.exp.svc.cluster.local",
        "port": port,
        "database": "logs",
        "user": "postgres",
        "externalAddress": "127.0.0.1",
        "keepDataOnDestroy": True,
    }
    data["postgresPassword"] = password
    return data


def write_run(directory: Path, t0: datetime) -> Path:
    return write_run_dir(
        directory,
        t0,
        steps=[
            {
                "action": "payments",
                "params": {
                    "experimentName": "exp-0",
                    "tps": 2,
                    "minTps": 1,
                    "durationMin": 5,
                    "feePayers": [],
                    "nodes": [],
                    "receiver": "B62qR",
                },
            },
            {"action": "wait", "params": {"min": 6}},
        ],
        step_starts=[0, 60, 420],
        receipts=[(0, 60, "h1"), (0, 60, "h2")],
        finished=420,
    )


def load(conn: psycopg.Connection, t0: datetime) -> dict[str, datetime]:
    """Write the scenario; returns the times the database chose itself."""
    e = t0.timestamp()
    # --- another experiment's rows, in the same window, written while it was the newest ----
    add_deployment(conn, "exp-41")
    other = Consumer(conn, OTHER)
    other.tx_event("received", e + 65, [tx("payment", "TxZ")])
    other.produce(
        "slot-z",
        "3NZ",
        e + 130,
        e + 131,
        block_meta(5, 99, [block_tx("payment", "TxZ", "Applied")]),
    )
    Consumer(conn, "FFFFFFFF-10.9.9.8-3085").receive("3NZ", e + 131, e + 132, block_meta(5, 99))

    # --- ours ---------------------------------------------------------------------------------
    add_deployment(conn, EXPERIMENT)
    p1, p2, n1, n2 = (Consumer(conn, name) for name in (P1, P2, N1, N2))
    n1.tx_event("received", e - 120, [tx("payment", "TxOld")])  # before the window
    n1.tx_event("received", e + 70, [tx("payment", "TxA")])
    n1.tx_event("accepted", e + 71, [tx("payment", "TxA")])
    p1.tx_event("received", e + 72, [tx("payment", "TxA")])
    n1.tx_event("received", e + 80, [tx("payment", "TxB")])
    n2.tx_event("received", e + 200, [tx("payment", "TxC")])
    n1.tx_event("received", e + 250, [tx("payment", "TxD")])
    n1.tx_event("rejected", e + 251, [tx("payment", "TxD")], reason="Insufficient_fee")
    n2.tx_event("received", e + 400, [tx("payment", "TxE")])
    n1.tx_event("received", e + 410, [tx("zkapp_command", "TxF")])

    b1_txs = [
        block_tx("payment", "TxA", "Applied"),
        block_tx("payment", "TxB", "Failed"),
        block_tx("payment", "TxOld", "Applied"),
        ["coinbase", "CB1", "", ["Applied"]],  # never a user transaction (002 block_txs_trigger)
    ]
    p1.produce("slot-100", "3NB1", e + 120, e + 125, block_meta(5, 100, b1_txs))
    p2.receive("3NB1", e + 126, e + 128, block_meta(5, 100, b1_txs))
    n1.receive("3NB1", e + 127, e + 129, block_meta(5, 100, b1_txs))
    n2.receive("3NB1", e + 130, e + 131, block_meta(5, 100, b1_txs))

    b2_txs = [block_tx("payment", "TxC", "Applied")]
    p2.produce("slot-102", "3NB2", e + 300, e + 304, block_meta(6, 102, b2_txs))
    p1.receive("3NB2", e + 305, e + 306, block_meta(6, 102, b2_txs))
    n1.receive("3NB2", e + 306, e + 307, block_meta(6, 102, b2_txs))
    n2.receive("3NB2", e + 314, e + 316, block_meta(6, 102, b2_txs))

    fork_meta = block_meta(6, 103) | {
        "interrupt_get_completed_work_at": 3,
        "interrupt_get_completed_work_reason": "timeout",
        "interrupt_get_completed_work_ids": [7, 8],
    }
    p1.produce("slot-103", "3NB2x", e + 480, e + 483, fork_meta)
    n1.receive("3NB2x", e + 486, e + 487, block_meta(6, 103))

    n2.catchup("3NOLD", e + 350)
    p1.produce("slot-160", "3NLATE", e + 1200, e + 1203, block_meta(7, 160))  # after the window

    n1.snark_event("scheduled", e + 100, [7, 8])
    n1.snark_event("received", e + 130, [7, 8])
    n1.snark_event("accepted", e + 131, [7, 8])
    n1.snark_event("scheduled", e + 150, [9])
    n1.snark_event("received", e + 170, [9])
    n1.snark_event("rejected", e + 171, [9], reason="Fee_too_low")
    restart = add_restart(conn, N2, "OOMKilled", 137)
    return {"restart": restart}


# Hand-computed from the rows above (see the module docstring for the window).
EXPECTED: dict[str, Any] = {
    "minutes": 12,
    "seenPerMinute": {1: 2, 3: 1, 4: 1, 6: 2},  # A 70, B 80 | C 200 | D 250 | E 400, F 410
    "includedPerMinute": {2: 3, 5: 1},  # B1 reached P1 at +120 (A, B, Old); B2 at +300 (C)
    "poolPerMinute": {
        1: {"received": 3, "accepted": 1},
        3: {"received": 1},
        4: {"received": 1, "rejected": 1},
        6: {"received": 2},
    },
    "seen": 6,
    "included": 4,
    "includedOfSeen": 3,
    "failedOfSeen": 1,
    "zkappsOfSeen": 1,
    "scheduled": 600.0,  # 2 tx/s x 300 s
    "scheduledPerMinute": [0, 120, 120, 120, 120, 120, 0, 0, 0, 0, 0, 0],
    "achievedTps": 4 / 300,  # included in minutes 1..5 over the 300 s of load
    "shareIncluded": 0.5,
    # latencies A 50, B 40, C 100
    "latency": {"count": 3, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0},
    "latencyPerMinute": [
        {"minute": 1, "count": 2, "p50": 45.0, "p90": 49.0, "max": 50.0},
        {"minute": 3, "count": 1, "p50": 100.0, "p90": 100.0, "max": 100.0},
    ],
    # production (producer's integrated time) → receipt: B1 +125 → P2 1, N1 2, N2 5;
    # B2 +304 → P1 1, N1 2, N2 10; fork +483 → N1 3.  All: [1,1,2,2,3,5,10]
    "propagation": {
        "blocksProduced": 3,
        "receipts": 7,
        "p50": 2.0,
        "p90": 7.0,
        "p99": 9.7,
        "max": 10.0,
    },
    "propagationPerNode": [
        {"node": N2, "blocks": 2, "p50": 7.5, "p90": 9.5, "max": 10.0},
        {"node": N1, "blocks": 3, "p50": 2.0, "p90": 2.8, "max": 3.0},
        {"node": P1, "blocks": 1, "p50": 1.0, "p90": 1.0, "max": 1.0},
        {"node": P2, "blocks": 1, "p50": 1.0, "p90": 1.0, "max": 1.0},
    ],
    "perProducer": {P1: 2, P2: 1},
    "blocks": 3,
    "slotsFilled": 3,  # 100, 102, 103
    "slotsElapsed": 36,  # 720 s / 20 s
    "heights": 2,
    "forks": [{"height": 6, "blocks": 2}],
    "orphans": 1,
    "snarkEvents": {"accepted": 1, "received": 2, "rejected": 1, "scheduled": 2},
    "snarkUnique": 2,
    "snarkDelay": {"delayCount": 2, "delayP50": 25.0, "delayP90": 29.0, "delayMax": 30.0},
    "interruptions": [{"reason": "timeout", "count": 1}],
    "restartsPerNode": {N2: 1},
    "catchup": [{"node": N2, "blocks": 1}],
}


def load_demo(conn: psycopg.Connection, t0: datetime, seed: int = 7) -> None:
    """A livelier run for the page test and the docs' screenshot (figures not hand-checked):
    the same run script, ~2 tx/s for 5 minutes seen by 2-4 nodes each, a block every 20 s
    slot that one of the producers wins, one fork, a few rejections, snark work, a restart."""
    import random

    rng = random.Random(seed)
    e = t0.timestamp()
    add_deployment(conn, EXPERIMENT)
    names = [P1, P2, N1, N2, "EEEEEEEE-10.0.0.5-3085", "FFFFFFFF-10.0.0.6-3085"]
    nodes = {name: Consumer(conn, name) for name in names}
    with conn.transaction():
        pending: list[tuple[str, float]] = []
        for i in range(560):
            at = e + 60 + i * 300 / 560 + rng.uniform(0, 0.4)
            tx_hash = f"Tx{i:04d}"
            for name in rng.sample(names, rng.randint(2, 4)):
                seen = at + rng.uniform(0, 3)
                nodes[name].tx_event("received", seen, [tx("payment", tx_hash)])
                if rng.random() < 0.03:
                    nodes[name].tx_event(
                        "rejected", seen + 0.1, [tx("payment", tx_hash)], reason="Insufficient_fee"
                    )
            pending.append((tx_hash, at))
        length = 10
        for slot in range(3, 36):
            start = e + slot * 20
            if rng.random() < 0.25:
                continue  # an empty slot
            producer = nodes[P1 if rng.random() < 0.55 else P2]
            taken = [h for h, at in pending if at < start - 5][: 60 + int(slot * 1.5)]
            taken_set = set(taken)
            pending = [(h, at) for h, at in pending if h not in taken_set]
            block_txs = [block_tx("payment", h, "Applied") for h in taken]
            length += 1
            state_hash = f"3N{slot}"
            integrated = start + rng.uniform(3, 6)
            producer.produce(
                f"slot-{slot}", state_hash, start, integrated, block_meta(length, slot, block_txs)
            )
            for name in names:
                if nodes[name] is producer:
                    continue
                got = integrated + rng.lognormvariate(0, 0.6) + (2 if name == N2 else 0)
                nodes[name].receive(state_hash, got, got + 1, block_meta(length, slot, block_txs))
            if slot == 20:  # the other producer won the same height
                other = nodes[P2 if producer is nodes[P1] else P1]
                other.produce(
                    f"slot-{slot}-x",
                    f"3N{slot}x",
                    start + 1,
                    start + 5,
                    block_meta(length, slot + 1),
                )
        for w in range(40):
            at = e + 90 + w * 7
            nodes[N1].snark_event("scheduled", at, [w, w + 1])
            nodes[N1].snark_event("received", at + rng.uniform(15, 60), [w, w + 1])
            nodes[N1].snark_event("accepted", at + 61, [w, w + 1])
        nodes[N2].catchup("3NOLD", e + 400)
    add_restart(conn, N2, "OOMKilled", 137)
