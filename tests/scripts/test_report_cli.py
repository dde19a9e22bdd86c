"""`python -m scripts.report` end to end on the upstream schema, plus every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from scripts import report
from tests.fakes import report_scenario as sc
from tests.fakes.consumer_db import (
    PASSWORD,
    PgImage,
    add_deployment,
    stamp,
    upstream_db,  # noqa: F401 (fixture)
    upstream_server,  # noqa: F401 (fixture)
    write_run_dir,
)
from tests.fakes.outputs_fixture import write_outputs

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def _outputs(tmp_path: Path, server: PgImage, db: str, **changes: Any) -> Path:
    data = sc.outputs(server.port, PASSWORD)
    data["postgres"]["database"] = db
    for key, value in changes.items():
        data[key] = value
    return write_outputs(tmp_path / "outputs.json", data)


PORT_FORWARD = ["--db-host", "127.0.0.1"]
"""This server has neither TLS nor the read-only role: the report reaches it as through a
port-forward (the superuser at 127.0.0.1). The default route, the read-only role over verified TLS,
is tested on a server configured from the render (tests/minaperf/workloads/test_database_routes.py).
"""


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = report.main([*argv, *PORT_FORWARD])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_end_to_end_writes_page_and_versioned_summary_and_compares(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        sc.load(conn, t0)
    run_dir = sc.write_run(tmp_path / "exp-42-1", t0)
    outputs = _outputs(tmp_path, upstream_server, upstream_db)
    code, out, err = _main(["--run", str(run_dir), "--outputs", str(outputs)], capsys)
    assert (code, err) == (0, "")
    assert out.strip() == f"wrote {run_dir}/report/report.html and {run_dir}/report/summary.json"
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert summary["version"] == 1
    assert summary["experiment"] == "exp-42"
    assert summary["deployment"] == {"id": 2, "name": "exp-42", "newest": 2}
    assert summary["load"]["seen"] == sc.EXPECTED["seen"]
    assert summary["latency"]["p90"] == pytest.approx(90.0)
    assert summary["propagation"]["p90"] == pytest.approx(7.0)
    page = (run_dir / "report" / "report.html").read_text()
    assert page.count("<svg ") == 7
    assert "no data" not in page

    # a later run of the same stack (an empty window), reported on its own, then compared
    empty = write_run_dir(
        tmp_path / "exp-42-2",
        t0 + timedelta(minutes=30),
        steps=[{"action": "wait", "params": {"min": 1}}],
        step_starts=[0, 60],
        receipts=[],
        finished=60,
    )
    code, _, err = _main(
        [
            "--run",
            str(empty),
            "--outputs",
            str(outputs),
            "--out",
            str(tmp_path / "r2"),
            "--compare",
            str(run_dir),
        ],
        capsys,
    )
    # an empty window is an incomplete report: its own exit status, each empty section named
    assert code == report.EXIT_INCOMPLETE == 3
    assert err.splitlines()[0] == (
        "incomplete: load: no transactions were scheduled, seen or included"
    )
    assert json.loads((tmp_path / "r2" / "summary.json").read_text())["complete"] is False
    page2 = (tmp_path / "r2" / "report.html").read_text()
    assert "Incomplete report" in page2
    assert "Compared with exp-42" in page2
    # 0 seen here against 6 there: the delta row says -6
    assert "<td>transactions seen in pools</td><td>0</td><td>6</td><td>-6</td>" in page2


def test_database_without_this_stack_still_reports_what_is_missing(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        add_deployment(conn, "someone-else")
    run_dir = sc.write_run(tmp_path / "run", t0)
    outputs = _outputs(tmp_path, upstream_server, upstream_db)
    code, _, err = _main(["--run", str(run_dir), "--outputs", str(outputs)], capsys)
    assert code == report.EXIT_INCOMPLETE
    assert err.splitlines()[0] == (
        "note: no deployment row named 'exp-42' (the database holds no data of this stack)"
    )
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert summary["latency"]["status"] == "no data"
    assert "no deployment row named" in summary["latency"]["note"]
    # the run's own schedule still shows
    assert summary["load"]["scheduled"] == pytest.approx(600.0)


def test_empty_database_reports_the_missing_schema(
    upstream_server: PgImage,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = sc.write_run(tmp_path / "run", sc.run_start())
    outputs = _outputs(tmp_path, upstream_server, "postgres")
    code, _, err = _main(["--run", str(run_dir), "--outputs", str(outputs)], capsys)
    assert code == report.EXIT_INCOMPLETE
    assert err.startswith("note: schema missing: no table deployment, block_trace")
    assert "schema missing" in (run_dir / "report" / "report.html").read_text()


def _bad(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = _main(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("error: "), err
    return err.strip()


def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    upstream_server: PgImage,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = sc.write_run(tmp_path / "run", sc.run_start())
    good = _outputs(tmp_path, upstream_server, "logs")
    assert _bad(["--run", str(tmp_path / "nope"), "--outputs", str(good)], capsys) == (
        f"error: --run: {tmp_path / 'nope'} is not a directory; pass a run directory"
    )
    assert "has no run.json" in _bad(["--run", str(tmp_path), "--outputs", str(good)], capsys)
    assert "--outputs: " in _bad(["--run", str(run_dir), "--outputs", str(tmp_path / "x")], capsys)
    assert "one of the arguments --stack --outputs is required" in _bad(
        ["--run", str(run_dir)], capsys
    )
    closed = _outputs(tmp_path, upstream_server, "logs")
    data = json.loads(closed.read_text())
    data["postgres"]["port"] = 1  # nothing listens there
    closed.write_text(json.dumps(data))
    err = _bad(["--run", str(run_dir), "--outputs", str(closed)], capsys)
    assert err == (
        "error: database: the port-forward route to 127.0.0.1:1 as postgres (sslmode=prefer) "
        "failed (Connection refused); is `kubectl -n exp1 port-forward svc/postgres 1:5432` "
        "running?"
    )
    wrong = _outputs(tmp_path, upstream_server, "logs", postgresPassword="not-the-password")
    err = _bad(["--run", str(run_dir), "--outputs", str(wrong)], capsys)
    assert "password authentication failed" in err
    masked = _outputs(tmp_path, upstream_server, "logs", postgresPassword="[secret]")
    assert "postgresPassword is masked" in _bad(
        ["--run", str(run_dir), "--outputs", str(masked)], capsys
    )
    assert "--compare: no summary.json under" in _bad(
        ["--run", str(run_dir), "--outputs", str(good), "--compare", str(tmp_path)], capsys
    )
    assert not (run_dir / "report").exists()


def test_real_entry_point_prints_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.report",
            "--run",
            str(tmp_path / "missing"),
            "--outputs",
            str(tmp_path / "o.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr
        == f"error: --run: {tmp_path / 'missing'} is not a directory; pass a run directory\n"
    )


def _baseline(tmp_path: Path, candidate: dict[str, Any], name: str, **changes: float) -> Path:
    """Another run's report directory: the candidate's summary with known differences."""
    data = json.loads(json.dumps(candidate))
    data["run"]["directory"] = f"runs/{name}"
    for path, value in changes.items():
        section, key = path.split("__")
        data[section][key] = value
    directory = tmp_path / name / "report"
    directory.mkdir(parents=True)
    (directory / "summary.json").write_text(json.dumps(data))
    return directory.parent


def test_verdict_against_baselines_with_known_differences(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The scenario's run (latency p90 90 s, achieved 4/300 tx/s, 1 orphan) judged against
    baselines that differ by known amounts, with a thresholds file plus an inline limit."""
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        sc.load(conn, t0)
    run_dir = sc.write_run(tmp_path / "exp-42-1", t0)
    outputs = _outputs(tmp_path, upstream_server, upstream_db)
    assert _main(["--run", str(run_dir), "--outputs", str(outputs)], capsys)[0] == 0
    candidate = json.loads((run_dir / "report" / "summary.json").read_text())
    assert candidate["complete"] is True
    limits = tmp_path / "limits.json"
    limits.write_text(
        json.dumps(
            {
                "version": 1,
                "limits": {"inclusion latency p90": "+10 %", "achieved TPS": "-5 %"},
            }
        )
    )
    judge = ["--run", str(run_dir), "--outputs", str(outputs), "--fail-on", str(limits)]
    judge += ["--limit", "orphaned blocks: +2"]

    slower = _baseline(tmp_path, candidate, "slower", latency__p90=80.0)  # now +12.5 %
    code, out, _ = _main([*judge, "--compare", str(slower)], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == f"verdict: regression ({run_dir} against baseline runs/slower)"
    row = {line.split("  ")[0]: line.split() for line in lines[3:]}
    assert row["inclusion latency p90"][-1] == "regression"
    assert "+12.5" in row["inclusion latency p90"]
    assert row["achieved TPS"][-1] == "limits"  # within limits
    page = (run_dir / "report" / "report.html").read_text()
    top = page.index("<h2>")
    assert page.index("Verdict: regression") < top
    assert page.index("baseline: runs/slower") < top
    assert page.index(f"candidate (this run): {run_dir}") < top

    # the baseline was slower and produced more: an improvement, and within the other limits
    faster = _baseline(tmp_path, candidate, "faster", latency__p90=110.0, production__orphans=3)
    code, out, _ = _main([*judge, "--compare", str(faster)], capsys)
    assert code == 0
    assert out.splitlines()[1].startswith("verdict: within limits")
    assert "improvement" in out

    near = _baseline(tmp_path, candidate, "near", latency__p90=85.0, load__achievedTps=0.0139)
    code, out, _ = _main([*judge, "--compare", str(near)], capsys)
    assert code == 0  # +5.9 % latency, -4.1 % TPS
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert summary["verdict"]["outcome"] == "within limits"
    assert summary["verdict"]["baseline"] == "runs/near"

    lost = _baseline(tmp_path, candidate, "lost", load__achievedTps=0.02)  # -33 %
    assert _main([*judge, "--compare", str(lost)], capsys)[0] == 1


def test_verdict_bad_input_is_exit_2(
    upstream_server: PgImage,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = sc.write_run(tmp_path / "run", sc.run_start())
    base = ["--run", str(run_dir), "--outputs", str(_outputs(tmp_path, upstream_server, "logs"))]
    assert _bad([*base, "--limit", "achieved TPS: -5 %"], capsys) == (
        "error: --fail-on/--limit: judge against a baseline; add --compare BASELINE_RUN"
    )
    other = tmp_path / "other"
    other.mkdir()
    summary = other / "summary.json"
    compare = [*base, "--compare", str(other)]
    summary.write_bytes(b'{"version": 1, "load": "\xff"}')
    assert f"--compare: {summary} is not UTF-8 text (byte 24)" in _bad(compare, capsys)
    summary.write_text(json.dumps({"version": 1, "load": {"seen": "6"}}))
    assert "`load.seen` (transactions seen in pools) must be a number" in _bad(compare, capsys)
    summary.write_text(json.dumps({"version": 1, "load": []}))
    assert "`load` must be an object" in _bad(compare, capsys)
    sections = {section: {} for section in ("load", "latency", "propagation", "production")}
    summary.write_text(json.dumps({"version": 1, **sections, "snark": {}}))
    assert "--limit 'tps -5': write 'figure: limit'" in _bad(
        [*compare, "--limit", "tps -5"], capsys
    )
    assert "limit 'achieved TPS': '5 %' is not a limit" in _bad(
        [*compare, "--limit", "achieved TPS: 5 %"], capsys
    )
    (tmp_path / "t.json").write_text('{"version": 1, "limits": {"achieved TPS": "-5 %"}}')
    assert "also in --fail-on" in _bad(
        [*compare, "--fail-on", str(tmp_path / "t.json"), "--limit", "achieved tps: -1 %"], capsys
    )
    for grace in ("inf", "1e12", "nan", "-1"):
        assert _bad([*base, "--grace-min", grace], capsys).startswith(
            "error: --grace-min: must be a number of minutes from 0 to"
        )
    assert not (run_dir / "report").exists()


@pytest.mark.parametrize("name", ["script.jsonl", "stdout.jsonl"])
def test_non_utf8_run_files_are_one_line(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = sc.write_run(tmp_path / "run", sc.run_start())
    (run_dir / name).write_bytes(b'{"step": 0, "name": "receipt"\xff}\n')
    err = _bad(["--run", str(run_dir), "--outputs", str(tmp_path / "o.json")], capsys)
    assert err == (
        f"error: --run: {run_dir / name} is not UTF-8 text (byte 29); "
        "restore the file `experiment run` wrote"
    )


def test_run_json_time_without_zone_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = sc.write_run(tmp_path / "run", sc.run_start())
    state = json.loads((run_dir / "run.json").read_text())
    for field, value in (("started", "2026-01-05T10:00:00"), ("finished", "2026-01-05T11:00:00")):
        broken = state | {field: value}
        (run_dir / "run.json").write_text(json.dumps(broken))
        err = _bad(["--run", str(run_dir), "--outputs", str(tmp_path / "o.json")], capsys)
        assert err == (
            f"error: --run: {run_dir / 'run.json'} `{field}`: time '{value}' has no zone; "
            "write it as RFC 3339 with 'Z' or an offset"
        )
    broken = json.loads(json.dumps(state))
    broken["receiptsIssued"][0]["time"] = "2026-01-05T10:01:00"
    (run_dir / "run.json").write_text(json.dumps(broken))
    assert "receipt h1 `time`: time '2026-01-05T10:01:00' has no zone" in _bad(
        ["--run", str(run_dir), "--outputs", str(tmp_path / "o.json")], capsys
    )


FAKE_KUBECTL = str(ROOT / "tests" / "fakes" / "fake_kubectl.py")


def _pod(name: str, uid: str, count: int, reason: str | None = None, at: str | None = None):
    """A daemon pod as `kubectl get pods -o json` lists it (core/v1 Pod, ContainerStatus)."""
    status: dict[str, Any] = {"name": "mina", "restartCount": count, "lastState": {}}
    if reason:
        status["lastState"] = {"terminated": {"reason": reason, "exitCode": 137, "finishedAt": at}}
    sidecar = {"name": "logs-fetcher", "restartCount": 9}  # not the daemon: never counted
    return {
        "metadata": {"name": name, "uid": uid},
        "status": {"phase": "Running", "containerStatuses": [sidecar, status]},
    }


@pytest.mark.parametrize("source", ["run", "report", "unreachable"])
def test_restarts_from_kubernetes_per_node_with_reason(
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    """run: `experiment run` saved a snapshot before and after (plain-2 went 1 → 3 restarts,
    the last OOMKilled): 2 during the run, and kubectl is not asked again. report: no saved pair,
    so the report reads the pods itself (counts since each pod started). unreachable: nothing
    could be read: "restarts not recorded", never 0."""
    t0 = sc.run_start()
    with upstream_server.connect(upstream_db) as conn:
        sc.load(conn, t0)
        conn.execute("DELETE FROM node_restarts")  # experiments-api is not deployed here
    run_dir = sc.write_run(tmp_path / "run", t0)
    outputs = _outputs(tmp_path, upstream_server, upstream_db)
    oom_at = (t0 + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    log = tmp_path / "kubectl.jsonl"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    if source == "run":
        before = {"items": [_pod("plain-2-0", "u2", 1), _pod("bp-1-0", "u1", 0)]}
        after = {
            "items": [_pod("plain-2-0", "u2", 3, "OOMKilled", oom_at), _pod("bp-1-0", "u1", 0)]
        }
        (run_dir / "restarts.json").write_text(
            json.dumps(
                {
                    "version": 1,
                    "snapshots": [
                        {**_snapshot(before, outputs), "time": stamp(t0)},
                        {**_snapshot(after, outputs), "time": stamp(t0 + timedelta(minutes=7))},
                    ],
                }
            )
        )
    elif source == "report":
        pods = tmp_path / "pods.json"
        pods.write_text(json.dumps({"items": [_pod("plain-1-0", "u3", 5, "Error", oom_at)]}))
        monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    else:
        monkeypatch.setenv("FAKE_KUBECTL_UNREACHABLE", "1")
    code, _, err = _main(
        ["--run", str(run_dir), "--outputs", str(outputs), "--kubectl", FAKE_KUBECTL], capsys
    )
    assert (code, err) == (0, "")
    health = json.loads((run_dir / "report" / "summary.json").read_text())["health"]
    page = (run_dir / "report" / "report.html").read_text()
    if source == "run":
        assert not log.exists()
        assert health["restartsTotal"] == 2
        assert health["restartsPerNode"] == {"plain-2": 2}
        (row,) = [r for r in health["restartNodes"] if r["restarts"]]
        assert (row["node"], row["scope"], row["lastReason"], row["lastExitCode"]) == (
            "plain-2",
            "during the run",
            "OOMKilled",
            137,
        )
        assert "<td>plain-2</td><td>2</td><td>during the run</td><td>OOMKilled</td>" in page
        assert any(
            e["node"] == "plain-2" and e["reason"] == "OOMKilled" for e in health["restarts"]
        )
    elif source == "report":
        assert json.loads(log.read_text().splitlines()[0])[:4] == ["get", "pods", "-n", "exp1"]
        assert health["restartsPerNode"] == {"plain-1": 5}
        assert "<td>plain-1</td><td>5</td><td>since the pod started</td><td>Error</td>" in page
    else:
        assert health["restartsRecorded"] is False
        assert health["restartsTotal"] is None
        assert "Restarts not recorded (couldn&#x27;t get current server API group list" in page
        assert "0 node restart(s)" not in page


def _snapshot(listing: dict[str, Any], outputs_path: Path) -> dict[str, Any]:
    from minaperf.model.outputs import load_outputs
    from minaperf.orchestrator.restarts import pods_snapshot

    return pods_snapshot(listing, load_outputs(outputs_path).nodes, "unused")
