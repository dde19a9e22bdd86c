"""Pure builders of minaperf.workloads.services; the PostgreSQL ones against a real server."""

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

from minaperf.workloads import services
from minaperf.workloads.services import (
    FetchedNode,
    deployment_row,
    fetcher_node_list,
    fetcher_output_volume,
    fetcher_resources,
    fetcher_shards,
    node_output_bytes,
    postgres_server_args,
    postgres_uri,
    trace_bytes_per_hour,
    uptime_backend_config,
    uptime_network_env,
)

from .conftest import PgImage

# Public keys from tests/data/vectors/minimina-large/genesis_ledger.json and the seed issue.
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


def test_fetcher_resources_follow_the_shard_size() -> None:
    assert fetcher_resources(1) == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "768Mi"},
    }
    assert fetcher_resources(8) == {
        "requests": {"cpu": "4", "memory": "2304Mi"},
        "limits": {"cpu": "8", "memory": "4352Mi"},
    }
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="positive"):
            fetcher_resources(bad)


@given(st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=16))
def test_shards_cover_every_node_once_evenly_in_order(n: int, per_shard: int) -> None:
    nodes = list(range(n))
    shards = fetcher_shards(nodes, per_shard)
    assert [node for shard in shards for node in shard] == nodes
    sizes = [len(shard) for shard in shards]
    assert max(sizes) <= per_shard
    assert max(sizes) - min(sizes) <= 1
    assert len(shards) == -(-n // per_shard)


def test_shards_refuse_nothing_to_shard() -> None:
    with pytest.raises(ValueError, match="no nodes"):
        fetcher_shards([])
    assert [len(s) for s in fetcher_shards(range(10), 8)] == [5, 5]


def test_trace_volume_is_sized_from_the_highest_rate_a_node_can_deliver() -> None:
    # 500 queued entries (itn_logger.ml) x 200 bytes every 5 s poll = 20 kB/s = 72 MB/h.
    assert services.FETCH_INTERVAL_MS == 5000
    assert trace_bytes_per_hour() == 72_000_000
    assert trace_bytes_per_hour(10_000) == 36_000_000
    # 72 h: 5.184 GB of traces + 2 x 64 MiB consumer logs + 256 MiB closed-file quota per node.
    assert node_output_bytes(72) == 5_184_000_000 + 3 * 128 * 1024**2
    assert fetcher_output_volume(8, 72) == "43Gi"  # 8 x 5.21 GiB + 1 GiB, rounded up
    assert fetcher_output_volume(1, 1) == "2Gi"
    with pytest.raises(ValueError, match="hours"):
        node_output_bytes(0)


def test_node_list_has_the_online_shape_the_fetcher_decodes() -> None:
    node = FetchedNode("bp-2", REAL_KEYS[0], "bp-2-0.bp", 3086)
    assert json.loads(fetcher_node_list([node])) == [
        {"remote_addr": "bp-2-0.bp", "submitter": REAL_KEYS[0], "graphql_control_port": 3086}
    ]
    # ITC node.rs:29-37: `<pk[-8:]>-<ip>-<port>`.
    assert node.trace_name == f"{REAL_KEYS[0][-8:]}-bp-2-0.bp-3086"
    with pytest.raises(ValueError, match="at least one node"):
        fetcher_node_list([])
    with pytest.raises(ValueError, match="invalid host"):
        fetcher_node_list([FetchedNode("x", REAL_KEYS[0], "10.0.0.1:80", 3086)])


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


def test_services_module_has_no_pulumi_import() -> None:
    text = Path(services.__file__).read_text()
    assert "pulumi" not in text.lower().replace("(no pulumi imports)", "")
