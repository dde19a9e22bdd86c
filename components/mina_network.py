"""The Mina network: seed, block producers, plain nodes and snark coordinator.

Every daemon is a one-replica StatefulSet (`seed-1`, `bp-2`, ...) with its own data volume; the
daemons of one role form a group sharing one headless Service and one key Secret, and all share
one runtime config and start script in immutable ConfigMaps named by their content's hash.
See docs/design.md#daemons-one-statefulset-each-grouped-by-role.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import POOL_LABEL as GKE_POOL_LABEL
from components.context import SKIP_AWAIT, ExperimentNamespace, GkeNetworking
from components.disruption import daemon_max_unavailable, disruption_budget
from components.labels import Labels
from components.security import container_security_args, pod_security_args, scanner_skips
from minaperf.keys.libp2p import seed_multiaddr
from minaperf.keys.material import KeyMaterial, NodeSpec, PublicSummary
from minaperf.model.config import ROLE_PREFIXES as ROLE_PREFIX
from minaperf.model.config import NetworkParams, Resources, RoleResources
from minaperf.model.pods import DAEMON_INIT_RESOURCES
from minaperf.shell.node_script import mina_node_script
from minaperf.workloads import daemon
from minaperf.workloads.genesis import build_runtime_config
from policy.markers import K8S_COMPONENT_LABEL, K8S_PREFIX

COMPONENT = "mina-daemon"
"""`app.kubernetes.io/component` of every daemon pod (anti-affinity spreads them)."""
CONFIG_COMPONENT = "mina-config"
ROLE_LABEL = f"{K8S_PREFIX}/role"
GKE_MINA_POOL = "mina"
"""Node label of the GKE node pool sized for the daemons (components/platform.py)."""
INIT_RESOURCES = DAEMON_INIT_RESOURCES
KEYS_VOLUME_LIMIT = "1Mi"
GKE_INTERNAL_LB = {"networking.gke.io/load-balancer-type": "Internal"}


@dataclass(frozen=True)
class MinaNodeInfo:
    name: str
    role: str
    service_host: str
    pod: str
    public_key: pulumi.Output[str]


@dataclass(frozen=True)
class MinaNetworkArgs:
    """What the daemons read from the config, the platform, the keys and the wiring."""

    namespace: ExperimentNamespace
    experiment: str
    network: NetworkParams
    nodes: list[NodeSpec]
    """Every daemon, in node order (`node_specs`)."""
    resources: RoleResources
    daemon_image: str
    storage_class: str | None
    """The existing cluster's storage class for the data volumes (None: the default)."""
    trusted_cidrs: tuple[str, ...]
    """Who may use a daemon's client port: the pod range and the worker pool's range."""
    gke: GkeNetworking | None
    """On GKE: the daemons' node pool and the coordinator's internal load balancer."""
    keys: pulumi.Output[KeyMaterial]
    public_keys: pulumi.Output[PublicSummary]
    genesis_timestamp: pulumi.Output[str]
    uptime_submit_url: str


@dataclass(frozen=True)
class DaemonSettings:
    """What every daemon of the network shares, handed from MinaNetwork to its groups."""

    args: MinaNetworkArgs
    ports: daemon.Ports
    runtime_config_map: pulumi.Output[str]
    script_config_map: pulumi.Output[str]
    seed: str
    """The first seed: every other daemon's `--peer`."""
    seed_multiaddr: pulumi.Output[str]
    itn_keys: pulumi.Output[str]
    """`--itn-keys`: the orchestrator's and the log fetcher's public keys."""
    public_keys: pulumi.Output[dict[str, str]]
    """Node name -> Mina public key (small and flat: each node's `apply` reads it cheaply)."""


def _resources(resources: Resources) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": resources.cpu_request, "memory": resources.memory_request},
        limits={"cpu": resources.cpu_limit, "memory": resources.memory_limit},
    )


