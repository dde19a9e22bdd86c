"""Where the experiment runs: a new private GKE cluster, or an existing cluster.

Both expose the same things to the services: one explicit Kubernetes provider, the address
ranges pods and snark workers come from (for the daemons' client trustlist), and, on GKE, the
subnet the worker VMs join.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import POOL_LABEL
from components.labels import Labels
from minaperf.cloud.gcp_project import docker_hub_repository_id, required_apis, upgrade_exclusion
from minaperf.cloud.kubeconfig import gke_kubeconfig
from minaperf.model.config import ConfigError, GkePlatform, KubernetesPlatform
from minaperf.model.local_inputs import read_kubeconfig
from policy.markers import NODES_ACCOUNT, service_account_id

NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
NODE_ROLES = [
    # What GKE recommends for a custom node service account: logs, metrics and the other node
    # agents (cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster
    # #use_least_privilege_sa).
    "roles/container.defaultNodeServiceAccount",
    # Image pulls from Artifact Registry (the Docker Hub remote repository, if enabled).
    "roles/artifactregistry.reader",
]
MAINTENANCE_WINDOW_START = "03:00"
"""Daily, UTC. pulumi-gcp needs exactly one window beside the exclusions (terraform-provider-google
@e03b7622 google/services/container/resource_container_cluster.go:1230)."""
KMS_ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

POOLS = ("mina", "services")
"""The cluster's node pools, in the order sent. The provider reads them back in the API's order
(resource_container_cluster.go:7481), which is this one by creation and by name alike, so the
recorded list lines up with the inputs and `NODE_POOL_IGNORED`'s indexes."""
NODE_POOL_IGNORED = [
    # GKE writes `goog-gke-node-pool-provisioning-model` (on-demand/spot) into a node pool's
    # resource labels after create. The provider suppresses `goog-gke*` keys in its own diff
    # (terraform-provider-google@e03b7622 google/services/container/node_config.go:3277,
    # hashicorp/terraform-provider-google#21082), but once `pulumi refresh` has copied the key
    # into the recorded inputs, the next `up` would try to remove it: keep what is recorded.
    f'nodePools[{index}].nodeConfig.resourceLabels["goog-gke-node-pool-provisioning-model"]'
    for index in range(len(POOLS))
]
"""Fields GKE changes after create on the resources this module makes. Checked and not needed:
`databaseEncryption.state` (GKE answers ALL_OBJECTS_ENCRYPTION_ENABLED for ENCRYPTED; the provider
suppresses it, hashicorp/terraform-provider-google#27040), node pool `version` and the
cluster's `masterVersion` (auto-upgrade; computed, never set here), `nodeConfig.kubeletConfig`
(server defaults accepted since hashicorp/terraform-provider-google#19817), Disk `labels` (the
provider only manages the keys it sets since v5's label model), the cluster's top-level
`nodeConfig` (never set: GKE fills it with the first pool's config, and an Optional+Computed
block left unset is not diffed, node_config.go:280-284)."""
CLUSTER_SCAN_EXCEPTIONS = {
    "CKV_GCP_12": "NetworkPolicy is enforced by GKE Dataplane V2 (datapath_provider "
    "ADVANCED_DATAPATH); the Calico network_policy add-on this check looks for cannot be "
    "combined with it",
    "CKV_GCP_61": "intranode visibility sends same-node pod traffic through the VPC, changing "
    "the network path the performance experiment measures; it only serves flow logs, which are "
    "off (see CKV_GCP_26)",
    "CKV_GCP_65": "RBAC through Google Groups needs the organisation's gke-security-groups "
    "group, which an experiment project cannot assume; access is IAM (container.developer) on a "
    "short-lived project",
    "CKV_GCP_66": "Binary Authorization needs attestors and a signing pipeline for upstream "
    "images; instead every image is pinned by digest (scripts.pin, policy "
    "images-pinned-by-digest)",
    "CKV_GCP_69": "the cluster makes no default pool, so it has no node_config, the only place "
    "this check reads; every node_pool block sets GKE_METADATA and is scanned as a node pool "
    "(scripts/gcp_scan.py), and policy node-metadata-concealed checks each",
    "CKV_GCP_123": "the node pools are the cluster's own so that no default pool is created and "
    "deleted before them on the deploy's critical path (docs/gcp-deploy.md, 'The node pools are "
    "the cluster's'); adding or removing a pool replaces the cluster, which a one-experiment "
    "stack accepts",
}
"""checkov Terraform checks the GKE cluster does not meet, with the reason (scripts.gcp_scan
writes them into the scanned resource as skip comments)."""
SUBNET_SCAN_EXCEPTIONS = {
    "CKV_GCP_26": "VPC flow logs of a 200-node gossip network are billed per GB and record "
    "nothing the experiment needs; Cloud NAT logs its errors",
}
"""checkov Terraform checks the subnet does not meet, with the reason."""

