"""Orchestrator workspace: a pod an admin (or `scripts.experiment`) enters to run experiments.

    kubectl exec -it -n <namespace> orchestrator-0 -c orchestrator -- bash

One StatefulSet replica running the Mina daemon image, for a `mina` CLI that matches the daemons,
with the orchestrator's binaries, config and funding keys put in and a work volume that persists.
See docs/design.md#inside-the-orchestrator-workspace.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.context import POOL_LABEL as GKE_POOL_LABEL
from components.context import SKIP_AWAIT, ExperimentNamespace
from components.labels import Labels
from components.security import container_security, pod_security, scanner_skips
from minaperf.keys.material import KeyMaterial, PublicSummary
from minaperf.model.pods import ORCHESTRATOR_INIT_RESOURCES, ORCHESTRATOR_RESOURCES
from minaperf.model.sizing import ORCHESTRATOR_WORK_VOLUME

COMPONENT = "orchestrator"
POD = "orchestrator-0"
CONTAINER = "orchestrator"
WORK_DIR = "/work"
CONFIG_DIR = "/etc/orchestrator"
CONFIG_FILE = "config.json"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_FILE}"
FUNDING_KEY_DIR = f"{WORK_DIR}/keys/funding"
BIN_DIR = "/opt/orchestrator/bin"
ORCHESTRATOR_EXEC = f"{BIN_DIR}/orchestrator"
GENERATOR_EXEC = f"{BIN_DIR}/generator"
MINA_EXEC = "mina"
FUNDING_SECRET_DIR = "/run/secrets/funding-keys"  # noqa: S105 (a mount path)
PASSWORD_ENV = "FUNDING_KEY_PASSWORD"  # noqa: S105 (the NAME of the variable)
SMOKE_OK = "/tmp/orchestrator-smoke-ok"  # noqa: S108 (a status marker inside the container)
PATH = f"{BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SMALL = cast(k8s.core.v1.ResourceRequirementsArgsDict, ORCHESTRATOR_INIT_RESOURCES)
MAIN_RESOURCES = cast(k8s.core.v1.ResourceRequirementsArgsDict, ORCHESTRATOR_RESOURCES)

# The orchestrator image is debian:bookworm (glibc 2.36) with Go binaries built by
# golang:1.23.4-bookworm; the daemon image is Ubuntu jammy (glibc 2.35). A Go binary built with
# CGO_ENABLED=0 is static and runs anywhere; one built with cgo (Go's default when a C compiler
# is present, e.g. for the `net` resolver) links the image's glibc dynamically and fails to load
# on an older glibc if it references a newer symbol version ("GLIBC_2.36 not found"). So the
# workspace proves the copied binary runs here: without arguments it prints "No config provided"
# and exits 1 (docs/upstream-facts.md perf-services §1.1). A failure is logged loudly and keeps
# the pod unready (so `pulumi up` reports it), while the pod stays up for an admin to inspect.
INSTALL_BINARIES = f"""set -eu
cp /orchestrator /generator {BIN_DIR}/
chmod 0555 {ORCHESTRATOR_EXEC} {GENERATOR_EXEC}
echo "install-binaries: copied orchestrator and generator into {BIN_DIR}"
"""

INSTALL_FUNDING_KEYS = f"""set -eu
src={FUNDING_SECRET_DIR}
dst={FUNDING_KEY_DIR}
umask 077
mkdir -p "$dst"
chmod 0700 {WORK_DIR}/keys "$dst"
for file in "$dst"/funding-*; do
    [ -e "$file" ] || continue
    [ -e "$src/${{file##*/}}" ] || rm -f -- "$file"
done
count=0
for file in "$src"/funding-*; do
    [ -e "$file" ] || continue
    install -m 0600 "$file" "$dst/${{file##*/}}"
    count=$((count + 1))
done
echo "install-funding-keys: $count key file(s) in $dst"
"""

MAIN = f"""set -u
rm -f {SMOKE_OK}
out=$({ORCHESTRATOR_EXEC} 2>&1)
status=$?
if [ "$status" -eq 1 ] && printf '%s' "$out" | grep -q 'No config provided'; then
    touch {SMOKE_OK}
    echo "orchestrator-workspace: {ORCHESTRATOR_EXEC} runs in this image"
