"""Each policy rejects a realistic bad resource and accepts the sane version of it.

Records use the format `scripts.render` writes to resources.json (camelCase wire inputs, numbers
as floats, secrets as "[secret]"); `build_args` wraps them exactly as the engine does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from policy import markers as m
from policy import policies as p
from policy.runner import build_args

STACK = "dev"
PROJECT = "mina-itn"
GCP_LABELS = {
    m.GCP_LABEL_EXPERIMENT: STACK,
    m.GCP_LABEL_EXPIRY: "2031-05-01",
    m.GCP_LABEL_OWNER: "perf-team",
    m.GCP_LABEL_MANAGED_BY: "pulumi",
}
K8S_LABELS = {
    m.K8S_PART_OF_LABEL: m.K8S_PART_OF,
    m.K8S_EXPERIMENT_LABEL: STACK,
    m.K8S_EXPIRY_LABEL: "2031-05-01",
    m.K8S_OWNER_LABEL: "perf-team",
}
CONFIG = {"allowPublic": False, "experiment": STACK}
SECRET_SIG = {m.SECRET_SIG_KEY: m.SECRET_SIG_VALUE}


def record(type_: str, name: str, inputs: dict[str, Any], parent: str = "Experiment") -> dict:
    parent_urn = f"urn:pulumi:{STACK}::{PROJECT}::mina-itn:index:{parent}::{STACK}"
    provider = None
    if type_.startswith("kubernetes:"):
        provider = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:kubernetes::k8s::id-1"
    elif type_.startswith("gcp:"):
        provider = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:gcp::gcp::id-2"
    return {
        "urn": f"urn:pulumi:{STACK}::{PROJECT}::mina-itn:index:{parent}${type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "parent": parent_urn,
        "provider": provider,
        "dependencies": [],
        "options": {
            "protect": False,
            "retainOnDelete": False,
            "ignoreChanges": [],
            "replaceOnChanges": [],
            "deleteBeforeReplace": False,
            "customTimeouts": None,
            "deletedWith": None,
        },
        "inputs": inputs,
    }


def firewall(source_ranges: list[str], direction: str = "INGRESS") -> dict:
    return record(
        "gcp:compute/firewall:Firewall",
        "dev-allow-postgres",
        {
            "name": "dev-allow-postgres",
            "network": "projects/proj/global/networks/dev",
            "direction": direction,
            "allows": [{"protocol": "tcp", "ports": ["5432"]}],
            "sourceRanges": source_ranges,
            "targetTags": ["mina-itn-dev"],
            "project": "proj",
        },
    )


def service(
    component: str | None,
    *,
    type_: str = "LoadBalancer",
    ranges: list[str] | None = None,
    internal: bool = False,
    name: str = "postgres",
) -> dict:
    labels = dict(K8S_LABELS)
    if component:
        labels[p.K8S_LABEL_COMPONENT] = component
    annotations = {"networking.gke.io/load-balancer-type": "Internal"} if internal else {}
    spec: dict[str, Any] = {
        "type": type_,
        "selector": {"app.kubernetes.io/name": name},
        "ports": [{"name": "pg", "port": 5432.0, "targetPort": 5432.0, "protocol": "TCP"}],
    }
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    return record(
        "kubernetes:core/v1:Service",
        name,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": "mina-dev",
                "labels": labels,
                "annotations": annotations,
            },
            "spec": spec,
        },
        parent="Postgres",
    )


NODE_ACCOUNT = "itn-dev-nodes-66ab8378@proj.iam.gserviceaccount.com"
WORKER_ACCOUNT = "itn-dev-workers-5abb6e83@proj.iam.gserviceaccount.com"


def cluster(
    *,
    cidrs: list[str] | None = None,
    deletion_protection: bool | None = False,
    labels: dict[str, str] | None = None,
) -> dict:
    inputs: dict[str, Any] = {
        "name": "mina-dev",
        "location": "us-central1-a",
        "removeDefaultNodePool": True,
        "initialNodeCount": 1.0,
        "nodeConfig": {
            "serviceAccount": NODE_ACCOUNT,
            "workloadMetadataConfig": {"mode": "GKE_METADATA"},
        },
        "network": "dev-net",
        "subnetwork": "dev-subnet",
        "networkingMode": "VPC_NATIVE",
        "releaseChannel": {"channel": "REGULAR"},
        "workloadIdentityConfig": {"workloadPool": "proj.svc.id.goog"},
        "privateClusterConfig": {
            "enablePrivateNodes": True,
            "enablePrivateEndpoint": False,
            "masterIpv4CidrBlock": "172.16.0.0/28",
        },
        "masterAuthorizedNetworksConfig": {
            "cidrBlocks": [
                {"cidrBlock": c, "displayName": f"net-{i}"}
                for i, c in enumerate(cidrs or ["203.0.113.0/24"])
            ]
        },
        "resourceLabels": GCP_LABELS if labels is None else labels,
    }
    if deletion_protection is not None:
        inputs["deletionProtection"] = deletion_protection
    return record("gcp:container/cluster:Cluster", "mina-dev", inputs, parent="GkePlatform")


def node_pool(node_config_labels: dict[str, Any]) -> dict:
    return record(
        "gcp:container/nodePool:NodePool",
        "mina-dev-nodes",
        {
            "cluster": "projects/proj/locations/us-central1-a/clusters/mina-dev",
            "location": "us-central1-a",
            "nodeCount": 3.0,
            "nodeConfig": {
                "machineType": "n2-standard-8",
                "spot": False,
                "serviceAccount": NODE_ACCOUNT,
                "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
                "workloadMetadataConfig": {"mode": "GKE_METADATA"},
                **node_config_labels,
            },
        },
        parent="GkePlatform",
    )


def instance(access_configs: list[dict] | None = None, labels: dict | None = None) -> dict:
    nic: dict[str, Any] = {"subnetwork": "projects/proj/regions/us-central1/subnetworks/dev"}
    if access_configs is not None:
        nic["accessConfigs"] = access_configs
    return record(
        "gcp:compute/instance:Instance",
        "dev-snark-worker-0",
        {
            "machineType": "c3-highcpu-176",
            "zone": "us-central1-a",
            "bootDisk": {
                "autoDelete": True,
                "initializeParams": {"image": "debian-cloud/debian-12", "size": 50.0},
            },
            "networkInterfaces": [nic],
            "metadata": {
                "startup-script": "[secret]",
                "enable-oslogin": "TRUE",
                "block-project-ssh-keys": "TRUE",
            },
            "serviceAccount": {"email": WORKER_ACCOUNT, "scopes": ["cloud-platform"]},
            "scheduling": {"provisioningModel": "SPOT", "preemptible": True},
            "allowStoppingForUpdate": True,
            "labels": GCP_LABELS if labels is None else labels,
        },
        parent="SnarkWorkers",
    )


def good_container(name: str = "mina") -> dict:
    return {
        "name": name,
        "image": "gcr.io/o1labs-192920/mina-daemon:3.0.0",
        "resources": {
            "requests": {"cpu": "2", "memory": "8Gi"},
            "limits": {"cpu": 4.0, "memory": "12Gi"},
        },
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
    }


def stateful_set(containers: list[dict], init_containers: list[dict] | None = None) -> dict:
    pod_spec: dict[str, Any] = {"containers": containers}
    if init_containers is not None:
        pod_spec["initContainers"] = init_containers
    return record(
        "kubernetes:apps/v1:StatefulSet",
        "bp-1",
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "bp-1", "namespace": "mina-dev", "labels": K8S_LABELS},
            "spec": {
                "replicas": 1.0,
                "serviceName": "bp-1",
                "selector": {"matchLabels": {"app.kubernetes.io/name": "bp-1"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "bp-1"}},
                    "spec": pod_spec,
                },
            },
        },
        parent="MinaNode",
    )


def k8s(type_: str, name: str, labels: dict | None, **body: Any) -> dict:
    kind = type_.rsplit(":", 1)[-1]
    metadata: dict[str, Any] = {"name": name}
    if labels is not None:
        metadata["labels"] = labels
    return record(type_, name, {"kind": kind, "metadata": metadata, **body})


def violations(
    policy: ResourceValidationPolicy, rec: dict, config: dict | None = None
) -> list[str]:
    found: list[str] = []
    args = build_args(rec, CONFIG if config is None else config)
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


# --- pack shape ---------------------------------------------------------------------------------


def test_pack_policies_are_mandatory_and_uniquely_named():
    """All mandatory but the two supply-chain pins, advisory in the code until a stack is pinned."""
    names = [policy.name for policy in p.ALL_POLICIES]
    assert len(names) == len(set(names)) == 23
    levels = {policy.name: policy.enforcement_level for policy in p.ALL_POLICIES}
    assert levels.pop("images-pinned-by-digest") == EnforcementLevel.ADVISORY
    assert levels.pop("worker-signing-key-pinned") == EnforcementLevel.ADVISORY
    assert set(levels.values()) == {EnforcementLevel.MANDATORY}
    # The operator's checked-in pack config says so explicitly (where one makes it mandatory),
    # and makes the signing key's pin mandatory for `pulumi up`.
    config = json.loads((Path(p.__file__).parent / "config.json").read_text())
    assert config["images-pinned-by-digest"] == {"enforcementLevel": "advisory"}
    assert config["worker-signing-key-pinned"] == {"enforcementLevel": "mandatory"}


# --- no-public-ingress --------------------------------------------------------------------------


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "0.0.0.0/0 "])
def test_public_firewall_rejected(cidr):
    found = violations(p.no_public_ingress, firewall(["10.0.0.0/8", cidr]))
    assert len(found) == 1
    assert "dev-allow-postgres" in found[0]
    assert "allowPublic" in found[0]


def test_explicit_firewall_ranges_pass():
    assert violations(p.no_public_ingress, firewall(["203.0.113.7/32", "10.128.0.0/9"])) == []


def test_public_firewall_allowed_when_stack_opts_in():
    rec = firewall(["0.0.0.0/0"])
    assert violations(p.no_public_ingress, rec, {"allowPublic": True, "experiment": STACK}) == []


def test_egress_firewall_is_not_ingress():
    assert violations(p.no_public_ingress, firewall(["0.0.0.0/0"], direction="EGRESS")) == []


def test_public_range_found_inside_a_secret_wrapper():
    rec = firewall([])
    rec["inputs"]["sourceRanges"] = {**SECRET_SIG, "value": ["0.0.0.0/0"]}
    assert len(violations(p.no_public_ingress, rec)) == 1


def test_public_service_ranges_rejected_unless_allowed():
    rec = service("postgres", ranges=["0.0.0.0/0"])
    found = violations(p.no_public_ingress, rec)
    assert len(found) == 1
    assert "Service `postgres`" in found[0]
    assert "loadBalancerSourceRanges" in found[0]
    assert violations(p.no_public_ingress, rec, {"allowPublic": True}) == []


def test_external_load_balancer_without_ranges_is_public():
    rec = service("log-api", ranges=None, name="log-api")
    found = violations(p.no_public_ingress, rec)
    assert len(found) == 1
    assert "Internal" in found[0]


def test_internal_load_balancer_without_ranges_passes():
    assert violations(p.no_public_ingress, service("log-api", internal=True, name="a")) == []
    rec = service("log-api", name="b")
    rec["inputs"]["spec"]["loadBalancerClass"] = "networking.gke.io/l4-regional-internal"
    assert violations(p.no_public_ingress, rec) == []


@pytest.mark.parametrize(
    ("annotations", "load_balancer_class", "internal"),
    [
        ({"networking.gke.io/load-balancer-type": "Internal"}, None, True),
        ({"networking.gke.io/load-balancer-type": "internal"}, None, True),
        ({"cloud.google.com/load-balancer-type": "Internal"}, None, True),
        # Only `Internal` and `internal`: GKE builds an external load balancer for these.
        ({"networking.gke.io/load-balancer-type": "INTERNAL"}, None, False),
        ({"networking.gke.io/load-balancer-type": " Internal"}, None, False),
        ({"cloud.google.com/load-balancer-type": "INTERNAL"}, None, False),
        # The first annotation present decides, even when empty; the deprecated one is not read.
        (
            {
                "networking.gke.io/load-balancer-type": "External",
                "cloud.google.com/load-balancer-type": "Internal",
            },
            None,
            False,
        ),
        (
            {
                "networking.gke.io/load-balancer-type": "",
                "cloud.google.com/load-balancer-type": "Internal",
            },
            None,
            False,
        ),
        (
            {
                "networking.gke.io/load-balancer-type": "Internal",
                "cloud.google.com/load-balancer-type": "External",
            },
            None,
            True,
        ),
        # A class decides before any annotation.
        ({}, "networking.gke.io/l4-regional-internal-legacy", True),
        ({}, "networking.gke.io/l4-regional-internal", True),
        (
            {"networking.gke.io/load-balancer-type": "Internal"},
            "networking.gke.io/l4-regional-external-legacy",
            False,
        ),
        ({"networking.gke.io/load-balancer-type": "Internal"}, "example.com/my-lb", False),
        ({}, None, False),
    ],
)
def test_internal_load_balancers_as_gke_decides(annotations, load_balancer_class, internal):
    rec = service("log-api", name="log-api")
    rec["inputs"]["metadata"]["annotations"] = annotations
    if load_balancer_class is not None:
        rec["inputs"]["spec"]["loadBalancerClass"] = load_balancer_class
    assert p.is_internal_lb(rec["inputs"]) is internal
    assert (violations(p.no_public_ingress, rec) == []) is internal


INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


@pytest.mark.parametrize(
    ("rec", "public"),
    [
        (k8s(INGRESS, "web", K8S_LABELS, spec={"defaultBackend": {}}), True),
        (
            k8s(INGRESS, "web", K8S_LABELS)
            | {"inputs": {"metadata": {"annotations": {"kubernetes.io/ingress.class": "gce"}}}},
            True,
        ),
        (
            k8s(INGRESS, "web", K8S_LABELS)
            | {
                "inputs": {
                    "metadata": {"annotations": {"kubernetes.io/ingress.class": "gce-internal"}}
                }
            },
            False,
        ),
        (k8s(GATEWAY, "gw", K8S_LABELS, spec={"gatewayClassName": "gke-l7-rilb"}), False),
        (
            k8s(
                GATEWAY,
                "gw",
                K8S_LABELS,
                spec={"gatewayClassName": "gke-l7-global-external-managed"},
            ),
            True,
        ),
        (k8s(GATEWAY, "gw", K8S_LABELS, spec={}), True),
        (record("gcp:compute/forwardingRule:ForwardingRule", "fr", {}), True),
        (
            record(
                "gcp:compute/forwardingRule:ForwardingRule",
                "fr",
                {"loadBalancingScheme": "INTERNAL"},
            ),
            False,
        ),
        (
            record(
                "gcp:compute/forwardingRule:ForwardingRule",
                "fr",
                {"loadBalancingScheme": "EXTERNAL", "sourceIpRanges": ["203.0.113.0/24"]},
            ),
            False,
        ),
        (
            record(
                "gcp:compute/globalForwardingRule:GlobalForwardingRule",
                "fr",
                {"loadBalancingScheme": "EXTERNAL_MANAGED", "sourceIpRanges": ["0.0.0.0/1"]},
            ),
            True,
        ),
        (
            record(
                "gcp:compute/globalForwardingRule:GlobalForwardingRule",
                "fr",
                {"loadBalancingScheme": "INTERNAL_SELF_MANAGED"},
            ),
            False,
        ),
    ],
)
def test_ingress_gateway_and_forwarding_rules_are_internal_or_ranged(rec, public):
    found = violations(p.no_public_ingress, rec)
    assert (len(found) == 1) is public, found
    assert violations(p.no_public_ingress, rec, {"allowPublic": True}) == []


def test_restricted_service_without_ranges_left_to_its_own_policy():
    # One planted problem must give one violation, not one per policy.
    assert violations(p.no_public_ingress, service("postgres", ranges=None)) == []


def test_cluster_ip_service_is_not_exposed():
    assert violations(p.no_public_ingress, service("uptime", type_="ClusterIP", name="up")) == []


def test_public_master_authorized_network_rejected():
    found = violations(p.no_public_ingress, cluster(cidrs=["203.0.113.0/24", "0.0.0.0/0"]))
    assert len(found) == 1
    assert "mina-dev" in found[0]
    assert "master authorized networks" in found[0]
    assert violations(p.no_public_ingress, cluster()) == []


# --- restricted-services-need-source-ranges -----------------------------------------------------


@pytest.mark.parametrize("component", ["postgres", "dashboard"])
@pytest.mark.parametrize("allow", [False, True])
def test_restricted_load_balancer_needs_ranges(component, allow):
    config = {"allowPublic": allow, "experiment": STACK}
    for ranges in (None, []):
        found = violations(
            p.restricted_services_need_source_ranges, service(component, ranges=ranges), config
        )
        assert len(found) == 1
        assert component in found[0]
        assert "loadBalancerSourceRanges" in found[0]


def test_restricted_services_with_ranges_or_internal_pass():
    policy = p.restricted_services_need_source_ranges
    assert violations(policy, service("postgres", ranges=["203.0.113.7/32"])) == []
    assert violations(policy, service("dashboard", ranges=["10.0.0.0/8"], internal=True)) == []
    assert violations(policy, service("postgres", type_="ClusterIP")) == []
    assert violations(policy, service("log-api", ranges=None, name="log-api")) == []


# --- images-pinned-by-digest --------------------------------------------------------------------

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        (f"postgres:15.10-bookworm@{DIGEST}", True),
        (f"gcr.io/p/img@{DIGEST}", True),
        ("postgres:15.10-bookworm", False),
        (f"postgres:15@{DIGEST[:-1]}", False),
        (f"postgres:15@{DIGEST.upper().replace('SHA256', 'sha256')}", False),
        (f"postgres:15@sha512:{'0' * 128}", False),
        ("", False),
        (None, False),
    ],
)
def test_image_digest_policy(image, pinned):
    container = {**good_container(), "image": image}
    init = {**good_container("init"), "image": f"busybox:1.36.1@{DIGEST}"}
    found = violations(p.images_pinned_by_digest, stateful_set([container], [init]))
    assert found == ([] if pinned else [
        f"container `mina` in `bp-1` runs {image!r} without a digest; pin it with "
        "`python -m scripts.pin --stack <stack> --write`"
    ])  # fmt: skip


def test_image_digest_policy_checks_init_containers():
    init = {**good_container("install-keys"), "image": "busybox:1.36.1"}
    pinned = {**good_container(), "image": f"x/y:1@{DIGEST}"}
    (found,) = violations(p.images_pinned_by_digest, stateful_set([pinned], [init]))
    assert found.startswith("initContainer `install-keys` in `bp-1` runs 'busybox:1.36.1'")


# --- containers-have-resources ------------------------------------------------------------------


def test_container_without_limits_rejected():
    bare = {"name": "install-keys", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}
    found = violations(p.containers_have_resources, stateful_set([good_container()], [bare]))
    assert len(found) == 1
    message = found[0]
    assert "initContainer `install-keys`" in message
    assert "bp-1" in message
    assert "requests.memory" in message
    assert "limits.cpu" in message
    assert "requests.cpu" not in message


def test_every_container_is_checked():
    missing = {"name": "sidecar", "image": "busybox"}
    found = violations(p.containers_have_resources, stateful_set([good_container(), missing]))
    assert len(found) == 1
    assert "container `sidecar`" in found[0]


def test_fully_resourced_pod_spec_passes():
    rec = stateful_set([good_container()], [good_container("init")])
    assert violations(p.containers_have_resources, rec) == []


def test_pod_and_cronjob_specs_are_found():
    missing = {"name": "x", "image": "busybox"}
    pod = k8s("kubernetes:core/v1:Pod", "orchestrator", K8S_LABELS, spec={"containers": [missing]})
    cron = k8s(
        "kubernetes:batch/v1:CronJob",
        "cleanup",
        K8S_LABELS,
        spec={"jobTemplate": {"spec": {"template": {"spec": {"containers": [missing]}}}}},
    )
    assert len(violations(p.containers_have_resources, pod)) == 1
    assert len(violations(p.containers_have_resources, cron)) == 1


# --- no-privileged-containers -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["privileged", "allowPrivilegeEscalation"])
def test_privileged_container_rejected(key):
    bad = good_container("sysctl")
    bad["securityContext"] = {key: True}
    found = violations(p.no_privileged_containers, stateful_set([good_container()], [bad]))
    assert len(found) == 1
    assert f"securityContext.{key}: true" in found[0]
    assert "`sysctl`" in found[0]


def test_unprivileged_containers_pass():
    plain_container = good_container()
    plain_container.pop("securityContext")
    rec = stateful_set([good_container(), plain_container])
    assert violations(p.no_privileged_containers, rec) == []


# --- no-vm-public-ip ----------------------------------------------------------------------------


def test_instance_with_access_config_rejected():
    found = violations(p.no_vm_public_ip, instance([{"natIp": "198.51.100.4"}]))
    assert len(found) == 1
    assert "dev-snark-worker-0" in found[0]
    assert "Cloud NAT" in found[0]
    assert len(violations(p.no_vm_public_ip, instance([{}]))) == 1


def test_instance_without_access_config_passes():
    assert violations(p.no_vm_public_ip, instance()) == []
    assert violations(p.no_vm_public_ip, instance([])) == []


# --- experiment-labels --------------------------------------------------------------------------


def test_gcp_resource_missing_expiry_rejected():
    labels = {k: v for k, v in GCP_LABELS.items() if k != p.GCP_LABEL_EXPIRY}
    found = violations(p.experiment_labels, instance(labels=labels))
    assert len(found) == 1
    assert "dev-snark-worker-0" in found[0]
    assert f"missing `{p.GCP_LABEL_EXPIRY}`" in found[0]


def test_labelled_gcp_resources_pass():
    disk = record(
        "gcp:compute/disk:Disk",
        "dev-postgres-data",
        {"type": "pd-ssd", "size": 1000.0, "zone": "us-central1-a", "labels": GCP_LABELS},
    )
    assert violations(p.experiment_labels, disk) == []
    assert violations(p.experiment_labels, instance()) == []
    assert violations(p.experiment_labels, cluster()) == []


def test_types_without_labels_are_not_asked_for_them():
    # A GCE firewall takes no labels in pulumi-gcp 10.2.0.
    assert violations(p.experiment_labels, firewall(["10.0.0.0/8"])) == []


def test_cluster_labels_live_in_resource_labels():
    rec = cluster()
    rec["inputs"]["labels"] = rec["inputs"].pop("resourceLabels")
    found = violations(p.experiment_labels, rec)
    assert len(found) == 1
    assert "resourceLabels" in found[0]


def test_node_pool_labels():
    assert violations(p.experiment_labels, node_pool({"resourceLabels": GCP_LABELS})) == []
    assert violations(p.experiment_labels, node_pool({"labels": GCP_LABELS})) == []
    assert len(violations(p.experiment_labels, node_pool({}))) == 1


def test_expiry_must_be_a_date():
    labels = {**GCP_LABELS, p.GCP_LABEL_EXPIRY: "next-week"}
    found = violations(p.experiment_labels, instance(labels=labels))
    assert len(found) == 1
    assert "not YYYY-MM-DD" in found[0]


def test_experiment_label_must_name_this_experiment():
    labels = {**GCP_LABELS, p.GCP_LABEL_EXPERIMENT: "exp-old"}
    found = violations(p.experiment_labels, instance(labels=labels))
    assert len(found) == 1
    assert "exp-old" in found[0]
    assert violations(p.experiment_labels, instance(labels=labels), {"allowPublic": False}) == []


@pytest.mark.parametrize(
    ("description", "ok", "a_marker"),
    [
        ("mina-itn-experiment=dev; expiry=2030-06-01_06-00", True, True),
        (None, False, False),
        ("Snark worker VMs of experiment dev", False, False),
        ("see mina-itn-experiment=dev; expiry=2030-06-01_06-00", False, False),
        ("mina-itn-experiment=dev; expiry=2030-06-01", False, False),
        # A marker, but another experiment's: the janitor reads it, the policy refuses it here.
        ("mina-itn-experiment=exp-old; expiry=2030-06-01_06-00", False, True),
    ],
)
def test_service_accounts_carry_the_janitors_marker(description, ok, a_marker):
    from policy.markers import parse_own_description

    inputs = {"accountId": "itn-dev-workers-0a1b2c3d", "project": "p"}
    if description is not None:
        inputs["description"] = description
    found = violations(p.experiment_labels, record(p.SERVICE_ACCOUNT, "itn-dev-sa", inputs))
    assert (found == []) is ok, found
    # The policy and the janitor read one marker (policy/markers.py).
    assert (parse_own_description(description) is not None) is a_marker


def test_kubernetes_objects_need_labels():
    config_map = k8s("kubernetes:core/v1:ConfigMap", "runtime-config", None, data={"a": "b"})
    found = violations(p.experiment_labels, config_map)
    assert len(found) == 1
    assert "runtime-config" in found[0]
    assert p.K8S_LABEL_EXPERIMENT in found[0]
    assert p.K8S_LABEL_EXPIRY in found[0]
    secret = k8s("kubernetes:core/v1:Secret", "keys", K8S_LABELS, stringData="[secret]")
    assert violations(p.experiment_labels, secret) == []


def test_namespace_needs_part_of_for_the_janitor():
    labels = {k: v for k, v in K8S_LABELS.items() if k != m.K8S_PART_OF_LABEL}
    ns = k8s("kubernetes:core/v1:Namespace", "mina-dev", labels)
    found = violations(p.experiment_labels, ns)
    assert len(found) == 1
    assert m.K8S_PART_OF_LABEL in found[0]
    assert violations(p.experiment_labels, k8s(ns["type"], "mina-dev", K8S_LABELS)) == []


def test_patches_providers_and_components_are_ignored():
    patch = k8s("kubernetes:core/v1:NamespacePatch", "kube-system", {"x": "y"})
    provider = record("pulumi:providers:kubernetes", "k8s", {"kubeconfig": "[secret]"})
    component = record("mina-itn:index:Postgres", "postgres", {})
    for rec in (patch, provider, component):
        assert violations(p.experiment_labels, rec) == []


# --- cluster-deletion-protection-needs-expiry ---------------------------------------------------


def test_unprotected_cluster_without_expiry_rejected():
    labels = {k: v for k, v in GCP_LABELS.items() if k != p.GCP_LABEL_EXPIRY}
    found = violations(p.cluster_deletion_protection_needs_expiry, cluster(labels=labels))
    assert len(found) == 1
    assert "mina-dev" in found[0]
    assert "deletionProtection" in found[0]


def test_unprotected_cluster_with_expiry_passes():
    assert violations(p.cluster_deletion_protection_needs_expiry, cluster()) == []


@pytest.mark.parametrize("protection", [True, None])
def test_protected_cluster_needs_no_expiry(protection):
    rec = cluster(deletion_protection=protection, labels={})
    assert violations(p.cluster_deletion_protection_needs_expiry, rec) == []


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2031-05-01", "2031-05-01T00:00:00+00:00"),
        ("2031-05-01t12-30z", "2031-05-01T12:30:00+00:00"),
        ("2031-05-01_06-45", "2031-05-01T06:45:00+00:00"),
        ("2031-05-01t123005z", "2031-05-01T12:30:05+00:00"),
        ("2031-02-30", None),
        ("tomorrow", None),
        ("", None),
    ],
)
def test_parse_expiry(value, expected):
    parsed = p.parse_expiry(value)
    assert (parsed.isoformat() if parsed else None) == expected


def test_records_are_not_mutated_by_policies():
    rec = stateful_set([good_container()])
    before = copy.deepcopy(rec)
    for policy in p.ALL_POLICIES:
        if isinstance(policy, ResourceValidationPolicy):
            violations(policy, rec)
    assert rec == before


# --- no-default-service-account -----------------------------------------------------------------


DEFAULT_COMPUTE = "123456789012-compute@developer.gserviceaccount.com"


def test_own_accounts_pass() -> None:
    for rec in (cluster(), node_pool({}), instance()):
        assert violations(p.no_default_service_account, rec) == []


@pytest.mark.parametrize(
    ("account", "says"),
    [
        (None, "names no service account"),
        ("", "names no service account"),
        ("default", "runs as the default compute account"),
        (DEFAULT_COMPUTE, "runs as the default compute account"),
    ],
)
def test_the_default_compute_account_in_any_spelling_is_refused(account, says) -> None:
    vm = instance()
    pool = node_pool({})
    default_pool = cluster()
    if account is None:
        vm["inputs"].pop("serviceAccount")
        pool["inputs"]["nodeConfig"].pop("serviceAccount")
        default_pool["inputs"].pop("nodeConfig")
    else:
        vm["inputs"]["serviceAccount"]["email"] = account
        pool["inputs"]["nodeConfig"]["serviceAccount"] = account
        default_pool["inputs"]["nodeConfig"]["serviceAccount"] = account
    for rec in (vm, pool, default_pool):
        found = violations(p.no_default_service_account, rec)
        assert len(found) == 1, found
        assert says in found[0]
        assert rec["name"] in found[0]


def test_an_account_that_only_looks_like_the_default_one_passes() -> None:
    vm = instance()
    vm["inputs"]["serviceAccount"]["email"] = "compute@proj.iam.gserviceaccount.com"
    assert violations(p.no_default_service_account, vm) == []


def test_pg_hba_lines_are_judged_by_type_method_and_the_addresses_they_name():
    def hba(*lines: str) -> list[str]:
        data = {"data": {"pg_hba.conf": "\n".join(lines) + "\n"}}
        return p.check_pg_hba("kubernetes:core/v1:ConfigMap", "postgres-scripts", data, {})

    assert (
        hba(
            "local all all scram-sha-256",
            "host all all 10.64.0.0/14 scram-sha-256",
            "host all all 10.0.0.0 255.0.0.0 scram-sha-256",
            "host all all fd00::/8 scram-sha-256  # pods, IPv6",
            "hostssl logs logs_reader 0.0.0.0/0 scram-sha-256",
        )
        == []
    )
    [trust] = hba("host all all 127.0.0.1/32 trust")
    assert "line 1 `host all all 127.0.0.1/32 trust` trusts" in trust
    for line in (
        "host all all ::ffff:0:0/96 scram-sha-256",  # all of IPv4, spelled as IPv6
        "hostnossl all all 8.8.8.0/24 scram-sha-256",
        "host all all samenet scram-sha-256",
        "host all all db.example.com scram-sha-256",
        "host all all 0.0.0.0 0.0.0.0 scram-sha-256",
    ):
        [message] = hba(line)
        assert "admits clients without TLS" in message, line
