"""The snark worker pool as the real program renders it: GCE VMs on `gke`, pods on `kubernetes`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.worker_pool import pod_resources, vm_plan, worker_threads
from minaperf.model.config import ConfigError, WorkerPoolConfig
from minaperf.model.load import parse_config
from minaperf.model.outputs import WorkerPool
from minaperf.shell.node_script import snark_worker_supervisor_script
from minaperf.shell.signing_key import MINA_APT_REPO_URL, SIGNING_KEY_URL
from policy.markers import NODES_ACCOUNT, WORKERS_ACCOUNT, service_account_id
from scripts.pin import build_parser as pin_parser
from tests.conftest import KUBERNETES_VERSION, ROOT, Rendered, render
from tests.minaperf.shell.shell_sandbox import shellcheck
from tests.policy.test_runner import run_policies

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GROUP = "gcp:compute/instanceGroupManager:InstanceGroupManager"
ACCOUNT = "gcp:serviceaccount/account:Account"
IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
POOL_TYPE = "mina-itn:workers:SnarkWorkerPool"
KIND = ROOT / "stacks" / "kind.yaml"
METAL = ["workerPool.machineType=c3-highcpu-192-metal", "workerPool.spot=false"]


def templates(rendered: Rendered) -> list[dict[str, Any]]:
    return rendered.of_type(TEMPLATE)


def group(rendered: Rendered) -> dict[str, Any]:
    (manager,) = rendered.of_type(GROUP)
    return manager


def pool_children(rendered: Rendered) -> list[dict[str, Any]]:
    pools = [r["urn"] for r in rendered.of_type(POOL_TYPE)]
    return [r for r in rendered.resources if r["parent"] in pools]


def settings(script: str) -> dict[str, str]:
    return dict(re.findall(r"^readonly ([A-Z_]+)='([^']*)'$", script, re.MULTILINE))


def coordinator_lb_ip(rendered: Rendered) -> str:
    """The reserved internal address the coordinator's worker Service is pinned to."""
    for service in rendered.of_type(SERVICE):
        spec = service["inputs"]["spec"]
        if spec.get("type") == "LoadBalancer" and spec.get("loadBalancerIP"):
            labels = service["inputs"]["metadata"].get("labels", {})
            if labels.get("mina-itn/role") == "snark-coordinator":
                return spec["loadBalancerIP"]
    raise AssertionError("no coordinator LoadBalancer Service with a reserved address")


# ----------------------------------------------------------------------------------- GCE VMs


def test_dev_has_a_self_healing_group_of_two_worker_vms(dev: Rendered) -> None:
    manager = group(dev)["inputs"]
    assert len(templates(dev)) == 1
    assert manager["name"] == "dev-snark-workers"
    assert manager["baseInstanceName"] == "dev-snark-worker"
    assert manager["zone"] == "us-central1-a"
    assert manager["targetSize"] == 2
    (version,) = manager["versions"]
    # the group follows the template's unique link: a new template rolls the VMs
    assert version["instanceTemplate"].startswith(
        "https://compute.mock/instanceTemplates/dev-snark-worker-"
    )
    assert "?uniqueId=" in version["instanceTemplate"]
    # a failed VM (a reclaimed Spot VM) is recreated from the current template
    assert manager["instanceLifecyclePolicy"] == {
        "defaultActionOnFailure": "REPAIR",
        "forceUpdateOnRepair": "YES",
    }
    assert manager["updatePolicy"] == {
        "type": "PROACTIVE",
        "minimalAction": "REPLACE",
        "replacementMethod": "RECREATE",
        "maxSurgeFixed": 0,
        "maxUnavailableFixed": 1,
    }
    assert manager["waitForInstances"] is False
    # no autohealing health check: recreating cannot fix a failing worker (docs/design.md)
    assert "autoHealingPolicies" not in manager
    assert dev.of_type(INSTANCE) == []


def test_worker_template_shape(dev: Rendered) -> None:
    (template,) = templates(dev)
    inputs = template["inputs"]
    assert inputs["namePrefix"] == "dev-snark-worker-"
    assert inputs["machineType"] == "c2d-highcpu-32"
    assert inputs["disks"] == [
        {
            "boot": True,
            "autoDelete": True,
            "sourceImage": "debian-cloud/debian-12",
            "diskSizeGb": 50,
            "diskType": "pd-balanced",
        }
    ]
    assert inputs["tags"] == ["itn-dev-snark-worker"]
    assert inputs["shieldedInstanceConfig"]["enableSecureBoot"] is True
    metadata = inputs["metadata"]
    assert metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["enable-guest-attributes"] == "TRUE"