else
    echo "orchestrator-workspace: ERROR: {ORCHESTRATOR_EXEC} cannot run in the daemon image" \\
        "(exit $status): $out" >&2
    echo "orchestrator-workspace: ERROR: it was copied from $ORCHESTRATOR_IMAGE (Debian" \\
        "bookworm); a dynamically linked Go binary may need a newer glibc than this image" \\
        "has. Use an orchestrator image built with CGO_ENABLED=0." >&2
fi
if command -v {MINA_EXEC} >/dev/null 2>&1; then
    echo "orchestrator-workspace: mina CLI at $(command -v {MINA_EXEC})"
else
    echo "orchestrator-workspace: ERROR: no '{MINA_EXEC}' on PATH; fund-keys will fail" >&2
fi
echo "orchestrator-workspace: ready; kubectl exec -it $HOSTNAME -c {CONTAINER} -- bash"
trap 'exit 0' TERM INT
sleep infinity &
wait
"""


def workspace_info(namespace: str) -> dict[str, Any]:
    """The `workspace` stack output (minaperf.model.outputs.Workspace)."""
    return {
        "namespace": namespace,
        "pod": POD,
        "container": CONTAINER,
        "workDir": WORK_DIR,
        "configPath": CONFIG_PATH,
        "fundingKeyDir": FUNDING_KEY_DIR,
        "minaExec": MINA_EXEC,
        "orchestratorExec": ORCHESTRATOR_EXEC,
    }


def funding_secret_data(material: KeyMaterial) -> dict[str, str]:
    """Key files `funding-<i>`, passwords `password-<i>`, and `password`: `funding-0`'s, which
    is every funding key's when all share one."""
    data: dict[str, str] = {}
    for account in material.funding:
        data[f"funding-{account.index}"] = account.key_file
        data[f"password-{account.index}"] = account.password
    if material.funding:
        data["password"] = material.funding[0].password
    return data


def funding_fingerprint(public_keys: list[str]) -> str:
    """Changes with the funding accounts (public data), so the pod restarts to reinstall keys."""
    return hashlib.sha256("\n".join(public_keys).encode()).hexdigest()


WORKSPACE_SCAN_SKIPS = {
    "CKV_K8S_8": "an interactive workspace idling in `sleep`: nothing to probe "
    "that the container's exit does not show, and a restart would end "
    "people's sessions",
    "CKV_K8S_22": "an interactive workspace (tools, the mina CLI's $HOME); "
    "both init containers are read-only",
    "CKV_K8S_23": "the daemon image (for the mina CLI) and the orchestrator "
    "image run as root and own their files",
    "CKV_K8S_40": "see CKV_K8S_23",
    "CKV_K8S_35": "the mina CLI and the generator read key passwords only "
    "from environment variables (-password-env)",
    "CKV_K8S_37": "install-funding-keys adds CHOWN, DAC_OVERRIDE and FOWNER "
    "to install key files into a volume root may not own",
    "CKV_K8S_25": "see CKV_K8S_37",
}
"""checkov checks the workspace StatefulSet does not meet, with the reason."""


def password_env(
    funding_secret: pulumi.Input[str], accounts: int
) -> list[k8s.core.v1.EnvVarArgsDict]:
    """`FUNDING_KEY_PASSWORD_<i>` for each funding account, and `FUNDING_KEY_PASSWORD`.

    People pass the variable's NAME to the generator (`-password-env FUNDING_KEY_PASSWORD`) or to
    a step (`passwordEnv`), never its value."""
    env: list[k8s.core.v1.EnvVarArgsDict] = [
        {
            "name": f"{PASSWORD_ENV}_{index}",
            "value_from": {"secret_key_ref": {"name": funding_secret, "key": f"password-{index}"}},
        }
        for index in range(accounts)
    ]
    env.append(
        {
            "name": PASSWORD_ENV,
            "value_from": {"secret_key_ref": {"name": funding_secret, "key": "password"}},
        }
    )
    return env


