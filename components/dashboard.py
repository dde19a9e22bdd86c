"""Optional dashboard and experiments API, reachable only from the admin ranges.

The dashboard is the runtime-config variant (reference/perf-services.md §5.1): an image built
with `--configuration production` that reads `window.env` from `assets/env.js`. The container
squashes `/etc/dashboard/fe-config.json` (from `services.dashboard_fe_config`, in a ConfigMap)
into `ENV`, renders `env.template.js` into `env.js` with `envsubst`, then runs nginx.

Every URL in that config is called by the user's browser, not by the pod. The fetcher's REST API
(the node lister) is deliberately not published: it has unauthenticated `POST /reset` and
`/freeze`. The node lister is therefore `http://localhost:4000`, which works for anyone with
access to the experiment's namespace after

    kubectl -n <namespace> port-forward deploy/log-fetcher-1 4000:4000

(the fetcher allows any origin for GET). Per-node GraphQL ports are private too, so `configs`
stays empty. Only the dashboard itself is published, on a LoadBalancer limited to
`access.adminCidrs`; with no admin range it is a ClusterIP Service (use port-forward) and `url`
is None.

The experiments API (`PSQL_CONNECTION_STRING` from the Secret `postgres-credentials`) serves
`/api/experiments` and `/api/deployments` inside the cluster on port 3003.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from components.context import ExperimentContext
from components.exposure import restricted_load_balancer
from components.labels import Labels
from components.log_fetcher import FETCHER_PORT
from components.postgres import Postgres
from components.security import container_security, pod_security, scanner_skips
from minaperf import services

DASHBOARD = "dashboard"
EXPERIMENTS_API = "experiments-api"
DASHBOARD_PORT = 80
EXPERIMENTS_API_PORT = 3003
NODE_UID = 1000
"""The `node` user of the node:22-alpine image the experiments API is built on."""
CONFIG_DIR = "/etc/dashboard"
CONFIG_FILE = "fe-config.json"
HTML_ASSETS = "/usr/share/nginx/html/assets"
NODE_LISTER_ORIGIN = "http://localhost"
"""Where the browser finds the fetcher: a `kubectl port-forward` on the user's machine."""

START = f"""\
ENV=$(tr -d '\\n' < {CONFIG_DIR}/{CONFIG_FILE} | tr -s ' ' | sed -e 's/ //g')
export ENV
envsubst < {HTML_ASSETS}/env.template.js > {HTML_ASSETS}/env.js
exec nginx -g 'daemon off;'
"""

DASHBOARD_RESOURCES: k8s.core.v1.ResourceRequirementsArgsDict = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
EXPERIMENTS_API_RESOURCES: k8s.core.v1.ResourceRequirementsArgsDict = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def fe_config() -> str:
    """`fe-config.json`: the node lister on the fetcher's port, through a local port-forward."""
    config = services.dashboard_fe_config(
        node_lister_url=NODE_LISTER_ORIGIN, node_lister_port=FETCHER_PORT
    )
    return json.dumps(config, separators=(",", ":"), sort_keys=True) + "\n"


