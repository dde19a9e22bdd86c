"""Kubeconfig text for a GKE cluster, authenticated by `gke-gcloud-auth-plugin`.

The exec plugin means no token is stored in the kubeconfig or in Pulumi state, and nothing in it
changes between runs, so the Kubernetes provider is not replaced by a refreshed credential.
"""

from __future__ import annotations

import yaml


def gke_kubeconfig(*, context: str, endpoint: str, ca_certificate: str) -> str:
    """Render the kubeconfig for one cluster; `ca_certificate` is base64 PEM as GKE returns it."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [
            {
                "name": context,
                "cluster": {
                    "server": f"https://{endpoint}",
                    "certificate-authority-data": ca_certificate,
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "users": [
            {
                "name": context,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "gke-gcloud-auth-plugin",
                        "provideClusterInfo": True,
                        "interactiveMode": "IfAvailable",
                        "installHint": (
                            "Install gke-gcloud-auth-plugin: "
                            "gcloud components install gke-gcloud-auth-plugin"
                        ),
                    }
                },
            }
        ],
    }
    return yaml.safe_dump(document, sort_keys=False)
