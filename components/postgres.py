"""PostgreSQL for the experiment's logs: reachable from outside, data kept.

One server (a StatefulSet of one) with the seed issue's settings and the log consumer's pinned
schema; credentials kept in state and published only as a Secret and secret outputs; the data on a
kept disk (`gke`) or a claim (`kubernetes`); the external LoadBalancer only from
`postgres.allowedCidrs`. Details: docs/database-access.md, "The server".
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import cast

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.context import SKIP_AWAIT, ExperimentNamespace
from components.exposure import restricted_load_balancer
from components.labels import Labels
from components.security import container_security, pod_security, scanner_skips
from minaperf.model.config import GkePlatform, PostgresConfig, Resources
from minaperf.model.pods import POSTGRES_INIT_RESOURCES
from minaperf.workloads import postgres_access, schema_pins, services
from policy.markers import DISK_SUFFIX_BYTES, POSTGRES_DATA_CLAIM, data_disk_name

POSTGRES_PORT = 5432
COMPONENT = "postgres"
SECRET_NAME = "postgres-credentials"  # noqa: S105 (a Secret object name)
CLAIM_NAME = POSTGRES_DATA_CLAIM
DISK_SCAN_EXCEPTIONS = {
    "CKV_GCP_37": "a customer-supplied key (CSEK) must be sent with every attach and so kept "
    "outside GCP; the data disk is encrypted at rest by Google-managed keys",
}
"""checkov Terraform checks the PostgreSQL data disk does not meet, with the reason."""
DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
"""A subdirectory: a fresh ext4 disk has `lost+found` at its root, and initdb wants it empty."""
SCHEMA_DIR = "/schema"
SCRIPTS_DIR = "/opt/minaperf"
PIN_FILE = "schema.sha256"
INIT_HOOK = "10-minaperf-schema.sh"
PASSWORD_LENGTH = 32
GKE_PD_DRIVER = "pd.csi.storage.gke.io"
SHUTDOWN_GRACE_SECONDS = 120
POSTGRES_UID = 999
"""The `postgres` user of the official image (docker-library/postgres 15/bookworm/Dockerfile:
`useradd -r -g postgres --uid=999`); the entrypoint runs the server as it anyway."""
CURL_UID = 100
"""`curl_user` of the curlimages/curl image, which runs as it by default."""
CREDENTIALS_DIR = "/run/secrets/postgres"
TLS_DIR = "/etc/postgresql/tls"
HBA_DIR = "/etc/postgresql/hba"
TLS_SECRET = "postgres-tls"  # noqa: S105 (a Secret object name)

INIT_RESOURCES = cast(k8s.core.v1.ResourceRequirementsArgsDict, POSTGRES_INIT_RESOURCES)

FETCH_SCHEMA = f"""\
if sh {SCRIPTS_DIR}/pg-fetch-schema.sh; then exit 0; fi
status=$?
if [ -d "$PGDATA" ]; then
  echo "fetch-schema: download failed ($status) but $PGDATA exists: the schema is only needed on"
  echo "fetch-schema: the first start; continuing (pg-init.sh still refuses an incomplete set)"
  exit 0