def _env(entries: Sequence[daemon.EnvVar], secret: str) -> list[k8s.core.v1.EnvVarArgs]:
    env: list[k8s.core.v1.EnvVarArgs] = []
    for entry in entries:
        if entry.secret_key is not None:
            source = k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                    name=secret, key=entry.secret_key, optional=False
                )
            )
            env.append(k8s.core.v1.EnvVarArgs(name=entry.name, value_from=source))
        elif entry.field_path is not None:
            source = k8s.core.v1.EnvVarSourceArgs(
                field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                    field_path=entry.field_path, api_version="v1"
                )
            )
            env.append(k8s.core.v1.EnvVarArgs(name=entry.name, value_from=source))
        else:
            env.append(k8s.core.v1.EnvVarArgs(name=entry.name, value=entry.value))
    return env


def _probe(probe: daemon.Probe) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        period_seconds=probe.period_seconds,
        timeout_seconds=probe.timeout_seconds,
        failure_threshold=probe.failure_threshold,
        success_threshold=1,
        exec_=(
            k8s.core.v1.ExecActionArgs(command=list(probe.command))
            if probe.command is not None
            else None
        ),
        tcp_socket=(
            k8s.core.v1.TCPSocketActionArgs(port=probe.tcp_port)
            if probe.tcp_port is not None
            else None
        ),
    )


DAEMON_SKIP_REASONS = {
    "CKV_K8S_22": "the daemon writes outside its state volume (the libp2p helper's and the "
    "CLI's files under $HOME and /tmp); the install-keys init container is read-only",
    "CKV_K8S_23": "the Mina daemon image runs as root and its files (/root, /var/lib/coda) "
    "belong to root; it holds no capability",
    "CKV_K8S_40": "runs as the image's root user (see CKV_K8S_23)",
    "CKV_K8S_35": "the daemon reads key passwords only from MINA_PRIVKEY_PASS and "
    "MINA_LIBP2P_PASS (no file option)",
}
"""Why a daemon pod cannot pass these checks (checkov annotations on every StatefulSet)."""


_KEYS_MOUNT = k8s.core.v1.VolumeMountArgs(name="keys", mount_path=daemon.KEYS_DIR)
_SCRIPT_MOUNT = k8s.core.v1.VolumeMountArgs(
    name="node-script", mount_path=daemon.SCRIPT_DIR, read_only=True
)


def _install_keys_container(image: str) -> k8s.core.v1.ContainerArgs:
    """Copies this node's key files into the 0700 memory volume the daemon demands.

    The daemon wants a 0700 directory and 0600 files, which a Secret volume cannot give
    (`mina-node.sh install-keys`)."""
    return k8s.core.v1.ContainerArgs(
        name="install-keys",
        image=image,
        command=daemon.install_keys_command(),
        resources=_resources(INIT_RESOURCES),
        # Root in the daemon image, on files root owns: no capability is needed.
        security_context=container_security_args(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(
                name="key-files", mount_path=daemon.SECRETS_DIR, read_only=True
            ),
            _KEYS_MOUNT,
            _SCRIPT_MOUNT,
        ],
    )


def _daemon_container(
    settings: DaemonSettings,
    node: NodeSpec,
    public_key: pulumi.Output[str],
    secret_name: pulumi.Output[str],
) -> k8s.core.v1.ContainerArgs:
    args = settings.args
    ports = settings.ports
    probes = daemon.probes(ports)
    return k8s.core.v1.ContainerArgs(
        name="mina",
        image=args.daemon_image,
        command=daemon.start_command(),
        env=_daemon_env(settings, node, public_key, secret_name),
        ports=[
            k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port, protocol="TCP")
            for port_name, port in ports.named()
        ],
        resources=_resources(_role_resources(args.resources, node.role)),
        security_context=container_security_args(read_only_root=False),
        startup_probe=_probe(probes["startup"]),
        liveness_probe=_probe(probes["liveness"]),
        readiness_probe=_probe(probes["readiness"]),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(
                name="runtime-config", mount_path=daemon.CONFIG_MOUNT, read_only=True
            ),
            _SCRIPT_MOUNT,
            _KEYS_MOUNT,
            k8s.core.v1.VolumeMountArgs(name=daemon.DATA_VOLUME, mount_path=daemon.STATE_DIR),
        ],
    )


