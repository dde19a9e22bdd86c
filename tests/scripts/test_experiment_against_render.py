"""The runner's orchestrator config, built from render's outputs.json, agrees with the stack."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import nacl.signing
import pytest

from tests.conftest import ROOT, Rendered


@pytest.fixture(scope="module")
def orchestrator_config(dev: Rendered) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.experiment", "--outputs",
         str(dev.directory / "outputs.json"), "config", "--show-secrets"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def _statefulset_env(rendered: Rendered) -> dict[str, dict[str, str]]:
    found = {}
    for resource in rendered.of_type("kubernetes:apps/v1:StatefulSet"):
        for container in resource["inputs"]["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if "NODE_ROLE" in env:
                found[resource["inputs"]["metadata"]["name"]] = env
    return found


def _runtime_config(rendered: Rendered) -> dict[str, Any]:
    for resource in rendered.of_type("kubernetes:core/v1:ConfigMap"):
        data = resource["inputs"].get("data") or {}
        if "daemon.json" in data:
            return json.loads(data["daemon.json"])
    raise AssertionError("no runtime config ConfigMap")


def test_key_public_half_is_in_every_nodes_itn_keys(
    dev: Rendered, orchestrator_config: dict[str, Any]
) -> None:
    seed = base64.b64decode(orchestrator_config["key"])
    public = base64.b64encode(bytes(nacl.signing.SigningKey(seed).verify_key)).decode()
    nodes = _statefulset_env(dev)
    assert len(nodes) == 10
    for name, env in nodes.items():
        assert public in env["ITN_KEYS"].split(","), name


def test_genesis_and_slot_equal_the_runtime_config(
    dev: Rendered, orchestrator_config: dict[str, Any]
) -> None:
    runtime = _runtime_config(dev)
    assert orchestrator_config["genesisTimestamp"] == runtime["genesis"]["genesis_state_timestamp"]
    assert orchestrator_config["slotDurationMs"] == runtime["proof"]["block_window_duration_ms"]


def test_online_url_is_the_uptime_backends(
    dev: Rendered, orchestrator_config: dict[str, Any]
) -> None:
    service = dev.named("kubernetes:core/v1:Service", "uptime-backend")
    port = service["inputs"]["spec"]["ports"][0]["port"]
    namespace = service["inputs"]["metadata"]["namespace"]
    expected = f"http://uptime-backend.{namespace}.svc.cluster.local:{port}/v1/online"
    assert orchestrator_config["onlineURL"] == expected


def test_fund_daemon_ports_are_daemon_client_addresses(
    dev: Rendered, orchestrator_config: dict[str, Any]
) -> None:
    clients = {f"{n['service']}:{n['clientPort']}" for n in dev.outputs["nodes"]}
    assert orchestrator_config["fundDaemonPorts"]
    assert set(orchestrator_config["fundDaemonPorts"]) <= clients
    for node in dev.outputs["nodes"]:
        env = _statefulset_env(dev)[node["name"]]
        assert env["CLIENT_PORT"] == str(node["clientPort"])


def test_workspace_config_matches_the_runner_config(
    dev: Rendered, orchestrator_config: dict[str, Any]
) -> None:
    secrets = [
        r for r in dev.of_type("kubernetes:core/v1:Secret")
        if "config.json" in (r["inputs"].get("stringData") or {})
    ]  # fmt: skip
    (secret,) = secrets
    in_cluster = json.loads(secret["inputs"]["stringData"]["config.json"])
    for key in ("key", "onlineURL", "fundDaemonPorts", "slotDurationMs", "genesisTimestamp"):
        assert in_cluster[key] == orchestrator_config[key], key


def _workspace_container(rendered: Rendered) -> dict[str, Any]:
    outputs = json.loads((rendered.directory / "outputs.json").read_text())
    workspace = outputs["workspace"]
    for resource in rendered.of_type("kubernetes:apps/v1:StatefulSet"):
        spec = resource["inputs"]["spec"]["template"]["spec"]
        for container in spec["containers"]:
            if (
                container["name"] == workspace["container"]
                and resource["inputs"]["metadata"]["name"] == workspace["pod"].rsplit("-", 1)[0]
            ):
                return container
    raise AssertionError("no workspace container in the render")


@pytest.mark.parametrize("script", sorted((ROOT / "stacks" / "scripts").glob("*.jsonl")), ids=str)
def test_shipped_scripts_run_in_the_rendered_workspace(dev: Rendered, script) -> None:
    """Key paths, env names and directories of every example, against what we deploy."""
    from minaperf.orchestrator.script import lint_script

    outputs = json.loads((dev.directory / "outputs.json").read_text())
    fund_dir = outputs["workspace"]["fundingKeyDir"]
    funding_files = {f"{fund_dir}/funding-{i}" for i in range(2)}  # fundingAccounts default 2
    env_names = {e["name"] for e in _workspace_container(dev).get("env", [])}
    parsed = lint_script(script.read_text())
    assert parsed.errors == []
    created: set[str] = set()
    for step in parsed.steps:
        password_env = step.params.get("passwordEnv")
        if password_env is not None:
            assert password_env in env_names, (step.index, password_env, sorted(env_names))
        if step.action == "fund-keys":
            assert set(step.params["privkeys"]) <= funding_files, step.params["privkeys"]
            prefix = step.params["prefix"]
            assert not prefix.startswith("/"), "a relative prefix lands in the run's new directory"
            created.add(prefix.rpartition("/")[0])
            _assert_funded_enough(parsed.steps, step)
        if step.action == "load-keys":
            assert step.params["dir"] in created, "load-keys reads a directory no step created"


def _assert_funded_enough(steps: list, fund: Any) -> None:
    """payments.go:32-40 PaymentKeygenRequirements with the generator's default gap (180)."""
    import math

    gap = 180
    for step in steps:
        if step.action != "payments":
            continue
        p = step.params
        keys = math.ceil(p["tps"] / p["minTps"]) + 2 * math.ceil(p["tps"] * gap)
        balance = 3 * (p["maxFee"] + p["amount"]) * math.ceil(p["durationMin"] * 60 * p["tps"])
        assert fund.params["num"] >= keys
        assert fund.params["amount"] >= balance
