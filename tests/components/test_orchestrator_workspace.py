"""The orchestrator workspace as the real program renders it, and its embedded shell steps run."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import orchestrator as ws
from minaperf.model.outputs import Workspace
from tests.conftest import KUBERNETES_VERSION, Rendered
from tests.minaperf.shell.shell_sandbox import shellcheck
from tests.policy.test_runner import run_policies

SECRET = "kubernetes:core/v1:Secret"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
WORKSPACE_TYPE = "mina-itn:orchestrator:OrchestratorWorkspace"
DAEMON = "minaperf/mina-daemon"

DEV_HUB = "us-central1-docker.pkg.dev/your-gcp-project/itn-dev-docker-hub/"
"""The dev stack pulls Docker Hub images through its Artifact Registry remote (dockerHubMirror)."""


def stateful_set(rendered: Rendered) -> dict[str, Any]:
    return rendered.named(STATEFULSET, "orchestrator")


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    return stateful_set(rendered)["inputs"]["spec"]["template"]["spec"]


def containers(rendered: Rendered) -> dict[str, dict[str, Any]]:
    spec = pod_spec(rendered)
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def volumes(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(rendered)["volumes"]}


def workspace_children(rendered: Rendered) -> list[dict[str, Any]]:
    parents = {r["urn"] for r in rendered.of_type(WORKSPACE_TYPE)}
    return [r for r in rendered.resources if r["parent"] in parents]


# ----------------------------------------------------------------------------------- render


def test_workspace_output_matches_the_pod(dev: Rendered) -> None:
    workspace = Workspace.model_validate(dev.outputs["workspace"])
    assert workspace.namespace == "itn-dev"
    assert workspace.pod == "orchestrator-0"
    assert workspace.container == "orchestrator"
    assert workspace.work_dir == "/work"
    assert workspace.config_path == "/etc/orchestrator/config.json"
    assert workspace.funding_key_dir == "/work/keys/funding"
    assert workspace.mina_exec == "mina"
    assert workspace.orchestrator_exec == "/opt/orchestrator/bin/orchestrator"
    resource = stateful_set(dev)
    assert resource["inputs"]["metadata"]["namespace"] == workspace.namespace
    assert resource["inputs"]["spec"]["replicas"] == 1
    assert workspace.container in containers(dev)


def test_main_container_is_the_daemon_image_and_stays_up(dev: Rendered) -> None:
    main = containers(dev)["orchestrator"]
    assert main["image"] == f"{DEV_HUB}minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet"
    assert main["command"][:2] == ["bash", "-c"]
    assert "sleep infinity" in main["command"][2]
    env = {e["name"]: e for e in main["env"]}
    assert env["ITN_FEATURES"]["value"] == "1"
    assert env["PATH"]["value"].split(":")[0] == "/opt/orchestrator/bin"
    assert main["resources"]["requests"] == {"cpu": "4", "memory": "8Gi"}
    assert main["resources"]["limits"]["memory"] == "8Gi"
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    assert mounts["/work"]["name"] == "work"
    assert mounts["/opt/orchestrator/bin"]["readOnly"] is True
    assert mounts["/etc/orchestrator"]["readOnly"] is True
    assert main["readinessProbe"]["exec"]["command"] == ["test", "-f", ws.SMOKE_OK]


def test_binaries_come_from_the_orchestrator_image(dev: Rendered) -> None:
    init = containers(dev)["install-binaries"]
    assert init["image"] == f"{DEV_HUB}o1labs/mina-perf-testing:orchestrator"
    script = init["command"][2]
    assert "cp /orchestrator /generator /opt/orchestrator/bin/" in script
    assert {m["name"] for m in init["volumeMounts"]} == {"bin"}
    assert "emptyDir" in volumes(dev)["bin"]


def test_config_secret_is_mounted_read_only_0400(dev: Rendered) -> None:
    config = volumes(dev)["config"]["secret"]
    assert config["secretName"] == "orchestrator-config"
    assert config["items"] == [{"key": "config.json", "path": "config.json", "mode": 0o400}]
    secret = dev.named(SECRET, "orchestrator-config")
    text = secret["inputs"]["stringData"]["config.json"]
    assert json.loads(text)["key"] == dev.outputs["orchestratorKey"]
    assert json.loads(text)["logFile"].startswith("/work/")


def test_funding_keys_secret_holds_every_account(dev: Rendered) -> None:
    secret = dev.named(SECRET, "orchestrator-funding-keys")["inputs"]["stringData"]
    funding = dev.outputs["fundingKeys"]
    assert len(funding) == 2
    for index, account in enumerate(funding):
        assert secret[f"funding-{index}"] == account["keyFile"]
        assert secret[f"password-{index}"] == account["password"]
    assert secret["password"] == funding[0]["password"]
    assert set(secret) == {"funding-0", "funding-1", "password-0", "password-1", "password"}


def test_funding_keys_reach_the_pod_only_through_the_secret(dev: Rendered) -> None:
    init = containers(dev)["install-funding-keys"]
    mounts = {m["name"]: m for m in init["volumeMounts"]}
    assert mounts["funding-keys"]["mountPath"] == ws.FUNDING_SECRET_DIR
    assert mounts["funding-keys"]["readOnly"] is True
    assert volumes(dev)["funding-keys"]["secret"]["secretName"] == "orchestrator-funding-keys"
    env = {e["name"]: e for e in containers(dev)["orchestrator"]["env"]}
    for name, key in [
        ("FUNDING_KEY_PASSWORD_0", "password-0"),
        ("FUNDING_KEY_PASSWORD_1", "password-1"),
        ("FUNDING_KEY_PASSWORD", "password"),
    ]:
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "orchestrator-funding-keys",
            "key": key,
        }


def _secret_values(rendered: Rendered) -> list[str]:
    values = [rendered.outputs["orchestratorKey"]]
    for account in rendered.outputs["fundingKeys"]:
        values += [account["privateKey"], account["password"], account["keyFile"]]
        key_file = json.loads(account["keyFile"])
        values += [key_file["ciphertext"]]
    return values


def test_no_secret_appears_outside_secrets(dev: Rendered) -> None:
    secrets = _secret_values(dev)
    for resource in dev.resources:
        if resource["type"] == SECRET or resource["type"].startswith("pulumi:providers:"):
            continue
        text = json.dumps(resource["inputs"])
        for value in secrets:
            assert value not in text, f"a secret leaks into {resource['type']} {resource['name']}"
    for path in dev.manifests():
        if yaml.safe_load(path.read_text())["kind"] == "Secret":
            continue
        text = path.read_text()
        assert not any(value in text for value in secrets), path


def test_secrets_are_secret_on_the_wire(dev: Rendered) -> None:
    """Without --show-secrets the render masks the Secrets' data (they were Output.secret)."""
    from scripts.render import _plain

    for name in ("orchestrator-config", "orchestrator-funding-keys"):
        resource = next(
            r
            for r in dev.run.resources
            if r.type == SECRET and (r.inputs.get("metadata") or {}).get("name") == name
        )
        masked = _plain(resource.inputs, False)["stringData"]
        assert masked == "[secret]" or set(masked.values()) == {"[secret]"}


