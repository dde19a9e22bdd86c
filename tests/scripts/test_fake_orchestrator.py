"""The stand-in orchestrator fails on each class `check` refuses the way upstream does: its exit
code (0: main.go:48 drops RunActions' error; 2: a Go panic), and whether the failing step's
`Performing step` marker was logged (a decode error, an unknown action or an unresolvable
reference ends the run before it, orchestrator.go:260-291)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minaperf.keys import mina, secret_box
from minaperf.model.outputs import parse_outputs
from minaperf.orchestrator.config import build_config, config_text
from minaperf.orchestrator.script import lint_script
from tests.fakes.outputs_fixture import ORCHESTRATOR_PUBLIC_KEY, make_outputs
from tests.fakes.servers import FakeDaemon, FakeUptimeBackend
from tests.minaperf.orchestrator.test_script import _REFUSED_BY_UPSTREAM as REFUSED_BY_UPSTREAM
from tests.minaperf.orchestrator.test_script import ACCEPTED_AS_UPSTREAM, GOOD
from tests.minaperf.orchestrator.test_script import _script as script_text

FAKE = Path(__file__).parents[1] / "fakes" / "fake_orchestrator.py"
VECTORS = Path(__file__).parents[1] / "data" / "vectors" / "minimina-large"
VECTOR_PASSWORD = "naughty blue worm"  # tests/data/vectors/README.md
# orchestrator/src/keyloader_test.go:10-13: a box sealed with the empty password, and its key
EMPTY_PASSWORD_BOX = (
    '{"box_primitive":"xsalsa20poly1305","pw_primitive":"argon2i",'
    '"nonce":"8p9B5WcoBtfKCFhLfurLPPUT9Kih5pH141hBYdK","pwsalt":"98Q3JzhWcpGQFkyHs6khJUyY75Tx",'
    '"pwdiff":[134217728,6],'
    '"ciphertext":"AVehFg79QEYuEqdb5a3CqKgRctLAfCxeiJxmiwEA5rThVEazV1w5h6QJBCcBnMbZpgE28AiJF"}'
)
EMPTY_PASSWORD_KEY = "EKEEpMELfQkMbJDt2fB4cFXKwSf1x4t7YD4twREy5yuJ84HBZtF9"
SENTINEL = '{"action": "wait", "params": {"sec": 0}}'


def _payments(**params: object) -> str:
    base = {"tps": 1, "minTps": 1, "durationMin": 1, "feePayers": ["EK"], "nodes": ["a:1"]}
    return json.dumps({"action": "payments", "params": {**base, **params}})


CASES = {  # name: (script before the sentinel, exit code, marker of the failing step logged)
    "tps-below-minTps": (_payments(tps=0.5), 2, True),
    "tps-over-minTps-overflows": (_payments(tps=1e300, minTps=1e-300), 2, True),
    "nan": ('{"action": "wait", "params": {"sec": NaN}}', 0, False),
    "float-overflow": ('{"action": "wait", "params": {"sec": 1e400}}', 0, False),
    "form-feed": ('\x0c{"action": "wait", "params": {"sec": 0}}', 0, False),
    "nbsp": ('\u00a0{"action": "wait", "params": {"sec": 0}}', 0, False),
    "empty-action": ('{"action": "", "params": {}}', 0, False),
    "params-twice": ('{"action": "wait", "params": {"sec": "x"}, "params": {"min": 0}}', 0, True),
    "join-outputs-nothing": (
        '{"action": "join", "params": {"group1": []}}\n{"action": "isolate", "params": '
        '{"nodes": {"type": "output", "step": 0, "name": "group"}}}',
        0,
        False,
    ),
    "file-reference": (
        '{"action": "stop", "params": {"receipts": '
        '{"type": "output", "step": 1, "name": "receipt", "file": "a.out"}}}',
        0,
        False,
    ),
    "fund-keys-prefix-without-directory": (
        '{"action": "fund-keys", "params": '
        '{"amount": 1, "fee": 1, "prefix": "key", "num": 1, "privkeys": ["k"]}}',
        0,
        False,
    ),
    "discovery-only-and-no-bps": (
        '{"action": "discovery", "params": {"onlyBPs": true, "noBPs": true}}',
        0,
        True,
    ),
    "load-keys-empty-dir": ('{"action": "load-keys", "params": {"dir": ""}}', 0, True),
    "allocate-slots-zero-group": (
        '{"action": "allocate-slots", "params": {"groups": [0], '
        '"slotsWon": [{"address": "a:1", "slots": [1]}], "minSlots": 1, "maxSlots": 2}}',
        0,
        True,
    ),
    "slots-covered-check-no-slots": (
        '{"action": "slots-covered-check", "params": {"threshold": 0.5, "slotsWon": []}}',
        0,
        True,
    ),
    "isolate-without-port": ('{"action": "isolate", "params": {"nodes": ["10.0.0.2"]}}', 2, True),
    "rotate-balance-mapping-out-of-range": (
        '{"action": "rotate-balance", "params": {"pubkeys": ["p"], "servers": ["s"], '
        '"ratio": 0.5, "mapping": [1]}}',
        0,
        True,
    ),
    "max-fee-below-min-fee": (_payments(maxFee=1, minFee=2), 0, True),
    "int-as-float": ('{"action": "wait", "params": {"sec": 100.0}}', 0, True),
    "int-as-string": ('{"action": "wait", "params": {"sec": "600"}}', 0, True),
    "negative-uint64": (_payments(maxFee=-1, minFee=-2), 0, True),  # MaxFee is a uint64
    "int-past-int64": ('{"action": "wait", "params": {"sec": 9223372036854775808}}', 0, True),
}


def _orchestrate(
    tmp_path: Path, script: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The fake with a valid config, fed `script` and then the runner's sentinel step."""
    config = tmp_path / "config.json"
    key = base64.b64encode(bytes(32)).decode()
    config.write_text(json.dumps({"key": key, "onlineURL": "http://127.0.0.1:9/v1/online"}))
    return _run(tmp_path, config, script, env)


