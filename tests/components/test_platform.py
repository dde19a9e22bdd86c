"""The GKE platform as `pulumi up` would send it: APIs first, hardened cluster and node pools,
the KMS and Docker Hub options, and the PostgreSQL disk that survives a re-deploy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components.platform import NODE_POOL_IGNORED, POOLS, gke_service_agent
from minaperf.cloud.gcp_project import BASE_APIS
from minaperf.model.config import Images
from tests.conftest import ROOT, Rendered, render
from tests.minaperf.cloud.test_gcp_project import SERVICE_ACCOUNT_ID

SERVICE = "gcp:projects/service:Service"
PROVIDER = "pulumi:providers:gcp"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
DISK = "gcp:compute/disk:Disk"
RANDOM_ID = "random:index/randomId:RandomId"
KMS_KEY = "projects/kms-project/locations/us-central1/keyRings/itn/cryptoKeys/secrets"


def _provider(rendered: Rendered, name: str) -> dict[str, Any]:
    return next(r for r in rendered.of_type(PROVIDER) if r["name"] == name)


def _uses(resource: dict[str, Any], provider: dict[str, Any]) -> bool:
    """A provider reference is "<urn>::<id>"."""
    return (resource["provider"] or "").rsplit("::", 1)[0] == provider["urn"]


def _pools(rendered: Rendered) -> list[dict[str, Any]]:
    """The node pools: the cluster's own (`nodePools`), no NodePool resources."""
    assert rendered.of_type(NODE_POOL) == []
    (cluster,) = rendered.of_type(CLUSTER)
    return cluster["inputs"]["nodePools"]


def _dependencies(resource: dict[str, Any]) -> set[str]:
    found = set(resource["dependencies"])
    for urns in resource["propertyDependencies"].values():
        found.update(urns)
    return found


@pytest.fixture(scope="module")
def large() -> Rendered:
    return render(config_file=ROOT / "stacks" / "large-200.yaml")


@pytest.fixture(scope="module")
def options() -> Rendered:
    return render(
        "dev", overrides=[f"platform.secretsKmsKey={KMS_KEY}", "platform.dockerHubMirror=true"]
    )


# ------------------------------------------------------------------------------ APIs


def test_the_apis_a_fresh_project_lacks_are_enabled_and_never_disabled(dev: Rendered) -> None:
    services = dev.of_type(SERVICE)
    # dev pulls through the Docker Hub mirror (Pulumi.dev.yaml), which needs Artifact Registry
    mirror_api = "artifactregistry.googleapis.com"
    assert sorted(s["inputs"]["service"] for s in services) == sorted([*BASE_APIS, mirror_api])
    for service in services:
        assert service["inputs"]["project"] == "your-gcp-project"
        assert service["inputs"]["disableOnDestroy"] is False
        assert service["inputs"]["disableDependentServices"] is False


def test_every_gcp_resource_waits_for_the_apis(dev: Rendered) -> None:
    """The experiment's provider depends on every Service; every other GCP resource (whatever
    component creates it) uses that provider, so none is created before its API is on."""
    services = {s["urn"] for s in dev.of_type(SERVICE)}
    experiment_provider = _provider(dev, "dev-gcp")
    assert services <= _dependencies(experiment_provider)
    others = [r for r in dev.resources if r["type"].startswith("gcp:") and r["type"] != SERVICE]
    assert {r["type"] for r in others} >= {CLUSTER, DISK, "gcp:compute/network:Network"}
    assert [r["name"] for r in others if not _uses(r, experiment_provider)] == []
    bootstrap = _provider(dev, "dev-gcp-apis")
    assert all(_uses(service, bootstrap) for service in dev.of_type(SERVICE))


def test_options_add_their_apis(options: Rendered) -> None:
    enabled = {s["inputs"]["service"] for s in options.of_type(SERVICE)}
    assert enabled == {*BASE_APIS, "cloudkms.googleapis.com", "artifactregistry.googleapis.com"}


def test_an_existing_cluster_enables_nothing() -> None:
    rendered = render(config_file=ROOT / "stacks" / "kind.yaml")
    assert rendered.of_type(SERVICE) == []
    assert rendered.of_type(PROVIDER) == []


