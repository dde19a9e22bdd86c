"""Pure description of one Mina daemon workload: paths, Secret keys, env per role, probes.

`components/mina_network.py` turns these plain values into Kubernetes objects; keeping them here
makes the contract with `minaperf/assets/mina-node.sh` (its header lists the environment `start`
reads) testable without Pulumi. Nothing here holds a password or a private key: passwords reach
the daemon as `secretKeyRef`s to its own entries of its group's Secret, never as values.
See docs/security.md#what-reaches-what-and-why.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from minaperf.model.config import NetworkParams

SEED = "seed"
BLOCK_PRODUCER = "block-producer"
PLAIN = "plain"
SNARK_COORDINATOR = "snark-coordinator"
ROLES = (SEED, BLOCK_PRODUCER, PLAIN, SNARK_COORDINATOR)

# Paths inside the daemon container.
SCRIPT_DIR = "/opt/mina-itn"
SCRIPT_FILE = "mina-node.sh"
SCRIPT_PATH = f"{SCRIPT_DIR}/{SCRIPT_FILE}"
SCRIPT_MODE = 0o555
CONFIG_MOUNT = "/config"
RUNTIME_CONFIG_FILE = "daemon.json"
RUNTIME_CONFIG_PATH = f"{CONFIG_MOUNT}/{RUNTIME_CONFIG_FILE}"
STATE_DIR = "/root/.mina-config"
"""The daemon's `--config-directory`; the PVC `data` is mounted here."""
SECRETS_DIR = "/secrets"
"""Read-only Secret volume holding the key files; `install-keys` copies them to KEYS_DIR."""
KEYS_DIR = "/keys"
"""Memory-backed emptyDir, mode 0700, key files 0600 (the daemon refuses anything looser)."""
SECRET_MODE = 0o400

# A node's entries of its group's Secret, each stored under `<node>.<entry>`; the key files are
# mounted under these names.
NODE_KEY = "node-key"
LIBP2P_KEY = "libp2p-key"
NODE_PASSWORD = "node-password"  # noqa: S105 (a Secret key name, not a password)
LIBP2P_PASSWORD = "libp2p-password"  # noqa: S105 (a Secret key name, not a password)
KEY_FILES = (NODE_KEY, LIBP2P_KEY)
"""The only entries mounted as files; passwords are never written to the pod's filesystem."""

DATA_VOLUME = "data"
DATA_VOLUME_SIZE = "20Gi"
"""Per-node chain state (ledgers, frontier, internal trace log) kept across pod restarts."""

LOG_LEVEL = "Info"
PROBE_TIMEOUT_SECONDS = 20
"""Bound of one status query inside `mina-node.sh ready|alive` (its PROBE_TIMEOUT)."""

TERMINATION_GRACE_SECONDS = 60


_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def group_service_name(group: str) -> str:
    """The headless Service of a role group (`bp`): the DNS subdomain of every member's pod.

    A group is named after its role's node prefix (`seed`, `bp`, `node`, `coordinator`), so the
    Service's name never equals a StatefulSet's or a pod's, which always end in `-<n>`.
    """
    return group


def group_secret_name(group: str) -> str:
    """The Secret holding the keys of every node of a role group (`bp` -> `bp-keys`)."""
    return f"{group}-keys"


def node_secret_key(node: str, entry: str) -> str:
    """A node's entry in its group's Secret: `<node>.<entry>` (`bp-2.node-password`)."""
    key = f"{node}.{entry}"
    if len(key) > 253 or not _SECRET_KEY.match(key):
        raise ValueError(f"not a valid Secret key: {key!r}")
    return key


def pod_name(node: str) -> str:
    """The StatefulSet `<node>` with one replica runs the pod `<node>-0`."""
    return f"{node}-0"


def pod_host(node: str, service_host: str) -> str:
    """The node's pod by DNS under its group's headless Service: `<node>-0.<service host>`,
    e.g. `bp-2-0.bp.itn-dev.svc.cluster.local` (published before the pod is Ready: the Service
    sets `publishNotReadyAddresses`)."""
    return f"{pod_name(node)}.{service_host}"


def workers_service_name(coordinator: str) -> str:
    """The Service the snark worker pool dials (the coordinator's client port)."""
    return f"{coordinator}-workers"


