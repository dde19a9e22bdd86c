"""Trace-flow check of `wait`: every node's traces reach its fetcher's disk and PostgreSQL.

Per node, read through `kubectl exec` (no port is opened): a non-empty trace file in its fetcher
shard, and `block_trace` rows under its name for the current deployment; a node with a file but
no rows for `ROWS_GRACE_SECONDS` is named as stuck between the two.
See docs/trace-path.md#checking-that-traces-flow.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from minaperf.model.outputs import LogFetcherShard, StackOutputs
from minaperf.orchestrator.readiness import CheckStatus, ClusterCheck, ClusterUnreachableError

CHECK_NAME = "trace flow"
TRACE_FILE = "internal-trace.jsonl"  # ITC src/trace_consumer/mod.rs:6
OUTPUT_DIR = "/output"  # components.log_fetcher.OUTPUT_DIR
PROBE_CONTAINER = "log-quota"  # busybox: has sh, stat, cat
POSTGRES_POD = "postgres-0"  # the one pod of StatefulSet `postgres` (components.postgres)
POSTGRES_CONTAINER = "postgres"
ROWS_GRACE_SECONDS = 300.0  # file data this long without rows: stuck (see consumer-stderr.log)
EXEC_TIMEOUT_SECONDS = 60
PARALLEL_EXECS = 8

# Each shard's `<trace name>/internal-trace.jsonl`: the fetcher writes fetched entries there
# (ITC@46be56f internal-log-fetcher/src/mina_server.rs:38-56,96-123), so an empty or missing file
# means the node is not being fetched (wrong key, unreachable ITN port, or an image whose fetch
# loop discards logs, like ITC cde858b). The same exec reads the shard's `quota-status.txt`
# (written by log-quota.sh), for how full the fullest fetcher volume is.
PROBE_SCRIPT = (
    'for f in "$1"/*/' + TRACE_FILE + "; do "
    '[ -f "$f" ] && printf "file %s %s\\n" "$(stat -c %s "$f")" "$f"; done; '
    '[ -f "$1/quota-status.txt" ] && cat "$1/quota-status.txt"; exit 0'
)
# Rows for the deployment the consumers write to (`get_max_deployment_id()`, ITC
# src/persistent_registry.ml:23,28): the consumer turns the file into rows (ITC src/store.ml
# add_block_trace).
ROWS_SQL = (
    "SELECT node_name, count(*) FROM block_trace "
    "WHERE deployment_id = get_max_deployment_id() GROUP BY node_name;\n"
)
_SUMMARY_PCT = re.compile(r"\bvolume_used_pct=(\d+)\b")

Runner = Callable[[Sequence[str], str | None], str]
"""Runs a kubectl argv (with optional stdin) and returns stdout; raises RuntimeError on failure."""


@dataclass(frozen=True)
class ShardProbe:
    trace_bytes: dict[str, int]
    """Trace name -> size of its `internal-trace.jsonl`."""
    volume_used_pct: int | None


def probe_argv(kubectl: str, namespace: str, shard: str, output_dir: str = OUTPUT_DIR) -> list[str]:
    return [
        kubectl, "exec", "-n", namespace, f"deploy/{shard}", "-c", PROBE_CONTAINER, "--",
        "sh", "-c", PROBE_SCRIPT, "probe", output_dir,
    ]  # fmt: skip


def rows_argv(kubectl: str, outputs: StackOutputs) -> list[str]:
    """psql over the pod's Unix socket (the image trusts local connections): no password."""
    pg = outputs.postgres
    return [
        kubectl, "exec", "-i", "-n", outputs.namespace, POSTGRES_POD, "-c", POSTGRES_CONTAINER,
        "--", "psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
        "-U", pg.user, "-d", pg.database,
    ]  # fmt: skip


def parse_probe(text: str) -> ShardProbe:
    """`file <size> <dir>/<trace name>/internal-trace.jsonl` lines plus quota-status.txt."""
    sizes: dict[str, int] = {}
    pct: int | None = None
    for line in text.splitlines():
        if line.startswith("file "):
            _, size, path = line.split(" ", 2)
            parts = path.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-1] == TRACE_FILE and size.isdigit():
                sizes[parts[-2]] = int(size)
        elif line.startswith("summary ") and (match := _SUMMARY_PCT.search(line)):
            pct = int(match.group(1))
    return ShardProbe(sizes, pct)


