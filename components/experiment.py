"""One experiment: the platform, the Mina network, the perf services, the worker pool, the
orchestrator workspace, and the stack outputs the post-deploy runner reads.

`Experiment.__init__` is the wiring, one call per part; each part is a method below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.clock import Clock
from components.context import ExperimentContext, ExperimentNamespace, GkeNetworking, node_specs
from components.disruption import ServiceDisruptionBudgets
from components.keys import ExperimentKeys
from components.labels import Labels, expires_at, expiry_label
from components.log_fetcher import LogFetcher, LogFetcherArgs
from components.mina_network import MinaNetwork, MinaNetworkArgs, MinaNodeInfo
from components.network_policy import NetworkPolicies, NetworkPolicyArgs, flows
from components.orchestrator import OrchestratorWorkspace, WorkspaceArgs
from components.platform import ExistingCluster, GkeCluster, GkeClusterArgs
from components.platform import gcp_provider as platform_gcp_provider
from components.postgres import Postgres, PostgresArgs
from components.security import POD_SECURITY_LABELS
from components.uptime import UptimeArgs, UptimeBackend
from components.worker_pool import SnarkWorkerPool, WorkerPoolArgs
from minaperf.cloud.gcp_project import estimated_hourly_cost
from minaperf.model.config import ExperimentConfig, GkePlatform, KubernetesPlatform, NetworkParams
from minaperf.model.sizing import mina_pool_size, services_pool_size
from minaperf.orchestrator.config import LOG_FILE_NAME, OrchestratorConfig, config_text
from policy.markers import K8S_KEPT_DATA_LABEL

WORKSPACE_DIR = "/work"
WORKSPACE_MINA_EXEC = "mina"


@dataclass(frozen=True)
class PlatformParts:
    """What the chosen platform hands to everything that runs on it."""

    k8s_provider: k8s.Provider
    gcp_provider: gcp.Provider | None
    gke: GkeNetworking | None
    trusted_cidrs: tuple[str, ...]
    ready: list[pulumi.Resource]
    """In-cluster objects wait for these: the cluster and its node pools."""


@dataclass(frozen=True)
class NetworkParts:
    uptime: UptimeBackend
    mina: MinaNetwork


@dataclass(frozen=True)
class ServiceParts:
    postgres: Postgres
    fetcher: LogFetcher


class Experiment(pulumi.ComponentResource):
    stack_outputs: dict[str, Any]

    def __init__(
        self, name: str, config: ExperimentConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:index:Experiment", name, None, opts)
        self._name = name
        self._config = config
        started = Clock(f"{name}-started", delay_minutes=0, opts=self._child())
        labels = self._labels(started)
        platform = self._platform(labels, started)
        ctx = self._context(platform, labels)
        network = self._network(ctx)
        services = self._services(ctx, network)
        workers = self._workers(ctx, network)
        workspace = self._workspace(ctx, network)
        self.stack_outputs = self._outputs(ctx, started, network, services, workers, workspace)
        self.register_outputs({})

    # ------------------------------------------------------------------------------- parts

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _labels(self, started: Clock) -> Labels:
        config = self._config
        expiry = started.timestamp.apply(
            lambda moment: expiry_label(moment, config.metadata.ttl_hours)
        )
        return Labels(
            experiment=config.name,
            owner=config.metadata.owner,
            expiry=expiry,
            extra=config.metadata.labels,
        )

    def _platform(self, labels: Labels, started: Clock) -> PlatformParts:
        """A new GKE cluster in its own VPC, or an existing cluster from a kubeconfig."""
        name, config, platform = self._name, self._config, self._config.platform
        if not isinstance(platform, GkePlatform):
            existing = ExistingCluster(f"itn-{name}", platform, opts=self._child())
            return PlatformParts(
                k8s_provider=existing.provider,
                gcp_provider=None,
                gke=None,
                trusted_cidrs=tuple(platform.pod_cidrs),
                ready=[existing],
            )
        # Usable only once the project's APIs are enabled (see components.platform).
        gcp_provider = platform_gcp_provider(name, platform, opts=self._child())
        args = GkeClusterArgs(
            experiment=config.name,
            platform=platform,
            admin_cidrs=list(config.access.admin_cidrs),
            ttl_hours=config.metadata.ttl_hours,
            pool_sizes={
                "mina": mina_pool_size(config, platform),
                "services": services_pool_size(config, platform),
            },
            labels=labels,
            started=started.timestamp,
        )
        cluster = GkeCluster(
            f"itn-{name}",
            args,
            opts=pulumi.ResourceOptions(parent=self, providers={"gcp": gcp_provider}),
        )
        return PlatformParts(
            k8s_provider=cluster.provider,
            gcp_provider=gcp_provider,
            gke=GkeNetworking(
                project=platform.project,
                region=platform.region,
                zone=platform.zone,
                network=cluster.network.id,
                subnet=cluster.subnet.id,
                subnet_cidr=platform.network.subnet_cidr,
                worker_tag=f"itn-{name}-snark-worker",
            ),
            trusted_cidrs=(platform.network.pods_cidr, platform.network.subnet_cidr),
            ready=[cluster],
        )

    def _context(self, platform: PlatformParts, labels: Labels) -> ExperimentContext:
        """The namespace, the genesis time and the keys: what every component shares."""
        name, config = self._name, self._config
        self._in_cluster = pulumi.ResourceOptions(
            parent=self,
            providers={
                "kubernetes": platform.k8s_provider,
                **({"gcp": platform.gcp_provider} if platform.gcp_provider else {}),
            },
        )
        # On an existing cluster PostgreSQL's claim lives in this namespace: keeping the data
        # means keeping the namespace (every workload in it is deleted), marked for the janitor.
        keep = config.postgres.keep_data_on_destroy and isinstance(
            config.platform, KubernetesPlatform
        )
        kept = {K8S_KEPT_DATA_LABEL: "postgres"} if keep else {}
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": config.namespace,
                "labels": labels.k8s("experiment").apply(
                    lambda values: {**values, **POD_SECURITY_LABELS, **kept}
                ),
            },
            opts=pulumi.ResourceOptions.merge(
                self._in_cluster,
                pulumi.ResourceOptions(
                    # After the node pools too, not only the cluster: awaited workloads would
                    # otherwise time out while their pool is still being created.
                    depends_on=platform.ready,
                    custom_timeouts=pulumi.CustomTimeouts(delete="20m"),
                    retain_on_delete=keep,
                ),
            ),
        )
        self._in_namespace = pulumi.ResourceOptions.merge(
            self._in_cluster, pulumi.ResourceOptions(depends_on=[namespace])
        )
        if config.network.genesis_timestamp is not None:
            genesis_timestamp = pulumi.Output.from_input(config.network.genesis_timestamp)
        else:
            genesis_timestamp = Clock(
                f"{name}-genesis",
                delay_minutes=config.network.genesis_delay_minutes,
                opts=pulumi.ResourceOptions(parent=self, depends_on=platform.ready),
            ).timestamp
        keys = ExperimentKeys(
            f"{name}-keys",
            config.keys,
            node_specs(config),
            config.network.funding_accounts,
            opts=self._child(),
        )
        namespace_output = namespace.metadata.apply(
            lambda metadata: metadata.name or config.namespace
        )
        return ExperimentContext(
            config=config,
            keys=keys,
            genesis_timestamp=genesis_timestamp,
            trusted_cidrs=platform.trusted_cidrs,
            gke=platform.gke,
            where=ExperimentNamespace(
                name=config.namespace,
                output=namespace_output,
                labels=labels,
                on_gke=platform.gke is not None,
            ),
        )

    def _network(self, ctx: ExperimentContext) -> NetworkParts:
        """The namespace's NetworkPolicies (every pod starts behind the default deny), the
        daemons, and the uptime backend they submit to."""
        NetworkPolicies(
            f"{self._name}-network-policies",
            NetworkPolicyArgs(namespace=ctx.where, flows=flows(ctx.config)),
            opts=self._in_namespace,
        )
        uptime = UptimeBackend(
            f"{self._name}-uptime",
            UptimeArgs(
                namespace=ctx.where,
                image=ctx.config.images.uptime_backend,
                daemon_image=ctx.config.images.daemon,
                keys=ctx.keys.public,
            ),
            opts=self._in_namespace,
        )
        config = ctx.config
        args = MinaNetworkArgs(
            namespace=ctx.where,
            experiment=config.name,
            network=config.network,
            nodes=node_specs(config),
            resources=config.resources,
            daemon_image=config.images.daemon,
            storage_class=storage_class(config),
            trusted_cidrs=ctx.trusted_cidrs,
            gke=ctx.gke,
            keys=ctx.keys.material,
            public_keys=ctx.keys.public,
            genesis_timestamp=ctx.genesis_timestamp,
            uptime_submit_url=uptime.submit_url,
        )
        mina = MinaNetwork(f"{self._name}-mina", args, opts=self._in_namespace)
        return NetworkParts(uptime=uptime, mina=mina)

    def _services(self, ctx: ExperimentContext, network: NetworkParts) -> ServiceParts:
        """PostgreSQL, the log fetchers and the log API. No dashboard: docs/trace-path.md."""
        name, opts = self._name, self._in_namespace
        postgres = Postgres(f"{name}-postgres", postgres_args(ctx), opts=opts)
        fetcher = LogFetcher(f"{name}-logs", log_fetcher_args(ctx, postgres), opts=opts)
        ServiceDisruptionBudgets(f"{name}-budgets", ctx.where, opts=opts)
        return ServiceParts(postgres=postgres, fetcher=fetcher)

    def _workers(self, ctx: ExperimentContext, network: NetworkParts) -> dict[str, Any]:
        """The snark worker pool, when the network has a coordinator to feed."""
        if network.mina.coordinator_host is None:
            return {}
        config = ctx.config
        platform = config.platform
        args = WorkerPoolArgs(
            namespace=ctx.where,
            experiment=config.name,
            pool=config.worker_pool,
            proof_level=config.network.proof_level,
            daemon_image=config.images.daemon,
            gke=ctx.gke,
            worker_pods=platform.worker_pods if isinstance(platform, KubernetesPlatform) else 0,
            coordinator_host=network.mina.coordinator_host,
            coordinator_port=config.network.client_port,
        )
        return SnarkWorkerPool(f"{self._name}-workers", args, opts=self._in_namespace).summary

    def _workspace(self, ctx: ExperimentContext, network: NetworkParts) -> dict[str, Any]:
        """The orchestrator workspace, with its config file (a secret: it holds the key)."""
        params = ctx.config.network
        fund_daemon_ports = fund_ports(network.mina.nodes, params.client_port)
        orchestrator_key = ctx.keys.material.apply(
            lambda material: material.orchestrator.secret_b64
        )
        orchestrator_config = pulumi.Output.secret(
            pulumi.Output.all(orchestrator_key, ctx.genesis_timestamp).apply(
                lambda values: config_text(
                    OrchestratorConfig(
                        key=values[0],
                        onlineURL=network.uptime.online_url,
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
        args = WorkspaceArgs(
            namespace=ctx.where,
            orchestrator_image=ctx.config.images.orchestrator,
            daemon_image=ctx.config.images.daemon,
            funding_accounts=params.funding_accounts,
            keys=ctx.keys.material,
            public_keys=ctx.keys.public,
            storage_class=storage_class(ctx.config),
            orchestrator_config=orchestrator_config,
        )
        return OrchestratorWorkspace(
            f"{self._name}-orchestrator", args, opts=self._in_namespace
        ).workspace

    def _outputs(
        self,
        ctx: ExperimentContext,
        started: Clock,
        network: NetworkParts,
        services: ServiceParts,
        workers: dict[str, Any],
        workspace: dict[str, Any],
    ) -> dict[str, Any]:
        """The stack outputs (contract: minaperf/model/outputs.py).

        A value computed from something only the cloud knows (an address, the clock, keys from
        a random seed) is its own Output beside the configured values: render marks an Output
        computed from a mock value as invented as a whole (`mockValues`)."""
        config, keys, postgres = ctx.config, ctx.keys, services.postgres
        params = config.network
        return {
            "experiment": config.name,
            "namespace": config.namespace,
            "platform": config.platform.kind,
            "expiresAt": started.timestamp.apply(
                lambda moment: expires_at(moment, config.metadata.ttl_hours)
            ),
            "nodes": [node_output(node, params) for node in network.mina.nodes],
            "seedMultiaddr": network.mina.seed_multiaddr,
            "uptimeOnlineUrl": network.uptime.online_url,
            "uptimeSubmitUrl": network.uptime.submit_url,
            "genesisTimestamp": ctx.genesis_timestamp,
            "slotDurationMs": params.slot_duration_ms,
            "proofLevel": params.proof_level,
            "fundDaemonPorts": fund_ports(network.mina.nodes, params.client_port),
            "orchestratorKey": pulumi.Output.secret(
                keys.material.apply(lambda material: material.orchestrator.secret_b64)
            ),
            "orchestratorPublicKey": keys.public.apply(
                lambda summary: summary["itn"]["orchestrator"]
            ),
            "fetcherPublicKey": keys.public.apply(lambda summary: summary["itn"]["fetcher"]),
            "fundingKeys": pulumi.Output.secret(
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
            ),
            "workspace": workspace,
            "logApiUrl": services.fetcher.log_api_url,
            "logFetchers": services.fetcher.shard_nodes,
            "postgres": {
                "host": postgres.host,
                "port": postgres.port,
                "database": postgres.database,
                "user": postgres.user,
                "externalAddress": postgres.external_address,
                "dataDisk": postgres.data_disk,
                "keepDataOnDestroy": config.postgres.keep_data_on_destroy,
                "readerUser": postgres.reader,
                "caCertificate": postgres.ca_certificate,
            },
            "postgresPassword": pulumi.Output.secret(postgres.password),
            "postgresReaderPassword": postgres.reader_password,
            "workerPool": workers,
            "estimatedHourlyCostUsd": estimated_hourly_cost(config, pulumi.log.warn),
        }


def postgres_args(ctx: ExperimentContext) -> PostgresArgs:
    config = ctx.config
    platform = config.platform
    return PostgresArgs(
        namespace=ctx.where,
        experiment=config.name,
        settings=config.postgres,
        postgres_image=config.images.postgres,
        curl_image=config.images.curl,
        cluster_cidrs=config.pod_ranges,
        external_cidrs=config.postgres_cidrs,
        gke=platform if isinstance(platform, GkePlatform) else None,
        storage_class=storage_class(config),
    )


def log_fetcher_args(ctx: ExperimentContext, postgres: Postgres) -> LogFetcherArgs:
    config = ctx.config
    return LogFetcherArgs(
        namespace=ctx.where,
        experiment=config.name,
        owner=config.metadata.owner,
        ttl_hours=config.metadata.ttl_hours,
        nodes=node_specs(config),
        itn_port=config.network.itn_port,
        fetcher_image=config.images.log_fetcher,
        postgres_image=config.images.postgres,
        busybox_image=config.images.busybox,
        storage_class=storage_class(config),
        keys=ctx.keys.material,
        public_keys=ctx.keys.public,
        postgres=postgres,
    )


def storage_class(config: ExperimentConfig) -> str | None:
    """An existing cluster's `platform.storageClass` for claims (None: its default, or GKE)."""
    platform = config.platform
    return platform.storage_class if isinstance(platform, KubernetesPlatform) else None


def fund_ports(nodes: list[MinaNodeInfo], client_port: int) -> list[str]:
    """The orchestrator's `fundDaemonPorts`: every daemon's client port."""
    return [f"{node.service_host}:{client_port}" for node in nodes]


def node_output(node: MinaNodeInfo, params: NetworkParams) -> dict[str, Any]:
    """One entry of the `nodes` stack output."""
    return {
        "name": node.name,
        "role": node.role,
        "publicKey": node.public_key,
        "service": node.service_host,
        "pod": node.pod,
        "clientPort": params.client_port,
        "graphqlPort": params.graphql_port,
        "itnPort": params.itn_port,
        "libp2pPort": params.libp2p_port,
    }