def _run(
    tmp_path: Path, config: Path, script: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "FAKE_DROPPED_ERROR_FILE": str(tmp_path / "dropped.json")}
    return subprocess.run(
        [sys.executable, str(FAKE), str(config)],
        input=f"{script}\n{SENTINEL}\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**variables, **(env or {})},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("script", "code", "marked"), list(CASES.values()), ids=list(CASES))
def test_the_fake_fails_like_upstream(tmp_path: Path, script: str, code: int, marked: bool) -> None:
    result = _orchestrate(tmp_path, script)
    assert result.returncode == code, result.stderr
    last = script.count("\n")  # the failing step is the script's last value
    assert (f"({last})\n" in result.stderr) == marked, result.stderr
    assert f"Performing step wait ({last + 1})" not in result.stderr  # never reached the end


def test_a_stop_sent_to_another_daemon_fails_and_leaves_the_schedule(tmp_path: Path) -> None:
    """The schedule table is per daemon (mina_graphql.ml keeps `scheduler_tbl` per node)."""
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"h": {"address": "a:1", "expires": 4e9}}))
    stop = '{"action": "stop", "params": {"receipts": [{"address": "b:1", "handle": "h"}]}}'
    result = _orchestrate(tmp_path, stop, {"FAKE_SCHEDULER_FILE": str(table)})
    assert result.returncode == 0
    assert "Performing step wait (1)" not in result.stderr
    assert json.loads(table.read_text()) == {"h": {"address": "a:1", "expires": 4e9}}


def _dropped(tmp_path: Path) -> dict | None:
    """The error main.go:48 drops, as the fake records it."""
    path = tmp_path / "dropped.json"
    return json.loads(path.read_text()) if path.exists() else None


def _shown_keys(result: subprocess.CompletedProcess[str], step: int) -> list[str]:
    """Keys are sensitive outputs; a `join` of them prints them as its `group` members."""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [line["value"] for line in lines if line["step"] == step and line["name"] == "group"]


def _load_then_show(**params: object) -> str:
    load = json.dumps({"action": "load-keys", "params": params})
    show = {"action": "join", "params": {"group1": {"type": "output", "step": 0, "name": "key"}}}
    return f"{load}\n{json.dumps(show)}"


