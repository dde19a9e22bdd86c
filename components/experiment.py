"""One experiment: the platform, the Mina network, the perf services, the worker pool, the
orchestrator workspace, and the stack outputs the post-deploy runner reads."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.clock import Clock
from components.context import ExperimentContext, GkeNetworking, node_specs
from components.keys import ExperimentKeys
from components.labels import Labels, expiry_label
from components.platform import ExistingCluster, GkeCluster
from minaperf.config import ExperimentConfig, GkePlatform


class Experiment(pulumi.ComponentResource):
    stack_outputs: dict[str, Any]

    def __init__(
        self, name: str, config: ExperimentConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:index:Experiment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        started = Clock(f"{name}-started", delay_minutes=0, opts=child)
        expiry = started.timestamp.apply(
            lambda moment: expiry_label(moment, config.metadata.ttl_hours)
        )
        labels = Labels(
            experiment=config.name,
            owner=config.metadata.owner,
            expiry=expiry,
            extra=config.metadata.labels,
        )

        platform = config.platform
        gke: GkeNetworking | None = None
        gcp_provider: gcp.Provider | None = None
        if isinstance(platform, GkePlatform):
            gcp_provider = gcp.Provider(
                f"{name}-gcp",
                project=platform.project,
                region=platform.region,
                zone=platform.zone,
                opts=child,
            )
            cluster = GkeCluster(
                f"itn-{name}",
                config,
                platform,
                labels,
                opts=pulumi.ResourceOptions(parent=self, providers={"gcp": gcp_provider}),
            )
            k8s_provider = cluster.provider
            gke = GkeNetworking(
                project=platform.project,
                region=platform.region,
                zone=platform.zone,
                network=cluster.network.id,
                subnet=cluster.subnet.id,
                subnet_cidr=platform.network.subnet_cidr,
                worker_tag=f"itn-{name}-snark-worker",
            )
            trusted = (platform.network.pods_cidr, platform.network.subnet_cidr)
            platform_ready: list[pulumi.Resource] = [cluster]
        else:
            existing = ExistingCluster(f"itn-{name}", platform, opts=child)
            k8s_provider = existing.provider
            trusted = tuple(platform.pod_cidrs)
            platform_ready = [existing]

        in_cluster = pulumi.ResourceOptions(
            parent=self,
            providers={
                "kubernetes": k8s_provider,
                **({"gcp": gcp_provider} if gcp_provider else {}),
            },
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": config.namespace, "labels": labels.k8s("experiment")},
            opts=pulumi.ResourceOptions.merge(
                in_cluster,
                pulumi.ResourceOptions(
                    custom_timeouts=pulumi.CustomTimeouts(delete="20m"),
                ),
            ),
        )
        if config.network.genesis_timestamp is not None:
            genesis_timestamp = pulumi.Output.from_input(config.network.genesis_timestamp)
        else:
            genesis_timestamp = Clock(
                f"{name}-genesis",
                delay_minutes=config.network.genesis_delay_minutes,
                opts=pulumi.ResourceOptions(parent=self, depends_on=platform_ready),
            ).timestamp

        nodes = node_specs(config)
        keys = ExperimentKeys(
            f"{name}-keys",
            config.keys,
            nodes,
            config.network.funding_accounts,
            opts=child,
        )
        self.context = ExperimentContext(
            config=config,
            labels=labels,
            namespace=namespace.metadata.apply(lambda metadata: metadata.name or config.namespace),
            namespace_resource=namespace,
            keys=keys,
            genesis_timestamp=genesis_timestamp,
            trusted_cidrs=trusted,
            gke=gke,
            gcp_provider=gcp_provider,
        )
        self.stack_outputs = {
            "experiment": config.name,
            "namespace": config.namespace,
            "platform": platform.kind,
            "expiresAt": started.timestamp.apply(lambda _: expiry),
            "genesisTimestamp": genesis_timestamp,
            "slotDurationMs": config.network.slot_duration_ms,
            "proofLevel": config.network.proof_level,
        }
        self.register_outputs({})
