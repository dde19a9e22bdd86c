"""The daemon workload description against the contract of `mina-node.sh` (its header)."""

from __future__ import annotations

import re

import pytest

from minaperf.model.config import NetworkParams
from minaperf.shell.node_script import mina_node_script
from minaperf.workloads import daemon

PORTS = daemon.Ports(client=8301, graphql=3085, itn=3086, libp2p=8302)
SEED_PEER = "/dns4/seed-1-0.seed.itn-t.svc.cluster.local/tcp/8302/p2p/12D3KooWAbc"
NODE = "bp-2"
COORD_KEY = "B62qcoordinator"
ALWAYS = {
    "NODE_ROLE",
    "RUNTIME_CONFIG",
    "CONFIG_DIR",
    "KEYS_DIR",
    "POD_IP",
    "CLIENT_PORT",
    "REST_PORT",
    "EXTERNAL_PORT",
    "ITN_GRAPHQL_PORT",
    "ITN_KEYS",
    "UPTIME_URL",
    "MINA_CLIENT_TRUSTLIST",
    "ITN_FEATURES",
    "MINA_PRIVKEY_PASS",
    "UPTIME_PRIVKEY_PASS",
    "MINA_LIBP2P_PASS",
}
PASSWORDS = {"MINA_PRIVKEY_PASS", "UPTIME_PRIVKEY_PASS", "MINA_LIBP2P_PASS"}


def env_for(role: str, **overrides: object) -> dict[str, daemon.EnvVar]:
    arguments: dict[str, object] = {
        "node": NODE,
        "ports": PORTS,
        "itn_keys": "orch=,fetch=",
        "uptime_url": "http://uptime:8080/v1/submit",
        "trustlist": "10.0.0.0/8",
        "seed_peer": None if role == daemon.SEED else SEED_PEER,
    }
    if role == daemon.SNARK_COORDINATOR:
        arguments |= {
            "coordinator_key": COORD_KEY,
            "snark_worker_fee": "0.001",
            "work_selection": "seq",
        }
    arguments |= overrides
    entries = daemon.daemon_env(role, **arguments)  # type: ignore[arg-type]
    names = [entry.name for entry in entries]
    assert len(names) == len(set(names)), "duplicate env names"
    return {entry.name: entry for entry in entries}


def script_required_vars() -> set[str]:
    """Variables the script's `start` checks with require_var/require_port/require_set."""
    text = mina_node_script()
    start = text[text.index("start() {") :]
    loops = re.findall(r"for var in ([A-Z0-9_ ]+); do", start)
    singles = re.findall(r"require_(?:var|set|port) ([A-Z][A-Z0-9_]*)", start)
    return {name for loop in loops for name in loop.split()} | set(singles)


@pytest.mark.parametrize("role", daemon.ROLES)
def test_every_variable_the_script_requires_is_set_for_every_role(role: str) -> None:
    env = env_for(role)
    required = script_required_vars()
    assert {"NODE_ROLE", "POD_IP", "ITN_KEYS", "MINA_LIBP2P_PASS"} <= required  # parser sanity
    role_only = {"SEED_PEER", "SNARK_COORDINATOR_KEY", "MINA_PRIVKEY_PASS"}
    assert required - role_only <= set(env)
    assert set(env) >= ALWAYS


def test_role_specific_variables() -> None:
    seed = env_for(daemon.SEED)
    assert "SEED_PEER" not in seed
    assert "SNARK_COORDINATOR_KEY" not in seed
    for role in (daemon.BLOCK_PRODUCER, daemon.PLAIN, daemon.SNARK_COORDINATOR):
        assert env_for(role)["SEED_PEER"].value == SEED_PEER
    coordinator = env_for(daemon.SNARK_COORDINATOR)
    assert coordinator["SNARK_COORDINATOR_KEY"].value == COORD_KEY
    assert coordinator["SNARK_WORKER_FEE"].value == "0.001"
    assert coordinator["WORK_SELECTION"].value == "seq"
    for role in (daemon.SEED, daemon.BLOCK_PRODUCER, daemon.PLAIN):
        assert not {"SNARK_COORDINATOR_KEY", "SNARK_WORKER_FEE", "WORK_SELECTION"} & set(
            env_for(role)
        )
    # A second seed may carry the first seed's address.
    assert env_for(daemon.SEED, seed_peer=SEED_PEER)["SEED_PEER"].value == SEED_PEER


@pytest.mark.parametrize("role", daemon.ROLES)
def test_values_match_the_script_contract(role: str) -> None:
    env = env_for(role)
    assert env["NODE_ROLE"].value == role
    assert env["RUNTIME_CONFIG"].value == "/config/daemon.json"
    assert env["CONFIG_DIR"].value == "/root/.mina-config"
    assert env["KEYS_DIR"].value == "/keys"
    assert env["POD_IP"].field_path == "status.podIP"
    assert env["CLIENT_PORT"].value == "8301"
    assert env["REST_PORT"].value == "3085"
    assert env["EXTERNAL_PORT"].value == "8302"
    assert env["ITN_GRAPHQL_PORT"].value == "3086"
    assert env["ITN_FEATURES"].value == "1"