def _daemon_env(
    settings: DaemonSettings,
    node: NodeSpec,
    public_key: pulumi.Output[str],
    secret_name: pulumi.Output[str],
) -> pulumi.Output[list[k8s.core.v1.EnvVarArgs]]:
    args = settings.args
    params = args.network
    is_coordinator = node.role == daemon.SNARK_COORDINATOR
    seed_peer: pulumi.Output[str | None] = (
        pulumi.Output.from_input(None) if node.name == settings.seed else settings.seed_multiaddr
    )

    def env(values: list) -> list[k8s.core.v1.EnvVarArgs]:
        own_key, itn_keys, peer, secret_ref = values
        entries = daemon.daemon_env(
            node.role,
            node=node.name,
            ports=settings.ports,
            itn_keys=itn_keys,
            uptime_url=args.uptime_submit_url,
            trustlist=daemon.trustlist_value(args.trusted_cidrs),
            seed_peer=peer,
            coordinator_key=own_key if is_coordinator else None,
            snark_worker_fee=params.snark_worker_fee if is_coordinator else None,
            work_selection=params.work_selection if is_coordinator else None,
        )
        return _env(entries, secret_ref)

    return pulumi.Output.all(public_key, settings.itn_keys, seed_peer, secret_name).apply(env)


def _daemon_volumes(
    settings: DaemonSettings, node: NodeSpec, secret_name: pulumi.Output[str]
) -> list[k8s.core.v1.VolumeArgs]:
    return [
        k8s.core.v1.VolumeArgs(
            name="runtime-config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=settings.runtime_config_map),
        ),
        k8s.core.v1.VolumeArgs(
            name="node-script",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=settings.script_config_map, default_mode=daemon.SCRIPT_MODE
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="key-files",
            secret=k8s.core.v1.SecretVolumeSourceArgs(
                secret_name=secret_name,
                default_mode=daemon.SECRET_MODE,
                # Only this node's key files out of its group's Secret, under the file names
                # mina-node.sh expects.
                items=[
                    k8s.core.v1.KeyToPathArgs(key=key, path=path, mode=daemon.SECRET_MODE)
                    for key, path in daemon.key_file_items(node.name)
                ],
            ),
        ),
        k8s.core.v1.VolumeArgs(
            name="keys",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                medium="Memory", size_limit=KEYS_VOLUME_LIMIT
            ),
        ),
    ]