# ------------------------------------------------------------------------------ cluster


def test_cluster_enforces_network_policy_with_shielded_nodes(dev: Rendered) -> None:
    (cluster,) = dev.of_type(CLUSTER)
    inputs = cluster["inputs"]
    assert inputs["datapathProvider"] == "ADVANCED_DATAPATH"
    # Dataplane V2 enforces policies itself; the Calico add-on must stay off.
    assert "networkPolicy" not in inputs
    assert inputs["enableShieldedNodes"] is True
    assert "databaseEncryption" not in inputs


@pytest.mark.parametrize("stack", ["dev", "large"])
def test_every_node_pool_has_secure_boot_and_the_gke_metadata_server(
    stack: str, dev: Rendered, large: Rendered
) -> None:
    rendered = {"dev": dev, "large": large}[stack]
    pools = _pools(rendered)
    assert [pool["name"] for pool in pools] == list(POOLS)
    for pool in pools:
        config = pool["nodeConfig"]
        assert config["shieldedInstanceConfig"] == {
            "enableSecureBoot": True,
            "enableIntegrityMonitoring": True,
        }
        assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


def test_maintenance_exclusion_covers_the_ttl(dev: Rendered, large: Rendered) -> None:
    for rendered, hours in ((dev, 48), (large, 72)):
        (cluster,) = rendered.of_type(CLUSTER)
        policy = cluster["inputs"]["maintenancePolicy"]
        assert policy["dailyMaintenanceWindow"] == {"startTime": "03:00"}
        (exclusion,) = policy["maintenanceExclusions"]
        assert exclusion["exclusionOptions"] == {"scope": "NO_UPGRADES"}
        assert exclusion["startTime"] == "2030-01-01T00:00:00Z"  # the mock engine's "now"
        assert exclusion["endTime"] == f"2030-01-0{1 + hours // 24}T00:00:00Z"
        assert rendered.outputs["expiresAt"] == exclusion["endTime"]


def test_exclusion_is_capped_at_gke_s_thirty_days() -> None:
    rendered = render("dev", overrides=["metadata.ttlHours=720"])
    (cluster,) = rendered.of_type(CLUSTER)
    (exclusion,) = cluster["inputs"]["maintenancePolicy"]["maintenanceExclusions"]
    assert exclusion["endTime"] == "2030-01-31T00:00:00Z"