def test_worker_vms_have_no_public_address(dev: Rendered) -> None:
    for template in templates(dev):
        (nic,) = template["inputs"]["networkInterfaces"]
        assert "accessConfigs" not in nic
        assert "ipv6AccessConfigs" not in nic
        assert nic["subnetwork"] == "itn-dev-subnet"


def test_worker_vms_are_labelled(dev: Rendered) -> None:
    for template in templates(dev):
        labels = template["inputs"]["labels"]
        assert labels["experiment"] == "dev"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}", labels["expiry"])
        assert labels["owner"] == "platform-team"


def test_worker_vms_are_spot_and_deleted_when_reclaimed(dev: Rendered) -> None:
    for template in templates(dev):
        assert template["inputs"]["scheduling"] == {
            "provisioningModel": "SPOT",
            "preemptible": True,
            "automaticRestart": False,
            "instanceTerminationAction": "DELETE",
            "onHostMaintenance": "TERMINATE",
        }


def test_startup_script_is_metadata_not_the_recreating_argument(dev: Rendered) -> None:
    for template in templates(dev):
        inputs = template["inputs"]
        assert "metadataStartupScript" not in inputs
        assert inputs["metadata"]["startup-script"].startswith("#!/bin/bash")


def test_startup_script_names_the_coordinators_reserved_address(dev: Rendered) -> None:
    address = coordinator_lb_ip(dev)
    for template in templates(dev):
        values = settings(template["inputs"]["metadata"]["startup-script"])
        assert values["COORDINATOR_HOST"] == address
        assert values["COORDINATOR_PORT"] == "8301"
        assert values["WORKER_PROCESSES"] == "4"
        assert values["PROOF_LEVEL"] == "full"
        # derived from the daemon image tag 4.0.0-6965b50-jammy-devnet
        assert values["MINA_PACKAGE"] == "mina-devnet"
        assert values["MINA_VERSION"] == "4.0.0-6965b50"
        assert values["APT_CHANNEL"] == "alpha"
        assert values["APT_CODENAME"] == "bookworm"
        assert values["SIGNING_KEY_FINGERPRINT"] == ""
        # The key URL is the one `python -m scripts.pin` fetches (one place: signing_key.py).
        assert values["SIGNING_KEY_URL"] == SIGNING_KEY_URL == pin_parser().get_default("key_url")
        assert values["APT_REPO_URL"] == MINA_APT_REPO_URL
        assert values["KEYRING_PATH"] == "/etc/apt/keyrings/mina-archive-keyring.gpg"
    assert dev.outputs["workerPool"]["coordinatorAddress"] == f"{address}:8301"


def test_rendered_startup_script_passes_shellcheck(dev: Rendered) -> None:
    for template in templates(dev):
        folder = f"instance-template-{template['name']}"
        path = dev.directory / "files" / folder / "startup-script.sh"
        assert path.read_text() == template["inputs"]["metadata"]["startup-script"]
        result = shellcheck(path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_daemon_image_of_another_build_moves_the_workers_with_it() -> None:
    rendered = render(
        "dev", overrides=["images.daemon=minaprotocol/mina-daemon:3.1.0-abc1234-focal-devnet"]
    )
    (template,) = templates(rendered)
    values = settings(template["inputs"]["metadata"]["startup-script"])
    assert (values["MINA_PACKAGE"], values["MINA_VERSION"]) == ("mina-devnet", "3.1.0-abc1234")


def test_a_hand_set_package_of_another_build_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            "dev",
            {
                "platform": {"kind": "gke", "project": "my-project-123"},
                "access": {"adminCidrs": ["198.51.100.0/24"]},
                "workerPool": {"minaPackage": {"version": "4.0.1-0000000"}},
            },
        )
    assert error.value.key == "workerPool.minaPackage.version"
    assert "'4.0.1-0000000'" in error.value.reason
    assert "minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet" in error.value.reason
    assert "'4.0.0-6965b50'" in error.value.reason


