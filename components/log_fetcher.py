"""Internal log fetchers and the log API: every daemon's internal traces into PostgreSQL.

The nodes are split into fetcher shards (`log-fetcher-<k>`), each following a static list of its
nodes and keeping its output volume under a disk quota; the log API (`consumer serve`, :9080)
serves the stored traces over GraphQL. The fetchers' REST API (:4000) has no Service.
See docs/trace-path.md#fetcher-shards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components.context import SKIP_AWAIT, ExperimentNamespace
from components.labels import Labels
from components.postgres import POSTGRES_UID, Postgres, asset
from components.security import NOBODY, container_security, pod_security, scanner_skips
from minaperf.keys.material import KeyMaterial, NodeSpec, PublicSummary
from minaperf.model import pods
from minaperf.model.config import ROLE_PREFIXES
from minaperf.workloads import daemon, services

LOG_API_PORT = 9080
FETCHER_PORT = 4000
FETCHER = "log-fetcher"
LOG_API = "log-api"
KEY_DIR = "/keys"
KEY_FILE = "secret_key"
OUTPUT_DIR = "/output"
SCRIPTS_DIR = "/opt/minaperf"
NAMES_DIR = "/names-data"
NAMES_FILE = "node_names.json"
NODE_LIST_DIR = "/srv/node-list"
NODE_LIST_FILE = "online.json"
NODE_LIST_PORT = 8081
NODE_LIST_URL = f"http://127.0.0.1:{NODE_LIST_PORT}/{NODE_LIST_FILE}"
LOG_QUOTA_INTERVAL_SECONDS = 60

# Requests live in minaperf/model/pods.py, where node pool sizing reads them too.
ROW_RESOURCES = cast(k8s.core.v1.ResourceRequirementsArgsDict, pods.FETCHER_ROW_RESOURCES)
QUOTA_RESOURCES = cast(k8s.core.v1.ResourceRequirementsArgsDict, pods.FETCHER_QUOTA_RESOURCES)
NODE_LIST_RESOURCES = cast(
    k8s.core.v1.ResourceRequirementsArgsDict, pods.FETCHER_NODE_LIST_RESOURCES
)
LOG_API_RESOURCES = cast(k8s.core.v1.ResourceRequirementsArgsDict, pods.LOG_API_RESOURCES)


def node_names(summary: PublicSummary) -> str:
    """`-n` map of the fetcher: submitter public key → node name (shown by its `/nodes`)."""
    return json.dumps(
        {node["public_key"]: name for name, node in summary["nodes"].items()}, sort_keys=True
    )


def fetched_nodes(
    nodes: list[NodeSpec], itn_port: int, summary: PublicSummary
) -> list[services.FetchedNode]:
    """Every daemon as the fetchers follow it, in node order: its pod's DNS name under its
    group's headless Service, relative to the namespace (`bp-2-0.bp`).

    Named by pod DNS name and submitter key, a node keeps the names discovery would give it (the
    fetcher's `<key[-8:]>-<host>-<port>`, the log API's `node_name`, and its `/nodes` name from
    the `-n` map), but stable across pod restarts, and the fetchers do not depend on the uptime
    backend: a whitelist change that restarts it does not drop every node's traces."""
    return [
        services.FetchedNode(
            name=node.name,
            public_key=summary["nodes"][node.name]["public_key"],
            host=f"{daemon.pod_name(node.name)}.{daemon.group_service_name(ROLE_PREFIXES[node.role])}",
            itn_port=itn_port,
        )
        for node in nodes
    ]


def shard_name(index: int) -> str:
    return f"{FETCHER}-{index + 1}"


READER_SCRAM_DIR = "/run/secrets/reader"
DB_URI_FROM_ENV = "postgresql://"
"""A PostgreSQL URI with nothing in it: libpq takes every part from the PG* variables.

So no address or credential is in a command line or the pod spec. The consumer passes a URI with
a host to libpq unchanged (Caqti's PostgreSQL driver, `Pg_ext.conninfo_of_uri`), and the fetcher
starts each consumer with its own environment (ITC@46be56f
internal-log-fetcher/src/trace_consumer/worker.rs:48-55, no `env_clear`), so the variables reach
every consumer."""
LIBPQ_ENV_REASON = (
    "libpq reads the database password from PGPASSWORD; its password file would have to be "
    "0600, which a Secret volume under the pod's fsGroup cannot be"
)


