"""Where the experiment runs: a new private GKE cluster, or an existing cluster.

Both expose the same things to the services: one explicit Kubernetes provider, the address
ranges pods and snark workers come from (for the daemons' client trustlist), and, on GKE, the
subnet the worker VMs join.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import POOL_LABEL
from components.labels import Labels
from minaperf.config import (
    ExperimentConfig,
    GkePlatform,
    KubernetesPlatform,
)
from minaperf.kubeconfig import gke_kubeconfig
from minaperf.sizing import mina_pool_size, services_pool_size

NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
NODE_ROLES = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/artifactregistry.reader",
]
IAP_RANGE = "35.235.240.0/20"
"""Google's Identity-Aware Proxy range: SSH to worker VMs without public addresses."""


class GkeCluster(pulumi.ComponentResource):
    """VPC + subnet with secondary ranges, Cloud NAT, a private GKE cluster and its node pools."""

    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]
    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    cluster: gcp.container.Cluster

    def __init__(
        self,
        name: str,
        config: ExperimentConfig,
        platform: GkePlatform,
        labels: Labels,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:platform:GkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        gcp_labels = labels.gcp()
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

        node_account = gcp.serviceaccount.Account(
            f"{name}-nodes",
            account_id=f"{name}-nodes"[:30],
            project=platform.project,
            display_name=f"GKE nodes of experiment {config.name}",
            opts=child,
        )
        for role in NODE_ROLES:
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('.')[-1].lower()}",
                project=platform.project,
                role=role,
                member=node_account.email.apply(lambda email: f"serviceAccount:{email}"),
                opts=child,
            )

        self.cluster = gcp.container.Cluster(
            name,
            name=name,
            project=platform.project,
            location=platform.zone,
            network=self.network.id,
            subnetwork=self.subnet.id,
            remove_default_node_pool=True,
            initial_node_count=1,
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
                    {"cidr_block": cidr, "display_name": "admin"}
                    for cidr in config.access.admin_cidrs
                ],
            },
            workload_identity_config={"workload_pool": f"{platform.project}.svc.id.goog"},
            release_channel={"channel": platform.release_channel},
            resource_labels=gcp_labels,
            opts=child,
        )

        mina_pool = platform.pools.mina
        services_pool = platform.pools.services
        pools = {
            "mina": (mina_pool, mina_pool_size(config, platform)),
            "services": (services_pool, services_pool_size(config, platform)),
        }
        for pool_name, (pool, count) in pools.items():
            gcp.container.NodePool(
                f"{name}-{pool_name}",
                name=pool_name,
                project=platform.project,
                location=platform.zone,
                cluster=self.cluster.name,
                node_count=count,
                node_config={
                    "machine_type": pool.machine_type,
                    "spot": pool.spot,
                    "disk_size_gb": pool.disk_gb,
                    "disk_type": "pd-balanced",
                    "service_account": node_account.email,
                    "oauth_scopes": NODE_SCOPES,
                    "workload_metadata_config": {"mode": "GKE_METADATA"},
                    "resource_labels": gcp_labels,
                    "labels": {POOL_LABEL: pool_name},
                },
                management={"auto_repair": True, "auto_upgrade": True},
                opts=child,
            )

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
            opts=child,
        )
        self.register_outputs({"clusterName": self.cluster.name, "network": self.network.name})


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
            path = Path(platform.kubeconfig).expanduser()
            if not path.is_file():
                raise pulumi.RunError(
                    f"config error: platform.kubeconfig: {path} does not exist; "
                    "point it at your kubeconfig or leave it unset to use $KUBECONFIG"
                )
            kubeconfig = path.read_text()
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig is not None else None,
            context=platform.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
