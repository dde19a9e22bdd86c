"""Pure builders for the performance-testing services (no Pulumi imports).

Facts from docs/upstream-facts.md perf-services (§2 fetcher, §3 PostgreSQL, §4 uptime backend)
and the seed issue; the numbers chosen here are documented where they are set.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

T = TypeVar("T")
GIB = 1024**3
MIB = 1024**2


# --------------------------------------------------------------------------- uptime backend


def uptime_backend_config(whitelist: Sequence[str]) -> str:
    """`CONFIG_FILE` JSON of the in-memory uptime backend: `{"in_memory": true, "whitelist": […]}`.

    Nothing else is emitted.

    The backend silently drops whitelist entries it cannot parse (§4), which would show up only
    as 401 "Submitter is not registered" at run time, so every entry must be a valid B62 public
    key here. Duplicates are an error too (they point at a key mix-up).
    """
    from minaperf.keys.mina import is_valid_public_key  # lazy on purpose

    if isinstance(whitelist, str):
        raise TypeError("whitelist must be a sequence of B62 public keys, not one string")
    keys = list(whitelist)
    if not keys:
        raise ValueError("uptime backend whitelist is empty: no node could submit")
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if not isinstance(key, str) or not is_valid_public_key(key):
            raise ValueError(
                f"uptime backend whitelist entry {i} ({key!r}) is not a valid B62 public key; "
                "the backend would silently drop it"
            )
        if key in seen:
            raise ValueError(f"uptime backend whitelist lists {key} twice")
        seen.add(key)
    return json.dumps({"in_memory": True, "whitelist": keys}, indent=2) + "\n"


def _image_tag(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return ""
    return last.split(":", 1)[1]


def uptime_network_env(daemon_image: str) -> str:
    """Value of the uptime backend's `NETWORK` env for nodes running `daemon_image`.

    Any non-empty `NETWORK` makes the backend verify submissions for the testnet network id
    (§4; mina-nodes §3.3): devnet daemons sign their submissions for testnet, so a devnet build
    gives "testnet". Mainnet builds are refused: the orchestrator's `fund-keys` runs the
    devnet `mina advanced itn-create-accounts` (its service image installs `mina-devnet`), which
    signs for testnet, and the `--itn-*` flags exist only in devnet builds with ITN features
    (seed issue), so a mainnet network cannot host this experiment. The decision is taken from
    the image tag's `-`/`_`/`.`-separated words, so an untagged or digest-only image is refused.
    """
    tag = _image_tag(daemon_image)
    words = set(re.split(r"[-_.]", tag.lower())) if tag else set()
    if "mainnet" in words:
        raise ValueError(
            f"daemon image {daemon_image!r} is a mainnet build: the experiment needs a devnet "
            "build (ITN features; the orchestrator's itn-create-accounts signs for testnet)"
        )
    if "devnet" in words:
        return "testnet"
    raise ValueError(
        f"cannot tell the network of daemon image {daemon_image!r} from its tag: use a devnet "
        "build whose tag says 'devnet' (e.g. …-bullseye-devnet)"
    )


# --------------------------------------------------------------------------- log fetcher

FETCH_INTERVAL_MS = 5_000
"""The fetcher's poll interval per node, as upstream runs it (o1-labs/mina-perf-testing@7da1f2c
load-tests-cluster/docker-compose.yaml:47). A node keeps only its last 500 ITN log entries
(MinaProtocol/mina src/lib/itn_logger/itn_logger.ml:19,36-37 @162beeb), so a node producing more
than 500 entries per interval loses the excess; 5 s tolerates 100 entries/s per node."""
ITN_LOG_QUEUE_BOUND = 500
TRACE_LINE_BYTES = 200
"""Bytes per trace line assumed for sizing: ITC@46be56f ships a one-hour trace of one node
(`internal-trace.jsonl`: 411,204 bytes in 4,488 lines, 92 bytes/line); doubled for the larger
transaction metadata under load."""

FETCHER_NODES_PER_SHARD = 8
"""Nodes one fetcher pod follows. Each pod runs one consumer process per node, so its requests
grow with its nodes: 8 nodes = 4 CPU requested, which fits every services machine type we
accept (n2-standard-8 and larger)."""
# Seed issue: "0.5-1 CPU per Mina node" for the fetcher (one consumer process per node).
FETCHER_CPU_REQUEST_PER_NODE_MILLI = 500
FETCHER_CPU_LIMIT_PER_NODE_MILLI = 1000
# "Some RAM ... proportional to Mina nodes <- bounded": an estimate of one OCaml consumer plus
# the fetcher's per-node worker; not measured.
FETCHER_MEMORY_REQUEST_PER_NODE = 256 * MIB
FETCHER_MEMORY_LIMIT_PER_NODE = 512 * MIB
FETCHER_BASE_MEMORY = 256 * MIB


def _cpu(milli: int) -> str:
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def _mem(n: int) -> str:
    return f"{n // GIB}Gi" if n % GIB == 0 else f"{math.ceil(n / MIB)}Mi"


def _positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def fetcher_shards(nodes: Sequence[T], per_shard: int = FETCHER_NODES_PER_SHARD) -> list[list[T]]:
    """Split `nodes` (in their stable order) into consecutive shards of at most `per_shard`,
    as even as possible: 10 nodes in shards of 8 -> 5 + 5, not 8 + 2."""
    _positive_int("per_shard", per_shard)
    if not nodes:
        raise ValueError("no nodes to shard")
    count = math.ceil(len(nodes) / per_shard)
    base, extra = divmod(len(nodes), count)
    shards: list[list[T]] = []
    start = 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        shards.append(list(nodes[start : start + size]))
        start += size
    return shards


def fetcher_resources(node_count: int) -> dict[str, dict[str, str]]:
    """Kubernetes `resources` of one fetcher shard following `node_count` nodes.

    CPU: request 0.5, limit 1 CPU per node (seed issue); memory 256 MiB base + 256 MiB (request)
    / 512 MiB (limit) per node. No cap: a shard holds at most FETCHER_NODES_PER_SHARD nodes, and
    more nodes mean more shards, so the fetchers' total follows the node count at any scale.
    """
    _positive_int("node_count", node_count)
    return {
        "requests": {
            "cpu": _cpu(node_count * FETCHER_CPU_REQUEST_PER_NODE_MILLI),
            "memory": _mem(FETCHER_BASE_MEMORY + node_count * FETCHER_MEMORY_REQUEST_PER_NODE),
        },
        "limits": {
            "cpu": _cpu(node_count * FETCHER_CPU_LIMIT_PER_NODE_MILLI),
            "memory": _mem(FETCHER_BASE_MEMORY + node_count * FETCHER_MEMORY_LIMIT_PER_NODE),
        },
    }


def trace_bytes_per_hour(fetch_interval_ms: int = FETCH_INTERVAL_MS) -> int:
    """Most trace bytes one node's fetcher can write per hour: a full ITN log queue per poll."""
    _positive_int("fetch_interval_ms", fetch_interval_ms)
    return ITN_LOG_QUEUE_BOUND * TRACE_LINE_BYTES * 3_600_000 // fetch_interval_ms