@dataclass(frozen=True)
class Ports:
    client: int
    graphql: int
    itn: int
    libp2p: int

    @classmethod
    def of(cls, params: NetworkParams) -> Ports:
        return cls(
            client=params.client_port,
            graphql=params.graphql_port,
            itn=params.itn_port,
            libp2p=params.libp2p_port,
        )

    def named(self) -> list[tuple[str, int]]:
        """Port names (also Service and container port names) with their numbers."""
        return [
            ("client", self.client),
            ("graphql", self.graphql),
            ("itn", self.itn),
            ("libp2p", self.libp2p),
        ]


# ---------------------------------------------------------------------------------------------
# Environment


@dataclass(frozen=True)
class EnvVar:
    """One container env entry: a plain value, a key of the group's Secret, or a pod field."""

    name: str
    value: str | None = None
    secret_key: str | None = None
    field_path: str | None = None

    def __post_init__(self) -> None:
        sources = [self.value, self.secret_key, self.field_path]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(f"env {self.name}: exactly one of value, secret_key, field_path")


def itn_keys_value(public_keys: Sequence[str]) -> str:
    """`--itn-keys`: comma-separated base64 Ed25519 public keys (orchestrator, fetcher)."""
    if not public_keys:
        raise ValueError("at least one ITN public key is required")
    for key in public_keys:
        if not key or "," in key or key.strip() != key:
            raise ValueError(f"not a base64 ITN public key: {key!r}")
    return ",".join(public_keys)


def trustlist_value(cidrs: Sequence[str]) -> str:
    """`MINA_CLIENT_TRUSTLIST`: who may use the client port (pods, snark workers)."""
    if not cidrs:
        raise ValueError("the client trustlist needs at least one CIDR (the pod range)")
    for cidr in cidrs:
        ipaddress.ip_network(cidr, strict=True)
    return ",".join(cidrs)


_FEE = re.compile(r"^[0-9]+(\.[0-9]{1,9})?$")