def fetcher_args() -> list[str]:
    """`fetcher` in `discovery` mode over the shard's static node list (`ONLINE_URL`).

    Not `node-address-port`: it follows one node per process, the REST port 4000 is hard-coded
    (ITC@46be56f internal-log-fetcher/src/main.rs:447) so a pod can run only one fetcher, and its
    nodes carry no submitter key, so they lose their name (main.rs:112-119,205-208).
    """
    return [
        "fetcher",
        "-k",
        f"{KEY_DIR}/{KEY_FILE}",
        "-o",
        OUTPUT_DIR,
        "-n",
        f"{NAMES_DIR}/{NAMES_FILE}",
        "--db-uri",
        DB_URI_FROM_ENV,
        "discovery",
    ]


def log_api_args() -> list[str]:
    return ["consumer", "serve", "--db-uri", DB_URI_FROM_ENV, "--port", str(LOG_API_PORT)]


SHARD_SCAN_SKIPS = {
    "CKV_K8S_8": "the node-list and log-quota sidecars serve nobody outside "
    "the pod; if one dies its container exits and restarts (the fetcher "
    "has probes)",
    "CKV_K8S_9": "see CKV_K8S_8",
    "CKV_K8S_35": LIBPQ_ENV_REASON,
}
"""checkov checks a fetcher shard's Deployment does not meet, with the reason."""
SCRIPTS_MOUNT: k8s.core.v1.VolumeMountArgsDict = {
    "name": "scripts",
    "mount_path": SCRIPTS_DIR,
    "read_only": True,
}


def database_env(postgres: Postgres) -> list[k8s.core.v1.EnvVarArgsDict]:
    """libpq's PG* variables: where the database is, the password by reference to its Secret.

    The password is an env var, not libpq's password file: libpq ignores that file unless it is
    0600, and a Secret volume under the pod's `fsGroup` is always group-readable."""
    return [
        {"name": "PGHOST", "value": postgres.host},
        {"name": "PGPORT", "value": str(postgres.port)},
        {"name": "PGUSER", "value": postgres.user},
        {"name": "PGDATABASE", "value": postgres.database},
        {
            "name": "PGPASSWORD",
            "value_from": {"secret_key_ref": {"name": postgres.secret_name, "key": "password"}},
        },
    ]


def row_init_containers(
    image: str, row_env: list[k8s.core.v1.EnvVarArgsDict], reader: str
) -> list[k8s.core.v1.ContainerArgsDict]:
    """A shard's init containers: this experiment's deployment row, and the reader role.

    `deployment-row` (`assets/pg-deployment-row.sh`, the postgres image for `psql`) waits for the
    database and makes sure `deployment` holds this experiment's row, under an advisory lock so
    concurrent shards write it once; without it every consumer fails with "Deployment table is
    empty!"."""
    return [
        {
            "name": "deployment-row",
            "image": image,
            "command": ["sh", f"{SCRIPTS_DIR}/pg-deployment-row.sh"],
            "env": row_env,
            "resources": ROW_RESOURCES,
            # psql only; the image's postgres user.
            "security_context": container_security(user=POSTGRES_UID),
            "volume_mounts": [SCRIPTS_MOUNT],
        },
        {
            # The read-only role people outside use (components/postgres.py).
            "name": "reader-role",
            "image": image,
            "command": ["sh", f"{SCRIPTS_DIR}/pg-reader-role.sh"],
            "env": [
                *row_env,
                {"name": "READER", "value": reader},
                {
                    "name": "READER_SCRAM_FILE",
                    "value": f"{READER_SCRAM_DIR}/scram",
                },
            ],
            "resources": ROW_RESOURCES,
            "security_context": container_security(user=POSTGRES_UID),
            "volume_mounts": [
                SCRIPTS_MOUNT,
                {
                    "name": "reader-scram",
                    "mount_path": READER_SCRAM_DIR,
                    "read_only": True,
                },
            ],
        },
    ]


