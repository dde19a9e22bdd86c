"""Pure builders of minaperf.services; the PostgreSQL ones against a real server."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf import services
from minaperf.services import (
    DashboardNode,
    dashboard_fe_config,
    deployment_row,
    fetcher_output_quota,
    fetcher_resources,
    postgres_server_args,
    postgres_uri,
    uptime_backend_config,
    uptime_network_env,
)

from .conftest import PgImage

# Public keys from shared/vectors/minimina-large/genesis_ledger.json and the seed issue.
REAL_KEYS = [
    "B62qmYAQhLdmfcXwDTZCmEqvrhEfN5TT4GgVANeknoGbhW1u4zHWFdv",
    "B62qqeMgtLhKkmZNDvAGsw9pqGw51uXpTf5ar8JDMzvSekmuF5zUtDe",
    "B62qkasW9RRENzCzdEov1PRQ63BUT2VQK9iU7imcvbPLThnhL2eYMz8",
]


# ----------------------------------------------------------------------------- uptime backend


@pytest.fixture
def fake_key_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for minaperf.keys.mina: tests the wiring independent of that module."""
    mod = types.ModuleType("minaperf.keys.mina")
    mod.is_valid_public_key = lambda s: s.startswith("GOOD")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "minaperf.keys.mina", mod)


@pytest.mark.usefixtures("fake_key_check")
def test_uptime_config_shape() -> None:
    text = uptime_backend_config(["GOOD1", "GOOD2"])
    assert json.loads(text) == {"in_memory": True, "whitelist": ["GOOD1", "GOOD2"]}


@pytest.mark.usefixtures("fake_key_check")
@pytest.mark.parametrize(
    ("whitelist", "message"),
    [
        (["GOOD1", "bad key"], r"entry 1 \('bad key'\) is not a valid B62 public key"),
        ([], "empty"),
        (["GOOD1", "GOOD1"], "twice"),
    ],
)
def test_uptime_config_rejects(whitelist: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        uptime_backend_config(whitelist)


@pytest.mark.usefixtures("fake_key_check")
def test_uptime_config_rejects_single_string() -> None:
    with pytest.raises(TypeError):
        uptime_backend_config("GOOD1")


def test_uptime_config_with_real_key_check() -> None:
    pytest.importorskip("minaperf.keys.mina")
    assert json.loads(uptime_backend_config(REAL_KEYS))["whitelist"] == REAL_KEYS
    broken = REAL_KEYS[0][:-1] + ("e" if REAL_KEYS[0][-1] != "e" else "f")  # checksum breaks
    with pytest.raises(ValueError, match=rf"entry 1 \('{broken}'\)"):
        uptime_backend_config([REAL_KEYS[1], broken])


@pytest.mark.parametrize(
    "image",
    [
        "gcr.io/o1labs-192920/mina-daemon:3.0.1-alpha1-release-3.0.1-0473756-bullseye-devnet",
        "minaprotocol/mina-daemon:3.2.0-abc1234-bookworm-devnet@sha256:" + "a" * 64,
        "localhost:5000/mina-daemon:devnet",
    ],
)
def test_network_env_devnet(image: str) -> None:
    assert uptime_network_env(image) == "testnet"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("gcr.io/o1labs-192920/mina-daemon:3.0.3-bullseye-mainnet", "mainnet build"),
        ("gcr.io/o1labs-192920/mina-daemon:3.0.3-bullseye", "cannot tell"),
        ("localhost:5000/devnet/mina-daemon", "cannot tell"),
        ("mina-daemon@sha256:" + "b" * 64, "cannot tell"),
        ("mina-daemon:mydevnetish", "cannot tell"),
    ],
)
def test_network_env_refuses(image: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        uptime_network_env(image)


# ----------------------------------------------------------------------------- fetcher


def test_fetcher_resources_scale_and_cap() -> None:
    assert fetcher_resources(1) == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "768Mi"},
    }
    assert fetcher_resources(10) == {
        "requests": {"cpu": "5", "memory": "2816Mi"},
        "limits": {"cpu": "10", "memory": "5376Mi"},
    }
    assert fetcher_resources(1000) == {
        "requests": {"cpu": "12", "memory": "16Gi"},
        "limits": {"cpu": "32", "memory": "32Gi"},
    }
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="positive"):
            fetcher_resources(bad)


@given(st.integers(min_value=1, max_value=5000))
def test_fetcher_resources_requests_never_exceed_limits(n: int) -> None:
    r = fetcher_resources(n)

    def cpu(q: str) -> float:
        return int(q[:-1]) / 1000 if q.endswith("m") else float(q)

    def mem(q: str) -> int:
        return int(q[:-2]) * (1024**3 if q.endswith("Gi") else 1024**2)

    assert cpu(r["requests"]["cpu"]) <= cpu(r["limits"]["cpu"]) <= 32
    assert mem(r["requests"]["memory"]) <= mem(r["limits"]["memory"]) <= 32 * 1024**3


def test_fetcher_output_quota() -> None:
    gib = 1024**3
    assert fetcher_output_quota(10, gib) == "21Gi"
    assert fetcher_output_quota(1, 1) == "2Gi"
    assert fetcher_output_quota(3, 512 * 1024**2) == "4Gi"
    with pytest.raises(ValueError, match="per_node_bytes"):
        fetcher_output_quota(1, 0)


# ----------------------------------------------------------------------------- PostgreSQL


def test_server_args_are_the_seed_settings() -> None:
    assert postgres_server_args() == ["-c", "max_connections=10000", "-c", "shared_buffers=2048MB"]


