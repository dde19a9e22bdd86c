"""Orchestrator workspace: a pod an admin (or `scripts.experiment`) enters to run experiments.

    kubectl exec -it -n <namespace> orchestrator-0 -c orchestrator -- bash

One StatefulSet replica, `orchestrator-0`, whose main container runs the Mina DAEMON image: the
orchestrator's `fund-keys` and `rotate-balance` steps run `mina advanced itn-create-accounts` and
friends, so the `mina` CLI must be there and match the daemons (the orchestrator image has no
`mina`; reference/perf-services.md §0.3, §1.11). Init containers copy `/orchestrator` and
`/generator` out of the orchestrator image into an emptyDir on PATH, and install the funding key
files from their Secret into the persistent work directory with the modes the `mina` CLI insists
on (directory 0700, files 0600).

Layout inside the pod:

- `/work` (PVC `work-orchestrator-0`, survives restarts): run directories, `orchestrator.log`,
  and the generator's `-fund-keys-dir` (use a directory under /work, e.g. `/work/fund_keys`; the
  image's default `./fund_keys` would be lost with the container, §1.8).
- `/work/keys/funding/funding-<i>`: the funding accounts' key files, rewritten from the Secret at
  every pod start (stale `funding-*` files are removed; nothing else there is touched).
- `/etc/orchestrator/config.json` (mode 0400): the orchestrator config with the ITN key, from a
  Secret, kept current by the kubelet.
- env `FUNDING_KEY_PASSWORD_<i>`: the password of `funding-<i>` (from the Secret);
  `FUNDING_KEY_PASSWORD`: the password of `funding-0`, and of every funding key when all share
  one. Pass the variable's NAME to the generator (`-password-env FUNDING_KEY_PASSWORD`) or to a
  step (`passwordEnv`), never its value.
- env `ITN_FEATURES=1`, as `fund-keys` needs it for the `mina` CLI.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from components.context import POOL_LABEL as GKE_POOL_LABEL
from components.context import SKIP_AWAIT, ExperimentContext
from components.labels import Labels
from components.security import container_security, pod_security, scanner_skips
from minaperf.config import KubernetesPlatform
from minaperf.keys.material import KeyMaterial
from minaperf.pods import ORCHESTRATOR_INIT_RESOURCES, ORCHESTRATOR_RESOURCES
from minaperf.sizing import ORCHESTRATOR_WORK_VOLUME

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
# and exits 1 (reference/perf-services.md §1.1). A failure is logged loudly and keeps the pod
# unready (so `pulumi up` reports it), while the pod stays up for an admin to inspect.
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
    """The `workspace` stack output (minaperf.outputs.Workspace)."""
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
    """Key files `funding-<i>`, passwords `password-<i>`, and `password` (see module doc)."""
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


class OrchestratorWorkspace(pulumi.ComponentResource):
    workspace: dict[str, Any]

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        orchestrator_config: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:orchestrator:OrchestratorWorkspace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = ctx.config
        accounts = config.network.funding_accounts

        config_secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata=ctx.metadata("orchestrator-config", COMPONENT),
            type="Opaque",
            string_data=pulumi.Output.secret(orchestrator_config).apply(
                lambda text: {CONFIG_FILE: text}
            ),
            opts=child,
        )
        funding_secret = k8s.core.v1.Secret(
            f"{name}-funding-keys",
            metadata=ctx.metadata("orchestrator-funding-keys", COMPONENT),
            type="Opaque",
            string_data=pulumi.Output.secret(ctx.keys.material.apply(funding_secret_data)),
            opts=child,
        )

        def secret_name(secret: k8s.core.v1.Secret, default: str) -> pulumi.Output[str]:
            return secret.metadata.apply(lambda metadata: metadata.name or default)

        funding_name = secret_name(funding_secret, "orchestrator-funding-keys")
        password_env: list[k8s.core.v1.EnvVarArgsDict] = [
            {
                "name": f"{PASSWORD_ENV}_{index}",
                "value_from": {
                    "secret_key_ref": {"name": funding_name, "key": f"password-{index}"}
                },
            }
            for index in range(accounts)
        ]
        password_env.append(
            {
                "name": PASSWORD_ENV,
                "value_from": {"secret_key_ref": {"name": funding_name, "key": "password"}},
            }
        )

        env: list[k8s.core.v1.EnvVarArgsDict] = [
            {"name": "ITN_FEATURES", "value": "1"},
            {"name": "PATH", "value": PATH},
            {"name": "ORCHESTRATOR_IMAGE", "value": config.images.orchestrator},
            {"name": "ORCHESTRATOR_CONFIG", "value": CONFIG_PATH},
            {"name": "FUNDING_KEY_DIR", "value": FUNDING_KEY_DIR},
            *password_env,
        ]
        pod_spec: k8s.core.v1.PodSpecArgsDict = {
            "termination_grace_period_seconds": 10,
            # `scripts.experiment` execs into the pod from outside; nothing inside calls the API.
            "automount_service_account_token": False,
            "security_context": pod_security(),
            "init_containers": [
                {
                    "name": "install-binaries",
                    "image": config.images.orchestrator,
                    "command": ["sh", "-c", INSTALL_BINARIES],
                    "resources": SMALL,
                    "security_context": container_security(),
                    "volume_mounts": [{"name": "bin", "mount_path": BIN_DIR}],
                },
                {
                    "name": "install-funding-keys",
                    "image": config.images.orchestrator,
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
            ],
            "containers": [
                {
                    "name": CONTAINER,
                    "image": config.images.daemon,
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
            ],
            "volumes": [
                {"name": "bin", "empty_dir": {"size_limit": "512Mi"}},
                {
                    "name": "config",
                    "secret": {
                        "secret_name": secret_name(config_secret, "orchestrator-config"),
                        "items": [{"key": CONFIG_FILE, "path": CONFIG_FILE, "mode": 0o400}],
                        "default_mode": 0o400,
                    },
                },
                {
                    "name": "funding-keys",
                    "secret": {"secret_name": funding_name, "default_mode": 0o400},
                },
            ],
        }
        if ctx.gke is not None:
            pod_spec["node_selector"] = {GKE_POOL_LABEL: "services"}

        claim_spec: k8s.core.v1.PersistentVolumeClaimSpecArgsDict = {
            "access_modes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": ORCHESTRATOR_WORK_VOLUME}},
        }
        platform = config.platform
        if isinstance(platform, KubernetesPlatform) and platform.storage_class:
            claim_spec["storage_class_name"] = platform.storage_class

        # Governing Service of the StatefulSet (headless: no ports, no load balancing).
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=ctx.metadata("orchestrator", COMPONENT),
            spec={"cluster_ip": "None", "selector": Labels.selector(COMPONENT)},
            opts=child,
        )
        fingerprint = ctx.keys.public.apply(
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
                    "labels": ctx.labels.k8s(COMPONENT),
                    "annotations": {"mina-itn/funding-accounts-sha256": fingerprint},
                },
                "spec": pod_spec,
            },
            "volume_claim_templates": [
                {
                    # Stable labels only: claim templates are immutable (a change replaces).
                    "metadata": {"name": "work", "labels": Labels.selector(COMPONENT)},
                    "spec": claim_spec,
                }
            ],
        }
        self.stateful_set = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata={
                **ctx.metadata("orchestrator", COMPONENT),
                "annotations": SKIP_AWAIT
                | scanner_skips(
                    {
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
                    },
                    images=[config.images.orchestrator, config.images.daemon],
                ),
            },
            spec=spec,
            opts=child,
        )
        self.workspace = workspace_info(config.namespace)
        self.register_outputs({"workspace": self.workspace})