def fetcher_container(
    image: str, db_env: list[k8s.core.v1.EnvVarArgsDict], node_count: int
) -> k8s.core.v1.ContainerArgsDict:
    """The fetcher in `discovery` mode over the shard's static node list."""
    return {
        "name": "fetcher",
        "image": image,
        "args": fetcher_args(),
        "env": [
            *db_env,
            {"name": "ONLINE_URL", "value": NODE_LIST_URL},
            {
                "name": "FETCH_INTERVAL_MS",
                "value": str(services.FETCH_INTERVAL_MS),
            },
            {
                "name": "INTERNAL_TRACE_CONSUMER_EXE",
                "value": "/internal_trace_consumer",
            },
            {"name": "HANDLE_STATUS_CHANGE", "value": "true"},
        ],
        "ports": [
            {
                "name": "http",
                "container_port": FETCHER_PORT,
                "protocol": "TCP",
            }
        ],
        "readiness_probe": {
            "http_get": {"path": "/nodes", "port": "http"},
            "period_seconds": 10,
        },
        # Its REST API answers while the fetch loop runs.
        "liveness_probe": {
            "http_get": {"path": "/nodes", "port": "http"},
            "initial_delay_seconds": 30,
            "period_seconds": 30,
            "timeout_seconds": 10,
            "failure_threshold": 5,
        },
        # One consumer process per node writes to PostgreSQL (docs/upstream-facts.md
        # perf-services §2) and needs 0.5-1 CPU (seed issue): 0.5 CPU per node of the shard.
        "resources": cast(
            k8s.core.v1.ResourceRequirementsArgsDict,
            services.fetcher_resources(node_count),
        ),
        # Writes only to its output volume (and scratch in /tmp).
        "security_context": container_security(user=NOBODY),
        "volume_mounts": [
            {"name": "key", "mount_path": KEY_DIR, "read_only": True},
            {"name": "output", "mount_path": OUTPUT_DIR},
            {"name": "tmp", "mount_path": "/tmp"},  # noqa: S108
            {"name": "names", "mount_path": NAMES_DIR, "read_only": True},
        ],
    }


def sidecars(image: str) -> list[k8s.core.v1.ContainerArgsDict]:
    """`node-list` (serves the shard's node list on 127.0.0.1) and `log-quota`.

    `log-quota` (`assets/log-quota.sh`) never deletes or truncates a file a process holds open,
    truncates the consumers' logs in place, prunes closed leftovers to a per-node quota, and
    writes `quota-status.txt` (usage, read by `scripts.experiment wait`)."""
    return [
        {
            "name": "node-list",
            "image": image,
            "command": [
                "httpd",
                "-f",
                "-p",
                f"127.0.0.1:{NODE_LIST_PORT}",
                "-h",
                NODE_LIST_DIR,
            ],
            "resources": NODE_LIST_RESOURCES,
            # Serves a read-only ConfigMap on an unprivileged port.
            "security_context": container_security(user=NOBODY),
            "volume_mounts": [
                {
                    "name": "node-list",
                    "mount_path": NODE_LIST_DIR,
                    "read_only": True,
                }
            ],
        },
        {
            "name": "log-quota",
            "image": image,
            "command": ["sh", f"{SCRIPTS_DIR}/log-quota.sh"],
            "env": [
                {"name": "OUTPUT_DIR", "value": OUTPUT_DIR},
                {
                    "name": "QUOTA_BYTES",
                    "value": str(services.CLOSED_FILES_QUOTA_BYTES),
                },
                {
                    "name": "LOG_MAX_BYTES",
                    "value": str(services.CONSUMER_LOG_MAX_BYTES),
                },
                {"name": "INTERVAL", "value": str(LOG_QUOTA_INTERVAL_SECONDS)},
            ],
            "resources": QUOTA_RESOURCES,
            # The fetcher's user: it reads the fetcher's /proc entries to
            # see open files, and deletes the fetcher's files.
            "security_context": container_security(user=NOBODY),
            "volume_mounts": [
                {"name": "output", "mount_path": OUTPUT_DIR},
                SCRIPTS_MOUNT,
            ],
        },
    ]