def _vector_dir(tmp_path: Path, *names: str) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in names:
        shutil.copy(VECTORS / "block_producer_keys" / name, keys / name)
    (keys / f"{names[0]}.pub").write_text("not a key file: skipped (misc.go:254)")
    return keys


def test_load_keys_decrypts_upstream_key_files_with_the_password_env(tmp_path: Path) -> None:
    _vector_dir(tmp_path, "observer.json")
    script = _load_then_show(dir="keys", passwordEnv="KEYS_PASSWORD")
    result = _orchestrate(tmp_path, script, {"KEYS_PASSWORD": VECTOR_PASSWORD})
    assert result.returncode == 0, result.stderr
    assert "Performing step wait (2)" in result.stderr
    ledger = json.loads((VECTORS / "genesis_ledger.json").read_text())["ledger"]["accounts"]
    [key] = _shown_keys(result, 1)
    assert key in {account.get("sk") for account in ledger}
    steps = [json.loads(line)["step"] for line in result.stdout.splitlines()]
    assert steps == [1]  # load-keys' outputs are sensitive: never printed (keyloader.go:138)


@pytest.mark.parametrize(
    "password", [{"KEYS_PASSWORD": "naughty blue worms"}, {}], ids=["wrong", "unset"]
)
def test_load_keys_fails_on_a_wrong_or_missing_password(
    tmp_path: Path, password: dict[str, str]
) -> None:
    """keyloader.go:96-98 and :78-81; an unset variable is the empty password (:104-110)."""
    _vector_dir(tmp_path, "observer.json")
    result = _orchestrate(
        tmp_path, _load_then_show(dir="keys", passwordEnv="KEYS_PASSWORD"), password
    )
    assert result.returncode == 0  # main.go:48 drops the error
    assert "Performing step load-keys (0)" in result.stderr
    assert "Performing step join (1)" not in result.stderr
    assert result.stdout == ""
    assert _dropped(tmp_path) == {
        "code": 9,
        "message": "Error running step 0: failed to unseal key\n"
        "failed decoding private key from file keys/observer.json",
    }


