"""What the load figures are about (issue 26 §2), on a real PostgreSQL with upstream's schema:
the run's load by memo beside funding, a script `stop` step ending its receipts, one receipt per
(node, block) after a consumer restart, blocks by production time, achieved TPS to the second.

Run (offsets in seconds from T0): fund-keys at 0; payments `small-payments-0` 1 tps for 5 min,
receipt at +60; wait; `stop` of step 1's receipts at +240; sentinel +250. So the load ran
[+60, +240) = 180 s, not to its planned +360.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from minaperf.model.outputs import parse_outputs
from minaperf.report import build, read_database
from minaperf.report.run import read_run
from tests.fakes import report_scenario as sc
from tests.fakes.consumer_db import (
    Consumer,
    PgImage,
    add_deployment,
    block_meta,
    stamp,
    tx,
    upstream_db,  # noqa: F401 (fixture)
    upstream_server,  # noqa: F401 (fixture)
    write_run_dir,
)

pytestmark = pytest.mark.postgres

NAME = "small-payments-0"
LOAD_1, LOAD_2 = f"{NAME}-0-0", f"{NAME}-1-3"  # payments.go:46 prefix + the daemon's `-{i}`
NOT_OURS = [f"{NAME}-x-0-1", f"{NAME}-0-0-0", "small-payments-1-0-0", ""]


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def _run_dir(directory: Path, t0, *, runner_clock: bool) -> Path:
    run = write_run_dir(
        directory,
        t0,
        steps=[
            {"action": "fund-keys", "params": {"num": 4, "prefix": "fund_keys/k"}},
            {
                "action": "payments",
                "params": {"experimentName": NAME, "tps": 1, "minTps": 1, "durationMin": 5},
            },
            {"action": "wait", "params": {"min": 3}},
            {
                "action": "stop",
                "params": {"receipts": {"type": "output", "step": 1, "name": "receipt"}},
            },
        ],
        step_starts=[0, 60, 61, 240, 250],
        receipts=[(1, 60, "h1")],
        finished=250,
    )
    state = json.loads((run / "run.json").read_text())
    # what runner.py records once the stop step finished: stopped, with no time of its own
    state["receiptsStopped"] = [{"address": "10.0.0.2:3086", "handle": "h1"}]
    if runner_clock:  # the runner's own step clock; the orchestrator log is then not needed
        offsets = [0, 60, 61, 240, 250]
        state["stepsStartedAt"] = {
            str(i): stamp(t0 + timedelta(seconds=o)) for i, o in enumerate(offsets)
        }
        (run / "orchestrator.log").unlink()
    (run / "run.json").write_text(json.dumps(state))
    return run


def _load_rows(conn, t0) -> None:
    e = t0.timestamp()
    add_deployment(conn, sc.EXPERIMENT)
    p1, p2, n1 = Consumer(conn, sc.P1), Consumer(conn, sc.P2), Consumer(conn, sc.N1)
    n1.tx_event("received", e + 10, [tx("payment", "TxF1", "")])  # funding: no experiment memo
    n1.tx_event("received", e + 15, [tx("payment", "TxF2", "")])
    n1.tx_event("received", e + 70, [tx("payment", "TxL1", LOAD_1)])
    n1.tx_event("received", e + 80, [tx("payment", "TxL2", LOAD_2)])
    for i, memo in enumerate(NOT_OURS[:3]):
        n1.tx_event("received", e + 90 + i, [tx("payment", f"TxX{i}", memo)])

    def txs(*items: tuple[str, str]) -> list[list[Any]]:
        return [["payment", h, memo, ["Applied"]] for h, memo in items]

    # a block produced before the window, received by N1 inside it: not this run's block
    p2.produce("slot-9", "3NPRE", e - 30, e - 26, block_meta(4, 9))
    n1.receive("3NPRE", e + 5, e + 6, block_meta(4, 9))
    p1.produce("slot-10", "3NB0", e + 20, e + 22, block_meta(5, 10, txs(("TxF1", ""))))
    n1.receive("3NB0", e + 23, e + 24, block_meta(5, 10, txs(("TxF1", ""))))
    b1 = txs(("TxL1", LOAD_1), ("TxX0", NOT_OURS[0]))
    p1.produce("slot-14", "3NB1", e + 100, e + 102, block_meta(6, 14, b1))
    n1.receive("3NB1", e + 103, e + 104, block_meta(6, 14, b1))
    # N1's consumer restarts and traces 3NB1 again in a new row (its block map is in memory)
    Consumer(conn, sc.N1).receive("3NB1", e + 130, e + 131, block_meta(6, 14, b1))
    b2 = txs(("TxL2", LOAD_2))
    p2.produce("slot-16", "3NB2", e + 140, e + 141, block_meta(7, 16, b2))
    n1.receive("3NB2", e + 145, e + 146, block_meta(7, 16, b2))
    # after the stop: included late, not while the load ran
    b3 = txs(("TxX1", NOT_OURS[1]))
    p1.produce("slot-20", "3NB3", e + 300, e + 301, block_meta(8, 20, b3))


@pytest.fixture
def scene(upstream_server: PgImage, upstream_db: str, tmp_path: Path):  # noqa: F811
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        _load_rows(conn, t0)
        outputs = parse_outputs(sc.outputs(upstream_server.port, "x"))
        yield conn, t0, tmp_path, outputs


def _figures(scene) -> dict[str, Any]:
    conn, t0, tmp_path, _outputs = scene
    story = read_run(_run_dir(tmp_path / "run", t0, runner_clock=True))
    start, end = story.started, story.window_end + timedelta(minutes=5)
    db, _, _ = read_database(conn, sc.EXPERIMENT, start, end, story.experiment_names)
    assert db is not None
    return db


@pytest.mark.parametrize("runner_clock", [True, False], ids=["runner-clock", "orchestrator-log"])
def test_script_stop_step_ends_its_receipts(scene, runner_clock: bool) -> None:
    _conn, t0, tmp_path, _outputs = scene
    story = read_run(_run_dir(tmp_path / "run", t0, runner_clock=runner_clock))
    assert [(s.state, s.end - t0) for s in story.load] == [("stopped", timedelta(seconds=240))]
    assert story.load_span == (t0 + timedelta(seconds=60), t0 + timedelta(seconds=240))
    assert story.receipts_stopped == 1
    assert story.experiment_names == (NAME,)
    assert sum(story.scheduled_per_minute(t0, 10)) == approx(180.0)  # 1 tps x 180 s, not 300


def test_load_by_memo_funding_apart_latency_over_load_only(scene) -> None:
    conn, t0, tmp_path, outputs = scene
    summary, page = build(
        read_run(_run_dir(tmp_path / "run", t0, runner_clock=True)), outputs, conn
    )
    load = summary["load"]
    assert (load["seen"], load["included"]) == (2, 2)  # TxL1, TxL2
    assert load["other"]["seen"] == 5  # TxF1, TxF2, three look-alike memos
    assert load["other"]["included"] == 3  # TxF1 (+20), TxX0 (+100), TxX1 (+300)
    assert sum(r["otherSeen"] for r in load["perMinute"]) == 5
    lat = summary["latency"]
    assert lat["count"] == 2
    assert (lat["p50"], lat["max"]) == (approx(45.0), approx(60.0))  # 100-70, 140-80
    # achieved: 2 included while the load ran [+60, +240) over 180 s (not whole minutes)
    assert load["loadSeconds"] == 180.0
    assert load["achievedTps"] == approx(2 / 180)
    assert load["scheduled"] == approx(180.0)
    assert "Funding and other transactions (not load): 5 seen, 3 of them included" in page
    assert "funding and other (not load), seen" in page  # its own line in the load plot


def test_first_trace_row_per_node_and_block(scene) -> None:
    prop = _figures(scene)["propagation"]
    # 3NB0: 22 → 23 (1 s); 3NB1: 102 → 103 (1 s; the restart's row at +130 is not a receipt);
    # 3NB2: 141 → 145 (4 s); 3NB3 reached no one
    assert prop["blocksProduced"] == 4
    assert prop["receipts"] == 3
    assert prop["max"] == approx(4.0)
    assert [(n["node"], n["blocks"]) for n in prop["perNode"]] == [(sc.N1, 3)]


def test_blocks_counted_by_production_time(scene) -> None:
    prod = _figures(scene)["production"]
    assert prod["blocks"] == 4  # 3NB0..3NB3; 3NPRE was produced at -30, received at +5
    assert (prod["firstSlot"], prod["lastSlot"]) == (10, 20)
    assert prod["perProducer"] == {sc.P1: 3, sc.P2: 1}