class MinaNodeGroup(pulumi.ComponentResource):
    """All daemons of one role: the group's headless Service and key Secret, per node a
    StatefulSet; for the snark coordinator also the Service the worker pool dials."""

    nodes: list[MinaNodeInfo]
    coordinator_host: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        settings: DaemonSettings,
        role: str,
        nodes: Sequence[NodeSpec],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:mina:MinaNodeGroup", name, None, opts)
        args = settings.args
        group = ROLE_PREFIX[role]
        service = daemon.group_service_name(group)
        service_host = args.namespace.service_host(service)
        self.nodes = []
        self.coordinator_host = None
        secret_name = self._secret(name, settings, role, group, nodes)
        self._service(name, settings, role, service)
        for node in nodes:
            public_key = settings.public_keys.apply(
                lambda keys, node_name=node.name: keys[node_name]
            )
            self._node(name, settings, node, public_key, service, secret_name)
            self.nodes.append(
                MinaNodeInfo(
                    name=node.name,
                    role=node.role,
                    service_host=daemon.pod_host(node.name, service_host),
                    pod=daemon.pod_name(node.name),
                    public_key=public_key,
                )
            )
        disruption_budget(
            f"{name}-budget",
            args.namespace,
            budget_name=f"{group}-budget",
            selector={**Labels.selector(COMPONENT), ROLE_LABEL: role},
            max_unavailable=daemon_max_unavailable(len(nodes)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if role == daemon.SNARK_COORDINATOR and nodes:
            self.coordinator_host = self._workers_service(name, settings, nodes[0].name)
        self.register_outputs({"nodes": [node.name for node in self.nodes]})

    # -----------------------------------------------------------------------------------------

    def _group_labels(self, args: MinaNetworkArgs, role: str) -> pulumi.Output[dict[str, str]]:
        return args.namespace.labels.k8s(COMPONENT).apply(
            lambda values: {**values, ROLE_LABEL: role}
        )

    def _secret(
        self,
        group_resource: str,
        settings: DaemonSettings,
        role: str,
        group: str,
        nodes: Sequence[NodeSpec],
    ) -> pulumi.Output[str]:
        """The group's Secret: every member's key files and passwords under `<node>.<entry>`.

        About 1.2 KiB per node as stored (some 300 KiB at the 250-node maximum, below the 1 MiB
        object limit). A pod mounts only its own key files and reads its passwords through
        `secretKeyRef`s to its own entries, never from its filesystem; still, the kubelet of a
        machine running any member can read the whole group's keys."""
        args = settings.args
        members = [node.name for node in nodes]

        def secret_data(material: KeyMaterial) -> dict[str, str]:
            data: dict[str, str] = {}
            for member in members:
                keys = material.nodes[member]
                data |= daemon.key_secret_data(
                    member,
                    key_file=keys.key_file,
                    password=keys.password,
                    libp2p_key_file=keys.libp2p_key_file,
                    libp2p_password=keys.libp2p_password,
                )
            return data

        secret = k8s.core.v1.Secret(
            f"{group_resource}-keys",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=daemon.group_secret_name(group),
                namespace=args.namespace.output,
                labels=self._group_labels(args, role),
            ),
            type="Opaque",
            string_data=pulumi.Output.secret(args.keys.apply(secret_data)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return secret.metadata.apply(lambda metadata: metadata.name or "")

    def _service(
        self, group_resource: str, settings: DaemonSettings, role: str, service: str
    ) -> None:
        """The group's headless Service: the DNS subdomain of every member's pod.

        Every member StatefulSet's `serviceName`, so each pod gets its own DNS name
        `<node>-0.<group>.<namespace>.svc.cluster.local`: the pod's own IP, following it when it
        is rescheduled, and not resolving while no pod exists."""
        args = settings.args
        k8s.core.v1.Service(
            f"{group_resource}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=service,
                namespace=args.namespace.output,
                labels=self._group_labels(args, role),
                # DNS only: `pulumi up` does not wait for endpoints (see the StatefulSet).
                annotations=SKIP_AWAIT,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None",
                selector={**Labels.selector(COMPONENT), ROLE_LABEL: role},
                ports=[
                    k8s.core.v1.ServicePortArgs(name=port_name, port=port, target_port=port_name)
                    for port_name, port in settings.ports.named()
                ],
                # Peers must reach a node (above all the seed) while it syncs.
                publish_not_ready_addresses=True,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _node(
        self,
        group_resource: str,
        settings: DaemonSettings,
        node: NodeSpec,
        public_key: pulumi.Output[str],
        service: str,
        secret_name: pulumi.Output[str],
    ) -> None:
        """One daemon: a one-replica StatefulSet with its own data volume."""
        args = settings.args
        labels = args.namespace.labels.k8s(COMPONENT, node.name).apply(
            lambda values: {**values, ROLE_LABEL: node.role}
        )
        k8s.apps.v1.StatefulSet(
            f"{group_resource}-{node.name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=node.name,
                namespace=args.namespace.output,
                labels=labels,
                # A daemon is Ready only once genesis has passed and it has synced, which can
                # be long after `pulumi up`; `python -m scripts.experiment wait` gates on that,
                # so `pulumi up` does not wait for rollout.
                annotations={
                    **SKIP_AWAIT,
                    **scanner_skips(DAEMON_SKIP_REASONS, images=[args.daemon_image]),
                },
            ),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                replicas=1,
                service_name=service,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels=Labels.selector(COMPONENT, node.name)
                ),
                revision_history_limit=3,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations={"kubectl.kubernetes.io/default-container": "mina"},
                    ),
                    spec=self._pod_spec(settings, node, public_key, secret_name),
                ),
                # The state directory on a volume: a restarted pod keeps its ledgers, frontier
                # and internal trace log and catches up in minutes; an emptyDir would force a
                # full resync. Static on purpose: volumeClaimTemplates cannot change after
                # creation.
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name=daemon.DATA_VOLUME),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=args.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                                requests={"storage": daemon.DATA_VOLUME_SIZE}
                            ),
                        ),
                    )
                ],
                # The claims go with their StatefulSet.
                persistent_volume_claim_retention_policy=(
                    k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                        when_deleted="Delete", when_scaled="Retain"
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _pod_spec(
        self,
        settings: DaemonSettings,
        node: NodeSpec,
        public_key: pulumi.Output[str],
        secret_name: pulumi.Output[str],
    ) -> k8s.core.v1.PodSpecArgs:
        """The daemon's pod: key installer, daemon, volumes, placement."""
        args = settings.args
        return k8s.core.v1.PodSpecArgs(
            init_containers=[_install_keys_container(args.daemon_image)],
            containers=[_daemon_container(settings, node, public_key, secret_name)],
            volumes=_daemon_volumes(settings, node, secret_name),
            termination_grace_period_seconds=daemon.TERMINATION_GRACE_SECONDS,
            # The daemons never call the Kubernetes API, and with hundreds of Services in the
            # namespace the legacy service-link variables would swamp the environment.
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=pod_security_args(),
            node_selector={GKE_POOL_LABEL: GKE_MINA_POOL} if args.gke is not None else None,
            affinity=k8s.core.v1.AffinityArgs(
                pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
                    preferred_during_scheduling_ignored_during_execution=[
                        k8s.core.v1.WeightedPodAffinityTermArgs(
                            weight=100,
                            pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                                topology_key="kubernetes.io/hostname",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={K8S_COMPONENT_LABEL: COMPONENT}
                                ),
                            ),
                        )
                    ]
                )
            ),
        )

    def _workers_service(
        self, group: str, settings: DaemonSettings, coordinator: str
    ) -> pulumi.Output[str]:
        """The Service the snark worker pool dials: on GKE an internal passthrough load balancer
        on a reserved subnet address (the VMs get the address at once and never wait for the
        load balancer), open to the subnet only; elsewhere a ClusterIP Service."""
        args = settings.args
        child = pulumi.ResourceOptions(parent=self)
        service_name = daemon.workers_service_name(coordinator)
        prefix = f"{group}-{coordinator}-workers"
        labels = args.namespace.labels.k8s(COMPONENT, coordinator).apply(
            lambda values: {**values, ROLE_LABEL: daemon.SNARK_COORDINATOR}
        )
        ports = [
            k8s.core.v1.ServicePortArgs(
                name="client", port=settings.ports.client, target_port="client"
            )
        ]
        selector = Labels.selector(COMPONENT, coordinator)
        gke = args.gke
        if gke is None:
            k8s.core.v1.Service(
                prefix,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=service_name,
                    namespace=args.namespace.output,
                    labels=labels,
                    annotations=SKIP_AWAIT,
                ),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=selector,
                    ports=ports,
                    publish_not_ready_addresses=True,
                ),
                opts=child,
            )
            return pulumi.Output.from_input(args.namespace.service_host(service_name))

        address = gcp.compute.Address(
            f"{prefix}-address",
            name=f"itn-{args.experiment}-{coordinator}",
            project=gke.project,
            region=gke.region,
            subnetwork=gke.subnet,
            address_type="INTERNAL",
            description=f"Snark coordinator {coordinator} of experiment {args.experiment}",
            labels=args.namespace.labels.gcp(),
            opts=child,
        )
        # Awaited (no skipAwait): a load balancer GKE cannot build should fail `pulumi up`.
        k8s.core.v1.Service(
            prefix,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=service_name,
                namespace=args.namespace.output,
                labels=labels,
                annotations=GKE_INTERNAL_LB,
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                selector=selector,
                ports=ports,
                load_balancer_ip=address.address,
                load_balancer_source_ranges=[gke.subnet_cidr],
                # Keep the workers' own addresses (the coordinator's trustlist and logs see
                # the VMs, not a node's SNAT address); only the coordinator's node answers.
                external_traffic_policy="Local",
                publish_not_ready_addresses=True,
            ),
            opts=child,
        )
        return address.address