def test_load_keys_without_password_env_uses_the_empty_password(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k").write_text(EMPTY_PASSWORD_BOX)
    result = _orchestrate(tmp_path, _load_then_show(dir="keys"))
    assert result.returncode == 0, result.stderr
    assert _shown_keys(result, 1) == [EMPTY_PASSWORD_KEY]


def _sealed(scalar: int, password: str) -> str:
    """A key file made by our own secret box (cheap cost): the fake decrypts it on its own."""
    return secret_box.encrypt(
        mina.private_key_bytes(scalar), password, salt=bytes(16), nonce=bytes(24)
    )


def test_load_keys_reads_in_name_order_up_to_limit(tmp_path: Path) -> None:
    """The limit is checked after each key (keyloader.go:115-124): a bad file past it is never
    read; without the limit it ends the step."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "b").write_text(_sealed(2, "pw"))
    (keys / "a").write_text(_sealed(1, "pw"))
    (keys / "c").write_text("{}")
    limited = _orchestrate(
        tmp_path, _load_then_show(dir="keys", passwordEnv="P", limit=2), {"P": "pw"}
    )
    assert _shown_keys(limited, 1) == [mina.format_private_key(1), mina.format_private_key(2)]
    whole = _orchestrate(tmp_path, _load_then_show(dir="keys", passwordEnv="P"), {"P": "pw"})
    assert _shown_keys(whole, 1) == []
    assert (_dropped(tmp_path) or {})["message"] == (
        "Error running step 0: unknown primitive type\nfailed decoding private key from file keys/c"
    )


def test_fund_keys_files_load_only_with_their_password(tmp_path: Path) -> None:
    """fund-keys runs the mina CLI with MINA_PRIVKEY_PASS from its passwordEnv (fund.go:70,
    78-81); load-keys then needs the same password."""
    fund = {"amount": 4, "fee": 1, "prefix": "fund/key", "num": 3, "privkeys": ["k0", "k1"]}
    script = "\n".join(
        json.dumps(v)
        for v in [
            {"action": "fund-keys", "params": {**fund, "passwordEnv": "FUND_PASSWORD"}},
            json.loads(_load_then_show(dir="fund", passwordEnv="LOAD_PASSWORD").split("\n")[0]),
        ]
    )
    show = '{"action": "join", "params": {"group1": {"type": "output", "step": 1, "name": "key"}}}'
    same = _orchestrate(
        tmp_path, f"{script}\n{show}", {"FUND_PASSWORD": "pw", "LOAD_PASSWORD": "pw"}
    )
    assert len(_shown_keys(same, 2)) == 3, same.stderr
    assert all(k.startswith("EK") for k in _shown_keys(same, 2))
    shutil.rmtree(tmp_path / "fund")
    other = _orchestrate(
        tmp_path, f"{script}\n{show}", {"FUND_PASSWORD": "pw", "LOAD_PASSWORD": "other"}
    )
    assert _shown_keys(other, 2) == []
    assert "failed to unseal key" in (_dropped(tmp_path) or {})["message"]


# --- discovery: the uptime backend, then each node's ITN `auth` (discovery.go, graphql.go) ------


@pytest.fixture
def network() -> Iterator[tuple[FakeUptimeBackend, FakeDaemon]]:
    """One daemon accepting our orchestrator key, listed by the uptime backend as the in-memory
    backend does (`remote_addr`, `graphql_control_port`, `submitter`)."""
    daemon = FakeDaemon(itn_keys={ORCHESTRATOR_PUBLIC_KEY})
    backend = FakeUptimeBackend(
        online=[
            {"remote_addr": "127.0.0.1", "graphql_control_port": daemon.itn.port, "submitter": s}
            for s in ("B62qA", "B62qB")  # two submitters behind one address: authorised once
        ]
    )
    yield backend, daemon
    backend.close()
    daemon.close()


def _our_config(tmp_path: Path, backend: FakeUptimeBackend) -> Path:
    """The config `experiment` writes (minaperf.orchestrator.config), key shown."""
    url = f"http://127.0.0.1:{backend.port}/v1/online"
    outputs = parse_outputs(make_outputs(online_url=url, work_dir=str(tmp_path)))
    path = tmp_path / "config.json"
    path.write_text(config_text(build_config(outputs, tmp_path), show_secrets=True))
    return path


def _participants(result: subprocess.CompletedProcess[str]) -> list[tuple[int, str]]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [(line["step"], line["value"]) for line in lines if line["name"] == "participant"]


def test_discovery_authenticates_each_node_once_with_our_key(
    tmp_path: Path, network: tuple[FakeUptimeBackend, FakeDaemon]
) -> None:
    """Nodes from /v1/online are authorised with the signed `auth` query (graphql.go:65-74,
    105-127); a node known from an earlier discovery is not asked again (discovery.go:158-159)."""
    backend, daemon = network
    step = '{"action": "discovery", "params": {}}'
    result = _run(tmp_path, _our_config(tmp_path, backend), f"{step}\n{step}")
    assert result.returncode == 0, result.stderr
    address = f"127.0.0.1:{daemon.itn.port}"
    assert _participants(result) == [(0, address), (1, address)]
    assert [r["status"] for r in daemon.requests] == [200]  # the daemon verified the signature
    assert "Performing step wait (2)" in result.stderr


def test_discovery_retries_then_fails_when_the_node_refuses_the_key(
    tmp_path: Path, network: tuple[FakeUptimeBackend, FakeDaemon]
) -> None:
    """A 401 is a WARN per node (discovery.go:149); no participant is a WARN and a retry after
    10, then 20 minutes; the third failure ends the step (discovery.go:181-199)."""
    backend, daemon = network
    daemon.itn_keys.clear()
    result = _run(tmp_path, _our_config(tmp_path, backend), '{"action": "discovery"}')
    assert result.returncode == 0  # main.go:48 drops the error
    assert _participants(result) == []
    address = f"127.0.0.1:{daemon.itn.port}"
    refused = f"Error on auth for {address} (B62qA): failed to authorize client {address}: "
    assert result.stderr.count(refused + "returned error 401 Unauthorized") == 3
    for pause in (10, 20):
        assert f"retrying in {pause} minutes: didn't find any participants" in result.stderr
    assert "retrying in 40" not in result.stderr
    assert _dropped(tmp_path) == {
        "code": 9,
        "message": "Error running step 0: didn't find any participants",
    }


def test_discovery_refuses_ports_the_daemon_does_not_send_as_strings(
    tmp_path: Path, network: tuple[FakeUptimeBackend, FakeDaemon]
) -> None:
    """UInt16 decodes only from a string token (json_types/types.go:34-44)."""
    backend, daemon = network
    daemon.uint16_as_string = False
    result = _run(tmp_path, _our_config(tmp_path, backend), '{"action": "discovery"}')
    assert "signerSequenceNumber: not a string token" in result.stderr
    assert _participants(result) == []


@pytest.mark.parametrize(
    ("params", "kept"),
    [({"onlyBPs": True}, {"bp"}), ({"noBPs": True}, {"plain"}), ({"limit": 1}, {"bp", "plain"})],
    ids=["onlyBPs", "noBPs", "limit"],
)
def test_discovery_filters_on_what_each_node_says_it_is(
    tmp_path: Path, params: dict[str, object], kept: set[str]
) -> None:
    """isBlockProducer comes from each node's `auth` answer (graphql.go:120-125); onlyBPs, noBPs
    and limit filter the outputs (discovery.go:130-138). Upstream authorises nodes concurrently,
    so `limit` keeps whichever answers first: one node."""
    nodes = {
        "bp": FakeDaemon(itn_keys={ORCHESTRATOR_PUBLIC_KEY}, is_block_producer=True),
        "plain": FakeDaemon(itn_keys={ORCHESTRATOR_PUBLIC_KEY}),
    }
    backend = FakeUptimeBackend(
        online=[
            {"remote_addr": "127.0.0.1", "graphql_control_port": d.itn.port, "submitter": name}
            for name, d in nodes.items()
        ]
    )
    try:
        step = json.dumps({"action": "discovery", "params": params})
        result = _run(tmp_path, _our_config(tmp_path, backend), step)
    finally:
        backend.close()
        for daemon in nodes.values():
            daemon.close()
    [found] = [address for _, address in _participants(result)]
    assert found in {f"127.0.0.1:{nodes[name].itn.port}" for name in kept}, result.stderr


def test_discovery_with_no_uptime_backend_tries_five_times_each_round(tmp_path: Path) -> None:
    """retryGetURL: 5 attempts a minute apart, then no submissions and no error (its loop
    shadows `err`, discovery.go:49-77): each round finds nobody."""
    backend = FakeUptimeBackend()
    config = _our_config(tmp_path, backend)
    backend.close()
    result = _run(tmp_path, config, '{"action": "discovery", "params": {"limit": 1}}')
    assert result.stderr.count("Attempt 5 failed") == 3
    assert result.stderr.count("Retrying in 1m0s...") == 12
    assert (_dropped(tmp_path) or {})["message"] == (
        "Error running step 0: didn't find any participants"
    )


def test_discovery_exactly_fails_short_of_the_limit(
    tmp_path: Path, network: tuple[FakeUptimeBackend, FakeDaemon]
) -> None:
    """discovery.go:172-174; each round still outputs what it found (:136-138)."""
    backend, daemon = network
    step = '{"action": "discovery", "params": {"limit": 2, "exactly": true}}'
    result = _run(tmp_path, _our_config(tmp_path, backend), step)
    assert _participants(result) == [(0, f"127.0.0.1:{daemon.itn.port}")] * 3
    assert (_dropped(tmp_path) or {})["message"] == (
        "Error running step 0: failed to discover the exact number of nodes"
    )


# --- allocate-slots: outputs and the panics of slots_allocation.go ------------------------------

WON = [
    {"address": "10.0.0.1:3086", "slots": [1, 5, 7]},
    {"address": "10.0.0.2:3086", "slots": [6, 8]},
    {"address": "10.0.0.1:3087", "slots": [9]},
    {"address": "10.0.0.3:3086", "slots": []},  # won nothing: left out (:252-254)
]


def _allocate(**params: object) -> str:
    base = {"groups": [1, 1], "slotsWon": WON, "minSlots": 6, "maxSlots": 10}
    return json.dumps({"action": "allocate-slots", "params": {**base, **params}})


def _outputs(result: subprocess.CompletedProcess[str], step: int) -> dict[str, Any]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line["name"]: line["value"] for line in lines if line["step"] == step}


def test_allocate_slots_splits_ips_into_groups_of_equal_slots(tmp_path: Path) -> None:
    """The first empty slot is 2 (slots_allocation.go:264-270); from slot 2+6 the two IPs win
    {5, 7} and {6, 8}: a split with no difference (:216-231). Addresses are grouped by IP
    (:255-258) and each group is a single output `group<j>` (:292-293)."""
    result = _orchestrate(tmp_path, _allocate())
    assert result.returncode == 0, result.stderr
    outputs = _outputs(result, 0)
    assert (outputs.pop("nextEmptySlot"), outputs.pop("lastSlot")) == (2, 8)
    assert sorted(outputs) == ["group0", "group1"]
    assert sorted(map(sorted, outputs.values())) == [
        ["10.0.0.1:3086", "10.0.0.1:3087"],
        ["10.0.0.2:3086"],
    ]
    assert "Split to 2 groups: 0 difference, last slot 8" in result.stderr
    assert "Performing step wait (1)" in result.stderr


def test_a_group_allocate_slots_does_not_output_fails_before_the_step(tmp_path: Path) -> None:
    """Outputs are group0..group{n-1}; a reference past them cannot resolve (params.go:99-103)."""
    use = {
        "action": "isolate",
        "params": {"nodes": {"type": "output", "step": 0, "name": "group2"}},
    }
    result = _orchestrate(tmp_path, f"{_allocate()}\n{json.dumps(use)}")
    assert "Performing step isolate (1)" not in result.stderr
    assert _dropped(tmp_path) == {
        "code": 6,
        "message": "Error resolving params for step 1: couldn't find output group2 (step 0) "
        "needed for step 1",
    }


@pytest.mark.parametrize(
    ("params", "panic"),
    [
        ({"minSlots": 0}, "panic: partitionNumSets: empty heap"),  # nothing won up to slot 2
        (
            {"slotsWon": [{"address": "10.0.0.1:1", "slots": [1, 2, 3]}]},
            "panic: partitionNumSets: empty heap",  # contiguous: nothing after the "empty" slot
        ),
        ({"groups": []}, "panic: runtime error: index out of range [-1]"),
        (
            {"slotsWon": [{"address": "10.0.0.1", "slots": [1, 3]}]},
            "panic: runtime error: slice bounds out of range [:-1]",
        ),
    ],
    ids=["no-slot-by-min-slots", "contiguous-slots", "no-groups", "address-without-port"],
)
def test_allocate_slots_panics_as_upstream(
    tmp_path: Path, params: dict[str, object], panic: str
) -> None:
    result = _orchestrate(tmp_path, _allocate(**params))
    assert result.returncode == 2
    assert panic in result.stderr


@pytest.mark.parametrize(
    ("threshold", "slots", "failure"),
    [
        (0.5, [], "proportion -0.000000 of slots covered by queried nodes is lower than "
         "threshold 0.500000"),
        (0, [], None),  # -0 is not below 0
        (0.5, [1, 2, 4], None),  # 3 of the 4 slots from 1 to 4
        (0.8, [1, 2, 4], "proportion 0.750000 of slots covered by queried nodes is lower than "
         "threshold 0.800000"),
    ],
)  # fmt: skip
def test_slots_covered_check_as_slots_won_go(
    tmp_path: Path, threshold: float, slots: list[int], failure: str | None
) -> None:
    """slots_won.go:55-78."""
    won = [{"address": "a:1", "slots": slots[:2]}, {"address": "b:1", "slots": slots[2:]}]
    step = {"action": "slots-covered-check", "params": {"threshold": threshold, "slotsWon": won}}
    _orchestrate(tmp_path, json.dumps(step))
    dropped = _dropped(tmp_path)
    assert (dropped and dropped["message"]) == (failure and f"Error running step 0: {failure}")


@pytest.mark.parametrize(
    ("params", "failure"),
    [
        ({"servers": []}, "length of list of rest servers is not equal to number of key files"),
        ({"mapping": [0, 1]}, "length of mapping is not equal to number of key files"),
        ({"ratio": 0.0001}, "ratio too small"),
        ({"mapping": [1]}, "wrong index in the mapping"),
    ],
)
def test_rotate_balance_refuses_before_any_request(
    tmp_path: Path, params: dict[str, object], failure: str
) -> None:
    """rotate.go:38-55, in that order."""
    base = {"pubkeys": ["p"], "servers": ["s"], "ratio": 0.5, "mapping": [0]}
    step = {"action": "rotate-balance", "params": {**base, **params}}
    _orchestrate(tmp_path, json.dumps(step))
    assert _dropped(tmp_path) == {"code": 9, "message": f"Error running step 0: {failure}"}


def test_restart_needs_control_exec(tmp_path: Path) -> None:
    _orchestrate(tmp_path, '{"action": "restart", "params": {"nodes": ["a:1"]}}')
    assert _dropped(tmp_path) == {
        "code": 9,
        "message": "Error running step 0: no restart exec provided",  # restart.go:19-21
    }


# --- payments / zkapp-txs: node selection, daemon refusals, the per-daemon table ----------------


def _receipts(result: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return [line["value"] for line in lines if line["name"] == "receipt"]


def test_payments_split_fee_payers_and_record_handles_per_daemon(tmp_path: Path) -> None:
    """tps 5 over minTps 2 keeps 2 of 3 nodes at 2.5 tps each (misc.go:206-216); each daemon
    holds only its own handle, so stopping one on another node fails (stop.go:12-26)."""
    table = tmp_path / "table.json"
    env = {"FAKE_SCHEDULER_FILE": str(table)}
    script = _payments(tps=5, minTps=2, feePayers=["EK1", "EK2"], nodes=["a:1", "b:1", "c:1"])
    result = _orchestrate(tmp_path, script, env)
    receipts = _receipts(result)
    assert [r["address"] for r in receipts] == ["a:1", "b:1"]
    assert "scheduled payment batch 1 with tps 2.500000 for b:1" in result.stderr
    held = json.loads(table.read_text())
    assert {h: e["address"] for h, e in held.items()} == {
        r["handle"]: r["address"] for r in receipts
    }
    swapped = [{"address": "b:1", "handle": receipts[0]["handle"]}]
    stop = json.dumps({"action": "stop", "params": {"receipts": swapped}})
    _orchestrate(tmp_path, stop, env)
    assert (_dropped(tmp_path) or {})["message"].endswith(
        f"Could not find scheduled transactions with handle {receipts[0]['handle']}"
    )
    assert json.loads(table.read_text()) == held


def test_a_node_left_without_fee_payers_is_refused_and_its_share_moves_on(tmp_path: Path) -> None:
    """One fee payer over two nodes is 0 each (payments.go:66): the first daemon refuses an
    empty sender list (a WARN, :76), the rest is re-split over the nodes left (:77-81) and the
    last node's success ends the step well."""
    script = _payments(tps=2, minTps=1, feePayers=["EK1"], nodes=["a:1", "b:1"])
    result = _orchestrate(tmp_path, script, {"FAKE_SCHEDULER_FILE": str(tmp_path / "t.json")})
    assert [r["address"] for r in _receipts(result)] == ["b:1"]
    assert "error scheduling payments for a:1: Empty list of senders" in result.stderr
    assert "scheduled payment batch 0 with tps 2.000000 for b:1" in result.stderr
    assert "Performing step wait (1)" in result.stderr


def test_payments_fail_when_every_daemon_refuses(tmp_path: Path) -> None:
    """The last node's error ends the step (payments.go:107)."""
    script = _payments(tps=2, minTps=1, feePayers=[], nodes=["a:1", "b:1"])
    result = _orchestrate(tmp_path, script, {"FAKE_SCHEDULER_FILE": str(tmp_path / "t.json")})
    assert _receipts(result) == []
    assert result.stderr.count("error scheduling payments for ") == 2
    assert _dropped(tmp_path) == {
        "code": 9,
        "message": "Error running step 0: Empty list of senders",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"zkapps": 0, "gap": 0}, "either zkappsToDeploy or gap parameters should be specified"),
        ({"nodes": []}, "no nodes specified"),
    ],
)
def test_zkapp_txs_refuse_before_any_request(
    tmp_path: Path, params: dict[str, object], message: str
) -> None:
    """zkapp.go:120-125, checked before selectNodes."""
    base = {"tps": 1, "minTps": 1, "feePayers": ["EK"], "nodes": ["a:1"], "zkapps": 1}
    step = json.dumps({"action": "zkapp-txs", "params": {**base, **params}})
    result = _orchestrate(tmp_path, step)
    assert result.returncode == 0
    assert "scheduled zkapp batch" not in result.stderr
    assert _dropped(tmp_path) == {"code": 9, "message": f"Error running step 0: {message}"}