IAP_RANGE = "35.235.240.0/20"
"""Google's Identity-Aware Proxy range: SSH to worker VMs without public addresses."""


@dataclass(frozen=True)
class GkeClusterArgs:
    """What the cluster reads from the config, the labels and the wiring."""

    experiment: str
    """The stack name: names the node account and the Docker Hub mirror."""
    platform: GkePlatform
    admin_cidrs: list[str]
    """Who may reach the control plane (`access.adminCidrs`)."""
    ttl_hours: int
    """How long no upgrade may start (the maintenance exclusion)."""
    pool_sizes: dict[str, int]
    """Nodes per pool (`mina`, `services`), sized for the experiment's pods."""
    labels: Labels
    started: pulumi.Output[str]
    """The deploy's start: the maintenance exclusion begins there."""


class GkeCluster(pulumi.ComponentResource):
    """VPC + subnet with secondary ranges, Cloud NAT, a private GKE cluster with its node pools."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    cluster: gcp.container.Cluster

    def __init__(
        self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:platform:GkeCluster", name, None, opts)
        platform = args.platform
        gcp_labels = args.labels.gcp()
        self._network(name, platform)
        node_account, node_grants = self._node_account(name, args)
        self.cluster = self._cluster(name, args, node_account, node_grants)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.master_auth.cluster_ca_certificate,
            ).apply(
                lambda values: gke_kubeconfig(
                    context=f"gke_{platform.project}_{platform.zone}_{values[0]}",
                    endpoint=values[1],
                    ca_certificate=values[2] or "",
                )
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            cluster_identifier=self.cluster.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.image_registry: pulumi.Output[str] | None = None
        if platform.docker_hub_mirror:
            repository = gcp.artifactregistry.Repository(
                f"{name}-docker-hub",
                project=platform.project,
                location=platform.region,
                repository_id=docker_hub_repository_id(args.experiment),
                format="DOCKER",
                mode="REMOTE_REPOSITORY",
                description=f"Docker Hub pull-through cache of experiment {args.experiment}",
                remote_repository_config={
                    "description": "Docker Hub",
                    "docker_repository": {"public_repository": "DOCKER_HUB"},
                },
                labels=gcp_labels,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.image_registry = repository.registry_uri
        self.register_outputs({"clusterName": self.cluster.name, "network": self.network.name})

    def _network(self, name: str, platform: GkePlatform) -> None:
        """The VPC, the subnet with the pod and service ranges, Cloud NAT, IAP SSH."""
        child = pulumi.ResourceOptions(parent=self)
        ranges = platform.network
        self.network = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{name}-vpc",
            project=platform.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{name}-subnet",
            project=platform.project,
            region=platform.region,
            network=self.network.id,
            ip_cidr_range=ranges.subnet_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                {"range_name": "pods", "ip_cidr_range": ranges.pods_cidr},
                {"range_name": "services", "ip_cidr_range": ranges.services_cidr},
            ],
            opts=child,
        )
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{name}-router",
            project=platform.project,
            region=platform.region,
            network=self.network.id,
            opts=child,
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{name}-nat",
            project=platform.project,
            region=platform.region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child,
        )
        gcp.compute.Firewall(
            f"{name}-iap-ssh",
            name=f"{name}-iap-ssh",
            project=platform.project,
            network=self.network.id,
            direction="INGRESS",
            allows=[{"protocol": "tcp", "ports": ["22"]}],
            source_ranges=[IAP_RANGE],
            target_tags=[f"{name}-snark-worker"],
            description="SSH to snark worker VMs through Identity-Aware Proxy only",
            opts=child,
        )

    def _node_account(
        self, name: str, args: GkeClusterArgs
    ) -> tuple[gcp.serviceaccount.Account, list[gcp.projects.IAMMember]]:
        """The nodes' own service account and its grants."""
        child = pulumi.ResourceOptions(parent=self)
        platform = args.platform
        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=service_account_id(args.experiment, NODES_ACCOUNT),
            project=platform.project,
            display_name=f"GKE nodes of experiment {args.experiment}",
            description=args.labels.service_account_description(),
            opts=child,
        )
        node_grants = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('.')[-1].lower()}",
                project=platform.project,
                role=role,
                member=node_account.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )
            for role in NODE_ROLES
        ]
        return node_account, node_grants

    def _cluster(
        self,
        name: str,
        args: GkeClusterArgs,
        node_account: gcp.serviceaccount.Account,
        node_grants: list[gcp.projects.IAMMember],
    ) -> gcp.container.Cluster:
        platform, ranges = args.platform, args.platform.network
        gcp_labels = args.labels.gcp()
        return gcp.container.Cluster(
            name,
            name=name,
            project=platform.project,
            location=platform.zone,
            network=self.network.id,
            subnetwork=self.subnet.id,
            # Our pools are the cluster's own, created with it in one operation: no default pool
            # made and deleted before separate pools could start (docs/gcp-deploy.md, "The node
            # pools are the cluster's"). Node counts, machine types and disk sizes still update
            # in place (render_diff.REPLACE_ON_CHANGE lists what replaces the cluster instead).
            node_pools=self._node_pools(args, node_account.email, gcp_labels),
            deletion_protection=False,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={
                "cluster_secondary_range_name": "pods",
                "services_secondary_range_name": "services",
            },
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": False,
                "master_ipv4_cidr_block": ranges.master_cidr,
            },
            master_authorized_networks_config={
                "cidr_blocks": [
                    {"cidr_block": cidr, "display_name": "admin"} for cidr in args.admin_cidrs
                ],
                # Only the listed ranges: not every Google Cloud public address as well.
                "gcp_public_cidrs_access_enabled": False,
            },
            # No client certificate: the kubeconfig authenticates through IAM (CIS GKE 5.8.2;
            # GKE's default, stated so a change is a visible diff).
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            workload_identity_config={"workload_pool": f"{platform.project}.svc.id.goog"},
            release_channel={"channel": platform.release_channel},
            # GKE Dataplane V2 (eBPF): enforces NetworkPolicy without the Calico add-on.
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            database_encryption=self._secrets_encryption(name, platform),
            maintenance_policy=args.started.apply(
                lambda moment: _maintenance_policy(moment, args.ttl_hours)
            ),
            resource_labels=gcp_labels,
            # The nodes start with the node account's roles already granted.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=node_grants, ignore_changes=NODE_POOL_IGNORED
            ),
        )

    @staticmethod
    def _node_pools(
        args: GkeClusterArgs,
        account: pulumi.Output[str],
        gcp_labels: pulumi.Output[dict[str, str]],
    ) -> list[gcp.container.ClusterNodePoolArgsDict]:
        counts, platform = args.pool_sizes, args.platform
        shapes = {"mina": platform.pools.mina, "services": platform.pools.services}
        return [
            {
                "name": pool_name,
                "node_count": counts[pool_name],
                "node_config": {
                    "machine_type": shapes[pool_name].machine_type,
                    "spot": shapes[pool_name].spot,
                    "disk_size_gb": shapes[pool_name].disk_gb,
                    "disk_type": "pd-balanced",
                    "service_account": account,
                    "oauth_scopes": NODE_SCOPES,
                    # Pods reach the GKE metadata server, never the node's own credentials.
                    "workload_metadata_config": {"mode": "GKE_METADATA"},
                    "shielded_instance_config": {
                        "enable_secure_boot": True,
                        "enable_integrity_monitoring": True,
                    },
                    "resource_labels": gcp_labels,
                    "labels": {POOL_LABEL: pool_name},
                },
                "management": {"auto_repair": True, "auto_upgrade": True},
            }
            for pool_name in POOLS
        ]

    def _secrets_encryption(
        self, name: str, platform: GkePlatform
    ) -> gcp.container.ClusterDatabaseEncryptionArgsDict | None:
        """Application-layer Secrets encryption with `platform.secretsKmsKey`: GKE's service agent
        must be able to use the key before the cluster is created."""
        key = platform.secrets_kms_key
        if key is None:
            return None
        project = gcp.organizations.get_project_output(
            project_id=platform.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-secrets-key",
            crypto_key_id=key,
            role=KMS_ENCRYPTER,
            member=project.number.apply(
                lambda number: f"serviceAccount:{gke_service_agent(number)}"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return {
            "state": "ENCRYPTED",
            # Through the grant's output: the cluster is created after the grant.
            "key_name": grant.crypto_key_id,
        }


def gke_service_agent(project_number: str) -> str:
    """GKE's Google-managed service account in a project (it encrypts Secrets with the key)."""
    return f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com"


def _maintenance_policy(
    started: str, ttl_hours: int
) -> gcp.container.ClusterMaintenancePolicyArgsDict:
    # Starts at the deploy's "now", already past when the cluster is created: GKE takes an
    # exclusion that is already running (GoogleCloudPlatform/cluster-toolkit#5910 starts its
    # exclusions at cluster creation the same way).
    window = upgrade_exclusion(started, ttl_hours)
    return {
        "daily_maintenance_window": {"start_time": MAINTENANCE_WINDOW_START},
        "maintenance_exclusions": [
            {
                "exclusion_name": "experiment-ttl",
                "start_time": window.start,
                "end_time": window.end,
                # No control plane or node upgrades: a node upgrade restarts every daemon on it.
                "exclusion_options": {"scope": "NO_UPGRADES"},
            }
        ],
    }


class ProjectApis(pulumi.ComponentResource):
    """The APIs `up` calls, enabled in the project. Never disabled on destroy: another stack (or
    team) in the same project may use them."""

    services: list[gcp.projects.Service]

    def __init__(
        self, name: str, platform: GkePlatform, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:platform:ProjectApis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=platform.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in required_apis(platform)
        ]
        self.register_outputs({})


def gcp_provider(
    name: str, platform: GkePlatform, opts: pulumi.ResourceOptions | None = None
) -> gcp.Provider:
    """The experiment's GCP provider, usable only once the project's APIs are enabled.

    The APIs are enabled through a provider of their own; the experiment's provider depends on
    them, and every GCP resource uses it, so nothing (VPC, cluster, disk, worker VMs) is created
    before its API is on, whichever component creates it.
    """
    bootstrap = gcp.Provider(
        f"{name}-gcp-apis",
        project=platform.project,
        region=platform.region,
        zone=platform.zone,
        opts=opts,
    )
    apis = ProjectApis(
        f"{name}-apis",
        platform,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=bootstrap)),
    )
    return gcp.Provider(
        f"{name}-gcp",
        project=platform.project,
        region=platform.region,
        zone=platform.zone,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=apis.services)),
    )


class ExistingCluster(pulumi.ComponentResource):
    """A cluster that already exists, reached with the given kubeconfig and context."""

    provider: k8s.Provider

    def __init__(
        self,
        name: str,
        platform: KubernetesPlatform,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:platform:ExistingCluster", name, None, opts)
        kubeconfig: str | None = None
        if platform.kubeconfig is not None:
            try:
                kubeconfig = read_kubeconfig(platform.kubeconfig)
            except ConfigError as error:
                raise pulumi.RunError(
                    f"config error: {error} (or leave it unset to use $KUBECONFIG)"
                ) from None
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig is not None else None,
            context=platform.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