def log_api_container(
    image: str, db_env: list[k8s.core.v1.EnvVarArgsDict]
) -> k8s.core.v1.ContainerArgsDict:
    """`consumer serve`: the stored traces over GraphQL."""
    return {
        "name": LOG_API,
        "image": image,
        "args": log_api_args(),
        "env": db_env,
        "ports": [
            {
                "name": "graphql",
                "container_port": LOG_API_PORT,
                "protocol": "TCP",
            }
        ],
        "readiness_probe": {
            "tcp_socket": {"port": "graphql"},
            "period_seconds": 10,
        },
        "liveness_probe": {
            "tcp_socket": {"port": "graphql"},
            "initial_delay_seconds": 30,
            "period_seconds": 30,
            "failure_threshold": 5,
        },
        "resources": LOG_API_RESOURCES,
        "security_context": container_security(user=NOBODY),
    }


@dataclass(frozen=True)
class LogFetcherArgs:
    """What the log fetchers and the log API read from the config, the keys and PostgreSQL."""

    namespace: ExperimentNamespace
    experiment: str
    """The stack name: this experiment's row in the `deployment` table."""
    owner: str
    ttl_hours: int
    """How long the nodes may log: sizes each shard's output volume."""
    nodes: list[NodeSpec]
    """Every daemon, in node order: the shards are cut from it."""
    itn_port: int
    fetcher_image: str
    postgres_image: str
    """For `psql` in the init containers."""
    busybox_image: str
    storage_class: str | None
    """The existing cluster's storage class for the output volumes (None: the default)."""
    keys: pulumi.Output[KeyMaterial]
    """The fetcher's ITN key (secret)."""
    public_keys: pulumi.Output[PublicSummary]
    postgres: Postgres


@dataclass(frozen=True)
class SharedObjects:
    """What every shard mounts: the key Secret and the scripts and node-names ConfigMaps."""

    key: k8s.core.v1.Secret
    scripts: k8s.core.v1.ConfigMap
    names: k8s.core.v1.ConfigMap


