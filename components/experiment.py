"""One experiment: the platform, the Mina network, the perf services, the worker pool, the
orchestrator workspace, and the stack outputs the post-deploy runner reads."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.clock import Clock
from components.context import ExperimentContext, GkeNetworking, node_specs
from components.dashboard import Dashboard
from components.keys import ExperimentKeys
from components.labels import Labels, expires_at, expiry_label
from components.log_fetcher import LogFetcher
from components.mina_network import MinaNetwork
from components.orchestrator import OrchestratorWorkspace
from components.platform import ExistingCluster, GkeCluster
from components.postgres import Postgres
from components.uptime import UptimeBackend
from components.worker_pool import SnarkWorkerPool
from minaperf.config import ExperimentConfig, GkePlatform, KubernetesPlatform
from minaperf.orchestrator.config import LOG_FILE_NAME, OrchestratorConfig, config_text
from minaperf.sizing import estimated_hourly_cost

WORKSPACE_DIR = "/work"
WORKSPACE_MINA_EXEC = "mina"


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
                    # After the node pools too, not only the cluster: awaited workloads would
                    # otherwise time out while their pool is still being created.
                    depends_on=platform_ready,
                    custom_timeouts=pulumi.CustomTimeouts(delete="20m"),
                    # On an existing cluster PostgreSQL's claim lives in this namespace: keeping
                    # the data means keeping the namespace (every workload in it is deleted).
                    retain_on_delete=isinstance(platform, KubernetesPlatform)
                    and config.postgres.keep_data_on_destroy,
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
        ctx = self.context
        in_namespace = pulumi.ResourceOptions.merge(
            in_cluster, pulumi.ResourceOptions(depends_on=[namespace])
        )
        uptime = UptimeBackend(f"{name}-uptime", ctx, opts=in_namespace)
        network = MinaNetwork(
            f"{name}-mina", ctx, uptime_submit_url=uptime.submit_url, opts=in_namespace
        )
        postgres = Postgres(f"{name}-postgres", ctx, opts=in_namespace)
        fetcher = LogFetcher(
            f"{name}-logs", ctx, postgres=postgres, online_url=uptime.online_url, opts=in_namespace
        )
        dashboard_url: pulumi.Output[str | None] | None = None
        if config.dashboard.enabled:
            dashboard_url = Dashboard(
                f"{name}-dashboard",
                ctx,
                postgres=postgres,
                log_api_url=fetcher.log_api_url,
                fetcher_url=fetcher.fetcher_url,
                opts=in_namespace,
            ).url
        worker_summary: dict[str, Any] = {}
        if network.coordinator_host is not None:
            worker_summary = SnarkWorkerPool(
                f"{name}-workers",
                ctx,
                coordinator_host=network.coordinator_host,
                coordinator_port=config.network.client_port,
                opts=in_namespace,
            ).summary

        params = config.network
        fund_daemon_ports = [f"{node.service_host}:{params.client_port}" for node in network.nodes]
        orchestrator_key = keys.material.apply(lambda material: material.orchestrator.secret_b64)
        orchestrator_config = pulumi.Output.secret(
            pulumi.Output.all(orchestrator_key, genesis_timestamp).apply(
                lambda values: config_text(
                    OrchestratorConfig(
                        key=values[0],
                        onlineURL=uptime.online_url,
                        fundDaemonPorts=fund_daemon_ports,
                        minaExec=WORKSPACE_MINA_EXEC,
                        slotDurationMs=params.slot_duration_ms,
                        genesisTimestamp=values[1],
                        logFile=f"{WORKSPACE_DIR}/{LOG_FILE_NAME}",
                    ),
                    show_secrets=True,
                )
            )
        )
        workspace = OrchestratorWorkspace(
            f"{name}-orchestrator",
            ctx,
            orchestrator_config=orchestrator_config,
            opts=in_namespace,
        ).workspace

        def node_output(node: Any) -> pulumi.Output[dict[str, Any]]:
            return node.public_key.apply(
                lambda public_key: {
                    "name": node.name,
                    "role": node.role,
                    "publicKey": public_key,
                    "service": node.service_host,
                    "pod": node.pod,
                    "clientPort": params.client_port,
                    "graphqlPort": params.graphql_port,
                    "itnPort": params.itn_port,
                    "libp2pPort": params.libp2p_port,
                }
            )

        funding_keys = pulumi.Output.secret(
            keys.material.apply(
                lambda material: [
                    {
                        "publicKey": account.public_key,
                        "privateKey": account.private_key,
                        "keyFile": account.key_file,
                        "password": account.password,
                    }
                    for account in material.funding
                ]
            )
        )
        self.stack_outputs = {
            "experiment": config.name,
            "namespace": config.namespace,
            "platform": platform.kind,
            "expiresAt": started.timestamp.apply(
                lambda moment: expires_at(moment, config.metadata.ttl_hours)
            ),
            "nodes": pulumi.Output.all(*[node_output(node) for node in network.nodes]),
            "seedMultiaddr": network.seed_multiaddr,
            "uptimeOnlineUrl": uptime.online_url,
            "uptimeSubmitUrl": uptime.submit_url,
            "genesisTimestamp": genesis_timestamp,
            "slotDurationMs": params.slot_duration_ms,
            "proofLevel": params.proof_level,
            "fundDaemonPorts": fund_daemon_ports,
            "orchestratorKey": pulumi.Output.secret(orchestrator_key),
            "orchestratorPublicKey": keys.public.apply(
                lambda summary: summary["itn"]["orchestrator"]
            ),
            "fetcherPublicKey": keys.public.apply(lambda summary: summary["itn"]["fetcher"]),
            "fundingKeys": funding_keys,
            "workspace": workspace,
            "logApiUrl": fetcher.log_api_url,
            "postgres": pulumi.Output.all(postgres.external_address, postgres.data_disk).apply(
                lambda values: {
                    "host": postgres.host,
                    "port": postgres.port,
                    "database": postgres.database,
                    "user": postgres.user,
                    "externalAddress": values[0],
                    "dataDisk": values[1],
                    "keepDataOnDestroy": config.postgres.keep_data_on_destroy,
                }
            ),
            "postgresPassword": pulumi.Output.secret(postgres.password),
            "dashboardUrl": dashboard_url,
            "workerPool": worker_summary,
            "estimatedHourlyCostUsd": estimated_hourly_cost(config),
        }
        self.register_outputs({})
