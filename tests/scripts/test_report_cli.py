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
is tested on a server configured from the render (tests/minaperf/services/test_database_routes.py).
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
    assert (code, err) == (0, "")
    page2 = (tmp_path / "r2" / "report.html").read_text()
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
    assert code == 0
    assert (
        err == "note: no deployment row named 'exp-42' (the database holds no data of this stack)\n"
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
    assert code == 0
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