@pytest.mark.parametrize("min_tps", [0, -1])
def test_payments_with_min_tps_zero_or_negative_panic(tmp_path: Path, min_tps: int) -> None:
    """tps/minTps is +Inf or negative; int() of it is negative on amd64: a slice panic."""
    result = _orchestrate(tmp_path, _payments(tps=1, minTps=min_tps))
    assert result.returncode == 2
    assert "panic: runtime error: slice bounds out of range [:-" in result.stderr


# --- What `check` decides, run through the fake: refused scripts fail, accepted ones finish ------


# Refusals of `check` that upstream does not share: the script runs there. A key given twice
# merges both `params` objects (RawParams is a map, data.go:27-32) and the action's struct ignores
# an unknown key (no DisallowUnknownFields anywhere in orchestrator/src).
STRICTER_THAN_UPSTREAM = frozenset({"key `params` given twice"})


def _world(tmp_path: Path) -> dict[str, str]:
    """Enough for the steps before a script's failing one: a key to load, nodes to discover."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "k").write_text(EMPTY_PASSWORD_BOX)
    return {"FAKE_PARTICIPANTS": "a:1,b:1", "FAKE_SCHEDULER_FILE": str(tmp_path / "t.json")}


@pytest.mark.parametrize(
    ("text", "cited"), list(REFUSED_BY_UPSTREAM.values()), ids=list(REFUSED_BY_UPSTREAM)
)
def test_every_script_check_refuses_fails_in_the_fake(
    tmp_path: Path, text: str, cited: str
) -> None:
    """The same scripts `check` refuses (tests/minaperf/orchestrator/test_script.py) end the run
    in the fake with a panic or a dropped error, not from a key or node missing earlier on."""
    assert lint_script(text).errors
    result = _orchestrate(tmp_path, text, _world(tmp_path))
    sentinel = f"Performing step wait ({text.count(chr(10))})"
    if cited in STRICTER_THAN_UPSTREAM:
        assert sentinel in result.stderr, result.stderr
        return
    assert sentinel not in result.stderr
    dropped = _dropped(tmp_path)
    assert result.returncode == 2 or dropped is not None, result.stderr
    if dropped is not None and not cited.startswith("discovery.go"):
        assert "participants" not in dropped["message"]
        assert "private key" not in dropped["message"]


@pytest.mark.parametrize(
    "text", list(ACCEPTED_AS_UPSTREAM.values()), ids=list(ACCEPTED_AS_UPSTREAM)
)
def test_edge_scripts_check_accepts_run_to_their_end_in_the_fake(tmp_path: Path, text: str) -> None:
    result = _orchestrate(tmp_path, text, _world(tmp_path))
    assert result.returncode == 0, result.stderr
    assert _dropped(tmp_path) is None, _dropped(tmp_path)


def test_the_script_check_accepts_runs_to_its_end_in_the_fake(tmp_path: Path) -> None:
    text = script_text(*GOOD)
    assert lint_script(text).errors == []
    result = _orchestrate(tmp_path, text, _world(tmp_path))
    assert result.returncode == 0
    assert _dropped(tmp_path) is None, _dropped(tmp_path)
    assert f"Performing step wait ({len(lint_script(text).steps)})" in result.stderr