def daemon_env(
    role: str,
    *,
    node: str,
    ports: Ports,
    itn_keys: str,
    uptime_url: str,
    trustlist: str,
    seed_peer: str | None,
    coordinator_key: str | None = None,
    snark_worker_fee: str | None = None,
    work_selection: str | None = None,
) -> list[EnvVar]:
    """The environment of `mina-node.sh start` for one node (see the script's header).

    `seed_peer` is required for every role but the seed (a seed may carry it too, for when
    several seeds exist). Passwords are references to `node`'s own entries of its group's
    Secret: MINA_PRIVKEY_PASS and UPTIME_PRIVKEY_PASS open the node key (it is also the uptime
    submitter key), MINA_LIBP2P_PASS opens the libp2p key.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role != SEED and not seed_peer:
        raise ValueError(f"role {role} needs the seed's multiaddr")
    if not itn_keys or not uptime_url or not trustlist:
        raise ValueError("itn_keys, uptime_url and trustlist are required")
    env = [
        EnvVar("NODE_ROLE", role),
        EnvVar("RUNTIME_CONFIG", RUNTIME_CONFIG_PATH),
        EnvVar("CONFIG_DIR", STATE_DIR),
        EnvVar("KEYS_DIR", KEYS_DIR),
        EnvVar("POD_IP", field_path="status.podIP"),
        EnvVar("CLIENT_PORT", str(ports.client)),
        EnvVar("REST_PORT", str(ports.graphql)),
        EnvVar("EXTERNAL_PORT", str(ports.libp2p)),
        EnvVar("ITN_GRAPHQL_PORT", str(ports.itn)),
        EnvVar("ITN_KEYS", itn_keys),
        EnvVar("UPTIME_URL", uptime_url),
    ]
    if seed_peer:
        env.append(EnvVar("SEED_PEER", seed_peer))
    if role == SNARK_COORDINATOR:
        if not coordinator_key:
            raise ValueError("a snark coordinator needs its public key")
        if snark_worker_fee is not None and not _FEE.match(snark_worker_fee):
            raise ValueError(f"snark worker fee must be a decimal MINA amount: {snark_worker_fee}")
        if work_selection not in {None, "seq", "rand"}:
            raise ValueError(f"work selection must be seq or rand, got {work_selection!r}")
        env.append(EnvVar("SNARK_COORDINATOR_KEY", coordinator_key))
        if snark_worker_fee is not None:
            env.append(EnvVar("SNARK_WORKER_FEE", snark_worker_fee))
        if work_selection is not None:
            env.append(EnvVar("WORK_SELECTION", work_selection))
    env += [
        EnvVar("MINA_CLIENT_TRUSTLIST", trustlist),
        EnvVar("ITN_FEATURES", "1"),
        EnvVar("LOG_LEVEL", LOG_LEVEL),
        EnvVar("FILE_LOG_LEVEL", LOG_LEVEL),
        EnvVar("PROBE_TIMEOUT", str(PROBE_TIMEOUT_SECONDS)),
        EnvVar("MINA_PRIVKEY_PASS", secret_key=node_secret_key(node, NODE_PASSWORD)),
        EnvVar("UPTIME_PRIVKEY_PASS", secret_key=node_secret_key(node, NODE_PASSWORD)),
        EnvVar("MINA_LIBP2P_PASS", secret_key=node_secret_key(node, LIBP2P_PASSWORD)),
    ]
    return env


def key_secret_data(
    node: str, *, key_file: str, password: str, libp2p_key_file: str, libp2p_password: str
) -> dict[str, str]:
    """`node`'s entries of its group's Secret (the caller merges the members' entries and wraps
    them with `Output.secret`)."""
    return {
        node_secret_key(node, NODE_KEY): key_file,
        node_secret_key(node, NODE_PASSWORD): password,
        node_secret_key(node, LIBP2P_KEY): libp2p_key_file,
        node_secret_key(node, LIBP2P_PASSWORD): libp2p_password,
    }


def key_file_items(node: str) -> list[tuple[str, str]]:
    """(Secret key, file name) of the only entries `node`'s pod mounts: its own two key files,
    under the names `install-keys` and `start` expect (`node-key`, `libp2p-key`)."""
    return [(node_secret_key(node, entry), entry) for entry in KEY_FILES]


# ---------------------------------------------------------------------------------------------
# Commands and probes


def install_keys_command() -> list[str]:
    return [SCRIPT_PATH, "install-keys", SECRETS_DIR, KEYS_DIR]


def start_command() -> list[str]:
    return [SCRIPT_PATH, "start"]


@dataclass(frozen=True)
class Probe:
    """Either an exec probe (`command`) or a TCP probe (`tcp_port`)."""

    period_seconds: int
    timeout_seconds: int
    failure_threshold: int
    command: tuple[str, ...] | None = None
    tcp_port: int | None = None

    @property
    def budget_seconds(self) -> int:
        """How long the probe may keep failing before the kubelet acts."""
        return self.period_seconds * self.failure_threshold


STARTUP_PERIOD_SECONDS = 10
STARTUP_FAILURES = 90
"""15 minutes for the client port to open on a first start: the daemon loads the genesis
ledger and (proof level full) its prover and verifier keys before it listens."""


def probes(ports: Ports) -> dict[str, Probe]:
    """startup: the client port opens; liveness: the daemon answers at all (any sync status,
    so a node that is bootstrapping or waiting for genesis is never killed); readiness: SYNCED.

    The liveness and readiness timeouts exceed PROBE_TIMEOUT_SECONDS, the script's own bound,
    so a slow daemon yields the script's verdict rather than a kubelet timeout.
    """
    return {
        "startup": Probe(
            period_seconds=STARTUP_PERIOD_SECONDS,
            timeout_seconds=5,
            failure_threshold=STARTUP_FAILURES,
            tcp_port=ports.client,
        ),
        "liveness": Probe(
            period_seconds=60,
            timeout_seconds=30,
            failure_threshold=5,
            command=(SCRIPT_PATH, "alive"),
        ),
        "readiness": Probe(
            period_seconds=30,
            timeout_seconds=PROBE_TIMEOUT_SECONDS + 5,
            failure_threshold=3,
            command=(SCRIPT_PATH, "ready"),
        ),
    }


# ---------------------------------------------------------------------------------------------
# Content-addressed names


def content_hash(*texts: str, length: int = 10) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:length]


def hashed_name(base: str, *texts: str) -> str:
    """`<base>-<hash of texts>`: an immutable ConfigMap's name changes with its content, so a
    change creates a new ConfigMap and the StatefulSets that reference it roll their pods."""
    name = f"{base}-{content_hash(*texts)}"
    if len(name) > 253:
        raise ValueError(f"name too long: {name}")
    return name