@dataclass(frozen=True)
class FetchedNode:
    """One node as a fetcher shard follows it: its submitter key, stable DNS host, ITN port."""

    name: str
    public_key: str
    host: str
    itn_port: int

    @property
    def trace_name(self) -> str:
        """The fetcher's name for the node: its output directory and the consumer's
        MINA_NODE_NAME, hence `node_name` in PostgreSQL and the log API:
        `<last 8 chars of the submitter key>-<host>-<port>` (ITC@46be56f
        internal-log-fetcher/src/node.rs:29-37, src/main.rs:305,320,359)."""
        return f"{self.public_key[-8:]}-{self.host}-{self.itn_port}"


def fetcher_node_list(nodes: Sequence[FetchedNode]) -> str:
    """A shard's static `ONLINE_URL` document, in the uptime backend's `/v1/online` shape that the
    fetcher decodes: `[{remote_addr, submitter, graphql_control_port}]`, the port required (ITC
    internal-log-fetcher/src/discovery.rs:17-22,106-124). A `remote_addr` that is no socket
    address is used verbatim as the host (discovery.rs:89-103), so the fetcher reaches the node by
    its DNS name, which follows the pod across restarts."""
    if not nodes:
        raise ValueError("a fetcher shard needs at least one node")
    entries = []
    for node in nodes:
        _positive_int(f"node {node.name} itn_port", node.itn_port)
        if not node.host or any(c in node.host for c in "/: "):
            raise ValueError(f"node {node.name}: invalid host {node.host!r}")
        entries.append(
            {
                "remote_addr": node.host,
                "submitter": node.public_key,
                "graphql_control_port": node.itn_port,
            }
        )
    return json.dumps(entries, indent=1) + "\n"


CONSUMER_LOG_MAX_BYTES = 64 * MIB
"""log-quota.sh truncates a consumer-*.log in place above this (two per node)."""
CLOSED_FILES_QUOTA_BYTES = 256 * MIB
"""Per-node quota for files nobody holds open (a finished worker's leftovers); their traces are
in PostgreSQL or were lost with the worker, so they are kept only for a look after the fact."""
FETCHER_OUTPUT_HEADROOM_BYTES = 1 * GIB


