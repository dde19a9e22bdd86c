"""Pure builders for the performance-testing services (no Pulumi imports).

Facts from reference/perf-services.md (§2 fetcher, §3 PostgreSQL, §4 uptime backend,
§5 dashboard) and the seed issue; the numbers chosen here are documented where they are set.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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

# Seed issue: "0.5-1 CPU per Mina node" for the fetcher (one consumer process per node).
FETCHER_CPU_REQUEST_PER_NODE_MILLI = 500
FETCHER_CPU_LIMIT_PER_NODE_MILLI = 1000
# "Some RAM ... proportional to Mina nodes <- bounded": an estimate of one OCaml consumer plus
# the fetcher's per-node worker; not measured.
FETCHER_MEMORY_REQUEST_PER_NODE = 256 * MIB
FETCHER_MEMORY_LIMIT_PER_NODE = 512 * MIB
FETCHER_BASE_MEMORY = 256 * MIB
# Cap: one pod should fit a 32-vCPU machine; past ~32 nodes the per-node share shrinks.
FETCHER_CPU_LIMIT_CAP_MILLI = 32_000
FETCHER_CPU_REQUEST_CAP_MILLI = 12_000  # fits one n2-standard-16 (13.6 CPU allocatable)
FETCHER_MEMORY_LIMIT_CAP = 32 * GIB
FETCHER_MEMORY_REQUEST_CAP = 16 * GIB


def _cpu(milli: int) -> str:
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def _mem(n: int) -> str:
    return f"{n // GIB}Gi" if n % GIB == 0 else f"{math.ceil(n / MIB)}Mi"


def _positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def fetcher_resources(node_count: int) -> dict[str, dict[str, str]]:
    """Kubernetes `resources` of the log fetcher pod for `node_count` Mina nodes.

    CPU: request 0.5, limit 1 CPU per node (seed issue), capped at 12 / 32 CPU: the request
    must fit one services machine; past ~24 nodes the fetcher bursts into its limit.
    Memory: 256 MiB base + 256 MiB (request) / 512 MiB (limit) per node, capped at 16 / 32 GiB.
    """
    _positive_int("node_count", node_count)
    cpu_req = min(node_count * FETCHER_CPU_REQUEST_PER_NODE_MILLI, FETCHER_CPU_REQUEST_CAP_MILLI)
    cpu_lim = min(node_count * FETCHER_CPU_LIMIT_PER_NODE_MILLI, FETCHER_CPU_LIMIT_CAP_MILLI)
    mem_req = min(
        FETCHER_BASE_MEMORY + node_count * FETCHER_MEMORY_REQUEST_PER_NODE,
        FETCHER_MEMORY_REQUEST_CAP,
    )
    mem_lim = min(
        FETCHER_BASE_MEMORY + node_count * FETCHER_MEMORY_LIMIT_PER_NODE, FETCHER_MEMORY_LIMIT_CAP
    )
    return {
        "requests": {"cpu": _cpu(cpu_req), "memory": _mem(mem_req)},
        "limits": {"cpu": _cpu(cpu_lim), "memory": _mem(mem_lim)},
    }


# Output directories per node: the fetcher names them `<pk[-8:]>-<ip>-<port>`, so a node that
# restarts with a new pod IP gets a new directory, and log-quota.sh keeps each old one's newest
# file; files also grow between two prune passes. Factor 2 plus 1 GiB covers both.
FETCHER_OUTPUT_HEADROOM_FACTOR = 2
FETCHER_OUTPUT_HEADROOM_BYTES = 1 * GIB


def fetcher_output_quota(node_count: int, per_node_bytes: int) -> str:
    """Size of the fetcher's output volume, as a Kubernetes quantity in whole GiB.

    `per_node_bytes` is the `QUOTA_BYTES` given to log-quota.sh; the volume holds
    2 * node_count * per_node_bytes + 1 GiB, rounded up to a whole GiB.
    """
    _positive_int("node_count", node_count)
    _positive_int("per_node_bytes", per_node_bytes)
    need = (
        FETCHER_OUTPUT_HEADROOM_FACTOR * node_count * per_node_bytes + FETCHER_OUTPUT_HEADROOM_BYTES
    )
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


# --------------------------------------------------------------------------- dashboard

DASHBOARD_FEATURES = frozenset(
    {
        "dashboard",
        "resources",
        "network",
        "tracing",
        "web-node",
        "benchmarks",
        "explorer",
        "logs",
        "storage",
        "snark-worker",
        "experiments",
    }
)
DEFAULT_DASHBOARD_FEATURES: dict[str, list[str]] = {
    "dashboard": ["nodes"],
    "tracing": ["overview", "blocks"],
}


@dataclass(frozen=True)
class DashboardNode:
    """One entry of `configs`: a node's name, its GraphQL URL and optionally its tracing URL."""

    name: str
    graphql: str
    tracing_graphql: str | None = None


def _url(what: str, url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise ValueError(f"{what}: not an http(s) URL: {url!r}")
    return url.rstrip("/")


def _origin(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/:?#]+", url.rstrip("/")):
        raise ValueError(f"node lister: want scheme://host without port or path, got {url!r}")
    return url.rstrip("/")


def dashboard_fe_config(
    *,
    node_lister_url: str,
    node_lister_port: int = 4000,
    nodes: Sequence[DashboardNode] = (),
    features: Mapping[str, Sequence[str]] | None = None,
    is_vanilla: bool = True,
) -> dict[str, Any]:
    """`fe-config.json` for a dashboard image built with `--configuration production` (§5.1).

    Only the keys that build reads from `window.env` are emitted: `nodeLister{domain,port}`
    (the fetcher's REST API, which lists nodes), `configs[]{name,graphql,tracing-graphql}`,
    `globalConfig.features` and `isVanilla` (`production` is hard-coded in that build, and
    `tracingEndpoint` is not read). Every URL must be reachable from the users' browsers.
    """
    if isinstance(node_lister_port, bool) or not 0 < node_lister_port < 65536:
        raise ValueError(f"invalid node lister port {node_lister_port!r}")
    feats = dict(DEFAULT_DASHBOARD_FEATURES if features is None else features)
    unknown = sorted(set(feats) - DASHBOARD_FEATURES)
    if unknown:
        raise ValueError(
            f"unknown dashboard feature(s) {unknown}; known: {sorted(DASHBOARD_FEATURES)}"
        )
    configs: list[dict[str, str]] = []
    names: set[str] = set()
    for n in nodes:
        if not n.name or n.name in names:
            raise ValueError(f"dashboard node names must be unique and non-empty: {n.name!r}")
        names.add(n.name)
        entry = {"name": n.name, "graphql": _url(f"node {n.name} graphql", n.graphql)}
        if n.tracing_graphql is not None:
            entry["tracing-graphql"] = _url(f"node {n.name} tracing-graphql", n.tracing_graphql)
        configs.append(entry)
    return {
        "isVanilla": is_vanilla,
        "nodeLister": {"domain": _origin(node_lister_url), "port": node_lister_port},
        "globalConfig": {"features": {k: list(v) for k, v in feats.items()}},
        "configs": configs,
    }