def test_work_directory_is_a_persistent_claim(dev: Rendered) -> None:
    (claim,) = stateful_set(dev)["inputs"]["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "work"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_pod_has_component_labels_and_runs_on_the_services_pool(dev: Rendered) -> None:
    template = stateful_set(dev)["inputs"]["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "orchestrator"
    assert template["spec"]["nodeSelector"] == {"mina-itn/pool": "services"}


def test_existing_cluster_uses_its_storage_class(renderer: Any) -> None:
    from tests.conftest import ROOT

    rendered = renderer(
        config_file=ROOT / "stacks" / "kind.yaml", overrides=["platform.storageClass=standard"]
    )
    (claim,) = stateful_set(rendered)["inputs"]["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "standard"
    assert "nodeSelector" not in pod_spec(rendered)


def test_every_container_is_bounded_and_unprivileged(dev: Rendered) -> None:
    for container in containers(dev).values():
        for section in ("requests", "limits"):
            assert set(container["resources"][section]) == {"cpu", "memory"}
        context = container["securityContext"]
        assert context.get("privileged") is False
        assert context.get("allowPrivilegeEscalation") is False


def test_workspace_passes_the_policies(dev: Rendered) -> None:
    mine = {r["urn"] for r in workspace_children(dev)}
    assert mine
    violations = [v for v in run_policies(dev.resources, {"experiment": "dev"}) if v.urn in mine]
    assert violations == []


def test_children_are_parented_and_prefixed(dev: Rendered) -> None:
    children = workspace_children(dev)
    assert all(r["name"].startswith("dev-orchestrator-") for r in children)
    assert all(r["provider"] and "pulumi:providers:kubernetes" in r["provider"] for r in children)


@pytest.mark.parametrize("stack", ["dev", "kind"])
def test_workspace_manifests_pass_strict_schema_validation(
    stack: str, dev: Rendered, kubernetes_stack: Rendered
) -> None:
    rendered = dev if stack == "dev" else kubernetes_stack
    paths = [
        p
        for p in rendered.manifests()
        if "orchestrator" in p.name and not p.name.startswith("poddisruptionbudget-")
    ]
    assert len(paths) == 4  # StatefulSet, headless Service, two Secrets
    for path in paths:
        kubernetes_validate.validate(
            yaml.safe_load(path.read_text()), KUBERNETES_VERSION, strict=True
        )


# ------------------------------------------------------------------------ embedded scripts


@pytest.mark.parametrize(
    ("script", "shell"),
    [(ws.INSTALL_BINARIES, "sh"), (ws.INSTALL_FUNDING_KEYS, "sh"), (ws.MAIN, "bash")],
)
def test_embedded_scripts_pass_shellcheck(script: str, shell: str, tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_text(script)
    result = shellcheck(path, shell=shell)
    assert result.returncode == 0, result.stdout + result.stderr


def _run_install_keys(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = ws.INSTALL_FUNDING_KEYS.replace(ws.FUNDING_SECRET_DIR, str(tmp_path / "secret"))
    script = script.replace(ws.WORK_DIR, str(tmp_path / "work"))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)


def test_install_funding_keys_sets_modes_and_drops_stale_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    for name, text in [("funding-0", "k0"), ("funding-1", "k1"), ("password-0", "pw")]:
        (secret / name).write_text(text)
        (secret / name).chmod(0o400)
    keys = tmp_path / "work" / "keys" / "funding"
    keys.mkdir(parents=True)
    (keys / "funding-7").write_text("stale")
    (keys / "notes").write_text("kept")
    result = _run_install_keys(tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in keys.iterdir()) == ["funding-0", "funding-1", "notes"]
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    for name, text in [("funding-0", "k0"), ("funding-1", "k1")]:
        assert (keys / name).read_text() == text
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
    (secret / "funding-1").chmod(0o600)
    (secret / "funding-1").unlink()
    assert _run_install_keys(tmp_path).returncode == 0
    assert sorted(p.name for p in keys.iterdir()) == ["funding-0", "notes"]


def _run_main(
    tmp_path: Path, fake_orchestrator: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    binary = bin_dir / "orchestrator"
    binary.write_text(fake_orchestrator)
    binary.chmod(0o755)
    marker = tmp_path / "smoke-ok"
    script = ws.MAIN.replace(ws.BIN_DIR, str(bin_dir)).replace(ws.SMOKE_OK, str(marker))
    script = script.replace("sleep infinity &", "sleep 0 &")
    env = {**os.environ, "ORCHESTRATOR_IMAGE": "o1labs/mina-perf-testing:orchestrator"}
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=False, env=env, timeout=30
    )
    return result, marker


def test_smoke_check_passes_for_a_working_binary(tmp_path: Path) -> None:
    result, marker = _run_main(tmp_path, "#!/bin/sh\necho 'No config provided' >&2\nexit 1\n")
    assert result.returncode == 0
    assert marker.exists()
    assert "runs in this image" in result.stdout


def test_smoke_check_reports_a_binary_that_cannot_load(tmp_path: Path) -> None:
    result, marker = _run_main(
        tmp_path,
        '#!/bin/sh\necho "orchestrator: /lib/x86_64-linux-gnu/libc.so.6: version '
        "'GLIBC_2.36' not found\" >&2\nexit 1\n",
    )
    assert result.returncode == 0  # the pod stays up for an admin; readiness stays false
    assert not marker.exists()
    assert "ERROR" in result.stderr
    assert "GLIBC_2.36" in result.stderr
    assert "CGO_ENABLED=0" in result.stderr