class LogFetcher(pulumi.ComponentResource):
    log_api_url: str
    shards: list[str]
    """Names of the fetcher shards' Deployments, in order (shard k follows the k-th node set)."""
    shard_nodes: list[dict[str, object]]
    """The `logFetchers` output: per shard its Deployment and node name -> trace name (an
    Output: trace names come from the public keys)."""

    def __init__(
        self, name: str, args: LogFetcherArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:services:LogFetcher", name, None, opts)
        where, postgres = args.namespace, args.postgres
        self.log_api_url = f"http://{where.service_host(LOG_API)}:{LOG_API_PORT}/graphql"
        shared = self._shared(name, args)
        row = services.deployment_row(
            args.experiment,
            comment=f"mina-itn experiment {args.experiment}",
            extra={"namespace": where.name, "owner": args.owner},
        )
        db_env = database_env(postgres)
        row_env: list[k8s.core.v1.EnvVarArgsDict] = [
            *db_env,
            *({"name": key_name, "value": value} for key_name, value in row.env().items()),
            {"name": "WAIT_TIMEOUT", "value": "600"},
        ]
        # Shards are cut from the node order alone (no keys needed), so the resource graph is
        # known at preview; each shard's list is filled in once the public keys are.
        # At most FETCHER_NODES_PER_SHARD nodes a shard, so the total follows the node count.
        node_indexes = list(range(len(args.nodes)))
        shard_members = services.fetcher_shards(node_indexes)
        self.shards = [shard_name(index) for index in range(len(shard_members))]

        everyone = args.public_keys.apply(
            lambda summary: fetched_nodes(args.nodes, args.itn_port, summary)
        )

        def trace_names(nodes: list[services.FetchedNode], members: list[int]) -> dict[str, str]:
            return {nodes[i].name: nodes[i].trace_name for i in members}

        self.shard_nodes = [
            {
                "deployment": shard_name(index),
                "nodes": everyone.apply(lambda nodes, members=members: trace_names(nodes, members)),
            }
            for index, members in enumerate(shard_members)
        ]
        for index, members in enumerate(shard_members):
            self._shard(
                f"{name}-{index + 1}",
                args,
                shard=shard_name(index),
                members=members,
                everyone=everyone,
                shared=shared,
                db_env=db_env,
                row_env=row_env,
            )
        self._log_api(name, args, db_env=db_env)
        self.register_outputs({"logApiUrl": self.log_api_url, "fetcherShards": self.shards})

    def _shared(self, name: str, args: LogFetcherArgs) -> SharedObjects:
        child = pulumi.ResourceOptions(parent=self)
        where = args.namespace

        def fetcher_secret(material: KeyMaterial) -> str:
            return material.fetcher.secret_b64 + "\n"

        key = k8s.core.v1.Secret(
            f"{name}-key",
            metadata=where.metadata("log-fetcher-key", FETCHER),
            type="Opaque",
            string_data={KEY_FILE: pulumi.Output.secret(args.keys.apply(fetcher_secret))},
            opts=child,
        )
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata=where.metadata("log-fetcher-scripts", FETCHER),
            data={
                "log-quota.sh": asset("log-quota.sh"),
                "pg-deployment-row.sh": asset("pg-deployment-row.sh"),
                "pg-reader-role.sh": asset("pg-reader-role.sh"),
            },
            opts=child,
        )
        names = k8s.core.v1.ConfigMap(
            f"{name}-names",
            metadata=where.metadata("log-fetcher-names", FETCHER),
            data={NAMES_FILE: args.public_keys.apply(node_names)},
            opts=child,
        )
        return SharedObjects(key=key, scripts=scripts, names=names)

    def _shard_volumes(
        self,
        name: str,
        args: LogFetcherArgs,
        *,
        shard: str,
        members: list[int],
        everyone: pulumi.Output[list[services.FetchedNode]],
        shared: SharedObjects,
    ) -> list[k8s.core.v1.VolumeArgsDict]:
        """The shard's node list and output volume, and the volumes of its pod."""
        child = pulumi.ResourceOptions(parent=self)
        where = args.namespace

        def shard_list(nodes: list[services.FetchedNode]) -> str:
            return services.fetcher_node_list([nodes[i] for i in members])

        node_list = k8s.core.v1.ConfigMap(
            f"{name}-nodes",
            metadata=where.metadata(f"{shard}-nodes", FETCHER, shard),
            data={NODE_LIST_FILE: everyone.apply(shard_list)},
            opts=child,
        )
        # Sized for the open trace files at the highest rate a node can deliver over the
        # experiment's TTL (services.node_output_bytes): log-quota never touches an open file.
        output_spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
            "access_modes": ["ReadWriteOnce"],
            "resources": {
                "requests": {
                    "storage": services.fetcher_output_volume(len(members), args.ttl_hours)
                }
            },
        }
        if args.storage_class:
            output_spec["storage_class_name"] = args.storage_class
        output = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-output",
            metadata=where.metadata(f"{shard}-output", FETCHER, shard),
            spec=output_spec,
            opts=child,
        )
        return [
            {
                "name": "key",
                "secret": {"secret_name": shared.key.metadata.name, "default_mode": 0o400},
            },
            {
                "name": "output",
                "persistent_volume_claim": {"claim_name": output.metadata.name},
            },
            {"name": "names", "config_map": {"name": shared.names.metadata.name}},
            {"name": "node-list", "config_map": {"name": node_list.metadata.name}},
            {
                "name": "scripts",
                "config_map": {"name": shared.scripts.metadata.name, "default_mode": 0o555},
            },
            {"name": "tmp", "empty_dir": {"size_limit": "1Gi"}},
            {
                "name": "reader-scram",
                "secret": {
                    "secret_name": args.postgres.secret_name,
                    "items": [{"key": "reader-scram", "path": "scram"}],
                    "default_mode": 0o440,
                },
            },
        ]

    def _shard(
        self,
        name: str,
        args: LogFetcherArgs,
        *,
        shard: str,
        members: list[int],
        everyone: pulumi.Output[list[services.FetchedNode]],
        shared: SharedObjects,
        db_env: list[k8s.core.v1.EnvVarArgsDict],
        row_env: list[k8s.core.v1.EnvVarArgsDict],
    ) -> None:
        where, postgres = args.namespace, args.postgres
        volumes = self._shard_volumes(
            name, args, shard=shard, members=members, everyone=everyone, shared=shared
        )
        k8s.apps.v1.Deployment(
            name,
            metadata={
                **where.metadata(shard, FETCHER, shard),
                "annotations": SKIP_AWAIT
                | scanner_skips(
                    SHARD_SCAN_SKIPS,
                    images=[args.postgres_image, args.fetcher_image, args.busybox_image],
                ),
            },
            spec={
                "replicas": 1,
                # One writer on a ReadWriteOnce volume: the old pod goes before the new one.
                "strategy": {"type": "Recreate"},
                "selector": {"match_labels": Labels.selector(FETCHER, shard)},
                "template": {
                    "metadata": {"labels": where.labels.k8s(FETCHER, shard)},
                    "spec": {
                        "automount_service_account_token": False,
                        # The output volume belongs to the fetcher's group.
                        "security_context": pod_security(fs_group=NOBODY),
                        # log-quota.sh must see which files the fetcher and consumers hold open.
                        "share_process_namespace": True,
                        "node_selector": where.services_node_selector(),
                        "init_containers": row_init_containers(
                            args.postgres_image, row_env, postgres.reader
                        ),
                        "containers": [
                            fetcher_container(args.fetcher_image, db_env, len(members)),
                            *sidecars(args.busybox_image),
                        ],
                        "volumes": volumes,
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # After what it uses exists (the in-cluster Service and the credentials Secret),
                # not the whole component: its external LoadBalancer, which Pulumi awaits until
                # it has an address, is none of the fetcher's business. The init container waits
                # for connections (up to WAIT_TIMEOUT) and writes the deployment row.
                depends_on=[postgres.service, postgres.credentials],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )

    def _log_api(
        self, name: str, args: LogFetcherArgs, *, db_env: list[k8s.core.v1.EnvVarArgsDict]
    ) -> None:
        where, postgres = args.namespace, args.postgres
        api_selector = Labels.selector(LOG_API)
        self.log_api = k8s.apps.v1.Deployment(
            f"{name}-api",
            metadata={
                **where.metadata(LOG_API, LOG_API),
                "annotations": SKIP_AWAIT
                | scanner_skips({"CKV_K8S_35": LIBPQ_ENV_REASON}, images=[args.fetcher_image]),
            },
            spec={
                "replicas": 1,
                "selector": {"match_labels": api_selector},
                "template": {
                    "metadata": {"labels": where.labels.k8s(LOG_API)},
                    "spec": {
                        "automount_service_account_token": False,
                        "security_context": pod_security(),
                        "node_selector": where.services_node_selector(),
                        "containers": [log_api_container(args.fetcher_image, db_env)],
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # What it uses: the in-cluster Service and the credentials Secret (not the
                # external LoadBalancer). Serves only once PostgreSQL answers (restarts until then).
                depends_on=[postgres.service, postgres.credentials],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )
        k8s.core.v1.Service(
            f"{name}-api-service",
            metadata={**where.metadata(LOG_API, LOG_API), "annotations": SKIP_AWAIT},
            spec={
                "type": "ClusterIP",
                "selector": api_selector,
                "ports": [
                    {
                        "name": "graphql",
                        "port": LOG_API_PORT,
                        "target_port": "graphql",
                        "protocol": "TCP",
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