def test_a_pinned_signing_key_reaches_the_vm() -> None:
    fingerprint = "0123 4567 89AB CDEF 0123  4567 89ab cdef 0123 4567"
    rendered = render(
        "dev", overrides=[f"workerPool.minaPackage.signingKeyFingerprint={fingerprint}"]
    )
    (template,) = templates(rendered)
    values = settings(template["inputs"]["metadata"]["startup-script"])
    assert values["SIGNING_KEY_FINGERPRINT"] == "0123456789ABCDEF0123456789ABCDEF01234567"


def test_worker_service_account_is_minimal(dev: Rendered) -> None:
    (account,) = [r for r in dev.of_type(ACCOUNT) if r["name"] == "dev-workers-sa"]
    email = f"{account['inputs']['accountId']}@your-gcp-project.iam.gserviceaccount.com"
    grants = [r for r in dev.of_type(IAM_MEMBER) if r["parent"] == account["parent"]]
    assert sorted(g["inputs"]["role"] for g in grants) == [
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
    ]
    assert all(g["inputs"]["member"] == f"serviceAccount:{email}" for g in grants)
    for template in templates(dev):
        assert template["inputs"]["serviceAccount"]["email"] == email


def test_children_are_parented_and_prefixed(dev: Rendered) -> None:
    children = pool_children(dev)
    assert {r["type"] for r in children} == {ACCOUNT, IAM_MEMBER, TEMPLATE, GROUP}
    assert all(r["name"].startswith("dev-workers-") for r in children)
    (pool,) = dev.of_type(POOL_TYPE)
    providers = {r["provider"] for r in children}
    assert all(p and "pulumi:providers:gcp" in p for p in providers)
    assert pool["parent"] is not None


def test_summary_matches_the_outputs_model(dev: Rendered) -> None:
    summary = WorkerPool.model_validate(dev.outputs["workerPool"])
    assert summary.kind == "gce"
    assert summary.servers == 2
    assert summary.machine_type == "c2d-highcpu-32"
    assert summary.processes_per_server == 4
    assert (summary.group, summary.project, summary.zone) == (
        "dev-snark-workers",
        "your-gcp-project",
        "us-central1-a",
    )


def test_worker_resources_pass_the_policies(dev: Rendered) -> None:
    mine = {r["urn"] for r in pool_children(dev)}
    violations = [v for v in run_policies(dev.resources, {"experiment": "dev"}) if v.urn in mine]
    assert violations == []


def test_on_demand_vms_migrate_on_maintenance() -> None:
    rendered = render("dev", overrides=["workerPool.spot=false"])
    for template in templates(rendered):
        assert template["inputs"]["scheduling"] == {
            "provisioningModel": "STANDARD",
            "preemptible": False,
            "automaticRestart": True,
            "onHostMaintenance": "MIGRATE",
        }


def test_bare_metal_workers() -> None:
    rendered = render("dev", overrides=METAL)
    for template in templates(rendered):
        inputs = template["inputs"]
        assert inputs["machineType"] == "c3-highcpu-192-metal"
        assert inputs["scheduling"]["onHostMaintenance"] == "TERMINATE"
        assert inputs["scheduling"]["provisioningModel"] == "STANDARD"
        assert inputs["disks"][0]["diskType"] == "hyperdisk-balanced"
        assert inputs["networkInterfaces"][0]["nicType"] == "IDPF"
        assert "shieldedInstanceConfig" not in inputs


def test_bare_metal_cannot_be_spot() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(
            "dev",
            {
                "platform": {"kind": "gke", "project": "my-project-123"},
                "access": {"adminCidrs": ["198.51.100.0/24"]},
                "workerPool": {"machineType": "c3-highcpu-192-metal", "processesPerServer": 8},
            },
        )
    assert error.value.key == "workerPool.spot"


@pytest.mark.parametrize(
    ("machine_type", "disk", "nic"),
    [
        ("c2d-highcpu-32", "pd-balanced", None),
        ("n2-standard-16", "pd-balanced", None),
        ("c3-highcpu-44", "pd-balanced", "GVNIC"),
        ("n4-highcpu-32", "hyperdisk-balanced", "GVNIC"),
    ],
)
def test_vm_plan_per_family(machine_type: str, disk: str, nic: str | None) -> None:
    plan = vm_plan(WorkerPoolConfig.model_validate({"machineType": machine_type}))
    assert (plan.disk_type, plan.nic_type, plan.shielded) == (disk, nic, True)


