"""Each figure against values worked out by hand (tests/fakes/report_scenario.py), on a real
PostgreSQL with upstream's pinned schema and triggers, rows written as the consumer writes them."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from minaperf.model.outputs import parse_outputs
from minaperf.report import build, queries, read_database
from minaperf.report.run import read_run
from tests.fakes import report_scenario as sc
from tests.fakes.consumer_db import (
    Consumer,
    PgImage,
    add_deployment,
    fresh_database,
    tx,
    upstream_db,  # noqa: F401 (fixture)
    upstream_server,  # noqa: F401 (fixture)
    write_run_dir,
)

pytestmark = pytest.mark.postgres


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def scenario(upstream_server: PgImage, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """The scenario, loaded once for the module's read-only checks."""
    t0 = sc.run_start()
    for db in fresh_database(upstream_server, "r_figures_scenario"):
        conn = upstream_server.connect(db)
        times = sc.load(conn, t0)
        run_dir = sc.write_run(tmp_path_factory.mktemp("scenario") / "run", t0)
        outputs = parse_outputs(sc.outputs(upstream_server.port, "x"))
        yield conn, t0, run_dir, outputs, times
        conn.close()


def assert_self_contained(page: str) -> None:
    """Nothing the browser would fetch: no script, no external src/href, no @import or url()."""
    lowered = page.lower()
    assert "<script" not in lowered
    assert "@import" not in lowered
    assert not re.findall(r"url\((?!#)", lowered)
    assert not re.findall(r"""(?:src|href)\s*=\s*["'](?!#)""", lowered)
    assert "<img" not in lowered
    assert "<link" not in lowered
    assert "<iframe" not in lowered


def _raw(conn: psycopg.Connection, run_dir: Path) -> dict[str, Any]:
    story = read_run(run_dir)
    start, end = story.started, story.window_end + timedelta(minutes=5)
    db, note, deployment = read_database(
        conn, sc.EXPERIMENT, start, end, story.experiment_names, story.load_span
    )
    assert note is None
    assert db is not None
    assert deployment is not None
    assert deployment["id"] == 2
    assert deployment["newest"] == 2
    return db


def test_load_per_minute_is_scoped_to_deployment_and_window(scenario) -> None:
    conn, _t0, run_dir, _o, _ = scenario
    load = _raw(conn, run_dir)["load"]
    assert load["seenPerMinute"] == sc.EXPECTED["seenPerMinute"]
    assert load["includedPerMinute"] == sc.EXPECTED["includedPerMinute"]
    assert load["poolEventsPerMinute"] == sc.EXPECTED["poolPerMinute"]
    assert load["rejections"] == [{"reason": "Insufficient_fee", "count": 1}]
    for key in ("seen", "includedOfSeen", "failedOfSeen", "zkappsOfSeen"):
        assert load[key] == sc.EXPECTED[key], key


def test_pool_events_scoped_by_node_name_when_names_are_exclusive(scenario) -> None:
    conn, _t0, run_dir, _o, _ = scenario
    assert _raw(conn, run_dir)["scoping"] == "node names"  # exp-41's nodes have other names