def node_output_bytes(hours: int, fetch_interval_ms: int = FETCH_INTERVAL_MS) -> int:
    """Disk one node may need in the fetcher's output over `hours`.

    The open trace files cannot be trimmed while the node's worker lives (see log-quota.sh), and
    the fetcher panics on a full disk (ITC@46be56f internal-log-fetcher/src/mina_server.rs:50-51
    `write_all(..).unwrap()`), so they are sized for the whole experiment at the highest rate a
    node can deliver, plus two consumer logs at their cap and the closed-files quota.
    """
    _positive_int("hours", hours)
    return (
        trace_bytes_per_hour(fetch_interval_ms) * hours
        + 2 * CONSUMER_LOG_MAX_BYTES
        + CLOSED_FILES_QUOTA_BYTES
    )


def fetcher_output_volume(node_count: int, hours: int) -> str:
    """Size of one shard's output volume (whole GiB): its nodes' needs plus 1 GiB headroom."""
    _positive_int("node_count", node_count)
    need = node_count * node_output_bytes(hours) + FETCHER_OUTPUT_HEADROOM_BYTES
    return f"{math.ceil(need / GIB)}Gi"


# --------------------------------------------------------------------------- PostgreSQL


def postgres_uri(host: str, port: int, user: str, database: str, password: str) -> str:
    """`postgresql://user:password@host:port/database`, every component percent-encoded.

    The fetcher passes this to each consumer (`--db-uri`) and the log-api and experiments-api
    read the same form (§2, §3). It contains the password: treat the result as a secret.
    """
    if not host or any(c in host for c in "/?#@ "):
        raise ValueError(f"invalid database host {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"invalid database port {port!r}")
    if not user or not database:
        raise ValueError("database user and name must not be empty")
    if not password:
        raise ValueError("database password must not be empty")
    netloc_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{netloc_host}:{port}/{quote(database, safe='')}"
    )


POSTGRES_MAX_CONNECTIONS = 10_000
POSTGRES_SHARED_BUFFERS = "2048MB"


def postgres_server_args() -> list[str]:
    """Arguments after `postgres` in the server container (the seed issue's settings).

    `max_connections=10000`: one consumer process (own connection pool) per node plus log-api,
    experiments-api and orchestrator service (§3). `shared_buffers=2048MB` as in both composes.
    The pod must give PostgreSQL a larger /dev/shm than the 64 MiB default (the composes use
    `shm_size: 1g`): mount a memory-backed emptyDir there. Connection logging is left out: with
    one pool per node it floods the log.
    """
    return [
        "-c",
        f"max_connections={POSTGRES_MAX_CONNECTIONS}",
        "-c",
        f"shared_buffers={POSTGRES_SHARED_BUFFERS}",
    ]


@dataclass(frozen=True)
class DeploymentRow:
    """The experiment's row in the upstream `deployment` table (§3: `deployment_id` SERIAL,
    `metadata_json` JSONB NOT NULL), as pg-deployment-row.sh writes it."""

    name: str
    metadata: Mapping[str, Any]

    @property
    def metadata_json(self) -> dict[str, Any]:
        """What lands in `metadata_json`: the metadata plus `"name"` (the idempotency key)."""
        return {**self.metadata, "name": self.name}

    def env(self) -> dict[str, str]:
        """Env of pg-deployment-row.sh (besides the PG* connection variables)."""
        return {
            "DEPLOYMENT_NAME": self.name,
            "DEPLOYMENT_METADATA": json.dumps(dict(self.metadata), sort_keys=True),
        }


_DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def deployment_row(
    name: str,
    *,
    commit: str | None = None,
    comment: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> DeploymentRow:
    """Row values for the `deployment` table: metadata like MPT's example `{"commit","comment"}`
    (§5.2) plus the experiment `name` that makes the insert idempotent."""
    if not _DEPLOYMENT_NAME.fullmatch(name):
        raise ValueError(
            f"deployment name {name!r}: 1-63 characters of [A-Za-z0-9._-], starting alphanumeric"
        )
    metadata: dict[str, Any] = dict(extra or {})
    if "name" in metadata:
        raise ValueError("extra metadata must not set 'name' (it is the deployment name)")
    if commit is not None:
        metadata["commit"] = commit
    if comment is not None:
        metadata["comment"] = comment
    json.dumps(metadata)  # must be JSON-serialisable
    return DeploymentRow(name=name, metadata=metadata)
