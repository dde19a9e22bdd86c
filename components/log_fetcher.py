"""Internal log fetcher (with a per-node disk quota) and the log API.

The fetcher finds nodes through the uptime backend's `/v1/online`, fetches each node's internal
logs with the experiment's ITN fetcher key and runs one consumer per node that writes to
PostgreSQL (reference/perf-services.md §2). Its pod:

* init container `deployment-row` (`assets/pg-deployment-row.sh`, postgres image for `psql`):
  waits for the database and makes sure `deployment` holds this experiment's row, else every
  consumer fails with "Deployment table is empty!". It runs before every fetcher start, so a
  rebuilt database gets its row back;
* `fetcher`, sized by node count (`services.fetcher_resources`);
* `log-quota` (`assets/log-quota.sh`): trims each node's output directory to `QUOTA_BYTES`,
  the "limit of total space used per Mina node" the seed issue asks for and the fetcher lacks.

The database URI contains the password, so it is never written into the pod spec. Containers
get it as the env var `DB_URI` from the Secret `postgres-credentials`, and the command line
names it as `$(DB_URI)`: the kubelet substitutes `$(VAR)` references in `command`/`args` from
the container's own environment when it starts the container. The Deployment object (in the
API, in etcd, in Pulumi state, in `kubectl get -o yaml`) therefore holds only the literal text
`$(DB_URI)`. The expanded value exists only in the running processes' argv, which only someone
who can already exec into the pod or read the node's /proc can see; the fetcher has no other
way to take it (`--db-uri` is a flag) and hands it to each consumer the same way.

The log API (`consumer serve`, :9080) serves the stored traces over GraphQL.
"""

from __future__ import annotations

import json
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components.context import NO_PRIVILEGE as SECURITY
from components.context import ExperimentContext
from components.labels import Labels
from components.postgres import Postgres, asset
from minaperf import services
from minaperf.keys.material import KeyMaterial, PublicSummary

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
FETCH_INTERVAL_MS = 10_000
LOG_QUOTA_PER_NODE_BYTES = 2 * services.GIB
"""Per-node cap on the fetcher's local files (traces and consumer logs). The consumers stream
into PostgreSQL, so local files are only a buffer; 2 GiB holds hours of one node's traces."""
LOG_QUOTA_INTERVAL_SECONDS = 60

ROW_RESOURCES: k8s.core.v1.ResourceRequirementsArgsDict = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
QUOTA_RESOURCES: k8s.core.v1.ResourceRequirementsArgsDict = {
    "requests": {"cpu": "20m", "memory": "32Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}
LOG_API_RESOURCES: k8s.core.v1.ResourceRequirementsArgsDict = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "2", "memory": "2Gi"},
}


def node_names(summary: PublicSummary) -> str:
    """`-n` map of the fetcher: submitter public key → node name (shown by its `/nodes`)."""
    return json.dumps(
        {node["public_key"]: name for name, node in summary["nodes"].items()}, sort_keys=True
    )


def fetcher_args() -> list[str]:
    return [
        "fetcher",
        "-k",
        f"{KEY_DIR}/{KEY_FILE}",
        "-o",
        OUTPUT_DIR,
        "-n",
        f"{NAMES_DIR}/{NAMES_FILE}",
        "--db-uri",
        "$(DB_URI)",
        "discovery",
    ]


def log_api_args() -> list[str]:
    return ["consumer", "serve", "--db-uri", "$(DB_URI)", "--port", str(LOG_API_PORT)]