def init_containers(orchestrator_image: str) -> list[k8s.core.v1.ContainerArgsDict]:
    """Copy the binaries onto PATH; install the funding key files into the work directory.

    The key files are rewritten from the Secret at every pod start (stale `funding-*` files are
    removed, nothing else there is touched), in a 0700 directory as 0600 files: the modes the
    `mina` CLI insists on."""
    return [
        {
            "name": "install-binaries",
            "image": orchestrator_image,
            "command": ["sh", "-c", INSTALL_BINARIES],
            "resources": SMALL,
            "security_context": container_security(),
            "volume_mounts": [{"name": "bin", "mount_path": BIN_DIR}],
        },
        {
            "name": "install-funding-keys",
            "image": orchestrator_image,
            "command": ["sh", "-c", INSTALL_FUNDING_KEYS],
            "resources": SMALL,
            # Root writing into a volume it may not own (provisioner-dependent).
            "security_context": container_security(add=["CHOWN", "DAC_OVERRIDE", "FOWNER"]),
            "volume_mounts": [
                {"name": "work", "mount_path": WORK_DIR},
                {
                    "name": "funding-keys",
                    "mount_path": FUNDING_SECRET_DIR,
                    "read_only": True,
                },
            ],
        },
    ]


def workspace_container(
    daemon_image: str, orchestrator_image: str, passwords: list[k8s.core.v1.EnvVarArgsDict]
) -> k8s.core.v1.ContainerArgsDict:
    """The workspace itself: the daemon image (for `mina`), idling after its smoke test.

    The orchestrator's `fund-keys` and `rotate-balance` steps run `mina advanced
    itn-create-accounts` and friends, so the `mina` CLI must be there and match the daemons; the
    orchestrator image has no `mina` (docs/upstream-facts.md perf-services §0.3, §1.11)."""
    env: list[k8s.core.v1.EnvVarArgsDict] = [
        # `fund-keys` needs it for the `mina` CLI.
        {"name": "ITN_FEATURES", "value": "1"},
        {"name": "PATH", "value": PATH},
        {"name": "ORCHESTRATOR_IMAGE", "value": orchestrator_image},
        {"name": "ORCHESTRATOR_CONFIG", "value": CONFIG_PATH},
        {"name": "FUNDING_KEY_DIR", "value": FUNDING_KEY_DIR},
        *passwords,
    ]
    return {
        "name": CONTAINER,
        "image": daemon_image,
        "command": ["bash", "-c", MAIN],
        "working_dir": WORK_DIR,
        "env": env,
        "resources": MAIN_RESOURCES,
        # An interactive workspace: people install tools and the `mina` CLI writes
        # under $HOME, so the root filesystem stays writable.
        "security_context": container_security(read_only_root=False),
        "readiness_probe": {
            "exec_": {"command": ["test", "-f", SMOKE_OK]},
            "period_seconds": 10,
        },
        "volume_mounts": [
            {"name": "work", "mount_path": WORK_DIR},
            {"name": "bin", "mount_path": BIN_DIR, "read_only": True},
            {"name": "config", "mount_path": CONFIG_DIR, "read_only": True},
        ],
    }


def workspace_volumes(
    *, config_secret: pulumi.Input[str], funding_secret: pulumi.Input[str]
) -> list[k8s.core.v1.VolumeArgsDict]:
    """The binaries' emptyDir and the two Secrets (the work directory is a claim template)."""
    return [
        {"name": "bin", "empty_dir": {"size_limit": "512Mi"}},
        {
            "name": "config",
            "secret": {
                "secret_name": config_secret,
                "items": [{"key": CONFIG_FILE, "path": CONFIG_FILE, "mode": 0o400}],
                "default_mode": 0o400,
            },
        },
        {
            "name": "funding-keys",
            "secret": {"secret_name": funding_secret, "default_mode": 0o400},
        },
    ]


def work_claim_spec(storage_class: str | None) -> k8s.core.v1.PersistentVolumeClaimSpecArgsDict:
    """The persistent `/work` (class `platform.storageClass`, or the cluster's default).

    Run directories and `orchestrator.log` live there, and so should the generator's
    `-fund-keys-dir` (e.g. `/work/fund_keys`): the image's default `./fund_keys` would be lost
    with the container (perf-services §1.8)."""
    claim_spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
        "access_modes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": ORCHESTRATOR_WORK_VOLUME}},
    }
    if storage_class:
        claim_spec["storage_class_name"] = storage_class
    return claim_spec


def secret_name(secret: k8s.core.v1.Secret, default: str) -> pulumi.Output[str]:
    return secret.metadata.apply(lambda metadata: metadata.name or default)