fi
exit "$status"
"""
"""The init container: a fresh database needs the verified files; an initialised one only
needs them if initdb never finished, and then pg-init.sh fails loudly on the missing files. So a
GitHub outage does not keep an existing database from restarting."""

STOP_FAST = "kill -INT 1 && while kill -0 1 2>/dev/null; do sleep 1; done"
"""preStop: PostgreSQL's *fast* shutdown (SIGINT). The default SIGTERM is a *smart* shutdown that
waits for every client to disconnect, which the consumers' pools never do, so the kubelet would
SIGKILL the server and the next start would run crash recovery."""


def asset(name: str) -> str:
    return resources.files("minaperf.assets").joinpath(name).read_text()


def tls_server_args() -> list[str]:
    """TLS on, with the certificate from the `postgres-tls` Secret, and our pg_hba.conf."""
    return [
        "-c",
        "ssl=on",
        "-c",
        f"ssl_cert_file={TLS_DIR}/tls.crt",
        "-c",
        f"ssl_key_file={TLS_DIR}/tls.key",
        "-c",
        f"hba_file={HBA_DIR}/pg_hba.conf",
    ]


def service_port() -> k8s.core.v1.ServicePortArgsDict:
    """The `postgres` port of the in-cluster Service and of the external load balancer."""
    return {
        "name": "postgres",
        "port": POSTGRES_PORT,
        "target_port": "postgres",
        "protocol": "TCP",
    }


def fetch_schema_container(image: str) -> k8s.core.v1.ContainerArgsDict:
    """The init container that downloads the pinned schema (`FETCH_SCHEMA`)."""
    return {
        "name": "fetch-schema",
        "image": image,
        "command": ["sh", "-c", FETCH_SCHEMA],
        "env": [
            {
                "name": "SCHEMA_BASE_URL",
                "value": schema_pins.schema_base_url(),
            },
            {
                "name": "SCHEMA_SHA256_FILE",
                "value": f"{SCRIPTS_DIR}/{PIN_FILE}",
            },
            {"name": "SCHEMA_DIR", "value": SCHEMA_DIR},
            {"name": "PGDATA", "value": PGDATA},
        ],
        "resources": INIT_RESOURCES,
        "security_context": container_security(user=CURL_UID),
        "volume_mounts": [
            {
                "name": "scripts",
                "mount_path": SCRIPTS_DIR,
                "read_only": True,
            },
            {"name": "schema", "mount_path": SCHEMA_DIR},
            {"name": "data", "mount_path": DATA_MOUNT, "read_only": True},
        ],
    }


def server_container(
    image: str, *, user: str, database: str, resources: Resources
) -> k8s.core.v1.ContainerArgsDict:
    """The PostgreSQL server: TLS on, our pg_hba.conf, fast shutdown on stop."""
    return {
        "name": COMPONENT,
        "image": image,
        "args": [*services.postgres_server_args(), *tls_server_args()],
        "env": [
            {"name": "POSTGRES_USER", "value": user},
            # The entrypoint reads `<VAR>_FILE` instead of `<VAR>`
            # (docker-library/postgres docker-entrypoint.sh `file_env`).
            {
                "name": "POSTGRES_PASSWORD_FILE",
                "value": f"{CREDENTIALS_DIR}/password",
            },
            {"name": "POSTGRES_DB", "value": database},
            {"name": "PGDATA", "value": PGDATA},
            {"name": "SCHEMA_DIR", "value": SCHEMA_DIR},
            {
                "name": "SCHEMA_SHA256_FILE",
                "value": f"{SCRIPTS_DIR}/{PIN_FILE}",
            },
        ],
        "ports": [
            {
                "name": "postgres",
                "container_port": POSTGRES_PORT,
                "protocol": "TCP",
            }
        ],
        # TCP on 127.0.0.1: false while initdb's temporary server (Unix
        # socket only) applies the schema, true once the real one listens.
        "readiness_probe": {
            "exec_": {
                "command": [
                    "pg_isready",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(POSTGRES_PORT),
                    "-U",
                    user,
                    "-d",
                    database,
                ]
            },
            "period_seconds": 10,
            "timeout_seconds": 5,
        },
        # Alive while the server answers at all: 0 accepting, 1 rejecting
        # (starting, recovering, stopping); 2 is no answer (pg_isready(1)).
        "liveness_probe": {
            "exec_": {
                "command": [
                    "sh",
                    "-c",
                    "pg_isready -q -h /var/run/postgresql; [ $? -le 1 ]",
                ]
            },
            "initial_delay_seconds": 30,
            "period_seconds": 20,
            "timeout_seconds": 10,
            "failure_threshold": 6,
        },
        "lifecycle": {"pre_stop": {"exec_": {"command": ["sh", "-c", STOP_FAST]}}},
        "resources": {
            "requests": {
                "cpu": resources.cpu_request,
                "memory": resources.memory_request,
            },
            "limits": {
                "cpu": resources.cpu_limit,
                "memory": resources.memory_limit,
            },
        },
        # Runs as the image's postgres user: no capability needed.
        "security_context": container_security(user=POSTGRES_UID),
        "volume_mounts": server_mounts(),
    }


def server_mounts() -> list[k8s.core.v1.VolumeMountArgsDict]:
    """Where the server sees its volumes (`server_volumes`)."""
    return [
        {"name": "data", "mount_path": DATA_MOUNT},
        {"name": "run", "mount_path": "/var/run/postgresql"},
        {"name": "tmp", "mount_path": "/tmp"},  # noqa: S108
        {
            "name": "credentials",
            "mount_path": CREDENTIALS_DIR,
            "read_only": True,
        },
        {"name": "tls", "mount_path": TLS_DIR, "read_only": True},
        {"name": "hba", "mount_path": HBA_DIR, "read_only": True},
        {"name": "shm", "mount_path": "/dev/shm"},  # noqa: S108
        {"name": "schema", "mount_path": SCHEMA_DIR, "read_only": True},
        {
            "name": "scripts",
            "mount_path": SCRIPTS_DIR,
            "read_only": True,
        },
        {
            "name": "initdb",
            "mount_path": "/docker-entrypoint-initdb.d",
            "read_only": True,
        },
    ]


def server_volumes(
    *, tls: pulumi.Input[str], scripts: pulumi.Input[str], credentials: pulumi.Input[str]
) -> list[k8s.core.v1.VolumeArgsDict]:
    """The server pod's volumes, from the names of its Secrets and ConfigMap."""
    return [
        {"name": "data", "persistent_volume_claim": {"claim_name": CLAIM_NAME}},
        {
            "name": "shm",
            "empty_dir": {"medium": "Memory", "size_limit": "1Gi"},
        },
        {"name": "schema", "empty_dir": {"size_limit": "64Mi"}},
        # Socket and lock file; scratch (read-only root filesystem).
        {"name": "run", "empty_dir": {"medium": "Memory", "size_limit": "1Mi"}},
        {"name": "tmp", "empty_dir": {"size_limit": "256Mi"}},
        {
            # Root-owned, group postgres (fsGroup), 0440: PostgreSQL accepts
            # a root-owned key that only its group can read
            # (src/backend/libpq/be-secure-common.c check_ssl_key_file).
            "name": "tls",
            "secret": {"secret_name": tls, "default_mode": 0o440},
        },
        {
            "name": "hba",
            "config_map": {
                "name": scripts,
                "items": [{"key": "pg_hba.conf", "path": "pg_hba.conf"}],
            },
        },
        {
            "name": "credentials",
            "secret": {
                "secret_name": credentials,
                # Group-readable: fsGroup makes the postgres group own it.
                "default_mode": 0o440,
                "items": [{"key": "password", "path": "password"}],
            },
        },
        {
            "name": "scripts",
            "config_map": {
                "name": scripts,
                "default_mode": 0o555,
            },
        },
        {
            "name": "initdb",
            "config_map": {
                "name": scripts,
                "default_mode": 0o555,
                "items": [{"key": "pg-init.sh", "path": INIT_HOOK}],
            },
        },
    ]


