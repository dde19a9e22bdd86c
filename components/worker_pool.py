"""Snark worker pool: bare GCE VMs with N worker processes each, or pods.

On `gke` a zonal managed instance group of Debian VMs from one instance template, each running
`processesPerServer` `mina internal snark-worker` processes under systemd; on `kubernetes` a
Deployment of worker pods. Why a MIG, and why no autohealing health check: docs/design.md,
"Snark workers are a managed instance group (why MIG)".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import ExperimentNamespace, GkeNetworking
from components.labels import Labels
from components.security import container_security, pod_security, scanner_skips
from minaperf.model.config import WorkerPoolConfig, cpu_millis, memory_bytes
from minaperf.model.machines import boot_disk_type, machine_shape
from minaperf.shell.node_script import (
    SNARK_WORKER_SUPERVISOR_SCRIPT,
    snark_worker_supervisor_script,
)
from minaperf.shell.worker_script import render_worker_startup_script
from policy.markers import WORKERS_ACCOUNT, group_description, service_account_id

COMPONENT = "snark-worker"
BOOT_IMAGE = "debian-cloud/debian-12"
WORKER_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter")
WORKER_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
"""Broad scope, narrow identity: what the VM may do is decided by the two IAM roles above."""

GVNIC_FAMILIES = frozenset({"c3", "c3d", "n4", "c4", "c4a", "c4d"})
"""Machine series that require the gVNIC network interface (debian-12 supports it)."""

SUPERVISOR_DIR = "/opt/minaperf"
WORKER_STATE_DIR = "/var/lib/mina-worker"
COORDINATOR_REACHABLE = 'exec 3<>"/dev/tcp/${COORDINATOR_ADDRESS%:*}/${COORDINATOR_ADDRESS##*:}"'
"""Readiness of a worker pod: bash opens a TCP connection to the coordinator's client port."""
STOP_GRACE_SECONDS = 20
GUEST_ATTRIBUTES_NAMESPACE = "mina-workers"
"""Where each worker VM publishes its state (snark-worker-status.sh; read by `wait`)."""


@dataclass(frozen=True)
class VmPlan:
    """How one worker VM is shaped, from the pool config alone (pure, testable)."""

    machine_type: str
    bare_metal: bool
    spot: bool
    disk_type: str
    nic_type: str | None
    shielded: bool


def vm_plan(pool: WorkerPoolConfig) -> VmPlan:
    """The VM shape for `pool` (combinations GCE refuses are rejected by the config model).

    Bare metal (`*-metal`) instances cannot live-migrate (so `onHostMaintenance` must be
    TERMINATE), cannot be Spot or preemptible, attach only Hyperdisk, need the IDPF network
    interface and do not offer Shielded VM options.
    """
    shape = machine_shape(pool.machine_type)
    family = pool.machine_type.split("-", 1)[0]
    # Spot on bare metal is refused by the config model (`WorkerPoolConfig`).
    if shape.bare_metal:
        nic: str | None = "IDPF"
    elif family in GVNIC_FAMILIES:
        nic = "GVNIC"
    else:
        nic = None
    return VmPlan(
        machine_type=pool.machine_type,
        bare_metal=shape.bare_metal,
        spot=pool.spot,
        disk_type=boot_disk_type(pool.machine_type),
        nic_type=nic,
        shielded=not shape.bare_metal,
    )


def scheduling(plan: VmPlan) -> gcp.compute.InstanceTemplateSchedulingArgsDict:
    if plan.spot:
        # A reclaimed Spot VM is deleted; its MIG recreates it from the template when capacity
        # returns (a stopped VM would only be repaired the same way, after holding its disk).
        return {
            "provisioning_model": "SPOT",
            "preemptible": True,
            "automatic_restart": False,
            "instance_termination_action": "DELETE",
            "on_host_maintenance": "TERMINATE",
        }
    return {
        "provisioning_model": "STANDARD",
        "preemptible": False,
        "automatic_restart": True,
        # Bare metal cannot live-migrate; VMs can.
        "on_host_maintenance": "TERMINATE" if plan.bare_metal else "MIGRATE",
    }


def template_scan_exceptions(inputs: Mapping[str, Any]) -> dict[str, str]:
    """checkov Terraform checks a worker template does not meet, with the reason."""
    if inputs.get("shieldedInstanceConfig"):
        return {}
    return {
        "CKV_GCP_39": "bare-metal machine types do not offer Shielded VM (secure boot, vTPM); "
        "the other worker shapes have it"
    }