def parse_rows(text: str) -> dict[str, int]:
    """`node_name<TAB>count` lines from psql -At."""
    rows: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, count = line.rpartition("\t")
        if sep and count.strip().isdigit():
            rows[name] = int(count)
    return rows


def _names(nodes: Sequence[str], limit: int = 4) -> str:
    more = f" (+{len(nodes) - limit} more)" if len(nodes) > limit else ""
    return ", ".join(nodes[:limit]) + more


@dataclass
class TraceFlow:
    """The check's memory between sweeps: since when each node's trace file has had data."""

    shards: Sequence[LogFetcherShard]
    clock: Callable[[], float] = time.monotonic
    grace_seconds: float = ROWS_GRACE_SECONDS
    file_since: dict[str, float] = field(default_factory=dict)

    def verdict(
        self,
        trace_bytes: Mapping[str, int],
        rows: Mapping[str, int] | None,
        volume_pct: int | None,
        problems: Sequence[str] = (),
    ) -> CheckStatus:
        now = self.clock()
        expected = {node: name for shard in self.shards for node, name in shard.nodes.items()}
        no_file = [node for node, name in expected.items() if trace_bytes.get(name, 0) <= 0]
        for node, name in expected.items():
            if trace_bytes.get(name, 0) > 0:
                self.file_since.setdefault(node, now)
            else:
                self.file_since.pop(node, None)
        parts = [f"trace files {len(expected) - len(no_file)}/{len(expected)} non-empty"]
        if no_file:
            parts[-1] += f" (waiting: {_names(no_file)})"
        ok = not no_file and not problems
        if rows is None:
            ok = False
            parts.append("PostgreSQL rows unknown")
        else:
            no_rows = [node for node, name in expected.items() if rows.get(name, 0) <= 0]
            stuck = [
                node
                for node in no_rows
                if node in self.file_since and now - self.file_since[node] >= self.grace_seconds
            ]
            parts.append(f"rows in PostgreSQL from {len(expected) - len(no_rows)}/{len(expected)}")
            if no_rows:
                parts[-1] += f" (waiting: {_names(no_rows)})"
                ok = False
            if stuck:
                parts.append(
                    f"NOT REACHING PostgreSQL after {self.grace_seconds / 60:g} min on disk: "
                    f"{_names(stuck)} (see consumer-stderr.log in its fetcher's /output)"
                )
        if volume_pct is not None:
            parts.append(f"fullest fetcher volume {volume_pct}%")
        parts.extend(problems)
        return CheckStatus(CHECK_NAME, ok, "; ".join(parts))


def kubectl_runner(argv: Sequence[str], stdin: str | None) -> str:
    try:
        result = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=EXEC_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"{argv[0]} failed: {error}") from None
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "")
    return result.stdout


def trace_flow_check(
    outputs: StackOutputs,
    kubectl: str,
    run: Runner = kubectl_runner,
    *,
    output_dir: str = OUTPUT_DIR,
    clock: Callable[[], float] = time.monotonic,
) -> ClusterCheck | None:
    """The `wait` check, or None for outputs that name no fetcher shard."""
    if not outputs.log_fetchers:
        return None
    flow = TraceFlow(outputs.log_fetchers, clock=clock)

    def probe(shard: LogFetcherShard) -> ShardProbe | str:
        try:
            argv = probe_argv(kubectl, outputs.namespace, shard.deployment, output_dir)
            return parse_probe(run(argv, None))
        except RuntimeError as error:
            return f"{shard.deployment} unreadable ({error})"

    def check() -> CheckStatus:
        with ThreadPoolExecutor(max_workers=PARALLEL_EXECS) as pool:
            probes = list(pool.map(probe, outputs.log_fetchers))
        problems = [p for p in probes if isinstance(p, str)]
        if len(problems) == len(probes) and all("Unable to connect" in p for p in problems):
            raise ClusterUnreachableError(problems[0])
        trace_bytes: dict[str, int] = {}
        pcts = []
        for p in probes:
            if isinstance(p, ShardProbe):
                trace_bytes.update(p.trace_bytes)
                if p.volume_used_pct is not None:
                    pcts.append(p.volume_used_pct)
        try:
            rows: dict[str, int] | None = parse_rows(run(rows_argv(kubectl, outputs), ROWS_SQL))
        except RuntimeError as error:
            rows = None
            problems.append(f"PostgreSQL unreadable ({error})")
        return flow.verdict(trace_bytes, rows, max(pcts) if pcts else None, problems)

    return check