@pytest.mark.parametrize("stack", ["dev", "large-200"])
def test_the_worker_account_id_is_the_shared_scheme(stack: str, dev: Rendered) -> None:
    """One id scheme for every account the program makes (minaperf/cloud/gcp_project.py), so the
    worker and node accounts of one stack, and those of two long stack names, never meet."""
    rendered = dev if stack == "dev" else render(config_file=ROOT / "stacks" / "large-200.yaml")
    experiment = rendered.outputs["namespace"].removeprefix("itn-")
    ids = {r["name"]: r["inputs"]["accountId"] for r in rendered.of_type(ACCOUNT)}
    assert ids == {
        f"{stack}-workers-sa": service_account_id(experiment, WORKERS_ACCOUNT),
        f"itn-{stack}-nodes": service_account_id(experiment, NODES_ACCOUNT),
    }
    assert ids[f"{stack}-workers-sa"].startswith(f"itn-{experiment}-workers-"[:21])


# -------------------------------------------------------------------------------------- pods


def test_kubernetes_platform_runs_worker_pods(kubernetes_stack: Rendered) -> None:
    assert kubernetes_stack.of_type(TEMPLATE) == []
    assert kubernetes_stack.of_type(GROUP) == []
    assert kubernetes_stack.of_type(ACCOUNT) == []
    deployment = kubernetes_stack.named(DEPLOYMENT, "snark-workers")
    spec = deployment["inputs"]["spec"]
    assert spec["replicas"] == 1
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet"
    assert container["command"] == ["bash", "/opt/minaperf/snark-worker-supervisor.sh"]
    env = {e["name"]: e["value"] for e in container["env"]}
    summary = kubernetes_stack.outputs["workerPool"]
    assert env["COORDINATOR_ADDRESS"] == summary["coordinatorAddress"]
    assert env["COORDINATOR_ADDRESS"].endswith(".svc.cluster.local:8301")
    assert env["WORKER_PROCESSES"] == "2"
    assert env["WORKER_THREADS"] == "2"
    assert env["PROOF_LEVEL"] == "none"
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"cpu": "4", "memory": "8Gi"},
    }
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    (volume,) = [v for v in pod["volumes"] if v["name"] == "supervisor"]
    assert volume["configMap"]["defaultMode"] == 0o555
    config_map = kubernetes_stack.named(CONFIG_MAP, volume["configMap"]["name"])
    assert config_map["inputs"]["data"] == {
        "snark-worker-supervisor.sh": snark_worker_supervisor_script()
    }
    assert WorkerPool.model_validate(summary).kind == "pods"
    assert summary["servers"] == 1
    assert summary["machineType"] is None


def test_no_worker_pods_when_none_are_asked_for() -> None:
    rendered = render(config_file=KIND, overrides=["platform.workerPods=0"])
    assert [r for r in rendered.of_type(DEPLOYMENT) if "snark" in r["name"]] == []
    assert rendered.outputs["workerPool"]["servers"] == 0


def test_pod_sizing_helpers() -> None:
    pool = WorkerPoolConfig.model_validate(
        {
            "processesPerServer": 3,
            "podResources": {
                "cpuRequest": "500m",
                "memoryRequest": "1536Mi",
                "cpuLimit": "1.5",
                "memoryLimit": "2Gi",
            },
        }
    )
    assert pod_resources(pool) == {
        "requests": {"cpu": "1500m", "memory": "4608Mi"},
        "limits": {"cpu": "4500m", "memory": "6Gi"},
    }
    assert worker_threads(pool) == 1


def _worker_manifests(rendered: Rendered) -> list[Path]:
    return [
        path
        for path in rendered.manifests()
        if "snark-worker" in path.name or path.name == "deployment-snark-workers.yaml"
    ]


def test_worker_manifests_pass_strict_schema_validation(kubernetes_stack: Rendered) -> None:
    paths = _worker_manifests(kubernetes_stack)
    assert len(paths) == 2
    for path in paths:
        kubernetes_validate.validate(
            yaml.safe_load(path.read_text()), KUBERNETES_VERSION, strict=True
        )


def test_worker_pods_pass_the_policies(kubernetes_stack: Rendered) -> None:
    mine = {r["urn"] for r in pool_children(kubernetes_stack)}
    assert mine
    violations = [
        v for v in run_policies(kubernetes_stack.resources, {"experiment": "kind"}) if v.urn in mine
    ]
    assert violations == []