def group_name(experiment: str) -> str:
    """The MIG; its VMs are named `<experiment>-snark-worker-<4 random chars>` by GCE."""
    return f"{experiment}-snark-workers"


def base_instance_name(experiment: str) -> str:
    return f"{experiment}-snark-worker"


WORKER_DEPLOYMENT = "snark-workers"


def _cpu_quantity(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _memory_quantity(size: int) -> str:
    for unit, factor in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def pod_resources(pool: WorkerPoolConfig) -> k8s.core.v1.ResourceRequirementsArgsDict:
    """One worker pod's resources: the per-process `podResources` times `processesPerServer`."""
    per = pool.pod_resources
    n = pool.processes_per_server
    return {
        "requests": {
            "cpu": _cpu_quantity(cpu_millis(per.cpu_request) * n),
            "memory": _memory_quantity(memory_bytes(per.memory_request) * n),
        },
        "limits": {
            "cpu": _cpu_quantity(cpu_millis(per.cpu_limit) * n),
            "memory": _memory_quantity(memory_bytes(per.memory_limit) * n),
        },
    }


def worker_threads(pool: WorkerPoolConfig) -> int:
    """RAYON_NUM_THREADS per process: its CPU limit in whole CPUs (nproc in a pod sees the node)."""
    return max(1, cpu_millis(pool.pod_resources.cpu_limit) // 1000)


POD_SCAN_SKIPS = {
    "CKV_K8S_8": "the supervisor restarts each worker process itself; "
    "restarting the pod would add nothing",
    "CKV_K8S_22": "the workers (mina internal snark-worker) write under "
    "$HOME besides their state directory",
    "CKV_K8S_23": "the Mina daemon image runs as root and owns its files",
    "CKV_K8S_40": "see CKV_K8S_23",
}
"""checkov checks the worker Deployment does not meet, with the reason."""


def worker_container(
    image: str, pool: WorkerPoolConfig, env: list[k8s.core.v1.EnvVarArgsDict]
) -> k8s.core.v1.ContainerArgsDict:
    """The supervisor of a pod's worker processes."""
    return {
        "name": "snark-worker",
        "image": image,
        "command": [
            "bash",
            f"{SUPERVISOR_DIR}/{SNARK_WORKER_SUPERVISOR_SCRIPT}",
        ],
        "env": env,
        "resources": pod_resources(pool),
        # Ready while the coordinator's client port accepts connections.
        "readiness_probe": {
            "exec_": {"command": ["bash", "-c", COORDINATOR_REACHABLE]},
            "period_seconds": 15,
            "timeout_seconds": 5,
        },
        "security_context": container_security(read_only_root=False),
        "volume_mounts": [
            {"name": "supervisor", "mount_path": SUPERVISOR_DIR},
            {"name": "state", "mount_path": WORKER_STATE_DIR},
        ],
    }


def vm_network_interface(
    subnet: pulumi.Input[str], plan: VmPlan
) -> gcp.compute.InstanceTemplateNetworkInterfaceArgsDict:
    """The VMs' one interface: in the experiment's subnet, gVNIC where the family wants it."""
    network_interface: gcp.compute.InstanceTemplateNetworkInterfaceArgsDict = {
        "subnetwork": subnet,
        # No access_configs: no public address; egress through the experiment's Cloud NAT.
    }
    if plan.nic_type is not None:
        network_interface["nic_type"] = plan.nic_type
    return network_interface


@dataclass(frozen=True)
class WorkerPoolArgs:
    """What the snark worker pool reads from the config, the platform and the coordinator."""

    namespace: ExperimentNamespace
    experiment: str
    """The stack name: names the VMs, their group and their service account."""
    pool: WorkerPoolConfig
    proof_level: str
    daemon_image: str
    gke: GkeNetworking | None
    """Where the VMs go; None on an existing cluster (worker pods instead)."""
    worker_pods: int
    """The existing cluster's `platform.workerPods` (0 on GKE, where workers are VMs)."""
    coordinator_host: pulumi.Output[str]
    coordinator_port: int


class SnarkWorkerPool(pulumi.ComponentResource):
    group: gcp.compute.InstanceGroupManager | None
    summary: dict[str, Any]
    """Stack output `workerPool` (minaperf.model.outputs.WorkerPool): kind, servers, machineType,
    processesPerServer, coordinatorAddress (host:port), and where `wait` finds the workers."""

    def __init__(
        self, name: str, args: WorkerPoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:workers:SnarkWorkerPool", name, None, opts)
        pool = args.pool
        host = pulumi.Output.from_input(args.coordinator_host)
        address = host.apply(lambda value: f"{value}:{args.coordinator_port}")
        if args.gke is not None:
            plan = vm_plan(pool)
            self.group = self._vms(name, args, args.gke, plan, host)
            self.summary = {
                "kind": "gce",
                "servers": pool.servers,
                "machineType": pool.machine_type,
                "processesPerServer": pool.processes_per_server,
                "coordinatorAddress": address,
                "group": group_name(args.experiment) if self.group is not None else None,
                "packageVersion": pool.mina_package.version,
                "project": args.gke.project,
                "zone": args.gke.zone,
            }
        else:
            self.group = None
            self._pods(name, args, address)
            self.summary = {
                "kind": "pods",
                "servers": args.worker_pods,
                "machineType": None,
                "processesPerServer": pool.processes_per_server,
                "coordinatorAddress": address,
                "deployment": WORKER_DEPLOYMENT if args.worker_pods else None,
            }
        self.register_outputs({"coordinatorAddress": address})

    # ------------------------------------------------------------------------------- GCE VMs

    def _vms(
        self,
        name: str,
        args: WorkerPoolArgs,
        gke: GkeNetworking,
        plan: VmPlan,
        host: pulumi.Output[str],
    ) -> gcp.compute.InstanceGroupManager | None:
        if args.pool.servers == 0:
            return None
        template = self._template(name, args, gke, plan, host)
        experiment = args.experiment
        return gcp.compute.InstanceGroupManager(
            f"{name}-group",
            name=group_name(experiment),
            base_instance_name=base_instance_name(experiment),
            project=gke.project,
            zone=gke.zone,
            target_size=args.pool.servers,
            versions=[{"name": "workers", "instance_template": template.self_link_unique}],
            # A failed VM (a reclaimed Spot VM, one that stopped) is recreated from the current
            # template.
            instance_lifecycle_policy={
                "default_action_on_failure": "REPAIR",
                "force_update_on_repair": "YES",
            },
            # A new template replaces one VM at a time, never buying extra VMs (bare metal
            # quota); RECREATE keeps the instance names.
            update_policy={
                "type": "PROACTIVE",
                "minimal_action": "REPLACE",
                "replacement_method": "RECREATE",
                "max_surge_fixed": 0,
                "max_unavailable_fixed": 1,
            },
            # `python -m scripts.experiment wait` reports the workers; `pulumi up` does not wait.
            wait_for_instances=False,
            # The janitor deletes a group only when the group itself carries this marker.
            description=group_description(experiment),
            # A fixed name: a replacement must delete the old group before creating the new one.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

    def _service_account(
        self, name: str, args: WorkerPoolArgs, gke: GkeNetworking
    ) -> tuple[gcp.serviceaccount.Account, list[gcp.projects.IAMMember]]:
        """The VMs' own service account, and its grants (logs and metrics only)."""
        child = pulumi.ResourceOptions(parent=self)
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            account_id=service_account_id(args.experiment, WORKERS_ACCOUNT),
            project=gke.project,
            display_name=f"Snark worker VMs of experiment {args.experiment}",
            description=args.namespace.labels.service_account_description(),
            opts=child,
        )
        member = account.email.apply(lambda email: f"serviceAccount:{email}")
        grants = [
            gcp.projects.IAMMember(
                f"{name}-sa-{role.split('.')[-1].lower()}",
                project=gke.project,
                role=role,
                member=member,
                opts=child,
            )
            for role in WORKER_ROLES
        ]
        return account, grants

    def _template(
        self,
        name: str,
        args: WorkerPoolArgs,
        gke: GkeNetworking,
        plan: VmPlan,
        host: pulumi.Output[str],
    ) -> gcp.compute.InstanceTemplate:
        pool = args.pool
        account, grants = self._service_account(name, args, gke)
        package = pool.mina_package
        # The config model fills both from the daemon image (or refuses to go on without them).
        assert package.name is not None
        assert package.version is not None
        package_name, package_version = package.name, package.version
        script = host.apply(
            lambda value: render_worker_startup_script(
                coordinator_host=value,
                coordinator_port=args.coordinator_port,
                processes=pool.processes_per_server,
                proof_level=args.proof_level,
                mina_package=package_name,
                mina_version=package_version,
                apt_channel=package.channel,
                apt_codename=package.codename,
                signing_key_fingerprint=package.signing_key_fingerprint,
            )
        )
        shielded: gcp.compute.InstanceTemplateShieldedInstanceConfigArgsDict | None = (
            {"enable_secure_boot": True, "enable_vtpm": True, "enable_integrity_monitoring": True}
            if plan.shielded
            else None
        )
        return gcp.compute.InstanceTemplate(
            f"{name}-template",
            # Templates are immutable: a change creates a new one (unique name), then the group
            # rolls to it, then the old one is deleted.
            name_prefix=f"{base_instance_name(args.experiment)}-",
            project=gke.project,
            machine_type=plan.machine_type,
            disks=[
                {
                    "boot": True,
                    "auto_delete": True,
                    "source_image": BOOT_IMAGE,
                    "disk_size_gb": pool.disk_gb,
                    "disk_type": plan.disk_type,
                }
            ],
            network_interfaces=[vm_network_interface(gke.subnet, plan)],
            service_account={"email": account.email, "scopes": WORKER_SCOPES},
            scheduling=scheduling(plan),
            shielded_instance_config=shielded,
            metadata={
                "startup-script": script,
                "enable-oslogin": "TRUE",
                # Only OS Login (IAM) grants SSH; keys someone put in project metadata do not
                # reach these VMs, which can reach every pod's client port.
                "block-project-ssh-keys": "TRUE",
                # snark-worker-status.sh publishes the workers' state here for `wait`.
                "enable-guest-attributes": "TRUE",
            },
            tags=[gke.worker_tag],
            labels=args.namespace.labels.gcp(),
            description=(
                f"Mina snark workers ({pool.processes_per_server} processes) of "
                f"experiment {args.experiment}"
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=grants),
        )

    # ---------------------------------------------------------------------------------- pods

    def _pods(self, name: str, args: WorkerPoolArgs, address: pulumi.Output[str]) -> None:
        replicas = args.worker_pods
        if replicas == 0:
            return
        where, pool = args.namespace, args.pool
        child = pulumi.ResourceOptions(parent=self)
        script = snark_worker_supervisor_script()
        script_map = k8s.core.v1.ConfigMap(
            f"{name}-supervisor",
            metadata=where.metadata("snark-worker-supervisor", COMPONENT),
            data={SNARK_WORKER_SUPERVISOR_SCRIPT: script},
            opts=child,
        )
        env: list[k8s.core.v1.EnvVarArgsDict] = [
            {"name": "COORDINATOR_ADDRESS", "value": address},
            {"name": "WORKER_PROCESSES", "value": str(pool.processes_per_server)},
            {"name": "WORKER_THREADS", "value": str(worker_threads(pool))},
            {"name": "PROOF_LEVEL", "value": args.proof_level},
            {"name": "WORKER_STATE_DIR", "value": WORKER_STATE_DIR},
            {"name": "STOP_GRACE_SECONDS", "value": str(STOP_GRACE_SECONDS)},
        ]
        spec: k8s.apps.v1.DeploymentSpecArgsDict = {
            "replicas": replicas,
            # Worker pods are large; never ask the cluster for a surge pod's worth of CPU.
            "strategy": {"type": "Recreate"},
            "selector": {"match_labels": Labels.selector(COMPONENT)},
            "template": {
                "metadata": {
                    "labels": where.labels.k8s(COMPONENT),
                    "annotations": {
                        # Roll the pods when the supervisor changes.
                        "mina-itn/supervisor-sha256": hashlib.sha256(script.encode()).hexdigest(),
                    },
                },
                "spec": {
                    "termination_grace_period_seconds": STOP_GRACE_SECONDS + 10,
                    "automount_service_account_token": False,
                    "security_context": pod_security(),
                    "containers": [worker_container(args.daemon_image, pool, env)],
                    "volumes": [
                        {
                            "name": "supervisor",
                            "config_map": {
                                "name": script_map.metadata.apply(
                                    lambda metadata: metadata.name or "snark-worker-supervisor"
                                ),
                                "default_mode": 0o555,
                            },
                        },
                        {"name": "state", "empty_dir": {}},
                    ],
                },
            },
        }
        k8s.apps.v1.Deployment(
            f"{name}-pods",
            metadata={
                **where.metadata(WORKER_DEPLOYMENT, COMPONENT),
                "annotations": scanner_skips(POD_SCAN_SKIPS, images=[args.daemon_image]),
            },
            spec=spec,
            opts=child,
        )
