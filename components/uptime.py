"""In-memory uptime backend: node discovery for the orchestrator.

Every Mina node submits to `submit_url`; the orchestrator and `wait` read `online_url`, which
lists each submitter with the address it submitted from. One replica behind a plain ClusterIP
Service, its state in memory. See docs/design.md#one-uptime-backend-state-in-memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from components.context import SKIP_AWAIT, ExperimentNamespace
from components.labels import Labels
from components.security import NOBODY, container_security, pod_security, scanner_skips
from minaperf.keys.material import PublicSummary
from minaperf.model.pods import UPTIME_RESOURCES
from minaperf.workloads import services

UPTIME_PORT = 8080
COMPONENT = "uptime-backend"
CONFIG_DIR = "/config"
CONFIG_FILE = "config.json"
RESOURCES = cast(k8s.core.v1.ResourceRequirementsArgsDict, UPTIME_RESOURCES)


def whitelist(summary: PublicSummary) -> list[str]:
    """Every node's public key, in node order: the keys the nodes submit with."""
    return [node["public_key"] for node in summary["nodes"].values()]


def uptime_container(image: str, network: str) -> k8s.core.v1.ContainerArgsDict:
    """The backend container; its whitelist is mounted from the ConfigMap at CONFIG_DIR."""
    return {
        "name": COMPONENT,
        "image": image,
        "env": [
            {"name": "CONFIG_FILE", "value": f"{CONFIG_DIR}/{CONFIG_FILE}"},
            {"name": "NETWORK", "value": network},
        ],
        "ports": [
            {
                "name": "http",
                "container_port": UPTIME_PORT,
                "protocol": "TCP",
            }
        ],
        "readiness_probe": {
            "http_get": {"path": "/", "port": "http"},
            "period_seconds": 5,
        },
        "liveness_probe": {
            "http_get": {"path": "/", "port": "http"},
            "initial_delay_seconds": 10,
            "period_seconds": 20,
            "failure_threshold": 6,
        },
        "resources": RESOURCES,
        # A Go server on an unprivileged port, state in memory.
        "security_context": container_security(user=NOBODY),
        "volume_mounts": [{"name": "config", "mount_path": CONFIG_DIR, "read_only": True}],
    }


@dataclass(frozen=True)
class UptimeArgs:
    """What the uptime backend reads from the config and the keys."""

    namespace: ExperimentNamespace
    image: str
    daemon_image: str
    """The daemon image names the network the backend accepts submissions for."""
    keys: pulumi.Output[PublicSummary]
    """The nodes' public keys: the whitelist."""


class UptimeBackend(pulumi.ComponentResource):
    submit_url: str
    online_url: str

    def __init__(
        self, name: str, args: UptimeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mina-itn:services:UptimeBackend", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        where = args.namespace
        base = f"http://{where.service_host(COMPONENT)}:{UPTIME_PORT}"
        self.submit_url = f"{base}/v1/submit"
        self.online_url = f"{base}/v1/online"

        network = services.uptime_network_env(args.daemon_image)
        config_json = args.keys.apply(
            lambda summary: services.uptime_backend_config(whitelist(summary))
        )
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=where.metadata(f"{COMPONENT}-config", COMPONENT),
            # Immutable: a new whitelist replaces the object, and the checksum annotation below
            # rolls the pod, so the backend never keeps running with a stale list. The new pod
            # starts empty: `/v1/online` fills again as each node next submits (ITN issue 12 §4).
            immutable=True,
            data={CONFIG_FILE: config_json},
            opts=child,
        )
        checksum = config_json.apply(lambda text: hashlib.sha256(text.encode()).hexdigest())
        selector = Labels.selector(COMPONENT)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={
                **where.metadata(COMPONENT, COMPONENT),
                "annotations": SKIP_AWAIT | scanner_skips(images=[args.image]),
            },
            spec={
                "replicas": 1,
                # State in memory: never a second copy with another view of who is online.
                "strategy": {"type": "Recreate"},
                "selector": {"match_labels": selector},
                "template": {
                    "metadata": {
                        "labels": where.labels.k8s(COMPONENT),
                        "annotations": {"mina-itn/config-sha256": checksum},
                    },
                    "spec": {
                        "automount_service_account_token": False,
                        "security_context": pod_security(),
                        "node_selector": where.services_node_selector(),
                        "containers": [uptime_container(args.image, network)],
                        "volumes": [
                            {
                                "name": "config",
                                "config_map": {"name": config_map.metadata.name},
                            }
                        ],
                    },
                },
            },
            opts=child,
        )
        # `/v1/online` lists each submitter's `remote_addr` (docs/upstream-facts.md
        # perf-services §4), which must be the node's pod IP: a plain ClusterIP Service (kube-proxy
        # rewrites the destination only), and nothing that proxies or sets `X-Forwarded-For`.
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={**where.metadata(COMPONENT, COMPONENT), "annotations": SKIP_AWAIT},
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": "http", "port": UPTIME_PORT, "target_port": "http", "protocol": "TCP"}
                ],
            },
            opts=child,
        )
        self.register_outputs({"submitUrl": self.submit_url, "onlineUrl": self.online_url})