@pytest.mark.postgres
def test_server_args_parse_with_postgres_c(schema_server: PgImage) -> None:
    """`postgres -C` reads the config plus our args without starting: values and units parse."""
    got = {}
    for name in ("max_connections", "shared_buffers"):
        r = subprocess.run(
            [
                str(schema_server.bindir / "postgres"),
                "-D",
                str(schema_server.data),
                *postgres_server_args(),
                "-C",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={"PATH": "/usr/bin:/bin"},
            **schema_server.run_as.popen_kwargs(),  # type: ignore[arg-type]
        )
        assert r.returncode == 0, r.stderr
        got[name] = r.stdout.strip()
    assert got == {"max_connections": "10000", "shared_buffers": "262144"}  # 8 kB pages


@pytest.mark.postgres
def test_server_starts_with_exactly_these_args(pg_factory: Callable[..., PgImage]) -> None:
    """A real server runs with the args (2 GiB of shared buffers fit this machine and CI's)."""
    img = pg_factory(password="args-pw", server_args=postgres_server_args())
    img.start()
    with img.connect() as conn:
        assert conn.execute("SHOW max_connections").fetchone() == ("10000",)
        assert conn.execute("SHOW shared_buffers").fetchone() == ("2GB",)


URL_SPECIAL = "@:/?#[]%&=+ $!'\"\\~;,"


def _generated_password() -> str:
    alphabet = string.ascii_letters + string.digits + URL_SPECIAL
    return "".join(secrets.choice(alphabet) for _ in range(24)) + URL_SPECIAL


@pytest.mark.postgres
def test_uri_with_special_password_works_with_psycopg(
    pg_factory: Callable[..., PgImage],
) -> None:
    password = _generated_password()
    img = pg_factory(password=password, server_args=[], db="logs")
    img.start()
    uri = postgres_uri("127.0.0.1", img.port, "postgres", "logs", password)
    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (
            "logs",
            "postgres",
        )
    wrong = postgres_uri("127.0.0.1", img.port, "postgres", "logs", password + "x")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s))
def test_uri_round_trips_any_password(password: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    d = conninfo_to_dict(postgres_uri("db.example", 5432, "post gres", "lo/gs", password))
    assert d["password"] == password
    assert d["user"] == "post gres"
    assert d["dbname"] == "lo/gs"
    assert d["host"] == "db.example"
    assert d["port"] == "5432"


def test_uri_validation() -> None:
    assert postgres_uri("::1", 5432, "u", "d", "p") == "postgresql://u:p@[::1]:5432/d"
    for args in [
        ("", 1, "u", "d", "p"),
        ("h", 0, "u", "d", "p"),
        ("h", 1, "u", "d", ""),
        ("h/x", 1, "u", "d", "p"),
    ]:
        with pytest.raises(ValueError):  # noqa: PT011
            postgres_uri(*args)  # type: ignore[arg-type]


def test_deployment_row_builder() -> None:
    row = deployment_row("exp-7", commit="c0ffee", comment="hi", extra={"nodes": 10})
    assert row.metadata_json == {"name": "exp-7", "commit": "c0ffee", "comment": "hi", "nodes": 10}
    env = row.env()
    assert env["DEPLOYMENT_NAME"] == "exp-7"
    assert json.loads(env["DEPLOYMENT_METADATA"]) == {
        "commit": "c0ffee",
        "comment": "hi",
        "nodes": 10,
    }
    for bad in ("", "-x", "a b", "x" * 64):
        with pytest.raises(ValueError, match="deployment name"):
            deployment_row(bad)
    with pytest.raises(ValueError, match="'name'"):
        deployment_row("e", extra={"name": "other"})
    with pytest.raises(TypeError):
        deployment_row("e", extra={"x": object()})


# ----------------------------------------------------------------------------- dashboard


def test_dashboard_fe_config() -> None:
    cfg = dashboard_fe_config(
        node_lister_url="http://fetcher.example",
        nodes=[
            DashboardNode(
                "bp-1", "http://bp-1.example:3085/graphql", "http://log-api.example:9080/graphql"
            ),
            DashboardNode("plain-1", "http://plain-1.example:3085/graphql"),
        ],
    )
    assert cfg == {
        "isVanilla": True,
        "nodeLister": {"domain": "http://fetcher.example", "port": 4000},
        "globalConfig": {"features": {"dashboard": ["nodes"], "tracing": ["overview", "blocks"]}},
        "configs": [
            {
                "name": "bp-1",
                "graphql": "http://bp-1.example:3085/graphql",
                "tracing-graphql": "http://log-api.example:9080/graphql",
            },
            {"name": "plain-1", "graphql": "http://plain-1.example:3085/graphql"},
        ],
    }
    json.dumps(cfg)
    with pytest.raises(ValueError, match="unknown dashboard feature"):
        dashboard_fe_config(node_lister_url="http://f", features={"bogus": []})
    with pytest.raises(ValueError, match="without port or path"):
        dashboard_fe_config(node_lister_url="http://f:4000")
    with pytest.raises(ValueError, match="unique"):
        dashboard_fe_config(
            node_lister_url="http://f",
            nodes=[DashboardNode("a", "http://a/graphql"), DashboardNode("a", "http://b/graphql")],
        )
    with pytest.raises(ValueError, match="not an http"):
        dashboard_fe_config(node_lister_url="http://f", nodes=[DashboardNode("a", "ftp://a")])


def test_services_module_has_no_pulumi_import() -> None:
    text = Path(services.__file__).read_text()
    assert "pulumi" not in text.lower().replace("(no pulumi imports)", "")
