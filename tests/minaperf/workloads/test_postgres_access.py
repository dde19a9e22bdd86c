"""Who may connect to PostgreSQL, proved on the real server: our pg_hba.conf, our self-signed
certificate with `ssl=on`, and the read-only role made by pg-reader-role.sh."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import psycopg
import pytest
from cryptography import x509

from minaperf.workloads.postgres_access import READER, hba_conf, scram_verifier, server_certificate

from .conftest import ASSETS, SUPERUSER, PgImage

pytestmark = pytest.mark.postgres

SCRIPT = ASSETS / "pg-reader-role.sh"
SUPERUSER_PASSWORD = "superuser-secret-1"
READER_PASSWORD = "reader-secret-2"
SEED = bytes(range(32))
OUTSIDE_ONLY = ["10.64.0.0/14"]
"""A cluster range that does not hold 127.0.0.1: the test client is 'outside'."""


def _server(pg_factory: Callable[..., PgImage], cluster: list[str]) -> PgImage:
    server = pg_factory(
        password=SUPERUSER_PASSWORD,
        db="logs",
        server_args=["-c", "log_statement=all"],
    )
    config = server.base / "conf"
    config.mkdir(parents=True)
    cert, key = server_certificate(SEED, ["localhost"])
    (config / "tls.crt").write_text(cert)
    (config / "tls.key").write_text(key)
    # The harness waits for the server over TCP as the superuser: start inside the "cluster",
    # then switch to the rules under test and reload.
    (config / "pg_hba.conf").write_text(
        hba_conf(cluster_cidrs=["127.0.0.0/8"], database="logs", local_ranges=())
    )
    for path in (config, *config.iterdir()):
        server.run_as.own(path)
    (config / "tls.key").chmod(0o600)
    server.server_args = [
        *server.server_args,
        "-c",
        "ssl=on",
        "-c",
        f"ssl_cert_file={config / 'tls.crt'}",
        "-c",
        f"ssl_key_file={config / 'tls.key'}",
        "-c",
        f"hba_file={config / 'pg_hba.conf'}",
    ]
    server.start()
    (config / "pg_hba.conf").write_text(
        hba_conf(cluster_cidrs=cluster, database="logs", local_ranges=())
    )
    with _superuser_socket(server) as conn:
        assert conn.execute("SELECT pg_reload_conf()").fetchone() == (True,)
        errors = conn.execute("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
        assert errors.fetchone() == (0,)
    return server


def _reader_role(server: PgImage, password: str = READER_PASSWORD) -> subprocess.CompletedProcess:
    scram = server.base / "scram"
    scram.write_text(scram_verifier(password, b"0123456789abcdef"))
    env = server.client_env(
        "logs",
        PGHOST=str(server.sockdir),
        READER=READER,
        READER_SCRAM_FILE=str(scram),
        WAIT_TIMEOUT="10",
    )
    return subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _connect(server: PgImage, user: str, password: str, sslmode: str) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1",
        port=server.port,
        user=user,
        password=password,
        dbname="logs",
        sslmode=sslmode,
        autocommit=True,
        connect_timeout=10,
    )


def _superuser_socket(server: PgImage) -> psycopg.Connection:
    return psycopg.connect(
        host=str(server.sockdir),
        port=server.port,
        user=SUPERUSER,
        password=SUPERUSER_PASSWORD,
        dbname="logs",
        autocommit=True,
    )


def test_outside_only_the_reader_over_tls_and_it_only_reads(
    pg_factory: Callable[..., PgImage],
) -> None:
    server = _server(pg_factory, OUTSIDE_ONLY)
    with _superuser_socket(server) as conn:
        conn.execute("CREATE TABLE before_role (x int)")
        conn.execute("INSERT INTO before_role VALUES (1)")
    done = _reader_role(server)
    assert done.returncode == 0, done.stderr
    with _superuser_socket(server) as conn:
        # Created after the role, as the consumers do: default privileges cover it.
        conn.execute("CREATE TABLE after_role (x int)")
        conn.execute("INSERT INTO after_role VALUES (2)")

    with _connect(server, READER, READER_PASSWORD, "require") as reader:
        ssl = reader.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert ssl.fetchone() == (True,)
        assert reader.execute("SELECT x FROM before_role").fetchall() == [(1,)]
        assert reader.execute("SELECT x FROM after_role").fetchall() == [(2,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.execute("INSERT INTO after_role VALUES (3)")
        # Read-only by default is a convenience; the privileges are what stop a writer.
        reader.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("DELETE FROM after_role")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("CREATE TABLE mine (x int)")
        attributes = reader.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s",
            [READER],
        ).fetchone()
        assert attributes == (False, False, False)

    # No TLS from outside: no pg_hba line matches, so the server refuses.
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        _connect(server, READER, READER_PASSWORD, "disable")
    # The superuser never from outside, TLS or not.
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        _connect(server, SUPERUSER, SUPERUSER_PASSWORD, "require")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(server, READER, "wrong", "require")
    # The role was set from its SCRAM verifier: the plain password never reached the log.
    assert READER_PASSWORD not in server.log.read_text(errors="replace")


def test_reader_role_is_idempotent_and_takes_a_new_password(
    pg_factory: Callable[..., PgImage],
) -> None:
    server = _server(pg_factory, OUTSIDE_ONLY)
    for _ in range(2):
        done = _reader_role(server)
        assert done.returncode == 0, done.stderr
    _connect(server, READER, READER_PASSWORD, "require").close()
    # A kept disk attached to a new stack: the role gets that stack's password.
    assert _reader_role(server, "next-stack-password").returncode == 0
    _connect(server, READER, "next-stack-password", "require").close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(server, READER, READER_PASSWORD, "require")


def test_inside_the_cluster_consumers_connect_from_pg_variables_alone(
    pg_factory: Callable[..., PgImage],
) -> None:
    """The fetcher's `--db-uri postgresql://`: libpq takes every part from PG* variables."""
    server = _server(pg_factory, ["127.0.0.0/8"])
    env = server.client_env("logs", PGSSLMODE="disable")
    result = subprocess.run(
        ["psql", "-X", "-At", "postgresql://", "-c", "SELECT current_user, current_database()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{SUPERUSER}|logs"


def test_reader_role_script_refuses_bad_input(pg_factory: Callable[..., PgImage]) -> None:
    server = _server(pg_factory, OUTSIDE_ONLY)
    plain = server.base / "plain"
    plain.write_text("just-a-password")
    env = server.client_env(
        "logs", PGHOST=str(server.sockdir), READER=READER, READER_SCRAM_FILE=str(plain)
    )
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "does not hold a SCRAM-SHA-256 verifier" in result.stderr
    env |= {"READER": "Robert'); DROP TABLE x;--"}
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    # The superuser's own name: the script would demote the role it connects as.
    env |= {"READER": SUPERUSER, "READER_SCRAM_FILE": str(server.base / "scram")}
    (server.base / "scram").write_text(scram_verifier(READER_PASSWORD, b"0123456789abcdef"))
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "is the role this script connects as" in result.stderr
    with _superuser_socket(server) as conn:
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = %s", [SUPERUSER]
        ).fetchone() == (True,)


def test_certificate_is_stable_and_names_the_hosts() -> None:
    first = server_certificate(SEED, ["postgres.itn-dev.svc.cluster.local", "postgres"])
    assert first == server_certificate(SEED, ["postgres.itn-dev.svc.cluster.local", "postgres"])
    assert first != server_certificate(bytes(32), ["postgres.itn-dev.svc.cluster.local"])
    cert = x509.load_pem_x509_certificate(first[0].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "postgres.itn-dev.svc.cluster.local",
        "postgres",
    ]


def test_hba_trusts_nobody_and_reads_ranges_as_kubernetes_does() -> None:
    text = hba_conf(cluster_cidrs=["::ffff:10.64.0.0/110"], database="logs")
    rules = [line.split() for line in text.splitlines() if not line.startswith("#")]
    assert all(rule[-1] == "scram-sha-256" for rule in rules)
    assert "local all all scram-sha-256" in text
    assert "host all all 10.64.0.0/14 scram-sha-256" in text
    for wide in (["::/0"], ["::ffff:0:0/96"], ["0.0.0.0/1", "128.0.0.0/1"]):
        with pytest.raises(ValueError, match="public IPv4 addresses"):
            hba_conf(cluster_cidrs=wide, database="logs")


def test_hba_refuses_what_would_lock_consumers_out_or_inject() -> None:
    with pytest.raises(ValueError, match="no cluster range"):
        hba_conf(cluster_cidrs=[], database="logs")
    with pytest.raises(ValueError, match="identifier"):
        hba_conf(cluster_cidrs=["10.0.0.0/8"], database="logs all")
    text = hba_conf(cluster_cidrs=["10.64.0.0/14"], database="logs")
    outside = [line for line in text.splitlines() if "0.0.0.0/0" in line or "::/0" in line]
    assert outside == [
        f"hostssl logs {READER} 0.0.0.0/0 scram-sha-256",
        f"hostssl logs {READER} ::/0 scram-sha-256",
    ]
