"""minaperf/assets/mina-node.sh, run for real against stub executables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from minaperf.shell import node_script
from tests.minaperf.shell.shell_sandbox import ASSETS, Sandbox, all_argv_text, shellcheck

SCRIPT = ASSETS / "mina-node.sh"

LIBP2P_PASS = "libp2p-pass-Zq9"
UPTIME_PASS = "uptime-pass-Xw4"
BP_PASS = "bp-pass-Vv7"
SECRETS = (LIBP2P_PASS, UPTIME_PASS, BP_PASS)

SEED_PEER = "/dns4/seed.exp.svc.cluster.local/tcp/8302/p2p/12D3KooWAbCdEf"
ITN_KEYS = (
    "BaG9HYTNxkqyX7haFnz/HXL9FhYwS4gdQ7uYWiStgoY=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)
COORD_KEY = "B62qmabsxin5ukW6E1UJXhTx1wKn6WurScBRjPs42Z6mriP7FKhvWmy"
UPTIME_URL = "http://uptime.exp.svc.cluster.local:8080/v1/submit"

ROLES = ("seed", "block-producer", "plain", "snark-coordinator")


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox(tmp_path / "sb")
    sandbox.stub("mina")  # records argv/env and exits 0
    return sandbox


def make_node(sb: Sandbox, role: str) -> dict[str, str]:
    """Files a started daemon container has, and the pod env the component sets."""
    root = sb.root
    keys = root / "keys"
    keys.mkdir()
    keys.chmod(0o700)
    for name in ("node-key", "libp2p-key"):
        (keys / name).write_text(f'{{"box_primitive":"xsalsa20poly1305","name":"{name}"}}\n')
        (keys / name).chmod(0o600)
    config = root / "config"
    config.mkdir()
    (config / "daemon.json").write_text('{"genesis":{}}\n')
    builtin = root / "var-lib-coda"
    builtin.mkdir()
    (builtin / "config_6965b50.json").write_text("{}")
    (builtin / "config_other.json").write_text("{}")
    (builtin / "genesis_ledger.tar.gz").write_text("keep me")
    env = {
        "NODE_ROLE": role,
        "RUNTIME_CONFIG": str(config / "daemon.json"),
        "CONFIG_DIR": str(root / "mina-config"),
        "KEYS_DIR": str(keys),
        "POD_IP": "10.4.0.17",
        "CLIENT_PORT": "8301",
        "REST_PORT": "3085",
        "EXTERNAL_PORT": "8302",
        "ITN_GRAPHQL_PORT": "3086",
        "ITN_KEYS": ITN_KEYS,
        "UPTIME_URL": UPTIME_URL,
        "MINA_LIBP2P_PASS": LIBP2P_PASS,
        "UPTIME_PRIVKEY_PASS": UPTIME_PASS,
        "MINA_CLIENT_TRUSTLIST": "10.4.0.0/14,10.8.0.0/20",
        "BUILTIN_CONFIG_GLOB_DIR": str(builtin),
    }
    if role != "seed":
        env["SEED_PEER"] = SEED_PEER
    if role == "block-producer":
        env["MINA_PRIVKEY_PASS"] = BP_PASS
    if role == "snark-coordinator":
        env.update(SNARK_COORDINATOR_KEY=COORD_KEY, SNARK_WORKER_FEE="0.001", WORK_SELECTION="seq")
    return env


def expected_argv(env: dict[str, str], role: str) -> list[str]:
    keys = env["KEYS_DIR"]
    common = [
        "daemon",
        "--config-file", env["RUNTIME_CONFIG"],
        "--config-directory", env["CONFIG_DIR"],
        "--external-ip", "10.4.0.17",
        "--client-port", "8301",
        "--rest-port", "3085",
        "--external-port", "8302",
        "--itn-graphql-port", "3086",
        "--itn-keys", ITN_KEYS,
        "--libp2p-keypair", f"{keys}/libp2p-key",
        "--uptime-url", UPTIME_URL,
        "--uptime-submitter-key", f"{keys}/node-key",
        "--log-json",
        "--log-level", "Info",
        "--file-log-level", "Info",
        "--insecure-rest-server",
        "--internal-tracing",
    ]  # fmt: skip
    coordinator_flags = ["--peer", SEED_PEER, "--run-snark-coordinator", COORD_KEY]
    coordinator_flags += ["--snark-worker-fee", "0.001"]
    role_flags = {
        "seed": ["--seed"],
        "block-producer": ["--peer", SEED_PEER, "--block-producer-key", f"{keys}/node-key"],
        "plain": ["--peer", SEED_PEER],
        "snark-coordinator": [*coordinator_flags, "--work-selection", "seq"],
    }[role]
    return common + role_flags


def run_script(
    sb: Sandbox, args: list[str], env: dict[str, str], shell: str = "sh"
) -> subprocess.CompletedProcess[str]:
    return sb.run([shell, str(SCRIPT), *args], env)


def assert_no_secret_leak(sb: Sandbox, proc: subprocess.CompletedProcess[str]) -> None:
    argv_text = all_argv_text(sb.calls())
    for secret in SECRETS:
        assert secret not in argv_text
        assert secret not in proc.stdout
        assert secret not in proc.stderr


# --- static checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["mina-node.sh", "snark-worker-supervisor.sh", "snark-worker-vm.sh"]
)
def test_shellcheck_clean(name: str) -> None:
    result = shellcheck(ASSETS / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_assets_are_loadable_as_text() -> None:
    assert node_script.mina_node_script() == SCRIPT.read_text()
    assert node_script.mina_node_script().startswith("#!/bin/sh\n")
    sup = node_script.snark_worker_supervisor_script()
    assert sup == (ASSETS / "snark-worker-supervisor.sh").read_text()
    assert os.access(SCRIPT, os.X_OK)


# --- start -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("role", ROLES)
def test_start_execs_daemon_with_exact_arguments(sb: Sandbox, role: str, shell: str) -> None:
    env = make_node(sb, role)
    proc = subprocess.Popen(
        [shell, str(SCRIPT), "start"],
        env=sb.env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    calls = sb.calls("mina")
    assert len(calls) == 1
    call = calls[0]
    assert call.argv == expected_argv(env, role)
    assert call.pid == proc.pid, "the daemon must replace the shell (exec), not run as a child"
    # environment the daemon sees
    assert call.env["ITN_FEATURES"] == "1"
    assert call.env["MINA_CLIENT_TRUSTLIST"] == "10.4.0.0/14,10.8.0.0/20"
    assert call.env["MINA_LIBP2P_PASS"] == LIBP2P_PASS
    assert call.env["UPTIME_PRIVKEY_PASS"] == UPTIME_PASS
    if role == "block-producer":
        assert call.env["MINA_PRIVKEY_PASS"] == BP_PASS
    # built-in network config removed, nothing else
    builtin = Path(env["BUILTIN_CONFIG_GLOB_DIR"])
    assert sorted(p.name for p in builtin.iterdir()) == ["genesis_ledger.tar.gz"]
    assert_no_secret_leak(sb, subprocess.CompletedProcess([], 0, stdout, stderr))


def test_start_log_levels_and_binary_overridable(sb: Sandbox) -> None:
    sb.stub("mina-custom")
    env = make_node(sb, "plain")
    env.update(LOG_LEVEL="Debug", FILE_LOG_LEVEL="Trace", MINA_BIN="mina-custom")
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 0, proc.stderr
    assert sb.calls("mina") == []
    argv = sb.calls("mina-custom")[0].argv
    assert argv[argv.index("--log-level") + 1] == "Debug"
    assert argv[argv.index("--file-log-level") + 1] == "Trace"


def test_start_coordinator_without_optional_fee_and_selection(sb: Sandbox) -> None:
    env = make_node(sb, "snark-coordinator")
    del env["SNARK_WORKER_FEE"]
    del env["WORK_SELECTION"]
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 0, proc.stderr
    argv = sb.calls("mina")[0].argv
    assert argv[-4:] == ["--peer", SEED_PEER, "--run-snark-coordinator", COORD_KEY]


def test_start_accepts_empty_password(sb: Sandbox) -> None:
    """An empty password is a valid one (upstream test vectors use it); only unset is refused."""
    env = make_node(sb, "block-producer")
    env["MINA_PRIVKEY_PASS"] = ""
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 0, proc.stderr
    assert sb.calls("mina")[0].env["MINA_PRIVKEY_PASS"] == ""


def test_start_sets_itn_features_even_if_pod_sets_other_value(sb: Sandbox) -> None:
    env = make_node(sb, "seed")
    env["ITN_FEATURES"] = "0"
    assert run_script(sb, ["start"], env).returncode == 0
    assert sb.calls("mina")[0].env["ITN_FEATURES"] == "1"


COMMON_REQUIRED = [
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
]
REQUIRED_CASES = (
    [(role, var) for role in ROLES for var in COMMON_REQUIRED]
    + [(role, "SEED_PEER") for role in ROLES if role != "seed"]
    + [("snark-coordinator", "SNARK_COORDINATOR_KEY")]
)


def assert_refused(
    sb: Sandbox, env: dict[str, str], needle: str
) -> subprocess.CompletedProcess[str]:
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 64, (proc.returncode, proc.stderr)
    assert needle in proc.stderr
    assert "refusing to start" in proc.stderr
    assert sb.calls("mina") == []
    # nothing was changed on the way out
    builtin = Path(env.get("BUILTIN_CONFIG_GLOB_DIR", sb.root / "var-lib-coda"))
    assert (builtin / "config_6965b50.json").exists()
    assert_no_secret_leak(sb, proc)
    return proc


@pytest.mark.parametrize(("role", "var"), REQUIRED_CASES)
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_start_refuses_missing_variable(sb: Sandbox, role: str, var: str, how: str) -> None:
    env = make_node(sb, role)
    if how == "unset":
        del env[var]
    else:
        env[var] = ""
    assert_refused(sb, env, var)


@pytest.mark.parametrize("role", ["validator", "Seed", "archive", "seed "])
def test_start_refuses_unknown_role(sb: Sandbox, role: str) -> None:
    env = make_node(sb, "seed")
    env["NODE_ROLE"] = role
    assert_refused(sb, env, "unknown NODE_ROLE")


@pytest.mark.parametrize(
    ("role", "var"),
    [(role, "MINA_LIBP2P_PASS") for role in ROLES]
    + [(role, "UPTIME_PRIVKEY_PASS") for role in ROLES]
    + [("block-producer", "MINA_PRIVKEY_PASS")],
)
def test_start_refuses_missing_password(sb: Sandbox, role: str, var: str) -> None:
    env = make_node(sb, role)
    del env[var]
    proc = assert_refused(sb, env, var)
    assert "password" in proc.stderr


@pytest.mark.parametrize("role", ["seed", "plain", "snark-coordinator"])
def test_block_producer_password_not_needed_by_other_roles(sb: Sandbox, role: str) -> None:
    env = make_node(sb, role)
    assert "MINA_PRIVKEY_PASS" not in env
    assert run_script(sb, ["start"], env).returncode == 0


@pytest.mark.parametrize("key", ["node-key", "libp2p-key"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o610])
def test_start_refuses_readable_key(sb: Sandbox, key: str, mode: int) -> None:
    env = make_node(sb, "block-producer")
    (Path(env["KEYS_DIR"]) / key).chmod(mode)
    assert_refused(sb, env, key)


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_start_accepts_private_key_modes(sb: Sandbox, mode: int) -> None:
    env = make_node(sb, "block-producer")
    (Path(env["KEYS_DIR"]) / "node-key").chmod(mode)
    assert run_script(sb, ["start"], env).returncode == 0


@pytest.mark.parametrize("mode", [0o750, 0o755, 0o500, 0o701])
def test_start_refuses_keys_dir_not_0700(sb: Sandbox, mode: int) -> None:
    env = make_node(sb, "seed")
    keys = Path(env["KEYS_DIR"])
    keys.chmod(mode)
    try:
        assert_refused(sb, env, "0700")
    finally:
        keys.chmod(0o700)


def test_start_refuses_missing_key_file(sb: Sandbox) -> None:
    env = make_node(sb, "plain")
    (Path(env["KEYS_DIR"]) / "libp2p-key").unlink()
    assert_refused(sb, env, "libp2p-key")


def test_start_refuses_missing_runtime_config_file(sb: Sandbox) -> None:
    env = make_node(sb, "plain")
    Path(env["RUNTIME_CONFIG"]).unlink()
    assert_refused(sb, env, "RUNTIME_CONFIG")


@pytest.mark.parametrize("value", ["abc", "0", "70000", "83 01"])
def test_start_refuses_bad_port(sb: Sandbox, value: str) -> None:
    env = make_node(sb, "plain")
    env["REST_PORT"] = value
    assert_refused(sb, env, "REST_PORT")


def test_start_refuses_bad_work_selection(sb: Sandbox) -> None:
    env = make_node(sb, "snark-coordinator")
    env["WORK_SELECTION"] = "random"
    assert_refused(sb, env, "WORK_SELECTION")


def test_unknown_subcommand_and_usage(sb: Sandbox) -> None:
    assert run_script(sb, ["frobnicate"], {}).returncode == 64
    assert run_script(sb, [], {}).returncode == 64


# --- install-keys ----------------------------------------------------------------------------


def make_secret_volume(root: Path, files: dict[str, str], stamp: str = "2025_01_01") -> Path:
    """The layout kubelet gives a Secret volume: ..<timestamp>/ files, ..data link, key links."""
    src = root / "secret"
    src.mkdir(exist_ok=True)
    data_dir = src / f"..{stamp}_00_00_00.123456789"
    data_dir.mkdir()
    for name, content in files.items():
        (data_dir / name).write_text(content)
        (data_dir / name).chmod(0o644)
    data_link = src / "..data"
    tmp_link = src / "..data_tmp"
    tmp_link.symlink_to(data_dir.name)
    tmp_link.replace(data_link)
    for name in files:
        link = src / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    src.chmod(0o755)
    return src


KEY_FILES = {
    "node-key": '{"ciphertext":"node"}\n',
    "node-key.pub": "B62qnode\n",
    "libp2p-key": '{"ciphertext":"libp2p"}\n',
    "libp2p-key.peerid": "12D3KooWpeer\n",
}


def test_install_keys_copies_resolved_files_with_private_modes(sb: Sandbox) -> None:
    src = make_secret_volume(sb.root, KEY_FILES)
    dest = sb.root / "emptydir" / "keys"
    proc = run_script(sb, ["install-keys", str(src), str(dest)], {})
    assert proc.returncode == 0, proc.stderr
    assert dest.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in dest.iterdir()) == sorted(KEY_FILES)
    for name, content in KEY_FILES.items():
        path = dest / name
        assert not path.is_symlink()
        assert path.is_file()
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text() == content


def test_install_keys_is_idempotent_and_follows_secret_updates(sb: Sandbox) -> None:
    src = make_secret_volume(sb.root, KEY_FILES)
    dest = sb.root / "keys"
    assert run_script(sb, ["install-keys", str(src), str(dest)], {}).returncode == 0
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dest.iterdir()}
    proc = run_script(sb, ["install-keys", str(src), str(dest)], {})
    assert proc.returncode == 0
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dest.iterdir()}
    assert after == before, "a second run must not rewrite unchanged files"
    assert "0 file(s) updated" in proc.stderr

    # kubelet swaps ..data atomically when the Secret changes
    updated = dict(KEY_FILES, **{"node-key": '{"ciphertext":"rotated"}\n'})
    make_secret_volume(sb.root, updated, stamp="2025_02_02")
    proc = run_script(sb, ["install-keys", str(src), str(dest)], {})
    assert proc.returncode == 0
    assert "1 file(s) updated" in proc.stderr
    assert (dest / "node-key").read_text() == '{"ciphertext":"rotated"}\n'
    assert (dest / "node-key").stat().st_mode & 0o777 == 0o600


def test_install_keys_fixes_existing_dest_modes(sb: Sandbox) -> None:
    src = make_secret_volume(sb.root, KEY_FILES)
    dest = sb.root / "keys"
    dest.mkdir(mode=0o777)
    dest.chmod(0o777)
    (dest / "node-key").write_text(KEY_FILES["node-key"])
    (dest / "node-key").chmod(0o644)
    assert run_script(sb, ["install-keys", str(src), str(dest)], {}).returncode == 0
    assert dest.stat().st_mode & 0o777 == 0o700
    assert (dest / "node-key").stat().st_mode & 0o777 == 0o600


def test_installed_keys_pass_the_start_check(sb: Sandbox) -> None:
    src = make_secret_volume(sb.root, KEY_FILES)
    env = make_node(sb, "block-producer")
    dest = sb.root / "installed"
    assert run_script(sb, ["install-keys", str(src), str(dest)], {}).returncode == 0
    env["KEYS_DIR"] = str(dest)
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 0, proc.stderr


def test_install_keys_usage_errors(sb: Sandbox) -> None:
    assert run_script(sb, ["install-keys", str(sb.root / "nope"), "x"], {}).returncode == 64
    assert run_script(sb, ["install-keys", "only-one"], {}).returncode == 64


# --- probes ----------------------------------------------------------------------------------

MINA_CLIENT_STUB = """
import sys
from pathlib import Path
if argv[:2] == ["client", "status"]:
    out = Path(STATE, "client_out")
    sys.stdout.write(out.read_text() if out.exists() else "")
    rc = Path(STATE, "client_rc")
    sys.exit(int(rc.read_text()) if rc.exists() else 0)
