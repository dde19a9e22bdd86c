"""The trace-flow check of `wait`: pure verdicts, and end to end against a stand-in fetcher
writing files like ITC's (tests/fakes/itc_standin.py), the real log-quota.sh status file, and a
real PostgreSQL with upstream's schema filled the way the consumer fills it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from minaperf.model.outputs import LogFetcherShard, StackOutputs
from minaperf.orchestrator.readiness import ClusterUnreachableError
from minaperf.orchestrator.traces import (
    PROBE_CONTAINER,
    ROWS_SQL,
    TraceFlow,
    kubectl_runner,
    parse_probe,
    parse_rows,
    probe_argv,
    rows_argv,
    trace_flow_check,
)
from tests.fakes.consumer_db import Consumer, add_deployment, upstream_db, upstream_server  # noqa: F401 (fixtures)
from tests.fakes.outputs_fixture import make_outputs
from tests.minaperf.workloads.conftest import ASSETS, PgImage

ROOT = Path(__file__).resolve().parents[3]
FAKE_KUBECTL = str(ROOT / "tests" / "fakes" / "fake_kubectl.py")
SHARDS = [
    LogFetcherShard(deployment="log-fetcher-1", nodes={"bp-1": "aaaaaaaa-bp-1-0.bp-3086"}),
    LogFetcherShard(
        deployment="log-fetcher-2",
        nodes={"node-1": "bbbbbbbb-node-1-0.node-3086", "node-2": "cccccccc-node-2-0.node-3086"},
    ),
]
ALL = {"aaaaaaaa-bp-1-0.bp-3086": 10, "bbbbbbbb-node-1-0.node-3086": 5}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_probe_reads_trace_sizes_and_the_volume_use() -> None:
    text = (
        "file 120 /output/aaaaaaaa-bp-1-0.bp-3086/internal-trace.jsonl\n"
        "file 0 /output/bbbbbbbb-node-1-0.node-3086/internal-trace.jsonl\n"
        "node=aaaaaaaa-bp-1-0.bp-3086 used_bytes=300 open_bytes=120 files=3\n"
        "summary nodes=2 used_bytes=300 open_bytes=120 reclaimed_bytes=0 truncated_bytes=0 "
        "volume_used_bytes=10 volume_size_bytes=100 volume_used_pct=10\n"
    )
    probe = parse_probe(text)
    assert probe.trace_bytes == {
        "aaaaaaaa-bp-1-0.bp-3086": 120,
        "bbbbbbbb-node-1-0.node-3086": 0,
    }
    assert probe.volume_used_pct == 10
    assert parse_probe("").volume_used_pct is None


def test_parse_rows_reads_psql_unaligned_output() -> None:
    assert parse_rows("a-1\t3\nb-2\t10\n\ngarbage\n") == {"a-1": 3, "b-2": 10}


def test_verdict_waits_for_files_then_rows_and_names_stuck_nodes() -> None:
    clock = Clock()
    flow = TraceFlow(SHARDS, clock=clock, grace_seconds=300)
    status = flow.verdict(ALL, {}, 12)
    assert not status.ok
    assert "trace files 2/3 non-empty (waiting: node-2)" in status.line
    assert "rows in PostgreSQL from 0/3 (waiting: bp-1, node-1, node-2)" in status.line
    assert "fullest fetcher volume 12%" in status.line
    assert "NOT REACHING" not in status.line

    clock.now += 301
    files = {**ALL, "cccccccc-node-2-0.node-3086": 7}
    status = flow.verdict(files, {"aaaaaaaa-bp-1-0.bp-3086": 4}, None)
    assert not status.ok
    # node-1's file has had data for 301 s without a row; node-2's only since now.
    assert "NOT REACHING PostgreSQL after 5 min on disk: node-1 " in status.line

    rows = {name: 1 for name in files}
    status = flow.verdict(files, rows, 40)
    assert status.ok, status.line
    assert status.line.startswith("trace files 3/3 non-empty; rows in PostgreSQL from 3/3")


def test_verdict_is_not_ok_when_the_database_or_a_shard_cannot_be_read() -> None:
    flow = TraceFlow(SHARDS)
    full = {name: 1 for shard in SHARDS for name in shard.nodes.values()}
    assert not flow.verdict(full, None, None).ok
    status = flow.verdict(full, full, None, ["log-fetcher-2 unreadable (boom)"])
    assert not status.ok
    assert status.line.endswith("log-fetcher-2 unreadable (boom)")


def test_rows_are_read_without_a_password_on_the_command_line() -> None:
    outputs = StackOutputs.model_validate(make_outputs())
    argv = rows_argv("kubectl", outputs)
    assert argv[:7] == ["kubectl", "exec", "-i", "-n", "exp1", "postgres-0", "-c"]
    assert "get_max_deployment_id()" in ROWS_SQL
    assert not any("password" in a.lower() for a in argv)


def test_no_check_for_outputs_without_fetcher_shards() -> None:
    outputs = StackOutputs.model_validate(make_outputs())
    assert trace_flow_check(outputs, FAKE_KUBECTL) is None


def test_unreachable_cluster_ends_the_wait() -> None:
    data = make_outputs()
    data["logFetchers"] = [s.model_dump() for s in SHARDS]
    outputs = StackOutputs.model_validate(data)

    def refuse(argv: object, stdin: object) -> str:
        raise RuntimeError("Unable to connect to the server: dial tcp: i/o timeout")

    check = trace_flow_check(outputs, "kubectl", refuse)
    assert check is not None
    with pytest.raises(ClusterUnreachableError):
        check()


@pytest.fixture
def fetcher_output(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    procs: list[subprocess.Popen[str]] = []
    yield tmp_path / "output", procs
    for p in procs:
        p.kill()
        p.wait()


def _standin_fetcher(node_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.itc_standin", "fetcher", str(node_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _send(proc: subprocess.Popen[str], command: str) -> None:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "ok"


def test_end_to_end_through_kubectl_exec_files_status_and_database(
    fetcher_output: tuple[Path, list[subprocess.Popen[str]]],
    upstream_server: PgImage,  # noqa: F811
    upstream_db: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, procs = fetcher_output
    data = make_outputs()
    data["logFetchers"] = [s.model_dump() for s in SHARDS]
    data["postgres"]["database"] = upstream_db
    data["postgres"]["user"] = "postgres"
    outputs = StackOutputs.model_validate(data)
    # fake kubectl runs `exec` commands here: psql reaches the test server through PG* env.
    env = upstream_server.client_env(upstream_db)
    for key in ("PGHOST", "PGPORT", "PGPASSWORD"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("PATH", f"{upstream_server.bindir}:{os.environ['PATH']}")
    clock = Clock()
    check = trace_flow_check(
        outputs, FAKE_KUBECTL, kubectl_runner, output_dir=str(out), clock=clock
    )
    assert check is not None

    # Fetchers running, nothing fetched yet: empty database (no deployment row either).
    nodes = {n: name for s in SHARDS for n, name in s.nodes.items()}
    for name in nodes.values():
        procs.append(_standin_fetcher(out / name))
    status = check()
    assert not status.ok
    assert "trace files 0/3 non-empty" in status.line

    for proc in procs[:2]:
        _send(proc, "trace 5")
    subprocess.run(
        ["sh", str(ASSETS / "log-quota.sh"), "--once"],
        env={"PATH": "/usr/bin:/bin", "OUTPUT_DIR": str(out), "QUOTA_BYTES": "1000000"},
        check=True,
        capture_output=True,
    )
    with upstream_server.connect(upstream_db) as conn:
        add_deployment(conn, "exp1")
        Consumer(conn, nodes["bp-1"]).trace("3NKblock1", "External_block_received")
    status = check()
    assert not status.ok
    assert "trace files 2/3 non-empty (waiting: node-2)" in status.line
    assert "rows in PostgreSQL from 1/3 (waiting: node-1, node-2)" in status.line
    assert "fullest fetcher volume " in status.line

    clock.now += 301  # node-1 has had a file for 5 minutes, still no rows
    status = check()
    assert "NOT REACHING PostgreSQL after 5 min on disk: node-1 " in status.line

    _send(procs[2], "trace 1")
    with upstream_server.connect(upstream_db) as conn:
        for node in ("node-1", "node-2"):
            Consumer(conn, nodes[node]).trace(f"3NK{node}", "External_block_received")
    status = check()
    assert status.ok, status.line


def test_wait_runs_the_trace_flow_check_for_stacks_with_fetchers() -> None:
    from minaperf.orchestrator.access import DirectAccess
    from scripts.experiment_cli.wait import CHECKS, WaitContext

    data = make_outputs()
    data["logFetchers"] = [s.model_dump() for s in SHARDS]
    context = WaitContext(StackOutputs.model_validate(data), FAKE_KUBECTL, DirectAccess())
    made = [check for factory in CHECKS if (check := factory(context)) is not None]
    bare = WaitContext(StackOutputs.model_validate(make_outputs()), FAKE_KUBECTL, DirectAccess())
    assert len(made) == len([f for f in CHECKS if f(bare) is not None]) + 1


def _fetcher_pod(name: str, phase: str, containers: list[str], ready: bool) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": "log-fetcher-1"}},
        "spec": {"nodeName": "n1", "containers": [{"name": c} for c in containers]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_the_probe_execs_into_the_pod_kubectl_picks_for_the_deployment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`exec deploy/X` runs in the most active of the Deployment's pods (kubectl
    attachablepodforobject.go:51-52); a rollout's Pending pod without the probe container is
    passed over, a missing Deployment or a completed pod is kubectl's own one-line refusal."""
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "log-fetcher-1"},
        "spec": {"selector": {"matchLabels": {"app": "log-fetcher-1"}}},
    }
    (tmp_path / "workloads.json").write_text(json.dumps({"items": [deployment]}))
    pods = tmp_path / "pods.json"
    pods.write_text(
        json.dumps(
            {
                "items": [
                    _fetcher_pod("log-fetcher-1-new", "Pending", ["fetcher"], ready=False),
                    _fetcher_pod("log-fetcher-1-old", "Running", [PROBE_CONTAINER], ready=True),
                ]
            }
        )
    )
    monkeypatch.setenv("FAKE_KUBECTL_WORKLOADS", str(tmp_path / "workloads.json"))
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(pods))
    trace = tmp_path / "output" / "aaaaaaaa-bp-1-0.bp-3086" / "internal-trace.jsonl"
    trace.parent.mkdir(parents=True)
    trace.write_text("{}\n" * 3)

    argv = probe_argv(FAKE_KUBECTL, "exp1", "log-fetcher-1", str(tmp_path / "output"))
    assert parse_probe(kubectl_runner(argv, None)).trace_bytes == {"aaaaaaaa-bp-1-0.bp-3086": 9}

    gone = probe_argv(FAKE_KUBECTL, "exp1", "log-fetcher-9", str(tmp_path / "output"))
    with pytest.raises(RuntimeError, match=r'deployments\.apps "log-fetcher-9" not found'):
        kubectl_runner(gone, None)

    done = _fetcher_pod("log-fetcher-1-done", "Succeeded", [PROBE_CONTAINER], ready=False)
    pods.write_text(json.dumps({"items": [done]}))
    with pytest.raises(RuntimeError, match="cannot exec into a container in a completed pod"):
        kubectl_runner(argv, None)