def test_shared_node_names_fall_back_to_the_exact_join(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A later deployment reuses plain-1's consumer name and writes pool events in our window:
    matching by name would count them; the checkpoint join does not."""
    t0 = sc.run_start()
    e = t0.timestamp()
    with upstream_server.connect(upstream_db) as conn:
        sc.load(conn, t0)
        run_dir = sc.write_run(tmp_path / "run", t0)
        add_deployment(conn, "exp-43")
        reused = Consumer(conn, sc.N1)
        reused.tx_event("received", e + 75, [tx("payment", "TxX")])
        reused.tx_event("rejected", e + 76, [tx("payment", "TxX")], reason="Other")
        reused.snark_event("received", e + 135, [70, 71])
        story = read_run(run_dir)
        start, end = story.started, story.window_end + timedelta(minutes=5)
        db, _, deployment = read_database(conn, sc.EXPERIMENT, start, end, ("exp-0",))
        assert db is not None
        assert deployment is not None
        assert deployment["newest"] == 3
        assert "warning" in deployment
        assert db["scoping"] == "checkpoint join"
        assert db["load"]["poolEventsPerMinute"] == sc.EXPECTED["poolPerMinute"]
        assert db["load"]["rejections"] == [{"reason": "Insufficient_fee", "count": 1}]
        assert db["snark"]["events"] == sc.EXPECTED["snarkEvents"]
        by_name = conn.execute(
            queries.POOL_EVENTS_PER_MINUTE_BY_NAME,  # type: ignore[arg-type]
            queries.Scope(2, start, end).params(),
        ).fetchall()
        assert (1, "received", 4) in by_name  # what matching by name alone would have said


def test_latency_percentiles_and_over_time(scenario) -> None:
    conn, _t0, run_dir, _o, _ = scenario
    lat = _raw(conn, run_dir)["latency"]
    for key, value in sc.EXPECTED["latency"].items():
        assert lat[key] == approx(value), key
    assert lat["perMinute"] == [
        {k: approx(v) for k, v in row.items()} for row in sc.EXPECTED["latencyPerMinute"]
    ]


def test_block_propagation_per_node_and_slowest_first(scenario) -> None:
    conn, _t0, run_dir, _o, _ = scenario
    prop = _raw(conn, run_dir)["propagation"]
    for key, value in sc.EXPECTED["propagation"].items():
        assert prop[key] == approx(value), key
    assert prop["perNode"] == [
        {k: approx(v) if isinstance(v, float) else v for k, v in row.items()}
        for row in sc.EXPECTED["propagationPerNode"]
    ]


def test_production_slots_and_forks(scenario) -> None:
    conn, _t0, run_dir, _o, _ = scenario
    prod = _raw(conn, run_dir)["production"]
    assert prod["perProducer"] == sc.EXPECTED["perProducer"]
    assert prod["blocks"] == sc.EXPECTED["blocks"]
    assert prod["slotsFilled"] == sc.EXPECTED["slotsFilled"]
    assert prod["heights"] == sc.EXPECTED["heights"]
    assert prod["forks"] == sc.EXPECTED["forks"]


def test_snark_work_and_interruptions(scenario) -> None:
    conn, _t0, run_dir, _o, _ = scenario
    snark = _raw(conn, run_dir)["snark"]
    assert snark["events"] == sc.EXPECTED["snarkEvents"]
    assert snark["uniqueWorks"] == sc.EXPECTED["snarkUnique"]
    for key, value in sc.EXPECTED["snarkDelay"].items():
        assert snark[key] == approx(value), key
    assert snark["interruptions"] == sc.EXPECTED["interruptions"]


def test_health_restarts_and_catchup(scenario) -> None:
    conn, _t0, run_dir, _o, times = scenario
    health = _raw(conn, run_dir)["health"]
    assert health["restartsPerNode"] == sc.EXPECTED["restartsPerNode"]
    assert [(r["node"], r["time"], r["reason"], r["code"]) for r in health["restarts"]] == [
        (sc.N2, times["restart"], "OOMKilled", 137)
    ]
    assert [(c["node"], c["blocks"]) for c in health["catchupPerNode"]] == [
        (c["node"], c["blocks"]) for c in sc.EXPECTED["catchup"]
    ]


def test_summary_derives_ratios_from_the_run_schedule(scenario) -> None:
    conn, t0, run_dir, outputs, times = scenario
    summary, page = build(read_run(run_dir), outputs, conn)
    assert summary["version"] == 1
    assert summary["window"]["minutes"] == sc.EXPECTED["minutes"]
    load = summary["load"]
    assert [r["scheduled"] for r in load["perMinute"]] == sc.EXPECTED["scheduledPerMinute"]
    assert load["scheduled"] == sc.EXPECTED["scheduled"]
    assert load["scheduledTps"] == 2.0
    assert load["included"] == sc.EXPECTED["included"]
    assert load["achievedTps"] == approx(sc.EXPECTED["achievedTps"])
    assert load["shareIncluded"] == approx(sc.EXPECTED["shareIncluded"])
    assert load["shareOfScheduled"] == approx(4 / 600)
    prod = summary["production"]
    assert prod["slotsElapsed"] == sc.EXPECTED["slotsElapsed"]
    assert prod["slotFillRate"] == approx(3 / 36)
    assert prod["orphans"] == sc.EXPECTED["orphans"]
    shares = {
        r["label"]: (r["blocks"], r["blockShare"], r["stakeShare"]) for r in prod["producers"]
    }
    assert shares == {
        f"bp-1 ({sc.P1})": (2, approx(2 / 3), 0.5),
        f"bp-2 ({sc.P2})": (1, approx(1 / 3), 0.5),
    }
    assert summary["propagation"]["slowest"][:2] == [f"plain-2 ({sc.N2})", f"plain-1 ({sc.N1})"]
    restart = summary["health"]["restarts"][0]
    assert restart["minute"] == approx((times["restart"] - t0).total_seconds() / 60)
    assert summary["run"]["steps"][0]["state"] == "completed"
    assert_self_contained(page)
    assert page.count("<svg ") == 7  # load, latency, propagation, production, snark, health, story


def test_empty_window_says_no_data_and_never_divides_by_zero(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        add_deployment(conn, sc.EXPERIMENT)  # the stack's row, but no traffic at all
        run_dir = write_run_dir(
            tmp_path / "run",
            t0,
            steps=[{"action": "wait", "params": {"min": 1}}],
            step_starts=[0, 60],
            receipts=[],
            finished=60,
        )
        outputs = parse_outputs(sc.outputs(upstream_server.port, "x"))
        summary, page = build(read_run(run_dir), outputs, conn)
    for section in ("load", "latency", "propagation", "production", "snark"):
        assert summary[section]["status"] == "no data", section
        assert summary[section]["note"], section
    assert summary["health"]["status"] == "ok"
    assert summary["health"]["restarts"] == []
    assert summary["load"]["achievedTps"] == 0.0
    assert summary["load"]["shareIncluded"] is None
    assert summary["production"]["slotFillRate"] == 0.0
    assert page.count("no data") >= 5


def test_run_failed_halfway_reports_what_ran_and_what_was_stopped(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    t0 = sc.run_start()
    stop = {
        "tag": "stop-1",
        "started": (t0 + timedelta(seconds=170)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "finished": (t0 + timedelta(seconds=180)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "ok": True,
        "reason": "stopped",
        "exitStatus": 0,
        "receipts": [{"address": "10.0.0.1:3086", "handle": "h1"}],
    }
    run_dir = write_run_dir(
        tmp_path / "run",
        t0,
        steps=[
            {"action": "payments", "params": {"tps": 3, "minTps": 1, "durationMin": 10}},
            {"action": "payments", "params": {"tps": 5, "minTps": 1, "durationMin": 10}},
            {"action": "wait", "params": {"min": 10}},
        ],
        step_starts=[0, 60],
        receipts=[(0, 60, "h1")],
        outcome="failed",
        reason="step 1 (payments) printed no receipt",
        finished=120,
        stops=[stop],
        error_lines=["failed to schedule payments: connection refused"],
    )
    with upstream_server.connect(upstream_db) as conn:
        add_deployment(conn, sc.EXPERIMENT)
        outputs = parse_outputs(sc.outputs(upstream_server.port, "x"))
        summary, page = build(read_run(run_dir), outputs, conn)
    run = summary["run"]
    assert [s["state"] for s in run["steps"]] == ["completed", "failed", "not started"]
    assert run["receiptsIssued"] == 1
    assert run["receiptsStopped"] == 1
    assert run["errors"]
    assert "connection refused" in run["errors"][0]
    # step 0 scheduled 3 tx/s from +60 until its stop finished at +180: 360 transactions
    assert summary["load"]["scheduled"] == approx(360.0)
    assert [r["scheduled"] for r in summary["load"]["perMinute"][:4]] == [0, 180, 180, 0]
    assert summary["latency"]["status"] == "no data"
    assert "stop-1" in page
    assert "connection refused" in page


def test_each_receipt_carries_its_share_until_its_own_stop(tmp_path: Path) -> None:
    """Per-receipt states (minaperf/orchestrator/stopping.py): one receipt stopped at +180,
    the other's stop failed, so it runs to its planned end (+60 + 10 min)."""
    t0 = sc.run_start()
    stamp = (t0 + timedelta(seconds=180)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    run_dir = write_run_dir(
        tmp_path / "run",
        t0,
        steps=[{"action": "payments", "params": {"tps": 4, "minTps": 1, "durationMin": 10}}],
        step_starts=[0, 60],
        receipts=[(0, 60, "h1"), (0, 60, "h2")],
        outcome="interrupted",
        reason="interrupted by SIGINT",
        finished=120,
        receipt_states={
            "10.0.0.1:3086 h1": {"state": "stopped", "reason": "stopped", "at": stamp},
            "10.0.0.1:3086 h2": {"state": "failed", "reason": "stop step failed", "at": stamp},
        },
    )
    story = read_run(run_dir)
    assert [(s.tps, s.state) for s in story.load] == [(2.0, "stopped"), (2.0, "failed")]
    assert story.step_tps == {0: 4.0}
    assert story.receipts_stopped == 1
    per_minute = story.scheduled_per_minute(t0, 12)
    assert per_minute == [0, 240, 240] + [120] * 8 + [0]
    assert sum(per_minute) == 2 * 120 + 2 * 600


def test_missing_schema_and_missing_deployment_are_named(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
) -> None:
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        db, note, _ = read_database(conn, sc.EXPERIMENT, t0, t0 + timedelta(minutes=5))
        assert db is None
        assert note == "no deployment row named 'exp-42' (the database holds no data of this stack)"
    with upstream_server.connect("postgres") as conn:  # a database without upstream's tables
        db, note, _ = read_database(conn, sc.EXPERIMENT, t0, t0 + timedelta(minutes=5))
        assert db is None
        assert note is not None
        assert note.startswith("schema missing: no table deployment")


def test_every_query_is_scoped_by_deployment_and_window() -> None:
    """A static guard beside the behavioural ones: no figure query forgets a scope."""
    figure_queries = [
        v
        for k, v in vars(queries).items()
        if k.isupper()
        and not k.startswith("_")
        and isinstance(v, str)
        and "SELECT" in v
        and k not in {"FIND_DEPLOYMENT", "MISSING_TABLES", "NAMES_SHARED"}
    ]
    assert len(figure_queries) >= 15
    for sql in figure_queries:
        assert "%(d)s" in sql, sql
        assert ("%(t0)s" in sql and "%(t1)s" in sql) or ("%(e0)s" in sql and "%(e1)s" in sql), sql


def test_ratio_guards() -> None:
    from minaperf.report.summary import ratio

    assert ratio(1, 0) is None
    assert ratio(None, 3) is None
    assert ratio(0, 4) == 0.0
    assert math.isclose(ratio(1, 3) or 0, 1 / 3)