@pytest.mark.parametrize("role", daemon.ROLES)
def test_passwords_are_secret_references_only(role: str) -> None:
    env = env_for(role)
    for name in PASSWORDS:
        assert env[name].value is None
    # The node's own entries of its group's Secret, never another member's.
    assert env["MINA_PRIVKEY_PASS"].secret_key == "bp-2.node-password"
    assert env["UPTIME_PRIVKEY_PASS"].secret_key == "bp-2.node-password"
    assert env["MINA_LIBP2P_PASS"].secret_key == "bp-2.libp2p-password"
    for name, entry in env.items():
        if name not in PASSWORDS:
            assert entry.secret_key is None, name
    other = env_for(role, node="node-12")
    assert {other[name].secret_key for name in PASSWORDS} == {
        "node-12.node-password",
        "node-12.libp2p-password",
    }


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        env_for("archive")
    with pytest.raises(ValueError, match="seed's multiaddr"):
        env_for(daemon.PLAIN, seed_peer=None)
    with pytest.raises(ValueError, match="public key"):
        env_for(daemon.SNARK_COORDINATOR, coordinator_key=None)
    with pytest.raises(ValueError, match="seq or rand"):
        env_for(daemon.SNARK_COORDINATOR, work_selection="fifo")
    with pytest.raises(ValueError, match="decimal"):
        env_for(daemon.SNARK_COORDINATOR, snark_worker_fee="1e-3")
    with pytest.raises(ValueError, match="exactly one"):
        daemon.EnvVar("X", value="a", secret_key="b")


def test_itn_keys_and_trustlist() -> None:
    assert daemon.itn_keys_value(["a=", "b="]) == "a=,b="
    for bad in ([], ["a,b"], [""], [" a"]):
        with pytest.raises(ValueError, match="ITN public key"):
            daemon.itn_keys_value(bad)
    assert daemon.trustlist_value(["10.64.0.0/14", "10.10.0.0/20"]) == "10.64.0.0/14,10.10.0.0/20"
    with pytest.raises(ValueError, match="at least one CIDR"):
        daemon.trustlist_value([])
    with pytest.raises(ValueError, match="host bits"):
        daemon.trustlist_value(["10.0.0.1/8"])


def test_ports_from_network_params() -> None:
    ports = daemon.Ports.of(NetworkParams(clientPort=9301, libp2pPort=9302))  # type: ignore[call-arg]
    assert ports.named() == [("client", 9301), ("graphql", 3085), ("itn", 3086), ("libp2p", 9302)]
    assert all(len(name) <= 15 for name, _ in ports.named())  # IANA_SVC_NAME limit


def test_probes() -> None:
    probes = daemon.probes(PORTS)
    startup, liveness, readiness = probes["startup"], probes["liveness"], probes["readiness"]
    assert startup.tcp_port == PORTS.client
    assert startup.command is None
    assert startup.budget_seconds >= 15 * 60
    assert liveness.command == (daemon.SCRIPT_PATH, "alive")
    assert (liveness.period_seconds, liveness.timeout_seconds, liveness.failure_threshold) == (
        60,
        30,
        5,
    )
    assert readiness.command == (daemon.SCRIPT_PATH, "ready")
    assert readiness.period_seconds == 30
    # The kubelet's timeout leaves the script's own bound room to answer.
    assert liveness.timeout_seconds > daemon.PROBE_TIMEOUT_SECONDS
    assert readiness.timeout_seconds > daemon.PROBE_TIMEOUT_SECONDS


def test_commands_use_the_script_subcommands() -> None:
    assert daemon.install_keys_command() == [
        daemon.SCRIPT_PATH,
        "install-keys",
        "/secrets",
        "/keys",
    ]
    assert daemon.start_command() == [daemon.SCRIPT_PATH, "start"]
    subcommands = re.findall(r"^\s+([a-z-]+)\) [a-z_]+", mina_node_script(), re.MULTILINE)
    assert {"install-keys", "start", "ready", "alive"} <= set(subcommands)


def test_key_secret_data_and_mounted_files() -> None:
    data = daemon.key_secret_data(
        "bp-2", key_file="{k}", password="p", libp2p_key_file="{l}", libp2p_password="q"
    )
    assert data == {
        "bp-2.node-key": "{k}",
        "bp-2.node-password": "p",
        "bp-2.libp2p-key": "{l}",
        "bp-2.libp2p-password": "q",
    }
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in data)
    # Only the node's own key files are mounted, under the names the script checks; passwords
    # stay out of the filesystem.
    assert set(daemon.KEY_FILES) == {"node-key", "libp2p-key"}
    assert daemon.key_file_items("bp-2") == [
        ("bp-2.node-key", "node-key"),
        ("bp-2.libp2p-key", "libp2p-key"),
    ]
    assert {key for key, _ in daemon.key_file_items("bp-2")} < set(data)
    assert "$KEYS_DIR/node-key" in mina_node_script()
    assert "$KEYS_DIR/libp2p-key" in mina_node_script()


def test_hashed_names_follow_content() -> None:
    first = daemon.hashed_name("mina-runtime-config", "{}")
    assert first == daemon.hashed_name("mina-runtime-config", "{}")
    assert first != daemon.hashed_name("mina-runtime-config", "{ }")
    assert re.fullmatch(r"mina-runtime-config-[0-9a-f]{10}", first)


def test_names() -> None:
    assert daemon.group_secret_name("bp") == "bp-keys"
    assert daemon.group_service_name("bp") == "bp"
    assert daemon.node_secret_key("bp-1", "node-key") == "bp-1.node-key"
    assert daemon.pod_name("bp-1") == "bp-1-0"
    assert (
        daemon.pod_host("bp-1", "bp.itn-t.svc.cluster.local") == "bp-1-0.bp.itn-t.svc.cluster.local"
    )
    assert daemon.workers_service_name("coordinator-1") == "coordinator-1-workers"
    for bad in ("bp 1", "bp/1", "x" * 250):
        with pytest.raises(ValueError, match="Secret key"):
            daemon.node_secret_key(bad, "node-key")