def test_secrets_encryption_uses_the_key_after_granting_gke_s_agent(options: Rendered) -> None:
    (cluster,) = options.of_type(CLUSTER)
    assert cluster["inputs"]["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": KMS_KEY}
    (grant,) = options.of_type("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert grant["inputs"]["cryptoKeyId"] == KMS_KEY
    assert grant["inputs"]["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    member = grant["inputs"]["member"]
    assert re.fullmatch(
        r"serviceAccount:service-[0-9]+@container-engine-robot\.iam\.gserviceaccount\.com", member
    )
    assert grant["urn"] in _dependencies(cluster)


def test_gke_service_agent_address() -> None:
    assert gke_service_agent("123") == "service-123@container-engine-robot.iam.gserviceaccount.com"


# ------------------------------------------------------------------------------ node account


def test_node_account_gets_the_recommended_role(dev: Rendered) -> None:
    (account,) = [
        a for a in dev.of_type("gcp:serviceaccount/account:Account") if a["name"] == "itn-dev-nodes"
    ]
    account_id = account["inputs"]["accountId"]
    assert SERVICE_ACCOUNT_ID.match(account_id)
    assert 6 <= len(account_id) <= 30
    email = f"serviceAccount:{account_id}@your-gcp-project.iam.gserviceaccount.com"
    roles = {
        m["inputs"]["role"]
        for m in dev.of_type("gcp:projects/iAMMember:IAMMember")
        if m["inputs"]["member"] == email
    }
    assert roles == {"roles/container.defaultNodeServiceAccount", "roles/artifactregistry.reader"}
    for pool in _pools(dev):
        assert pool["nodeConfig"]["serviceAccount"] == email.removeprefix("serviceAccount:")


def test_the_cluster_is_created_with_our_pools_and_no_default_pool(dev: Rendered) -> None:
    """GKE makes the default pool only when a create names no pools (the provider sends
    `Cluster.nodeConfig` only then, resource_container_cluster.go:3105-3121): ours come up in
    the cluster's create, with nothing to delete before they can start."""
    (cluster,) = dev.of_type(CLUSTER)
    inputs = cluster["inputs"]
    assert {"nodeConfig", "initialNodeCount", "removeDefaultNodePool"}.isdisjoint(inputs)
    sizes = {"mina": 4, "services": 1}  # docs/sizing.md: dev's pools
    assert {pool["name"]: pool["nodeCount"] for pool in inputs["nodePools"]} == sizes
    (account,) = [
        a for a in dev.of_type("gcp:serviceaccount/account:Account") if a["name"] == "itn-dev-nodes"
    ]
    email = f"{account['inputs']['accountId']}@your-gcp-project.iam.gserviceaccount.com"
    # The nodes start with the node account's roles already granted.
    grants = {
        m["urn"]
        for m in dev.of_type("gcp:projects/iAMMember:IAMMember")
        if m["inputs"]["member"] == f"serviceAccount:{email}"
    }
    assert len(grants) == 2
    assert grants <= set(cluster["dependencies"])


ACCOUNT_FIELDS = {
    # GKE uses the default compute account when a node config names none
    # (terraform-provider-google@e03b7622 website/docs/r/container_cluster.html.markdown:1247).
    CLUSTER: ("nodePools", "*", "nodeConfig", "serviceAccount"),
    # An empty email is sent as "default"
    # (google/services/compute/compute_instance_helpers.go:779-780).
    "gcp:compute/instanceTemplate:InstanceTemplate": ("serviceAccount", "email"),
    "gcp:compute/instance:Instance": ("serviceAccount", "email"),
}
"""The GCP types that run machines, and where each names the account the machines run as."""
RUN_NO_MACHINES = {
    SERVICE,
    DISK,
    "gcp:compute/address:Address",
    "gcp:compute/firewall:Firewall",
    "gcp:compute/instanceGroupManager:InstanceGroupManager",  # its VMs come from the template
    "gcp:compute/network:Network",
    "gcp:compute/router:Router",
    "gcp:compute/routerNat:RouterNat",
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:projects/iAMMember:IAMMember",
    "gcp:serviceaccount/account:Account",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    "gcp:artifactregistry/repository:Repository",
}
DEFAULT_COMPUTE_ACCOUNT = re.compile(r"\d+-compute@developer\.gserviceaccount\.com")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _strings(item)]
    if isinstance(value, list):
        return [found for item in value for found in _strings(item)]
    return []


def _at(value: Any, path: tuple[str, ...]) -> list[Any]:
    """The values at `path`, "*" standing for every element of a list."""
    if not path:
        return [value]
    key, rest = path[0], path[1:]
    if key == "*":
        return [found for item in value for found in _at(item, rest)] if value else [None]
    return _at(value.get(key) if isinstance(value, dict) else None, rest)


@pytest.mark.parametrize("stack", ["dev", "kind", "large-200", "options"])
def test_no_gcp_resource_runs_as_a_default_service_account(
    stack: str, dev: Rendered, large: Rendered, options: Rendered
) -> None:
    rendered = {
        "dev": dev,
        "large-200": large,
        "options": options,
        "kind": render(config_file=ROOT / "stacks" / "kind.yaml"),
    }[stack]
    gcp_resources = [r for r in rendered.resources if r["type"].startswith("gcp:")]
    unclassified = {r["type"] for r in gcp_resources} - set(ACCOUNT_FIELDS) - RUN_NO_MACHINES
    assert unclassified == set(), "say whether these run machines, and as whom"
    accounts = {
        f"{a['inputs']['accountId']}@your-gcp-project.iam.gserviceaccount.com"
        for a in rendered.of_type("gcp:serviceaccount/account:Account")
    }
    for resource in gcp_resources:
        named = [s for s in _strings(resource["inputs"]) if DEFAULT_COMPUTE_ACCOUNT.search(s)]
        assert named == [], resource["name"]
        path = ACCOUNT_FIELDS.get(resource["type"])
        if path is not None:
            # One of the experiment's own accounts: never empty, "default" or absent.
            for account in _at(resource["inputs"], path):
                assert account in accounts, resource["name"]
    if stack != "kind":
        assert CLUSTER in {r["type"] for r in gcp_resources}


# ------------------------------------------------------------------------------ drift


def test_node_pools_ignore_exactly_what_gke_writes(dev: Rendered) -> None:
    (cluster,) = dev.of_type(CLUSTER)
    assert cluster["options"]["ignoreChanges"] == NODE_POOL_IGNORED
    assert len(NODE_POOL_IGNORED) == len(_pools(dev))
    for pool in _pools(dev):
        # We never set the key we ignore: GKE does.
        assert "goog-gke-node-pool-provisioning-model" not in pool["nodeConfig"]["resourceLabels"]
    others = [r for r in dev.resources if r["type"].startswith("gcp:") and r["type"] != CLUSTER]
    assert [r["name"] for r in others if r["options"]["ignoreChanges"]] == []


# ------------------------------------------------------------------------------ images


def test_docker_hub_images_are_pulled_through_the_remote_repository(options: Rendered) -> None:
    (repository,) = options.of_type("gcp:artifactregistry/repository:Repository")
    inputs = repository["inputs"]
    assert inputs["mode"] == "REMOTE_REPOSITORY"
    assert inputs["format"] == "DOCKER"
    assert inputs["location"] == "us-central1"
    assert inputs["remoteRepositoryConfig"]["dockerRepository"] == {
        "publicRepository": "DOCKER_HUB"
    }
    registry = f"us-central1-docker.pkg.dev/your-gcp-project/{inputs['repositoryId']}/"
    images = {
        line.split("image:", 1)[1].strip()
        for path in options.manifests()
        for line in path.read_text().splitlines()
        if line.strip().startswith("image:")
    }
    assert images
    assert [image for image in images if not image.startswith(registry)] == []
    # The digest pin travels with the image: the remote repository serves Docker Hub's manifests.
    assert f"{registry}library/{Images.model_validate({}).postgres}" in images
    # Pods start only after the cluster component, the repository included.
    (namespace,) = options.of_type("kubernetes:core/v1:Namespace")
    assert repository["urn"] in namespace["dependencies"]


def test_without_the_mirror_images_come_from_docker_hub() -> None:
    bare = render("dev", overrides=["platform.dockerHubMirror=false"])
    assert bare.of_type("gcp:artifactregistry/repository:Repository") == []
    assert "artifactregistry.googleapis.com" not in {
        s["inputs"]["service"] for s in bare.of_type(SERVICE)
    }


# ------------------------------------------------------------------------------ the data disk


def test_postgres_disk_is_named_per_deploy(dev: Rendered) -> None:
    """A re-deploy after `destroy` never meets "already exists": the kept disk stays, but the
    suffix (a RandomId, not retained) is forgotten with the stack and drawn anew."""
    (disk,) = dev.of_type(DISK)
    (suffix,) = [r for r in dev.of_type(RANDOM_ID) if r["name"].endswith("disk-suffix")]
    assert disk["options"]["retainOnDelete"] is True
    assert suffix["options"]["retainOnDelete"] is False
    assert suffix["urn"] in _dependencies(disk)
    assert re.fullmatch(r"itn-dev-postgres-[0-9a-f]{6}", disk["inputs"]["name"])
    assert len(disk["inputs"]["name"]) <= 63


def test_a_kept_disk_is_reattached_not_recreated(dev: Rendered) -> None:
    """The other path: the earlier deploy's disk (its `postgres.dataDisk`), set as
    `postgres.existingDisk`, is attached and no new disk is made."""
    kept = dev.outputs["postgres"]["dataDisk"]
    rendered = render("dev", overrides=[f"postgres.existingDisk={kept}"])
    assert rendered.of_type(DISK) == []
    assert [r for r in rendered.of_type(RANDOM_ID) if r["name"].endswith("disk-suffix")] == []
    (volume,) = rendered.of_type("kubernetes:core/v1:PersistentVolume")
    assert volume["inputs"]["spec"]["csi"]["volumeHandle"] == kept
    assert rendered.outputs["postgres"]["dataDisk"] == kept