@dataclass(frozen=True)
class PostgresArgs:
    """What PostgreSQL reads from the config and the platform."""

    namespace: ExperimentNamespace
    experiment: str
    """The stack name: names and describes the data disk."""
    settings: PostgresConfig
    postgres_image: str
    curl_image: str
    cluster_cidrs: list[str]
    """The pod ranges: where in-cluster consumers connect from (pg_hba `host` lines)."""
    external_cidrs: list[str]
    """Who may reach the external load balancer; empty: no load balancer."""
    gke: GkePlatform | None
    """Where the data disk goes; None on an existing cluster (a provisioned claim instead)."""
    storage_class: str | None
    """The existing cluster's storage class for the claim (None: the cluster's default)."""


class Postgres(pulumi.ComponentResource):
    host: str
    port: int
    database: str
    user: str
    password: pulumi.Output[str]
    reader: str
    reader_password: pulumi.Output[str]
    uri: pulumi.Output[str]
    secret_name: str
    credentials: k8s.core.v1.Secret
    """The Secret `secret_name`: what a client depends on, with `service`."""
    service: k8s.core.v1.Service
    external_address: pulumi.Output[str | None]
    data_disk: pulumi.Output[str | None]
    ca_certificate: pulumi.Output[str]

    def __init__(
        self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:services:Postgres", name, None, opts)
        where = args.namespace
        self.host = where.service_host(COMPONENT)
        self.port = POSTGRES_PORT
        self.database = args.settings.database
        self.user = args.settings.user
        self.secret_name = SECRET_NAME
        tls = self._credentials(name, where)
        scripts = k8s.core.v1.ConfigMap(
            f"{name}-scripts",
            metadata=where.metadata("postgres-scripts", COMPONENT),
            data={
                "pg-fetch-schema.sh": asset("pg-fetch-schema.sh"),
                "pg-init.sh": asset("pg-init.sh"),
                "pg_hba.conf": postgres_access.hba_conf(
                    cluster_cidrs=args.cluster_cidrs, database=self.database
                ),
                PIN_FILE: schema_pins.sha256sums(),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        claim, self.data_disk = self._data_volume(name, args)
        self.statefulset = self._statefulset(name, args, tls=tls, scripts=scripts, claim=claim)
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={**where.metadata(COMPONENT, COMPONENT), "annotations": SKIP_AWAIT},
            spec={
                "type": "ClusterIP",
                "selector": Labels.selector(COMPONENT),
                "ports": [service_port()],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.external_address = pulumi.Output.from_input(None)
        if args.external_cidrs:
            self.external_address = restricted_load_balancer(
                f"{name}-external",
                where,
                name="postgres-external",
                component=COMPONENT,
                selector=Labels.selector(COMPONENT),
                ports=[service_port()],
                source_ranges=list(args.external_cidrs),
                parent=self,
            )
        self.register_outputs(
            {
                "host": self.host,
                "port": self.port,
                "uri": self.uri,
                "password": self.password,
                "externalAddress": self.external_address,
                "dataDisk": self.data_disk,
                "caCertificate": self.ca_certificate,
            }
        )

    # ------------------------------------------------------------------------- credentials

    def _credentials(self, name: str, where: ExperimentNamespace) -> k8s.core.v1.Secret:
        """The passwords, the TLS key pair and the credentials Secret; returns the TLS Secret."""
        child = pulumi.ResourceOptions(parent=self)
        # Letters and digits only (32 of them, ~190 bits): nothing to escape in a URI, a libpq
        # connection string or a shell. postgres_uri percent-encodes anyway.
        password = random.RandomPassword(
            f"{name}-password", length=PASSWORD_LENGTH, special=False, opts=child
        )
        self.password = pulumi.Output.secret(password.result)
        self.reader = postgres_access.READER
        reader_password = random.RandomPassword(
            f"{name}-reader-password", length=PASSWORD_LENGTH, special=False, opts=child
        )
        self.reader_password = pulumi.Output.secret(reader_password.result)
        # One random seed kept in state: the TLS key and the reader's SCRAM salt derive from it,
        # so neither changes from one `pulumi up` to the next.
        seed = random.RandomBytes(f"{name}-seed", length=32, opts=child)
        seed_bytes = seed.base64.apply(lambda value: base64.b64decode(value))
        reader_scram = pulumi.Output.secret(
            pulumi.Output.all(reader_password.result, seed_bytes).apply(
                lambda values: postgres_access.scram_verifier(
                    values[0], hashlib.sha256(b"reader salt" + values[1]).digest()[:16]
                )
            )
        )
        certificate = pulumi.Output.secret(
            seed_bytes.apply(
                lambda value: postgres_access.server_certificate(
                    value, [self.host, COMPONENT, f"{COMPONENT}.{where.name}"]
                )
            )
        )
        # The certificate is public (the server shows it to every client); clients outside the
        # cluster pin it (`postgres.caCertificate`, sslmode=verify-full).
        self.ca_certificate = pulumi.Output.unsecret(certificate.apply(lambda pair: pair[0]))
        tls = k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=where.metadata(TLS_SECRET, COMPONENT),
            type="kubernetes.io/tls",
            string_data=certificate.apply(lambda pair: {"tls.crt": pair[0], "tls.key": pair[1]}),
            opts=child,
        )
        self.uri = pulumi.Output.secret(
            password.result.apply(
                lambda value: services.postgres_uri(
                    self.host, self.port, self.user, self.database, value
                )
            )
        )
        self.credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=where.metadata(SECRET_NAME, COMPONENT),
            type="Opaque",
            string_data={
                "password": self.password,
                "uri": self.uri,
                "reader-password": self.reader_password,
                "reader-scram": reader_scram,
                "user": self.user,
                "database": self.database,
            },
            opts=child,
        )
        return tls

    # -------------------------------------------------------------------------- the server

    def _statefulset(
        self,
        name: str,
        args: PostgresArgs,
        *,
        tls: k8s.core.v1.Secret,
        scripts: k8s.core.v1.ConfigMap,
        claim: k8s.core.v1.PersistentVolumeClaim,
    ) -> k8s.apps.v1.StatefulSet:
        where = args.namespace
        return k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata={
                **where.metadata(COMPONENT, COMPONENT),
                "annotations": SKIP_AWAIT
                | scanner_skips(
                    {
                        "CKV_K8S_40": "uid 999 is the image's postgres user, which owns the data "
                        "directory of every disk it initialised (kept across stacks)"
                    },
                    images=[args.curl_image, args.postgres_image],
                ),
            },
            spec={
                "replicas": 1,
                "service_name": COMPONENT,
                "selector": {"match_labels": Labels.selector(COMPONENT)},
                "template": {
                    "metadata": {"labels": where.labels.k8s(COMPONENT)},
                    "spec": {
                        "automount_service_account_token": False,
                        # The data volume belongs to the postgres group (fresh disks are root's).
                        "security_context": pod_security(fs_group=POSTGRES_UID),
                        "node_selector": where.services_node_selector(),
                        "termination_grace_period_seconds": SHUTDOWN_GRACE_SECONDS,
                        "init_containers": [fetch_schema_container(args.curl_image)],
                        "containers": [
                            server_container(
                                args.postgres_image,
                                user=self.user,
                                database=self.database,
                                resources=args.settings.resources,
                            )
                        ],
                        "volumes": server_volumes(
                            tls=tls.metadata.name,
                            scripts=scripts.metadata.name,
                            credentials=self.credentials.metadata.name,
                        ),
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # The claim first; on destroy the server goes before its claim, volume and disk.
                depends_on=[claim],
                # Disk attach, image pull, initdb and the schema on a first start.
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m"),
            ),
        )

    # -------------------------------------------------------------------------------- data

    def _data_volume(
        self, name: str, args: PostgresArgs
    ) -> tuple[k8s.core.v1.PersistentVolumeClaim, pulumi.Output[str | None]]:
        """The claim the server mounts, and the `postgres.dataDisk` output."""
        gke = args.gke
        if gke is None:
            return self._kubernetes_claim(name, args), pulumi.Output.from_input(None)
        where, settings = args.namespace, args.settings
        disk_path = self._data_disk(name, args, gke)
        size = f"{settings.disk_gb}Gi"
        volume = k8s.core.v1.PersistentVolume(
            f"{name}-pv",
            # Cluster-scoped: named after the experiment, labelled like everything else.
            metadata={
                "name": f"{where.name}-postgres-data",
                "labels": where.labels.k8s(COMPONENT),
            },
            spec={
                "capacity": {"storage": size},
                "access_modes": ["ReadWriteOnce"],
                "persistent_volume_reclaim_policy": "Retain",
                "storage_class_name": "",
                "volume_mode": "Filesystem",
                "claim_ref": {
                    "api_version": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": where.output,
                    "name": CLAIM_NAME,
                },
                "csi": {"driver": GKE_PD_DRIVER, "volume_handle": disk_path, "fs_type": "ext4"},
                "node_affinity": {
                    "required": {
                        "node_selector_terms": [
                            {
                                "match_expressions": [
                                    {
                                        "key": "topology.gke.io/zone",
                                        "operator": "In",
                                        "values": [gke.zone],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
            # Not retained: with reclaim policy Retain, deleting it never touches the disk.
            opts=pulumi.ResourceOptions(parent=self),
        )
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-pvc",
            metadata=where.metadata(CLAIM_NAME, COMPONENT),
            spec={
                "access_modes": ["ReadWriteOnce"],
                "storage_class_name": "",
                "volume_name": volume.metadata.name,
                "resources": {"requests": {"storage": size}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        return claim, disk_path.apply(lambda path: path)

    def _data_disk(self, name: str, args: PostgresArgs, gke: GkePlatform) -> pulumi.Output[str]:
        """The disk's path: `postgres.existingDisk`, or a new disk named for this deploy."""
        settings = args.settings
        if settings.existing_disk is not None:
            return pulumi.Output.from_input(settings.existing_disk)
        # Not retained: destroying the stack forgets it, so a re-deploy names a new disk.
        suffix = random.RandomId(
            f"{name}-disk-suffix",
            byte_length=DISK_SUFFIX_BYTES,
            opts=pulumi.ResourceOptions(parent=self),
        )
        disk = gcp.compute.Disk(
            f"{name}-disk",
            name=suffix.hex.apply(lambda value: data_disk_name(args.experiment, value)),
            project=gke.project,
            zone=gke.zone,
            size=settings.disk_gb,
            type=settings.disk_type,
            labels=args.namespace.labels.gcp(),
            description=f"PostgreSQL data of Mina ITN experiment {args.experiment}",
            opts=pulumi.ResourceOptions(
                parent=self,
                retain_on_delete=settings.keep_data_on_destroy,
                # Deleting waits for the detach from the node after the pod is gone.
                custom_timeouts=pulumi.CustomTimeouts(create="10m", delete="15m"),
            ),
        )
        return pulumi.Output.all(disk.project, disk.zone, disk.name).apply(
            lambda parts: f"projects/{parts[0]}/zones/{parts[1]}/disks/{parts[2]}"
        )

    def _kubernetes_claim(self, name: str, args: PostgresArgs) -> k8s.core.v1.PersistentVolumeClaim:
        """A dynamically provisioned PVC `postgres-data` (class `platform.storageClass`, or the
        cluster's default), registered with `retain_on_delete=keepDataOnDestroy`.

        What that does and does not keep: on `pulumi destroy` Pulumi skips the delete call for
        the claim, but the claim lives in the experiment's namespace, and deleting a namespace
        makes Kubernetes delete every object in it, claims included; the provisioned volume then
        follows its class's reclaim policy (usually `Delete`). So the data survives a destroy
        only when the namespace survives too: the `Experiment` must also retain the Namespace
        when `keepDataOnDestroy` is true on this platform (the config error for `existingDisk`
        says the same). The kept namespace and claim then belong to no stack; recreating the
        stack needs them deleted or imported first, and deleting the namespace by hand is what
        finally frees the data.
        """
        storage_class = args.storage_class
        spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
            "access_modes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{args.settings.disk_gb}Gi"}},
        }
        if storage_class:
            spec["storage_class_name"] = storage_class
        return k8s.core.v1.PersistentVolumeClaim(
            f"{name}-pvc",
            metadata=args.namespace.metadata(CLAIM_NAME, COMPONENT),
            spec=spec,
            opts=pulumi.ResourceOptions(
                parent=self, retain_on_delete=args.settings.keep_data_on_destroy
            ),
        )