def _first_seed(nodes: Sequence[NodeSpec]) -> str:
    for node in nodes:
        if node.role == daemon.SEED:
            return node.name
    raise ValueError("the network needs a seed")


def _role_resources(per_role: RoleResources, role: str) -> Resources:
    return {
        daemon.SEED: per_role.seed,
        daemon.BLOCK_PRODUCER: per_role.block_producer,
        daemon.PLAIN: per_role.plain,
        daemon.SNARK_COORDINATOR: per_role.snark_coordinator,
    }[role]


def runtime_config_text(
    args: MinaNetworkArgs, summary: PublicSummary, genesis_timestamp: str
) -> str:
    params = args.network
    document = build_runtime_config(
        summary,
        genesis_timestamp=genesis_timestamp,
        slot_duration_ms=params.slot_duration_ms,
        proof_level=params.proof_level,
        block_producer_stake=params.block_producer_stake,
        funding_balance=params.funding_balance,
        node_balance=params.node_balance,
        ledger_name=args.namespace.name,
    )
    return json.dumps(document, indent=2) + "\n"


class MinaNetwork(pulumi.ComponentResource):
    nodes: list[MinaNodeInfo]
    seed_multiaddr: pulumi.Output[str]
    coordinator_host: pulumi.Output[str] | None
    runtime_config: pulumi.Output[str]

    def __init__(
        self, name: str, args: MinaNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:mina:MinaNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        specs = args.nodes
        ports = daemon.Ports.of(args.network)
        public = args.public_keys

        # Public keys only: build_runtime_config reads the public summary, never a secret.
        self.runtime_config = pulumi.Output.all(public, args.genesis_timestamp).apply(
            lambda values: runtime_config_text(args, values[0], values[1])
        )
        runtime_map = k8s.core.v1.ConfigMap(
            f"{name}-runtime-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self.runtime_config.apply(
                    lambda text: daemon.hashed_name("mina-runtime-config", text)
                ),
                namespace=args.namespace.output,
                labels=args.namespace.labels.k8s(CONFIG_COMPONENT),
            ),
            data={daemon.RUNTIME_CONFIG_FILE: self.runtime_config},
            immutable=True,
            opts=child,
        )
        # Immutable and named by a hash of their content: a change makes a new ConfigMap and
        # rolls every pod that mounts it.
        script = mina_node_script()
        script_map = k8s.core.v1.ConfigMap(
            f"{name}-node-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=daemon.hashed_name("mina-node-script", script),
                namespace=args.namespace.output,
                labels=args.namespace.labels.k8s(CONFIG_COMPONENT),
            ),
            data={daemon.SCRIPT_FILE: script},
            immutable=True,
            opts=child,
        )

        seed = _first_seed(specs)
        seed_host = daemon.pod_host(
            seed, args.namespace.service_host(daemon.group_service_name(ROLE_PREFIX[daemon.SEED]))
        )
        self.seed_multiaddr = public.apply(
            lambda summary: seed_multiaddr(
                seed_host, ports.libp2p, summary["nodes"][seed]["peer_id"]
            )
        )
        settings = DaemonSettings(
            args=args,
            ports=ports,
            runtime_config_map=runtime_map.metadata.apply(lambda metadata: metadata.name or ""),
            script_config_map=script_map.metadata.apply(lambda metadata: metadata.name or ""),
            seed=seed,
            seed_multiaddr=self.seed_multiaddr,
            itn_keys=public.apply(
                lambda summary: daemon.itn_keys_value(
                    [summary["itn"]["orchestrator"], summary["itn"]["fetcher"]]
                )
            ),
            public_keys=public.apply(
                lambda summary: {
                    node: values["public_key"] for node, values in summary["nodes"].items()
                }
            ),
        )

        by_name: dict[str, MinaNodeInfo] = {}
        self.coordinator_host = None
        for role in daemon.ROLES:
            members = [spec for spec in specs if spec.role == role]
            if not members:
                continue
            group = MinaNodeGroup(
                f"{name}-{ROLE_PREFIX[role]}", settings, role, members, opts=child
            )
            by_name.update({info.name: info for info in group.nodes})
            if group.coordinator_host is not None:
                self.coordinator_host = group.coordinator_host
        self.nodes = [by_name[spec.name] for spec in specs]

        self.register_outputs(
            {
                "nodes": [node.name for node in self.nodes],
                "seedMultiaddr": self.seed_multiaddr,
                "coordinatorHost": self.coordinator_host,
                "runtimeConfigMap": settings.runtime_config_map,
            }
        )