class LogFetcher(pulumi.ComponentResource):
    log_api_url: str
    fetcher_url: str

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        postgres: Postgres,
        online_url: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:services:LogFetcher", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_api_url = f"http://{ctx.service_host(LOG_API)}:{LOG_API_PORT}/graphql"
        self.fetcher_url = f"http://{ctx.service_host(FETCHER)}:{FETCHER_PORT}"
        node_count = ctx.config.nodes.total

        def fetcher_secret(material: KeyMaterial) -> str:
            return material.fetcher.secret_b64 + "\n"

        key = k8s.core.v1.Secret(
            f"{name}-key",
            metadata=ctx.metadata("log-fetcher-key", FETCHER),
            type="Opaque",
            string_data={KEY_FILE: pulumi.Output.secret(ctx.keys.material.apply(fetcher_secret))},
            opts=child,
        )
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata=ctx.metadata("log-fetcher-scripts", FETCHER),
            data={
                "log-quota.sh": asset("log-quota.sh"),
                "pg-deployment-row.sh": asset("pg-deployment-row.sh"),
            },
            opts=child,
        )
        names = k8s.core.v1.ConfigMap(
            f"{name}-names",
            metadata=ctx.metadata("log-fetcher-names", FETCHER),
            data={NAMES_FILE: ctx.keys.public.apply(node_names)},
            opts=child,
        )
        storage_class = getattr(ctx.config.platform, "storage_class", None)
        output_spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
            "access_modes": ["ReadWriteOnce"],
            "resources": {
                "requests": {
                    "storage": services.fetcher_output_quota(node_count, LOG_QUOTA_PER_NODE_BYTES)
                }
            },
        }
        if storage_class:
            output_spec["storage_class_name"] = storage_class
        output = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-output",
            metadata=ctx.metadata("log-fetcher-output", FETCHER),
            spec=output_spec,
            opts=child,
        )

        def credential(key_name: str) -> k8s.core.v1.EnvVarSourceArgsDict:
            return {"secret_key_ref": {"name": postgres.secret_name, "key": key_name}}

        db_uri_env: k8s.core.v1.EnvVarArgsDict = {"name": "DB_URI", "value_from": credential("uri")}
        row = services.deployment_row(
            ctx.config.name,
            comment=f"mina-itn experiment {ctx.config.name}",
            extra={"namespace": ctx.namespace_name, "owner": ctx.config.metadata.owner},
        )
        row_env: list[k8s.core.v1.EnvVarArgsDict] = [
            {"name": "PGHOST", "value": postgres.host},
            {"name": "PGPORT", "value": str(postgres.port)},
            {"name": "PGUSER", "value": postgres.user},
            {"name": "PGDATABASE", "value": postgres.database},
            {"name": "PGPASSWORD", "value_from": credential("password")},
            *({"name": key_name, "value": value} for key_name, value in row.env().items()),
            {"name": "WAIT_TIMEOUT", "value": "600"},
        ]
        fetcher_selector = Labels.selector(FETCHER)
        self.fetcher = k8s.apps.v1.Deployment(
            f"{name}-fetcher",
            metadata=ctx.metadata(FETCHER, FETCHER),
            spec={
                "replicas": 1,
                # One writer on a ReadWriteOnce volume: the old pod goes before the new one.
                "strategy": {"type": "Recreate"},
                "selector": {"match_labels": fetcher_selector},
                "template": {
                    "metadata": {"labels": ctx.labels.k8s(FETCHER)},
                    "spec": {
                        "automount_service_account_token": False,
                        "node_selector": ctx.services_node_selector(),
                        "init_containers": [
                            {
                                "name": "deployment-row",
                                "image": ctx.config.images.postgres,
                                "command": ["sh", f"{SCRIPTS_DIR}/pg-deployment-row.sh"],
                                "env": row_env,
                                "resources": ROW_RESOURCES,
                                "security_context": SECURITY,
                                "volume_mounts": [
                                    {
                                        "name": "scripts",
                                        "mount_path": SCRIPTS_DIR,
                                        "read_only": True,
                                    }
                                ],
                            }
                        ],
                        "containers": [
                            {
                                "name": "fetcher",
                                "image": ctx.config.images.log_fetcher,
                                "args": fetcher_args(),
                                "env": [
                                    db_uri_env,
                                    {"name": "ONLINE_URL", "value": online_url},
                                    {"name": "FETCH_INTERVAL_MS", "value": str(FETCH_INTERVAL_MS)},
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
                                "resources": cast(
                                    k8s.core.v1.ResourceRequirementsArgsDict,
                                    services.fetcher_resources(node_count),
                                ),
                                "security_context": SECURITY,
                                "volume_mounts": [
                                    {"name": "key", "mount_path": KEY_DIR, "read_only": True},
                                    {"name": "output", "mount_path": OUTPUT_DIR},
                                    {"name": "names", "mount_path": NAMES_DIR, "read_only": True},
                                ],
                            },
                            {
                                "name": "log-quota",
                                "image": ctx.config.images.busybox,
                                "command": ["sh", f"{SCRIPTS_DIR}/log-quota.sh"],
                                "env": [
                                    {"name": "OUTPUT_DIR", "value": OUTPUT_DIR},
                                    {"name": "QUOTA_BYTES", "value": str(LOG_QUOTA_PER_NODE_BYTES)},
                                    {"name": "INTERVAL", "value": str(LOG_QUOTA_INTERVAL_SECONDS)},
                                ],
                                "resources": QUOTA_RESOURCES,
                                "security_context": SECURITY,
                                "volume_mounts": [
                                    {"name": "output", "mount_path": OUTPUT_DIR},
                                    {
                                        "name": "scripts",
                                        "mount_path": SCRIPTS_DIR,
                                        "read_only": True,
                                    },
                                ],
                            },
                        ],
                        "volumes": [
                            {
                                "name": "key",
                                "secret": {"secret_name": key.metadata.name, "default_mode": 0o400},
                            },
                            {
                                "name": "output",
                                "persistent_volume_claim": {"claim_name": output.metadata.name},
                            },
                            {"name": "names", "config_map": {"name": names.metadata.name}},
                            {
                                "name": "scripts",
                                "config_map": {
                                    "name": scripts.metadata.name,
                                    "default_mode": 0o555,
                                },
                            },
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # After the database and its Secret exist; the init container then waits for
                # connections (up to WAIT_TIMEOUT) and writes the deployment row.
                depends_on=[postgres],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )
        k8s.core.v1.Service(
            f"{name}-fetcher-service",
            metadata=ctx.metadata(FETCHER, FETCHER),
            spec={
                "type": "ClusterIP",
                "selector": fetcher_selector,
                "ports": [
                    {"name": "http", "port": FETCHER_PORT, "target_port": "http", "protocol": "TCP"}
                ],
            },
            opts=child,
        )

        api_selector = Labels.selector(LOG_API)
        self.log_api = k8s.apps.v1.Deployment(
            f"{name}-api",
            metadata=ctx.metadata(LOG_API, LOG_API),
            spec={
                "replicas": 1,
                "selector": {"match_labels": api_selector},
                "template": {
                    "metadata": {"labels": ctx.labels.k8s(LOG_API)},
                    "spec": {
                        "automount_service_account_token": False,
                        "node_selector": ctx.services_node_selector(),
                        "containers": [
                            {
                                "name": LOG_API,
                                "image": ctx.config.images.log_fetcher,
                                "args": log_api_args(),
                                "env": [db_uri_env],
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
                                "resources": LOG_API_RESOURCES,
                                "security_context": SECURITY,
                            }
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # Starts only once PostgreSQL answers (it restarts until then).
                depends_on=[postgres],
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )
        k8s.core.v1.Service(
            f"{name}-api-service",
            metadata=ctx.metadata(LOG_API, LOG_API),
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
            opts=child,
        )
        self.register_outputs({"logApiUrl": self.log_api_url, "fetcherUrl": self.fetcher_url})