class Dashboard(pulumi.ComponentResource):
    url: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        ctx: ExperimentContext,
        *,
        postgres: Postgres,
        log_api_url: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mina-itn:services:Dashboard", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # log_api_url is kept in the interface: the production build does not read a tracing
        # endpoint (§5.1), so nothing here uses it yet.
        del log_api_url

        config_json = fe_config()
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=ctx.metadata("dashboard-config", DASHBOARD),
            data={CONFIG_FILE: config_json},
            opts=child,
        )
        selector = Labels.selector(DASHBOARD)
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={
                **ctx.metadata(DASHBOARD, DASHBOARD),
                "annotations": scanner_skips(
                    {
                        "CKV_K8S_22": "the start script renders env.js into nginx's html "
                        "directory inside the image",
                        "CKV_K8S_23": "the nginx master starts as root to bind port 80 and "
                        "switch its workers to the nginx user",
                        "CKV_K8S_40": "see CKV_K8S_23",
                        "CKV_K8S_37": "only the four capabilities nginx's root master needs "
                        "(see the container's securityContext)",
                        "CKV_K8S_25": "see CKV_K8S_37",
                    },
                    images=[ctx.config.images.dashboard],
                ),
            },
            spec={
                "replicas": 1,
                "selector": {"match_labels": selector},
                "template": {
                    "metadata": {"labels": ctx.labels.k8s(DASHBOARD)},
                    "spec": {
                        "automount_service_account_token": False,
                        "security_context": pod_security(),
                        "node_selector": ctx.services_node_selector(),
                        "containers": [
                            {
                                "name": DASHBOARD,
                                "image": ctx.config.images.dashboard,
                                "command": ["sh", "-ce", START],
                                "ports": [
                                    {
                                        "name": "http",
                                        "container_port": DASHBOARD_PORT,
                                        "protocol": "TCP",
                                    }
                                ],
                                "readiness_probe": {
                                    "http_get": {"path": "/", "port": "http"},
                                    "period_seconds": 10,
                                },
                                "liveness_probe": {
                                    "http_get": {"path": "/", "port": "http"},
                                    "initial_delay_seconds": 10,
                                    "period_seconds": 30,
                                    "failure_threshold": 4,
                                },
                                "resources": DASHBOARD_RESOURCES,
                                # nginx's master (root): NET_BIND_SERVICE for port 80, SETUID
                                # and SETGID to run its workers as `nginx`, CHOWN for its
                                # temporary directories under /var/cache/nginx.
                                "security_context": container_security(
                                    read_only_root=False,
                                    add=["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
                                ),
                                "volume_mounts": [
                                    {"name": "config", "mount_path": CONFIG_DIR, "read_only": True}
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "config_map": {"name": config_map.metadata.name}}
                        ],
                    },
                },
            },
            opts=child,
        )

        api_selector = Labels.selector(EXPERIMENTS_API)
        k8s.apps.v1.Deployment(
            f"{name}-experiments-api",
            metadata={
                **ctx.metadata(EXPERIMENTS_API, EXPERIMENTS_API),
                "annotations": scanner_skips(
                    {
                        "CKV_K8S_35": "the experiments API reads its database only from "
                        "PSQL_CONNECTION_STRING",
                        "CKV_K8S_40": "uid 1000 is the image's own `node` user",
                    },
                    images=[ctx.config.images.experiments_api],
                ),
            },
            spec={
                "replicas": 1,
                "selector": {"match_labels": api_selector},
                "template": {
                    "metadata": {"labels": ctx.labels.k8s(EXPERIMENTS_API)},
                    "spec": {
                        "automount_service_account_token": False,
                        "security_context": pod_security(),
                        "node_selector": ctx.services_node_selector(),
                        "containers": [
                            {
                                "name": EXPERIMENTS_API,
                                "image": ctx.config.images.experiments_api,
                                "env": [
                                    {
                                        "name": "PSQL_CONNECTION_STRING",
                                        "value_from": {
                                            "secret_key_ref": {
                                                "name": postgres.secret_name,
                                                "key": "uri",
                                            }
                                        },
                                    },
                                    {"name": "PORT", "value": str(EXPERIMENTS_API_PORT)},
                                ],
                                "ports": [
                                    {
                                        "name": "http",
                                        "container_port": EXPERIMENTS_API_PORT,
                                        "protocol": "TCP",
                                    }
                                ],
                                "readiness_probe": {
                                    "tcp_socket": {"port": "http"},
                                    "period_seconds": 10,
                                },
                                "liveness_probe": {
                                    "tcp_socket": {"port": "http"},
                                    "initial_delay_seconds": 15,
                                    "period_seconds": 30,
                                    "failure_threshold": 4,
                                },
                                "resources": EXPERIMENTS_API_RESOURCES,
                                "security_context": container_security(user=NODE_UID),
                                # npm's cache and logs, and scratch: the root is read-only.
                                "volume_mounts": [
                                    {"name": "npm", "mount_path": "/home/node/.npm"},
                                    {"name": "tmp", "mount_path": "/tmp"},  # noqa: S108
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "npm", "empty_dir": {"size_limit": "256Mi"}},
                            {"name": "tmp", "empty_dir": {"size_limit": "256Mi"}},
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[postgres]),
        )
        k8s.core.v1.Service(
            f"{name}-experiments-api-service",
            metadata=ctx.metadata(EXPERIMENTS_API, EXPERIMENTS_API),
            spec={
                "type": "ClusterIP",
                "selector": api_selector,
                "ports": [
                    {
                        "name": "http",
                        "port": EXPERIMENTS_API_PORT,
                        "target_port": "http",
                        "protocol": "TCP",
                    }
                ],
            },
            opts=child,
        )

        admin = list(ctx.config.access.admin_cidrs)
        ports: list[k8s.core.v1.ServicePortArgsDict] = [
            {"name": "http", "port": DASHBOARD_PORT, "target_port": "http", "protocol": "TCP"}
        ]
        if admin:
            address = restricted_load_balancer(
                f"{name}-service",
                ctx,
                name=DASHBOARD,
                component=DASHBOARD,
                selector=selector,
                ports=ports,
                source_ranges=admin,
                parent=self,
            )
            self.url = address.apply(lambda host: f"http://{host}" if host else None)
        else:
            k8s.core.v1.Service(
                f"{name}-service",
                metadata=ctx.metadata(DASHBOARD, DASHBOARD),
                spec={"type": "ClusterIP", "selector": selector, "ports": ports},
                opts=child,
            )
            self.url = pulumi.Output.from_input(None)
        self.register_outputs({"url": self.url})