sys.exit(0)
"""

CURL_STUB = """
import sys
from pathlib import Path
out = Path(STATE, "curl_out")
sys.stdout.write(out.read_text() if out.exists() else "")
rc = Path(STATE, "curl_rc")
sys.exit(int(rc.read_text()) if rc.exists() else 0)
"""


def set_client(sb: Sandbox, out: str, rc: int = 0) -> None:
    (sb.state / "client_out").write_text(out)
    (sb.state / "client_rc").write_text(str(rc))


def set_curl(sb: Sandbox, out: str, rc: int = 0) -> None:
    (sb.state / "curl_out").write_text(out)
    (sb.state / "curl_rc").write_text(str(rc))


PROBE_ENV = {"CLIENT_PORT": "8301", "REST_PORT": "3085"}


def client_status_json(status: str) -> str:
    # the client pretty-prints; keep whitespace and newlines around the field
    return (
        "{\n"
        '  "num_accounts": 1234,\n'
        '  "blockchain_length" : 17,\n'
        f'  "sync_status"  :\n    "{status}" ,\n'
        '  "peers": [ "a", "b" ]\n'
        "}\n"
    )


@pytest.mark.parametrize(
    ("status", "ready", "alive"),
    [
        ("Synced", 0, 0),
        ("Bootstrap", 1, 0),
        ("Catchup", 1, 0),
        ("Listening", 1, 0),
        ("Connecting", 1, 0),
        ("Offline", 1, 0),
    ],
)
def test_probes_via_client(sb: Sandbox, status: str, ready: int, alive: int) -> None:
    sb.stub("mina", MINA_CLIENT_STUB)
    set_client(sb, client_status_json(status))
    env = dict(PROBE_ENV, PROBE_VIA="client", CLIENT_PORT="18301")
    assert run_script(sb, ["ready"], env).returncode == ready
    assert run_script(sb, ["alive"], env).returncode == alive
    for call in sb.calls("mina"):
        assert call.argv == ["client", "status", "--json", "--daemon-port", "18301"]
    assert sb.calls("curl") == []


@pytest.mark.parametrize(
    ("out", "rc", "alive"),
    [
        (
            "Error: Unable to connect to Mina daemon.\n- The daemon might not be running.\n",
            1,
            1,
        ),
        ("", 1, 1),
        ("", 124, 1),  # timed out
        ("", 15, 0),  # accepted as alive, like the MinaFoundation chart
        ("Error: Node is still bootstrapping\n", 1, 0),
        ('{"sync_status":"Bootstrap"}', 1, 0),
    ],
)
def test_client_failures(sb: Sandbox, out: str, rc: int, alive: int) -> None:
    sb.stub("mina", MINA_CLIENT_STUB)
    set_client(sb, out, rc)
    env = dict(PROBE_ENV, PROBE_VIA="client")
    assert run_script(sb, ["ready"], env).returncode == 1
    assert run_script(sb, ["alive"], env).returncode == alive


def test_alive_exit_codes_configurable(sb: Sandbox) -> None:
    sb.stub("mina", MINA_CLIENT_STUB)
    set_client(sb, "", 15)
    env = dict(PROBE_ENV, PROBE_VIA="client", ALIVE_EXIT_CODES="")
    assert run_script(sb, ["alive"], env).returncode == 1


@pytest.mark.parametrize(
    ("body", "ready", "alive"),
    [
        ('{"data":{"syncStatus":"SYNCED"}}', 0, 0),
        ('{ "data" : {\n  "syncStatus" :  "SYNCED"\n }\n}\n', 0, 0),
        ('{"data":{"syncStatus":"BOOTSTRAP"}}', 1, 0),
        ('{"data":{"syncStatus":"CATCHUP"}}', 1, 0),
        ('{"data":{"syncStatus":"CONNECTING"}}', 1, 0),
        ('{"errors":[{"message":"oops"}]}', 1, 0),
    ],
)
def test_probes_via_graphql(sb: Sandbox, body: str, ready: int, alive: int) -> None:
    sb.stub("curl", CURL_STUB)
    sb.stub("mina", MINA_CLIENT_STUB)
    set_curl(sb, body)
    env = dict(PROBE_ENV, REST_PORT="13085")  # PROBE_VIA=auto picks curl when it exists
    assert run_script(sb, ["ready"], env).returncode == ready
    assert run_script(sb, ["alive"], env).returncode == alive
    assert sb.calls("mina") == []
    for call in sb.calls("curl"):
        assert call.argv[-1] == "http://127.0.0.1:13085/graphql"
        assert call.argv[call.argv.index("--data") + 1] == '{"query":"{ syncStatus }"}'
        assert "--fail" in call.argv
        assert "--max-time" in call.argv


def test_graphql_connection_failure_is_not_alive(sb: Sandbox) -> None:
    sb.stub("curl", CURL_STUB)
    set_curl(sb, "", 7)
    assert run_script(sb, ["ready"], PROBE_ENV).returncode == 1
    assert run_script(sb, ["alive"], PROBE_ENV).returncode == 1


def test_auto_falls_back_to_client_without_curl(sb: Sandbox) -> None:
    sb.remove("curl")
    sb.stub("mina", MINA_CLIENT_STUB)
    set_client(sb, client_status_json("Synced"))
    assert run_script(sb, ["ready"], PROBE_ENV).returncode == 0
    assert [c.argv[:2] for c in sb.calls("mina")] == [["client", "status"]]


def test_extra_seed_peers_with_the_first_seed(sb: Sandbox) -> None:
    env = {**make_node(sb, "seed"), "SEED_PEER": SEED_PEER}
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 0, proc.stderr
    assert sb.calls("mina")[0].argv == [*expected_argv(env, "seed"), "--peer", SEED_PEER]


def test_new_runtime_config_clears_kept_chain_state(sb: Sandbox) -> None:
    env = make_node(sb, "plain")
    state = Path(env["CONFIG_DIR"])
    assert run_script(sb, ["start"], env).returncode == 0
    (state / "frontier").mkdir()
    (state / "frontier" / "db").write_text("chain of the first genesis")
    assert run_script(sb, ["start"], env).returncode == 0
    assert (state / "frontier" / "db").exists(), "same config: the chain is kept"

    Path(env["RUNTIME_CONFIG"]).write_text('{"genesis":{"genesis_state_timestamp":"later"}}\n')
    proc = run_script(sb, ["start"], env)
    assert proc.returncode == 0, proc.stderr
    assert not (state / "frontier").exists(), "new genesis: the old chain is cleared"
    assert "runtime config changed" in proc.stderr
    assert len(sb.calls("mina")) == 3