@dataclass(frozen=True)
class WorkspaceArgs:
    """What the orchestrator workspace reads from the config, the keys and the wiring."""

    namespace: ExperimentNamespace
    orchestrator_image: str
    daemon_image: str
    """The workspace runs the daemon image: the `mina` CLI must match the daemons."""
    funding_accounts: int
    keys: pulumi.Output[KeyMaterial]
    """The funding accounts' key files and passwords (secret)."""
    public_keys: pulumi.Output[PublicSummary]
    storage_class: str | None
    """The existing cluster's storage class for `/work` (None: the cluster's default)."""
    orchestrator_config: pulumi.Output[str]
    """The orchestrator's config file (secret: it holds the ITN key)."""


class OrchestratorWorkspace(pulumi.ComponentResource):
    workspace: dict[str, Any]

    def __init__(
        self, name: str, args: WorkspaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:orchestrator:OrchestratorWorkspace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        where = args.namespace
        config_secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=where.metadata("orchestrator-config", COMPONENT),
            type="Opaque",
            string_data=pulumi.Output.secret(args.orchestrator_config).apply(
                lambda text: {CONFIG_FILE: text}
            ),
            opts=child,
        )
        funding_secret = k8s.core.v1.Secret(
            f"{name}-funding-keys",
            metadata=where.metadata("orchestrator-funding-keys", COMPONENT),
            type="Opaque",
            string_data=pulumi.Output.secret(args.keys.apply(funding_secret_data)),
            opts=child,
        )
        funding_name = secret_name(funding_secret, "orchestrator-funding-keys")
        pod_spec: k8s.core.v1.PodSpecArgsDict = {
            "termination_grace_period_seconds": 10,
            # `scripts.experiment` execs into the pod from outside; nothing inside calls the API.
            "automount_service_account_token": False,
            "security_context": pod_security(),
            "init_containers": init_containers(args.orchestrator_image),
            "containers": [
                workspace_container(
                    args.daemon_image,
                    args.orchestrator_image,
                    password_env(funding_name, args.funding_accounts),
                )
            ],
            "volumes": workspace_volumes(
                config_secret=secret_name(config_secret, "orchestrator-config"),
                funding_secret=funding_name,
            ),
        }
        if where.on_gke:
            pod_spec["node_selector"] = {GKE_POOL_LABEL: "services"}
        self.stateful_set = self._statefulset(name, args, pod_spec)
        self.workspace = workspace_info(where.name)
        self.register_outputs({"workspace": self.workspace})

    def _statefulset(
        self, name: str, args: WorkspaceArgs, pod_spec: k8s.core.v1.PodSpecArgsDict
    ) -> k8s.apps.v1.StatefulSet:
        """The StatefulSet of one and its governing Service."""
        child = pulumi.ResourceOptions(parent=self)
        where = args.namespace
        # Governing Service of the StatefulSet (headless: no ports, no load balancing).
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=where.metadata("orchestrator", COMPONENT),
            spec={"cluster_ip": "None", "selector": Labels.selector(COMPONENT)},
            opts=child,
        )
        fingerprint = args.public_keys.apply(
            lambda summary: funding_fingerprint(list(summary["funding"]))
        )
        spec: k8s.apps.v1.StatefulSetSpecArgsDict = {
            "replicas": 1,
            "service_name": service.metadata.apply(
                lambda metadata: metadata.name or "orchestrator"
            ),
            "selector": {"match_labels": Labels.selector(COMPONENT)},
            "template": {
                "metadata": {
                    "labels": where.labels.k8s(COMPONENT),
                    "annotations": {"mina-itn/funding-accounts-sha256": fingerprint},
                },
                "spec": pod_spec,
            },
            "volume_claim_templates": [
                {
                    # Stable labels only: claim templates are immutable (a change replaces).
                    "metadata": {"name": "work", "labels": Labels.selector(COMPONENT)},
                    "spec": work_claim_spec(args.storage_class),
                }
            ],
        }
        return k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata={
                **where.metadata("orchestrator", COMPONENT),
                "annotations": SKIP_AWAIT
                | scanner_skips(
                    WORKSPACE_SCAN_SKIPS, images=[args.orchestrator_image, args.daemon_image]
                ),
            },
            spec=spec,
            opts=child,
        )
