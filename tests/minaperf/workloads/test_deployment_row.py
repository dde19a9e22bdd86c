"""pg-deployment-row.sh against the real server initialised by pg-init.sh."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from minaperf.workloads.services import deployment_row

from .conftest import ASSETS, GENERATED_PASSWORD, PgImage, free_port

pytestmark = pytest.mark.postgres

SCRIPT = ASSETS / "pg-deployment-row.sh"


def _run(
    env: dict[str, str], *, argv0: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(argv0 or ["sh"]), str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _rows(server: PgImage, db: str) -> list[tuple[int, dict[str, Any]]]:
    with server.connect(db) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT deployment_id, metadata_json FROM deployment ORDER BY deployment_id"
            )
        ]


def test_row_written_once_across_reruns_and_restart(schema_server: PgImage, fresh_db: str) -> None:
    row = deployment_row("exp-1", commit="abc123", comment="first run")
    env = schema_server.client_env(fresh_db, **row.env())
    first = _run(env)
    assert first.returncode == 0, first.stderr
    assert "inserted deployment exp-1 as deployment_id 1" in first.stderr
    second = _run(env)
    assert second.returncode == 0, second.stderr
    assert "already present as deployment_id 1" in second.stderr
    schema_server.stop()
    schema_server.start()
    third = _run(env)
    assert third.returncode == 0, third.stderr
    assert _rows(schema_server, fresh_db) == [(1, row.metadata_json)]
    assert row.metadata_json == {"name": "exp-1", "commit": "abc123", "comment": "first run"}
    with schema_server.connect(fresh_db) as conn:
        assert conn.execute("SELECT get_max_deployment_id()").fetchone() == (1,)
    assert GENERATED_PASSWORD not in first.stdout + first.stderr


def test_concurrent_runs_write_one_row(schema_server: PgImage, fresh_db: str) -> None:
    env = schema_server.client_env(fresh_db, DEPLOYMENT_NAME="exp-par")
    procs = [
        subprocess.Popen(
            ["sh", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    for p in procs:
        assert p.stdout is not None
        assert p.stderr is not None
        p.stdout.close()
        p.stderr.close()
    assert codes == [0] * 6
    assert len(_rows(schema_server, fresh_db)) == 1


def test_other_experiment_gets_its_own_row_and_warning(
    schema_server: PgImage, fresh_db: str
) -> None:
    a = schema_server.client_env(fresh_db, DEPLOYMENT_NAME="exp-a")
    b = schema_server.client_env(fresh_db, DEPLOYMENT_NAME="exp-b", DEPLOYMENT_METADATA='{"x": 1}')
    assert _run(a).returncode == 0
    assert _run(b).returncode == 0
    again = _run(a)
    assert again.returncode == 0
    assert "WARNING: deployment_id 2 (another deployment) is newer" in again.stderr
    assert _rows(schema_server, fresh_db) == [
        (1, {"name": "exp-a"}),
        (2, {"name": "exp-b", "x": 1}),
    ]


def test_metadata_name_is_overridden_and_quoting_is_safe(
    schema_server: PgImage, fresh_db: str
) -> None:
    meta = json.dumps({"name": "other", "comment": 'it\'s "quoted"; DROP TABLE deployment; --'})
    env = schema_server.client_env(fresh_db, DEPLOYMENT_NAME="exp-q", DEPLOYMENT_METADATA=meta)
    r = _run(env)
    assert r.returncode == 0, r.stderr
    assert _rows(schema_server, fresh_db) == [
        (1, {"name": "exp-q", "comment": 'it\'s "quoted"; DROP TABLE deployment; --'})
    ]


@pytest.mark.parametrize("meta", ["[1, 2]", "not json", '"text"'])
def test_bad_metadata_is_refused(schema_server: PgImage, fresh_db: str, meta: str) -> None:
    env = schema_server.client_env(fresh_db, DEPLOYMENT_NAME="exp-m", DEPLOYMENT_METADATA=meta)
    r = _run(env)
    assert r.returncode == 1
    assert "could not ensure the deployment row for exp-m" in r.stderr
    assert _rows(schema_server, fresh_db) == []


def test_missing_name_is_a_usage_error(schema_server: PgImage, fresh_db: str) -> None:
    r = _run(schema_server.client_env(fresh_db))
    assert r.returncode == 2
    assert "DEPLOYMENT_NAME" in r.stderr


def test_database_without_schema_is_reported(schema_server: PgImage) -> None:
    with schema_server.connect("postgres") as conn:
        conn.execute("DROP DATABASE IF EXISTS noschema")
        conn.execute("CREATE DATABASE noschema")
    try:
        r = _run(schema_server.client_env("noschema", DEPLOYMENT_NAME="exp-n"))
        assert r.returncode == 1
        assert "schema missing" in r.stderr
    finally:
        with schema_server.connect("postgres") as conn:
            conn.execute("DROP DATABASE noschema WITH (FORCE)")


def test_gives_up_when_no_server_answers(schema_server: PgImage) -> None:
    env = schema_server.client_env(
        "logs",
        PGPORT=str(free_port()),
        DEPLOYMENT_NAME="exp-t",
        WAIT_TIMEOUT="2",
        WAIT_INTERVAL="1",
    )
    t0 = time.monotonic()
    r = _run(env)
    assert r.returncode == 4
    assert "did not accept connections within 2s" in r.stderr
    assert time.monotonic() - t0 < 30


def test_waits_for_a_server_that_starts_later(
    pg_factory: Callable[..., PgImage], schema_server: PgImage
) -> None:
    """Start the step first, then the server (initialised by pg-init with the test schema)."""
    img = pg_factory(
        password=GENERATED_PASSWORD,
        server_args=[],
        db="logs",
        initdb_d=schema_server.initdb_d,
        extra_env=dict(schema_server.extra_env),
    )
    img.port = free_port()
    env = img.client_env(DEPLOYMENT_NAME="exp-late", WAIT_TIMEOUT="90", WAIT_INTERVAL="1")
    proc = subprocess.Popen(
        ["sh", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1)
        assert proc.poll() is None
        img.start()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert _rows(img, "logs") == [(1, {"name": "exp-late"})]


def test_runs_with_busybox_sh(schema_server: PgImage, fresh_db: str, busybox_bin: Path) -> None:
    if not (busybox_bin / "psql").exists():
        pytest.skip("psql not found")
    env = schema_server.client_env(fresh_db, DEPLOYMENT_NAME="exp-bb")
    env["PATH"] = str(busybox_bin)
    bb = str(shutil.which("busybox"))
    assert _run(env, argv0=[bb, "sh"]).returncode == 0
    again = _run(env, argv0=[bb, "sh"])
    assert again.returncode == 0, again.stderr
    assert len(_rows(schema_server, fresh_db)) == 1
