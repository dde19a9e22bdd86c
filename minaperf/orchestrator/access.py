"""How a runner outside the cluster reaches in-cluster addresses.

The stack outputs name Services by in-cluster DNS (`svc.ns.svc.cluster.local`). Inside the network
(`--direct`) those work as is. Outside, `kubectl proxy` exposes the API server's proxy
subresources, so each URL is rewritten to
`http://127.0.0.1:PORT/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/<path>` (or `pods/…`).

Caveat: through the API-server proxy the `Authorization` header is not guaranteed to reach the
backend unchanged, so ITN-signed checks are most trustworthy with `--direct` from inside the
cluster (e.g. the workspace pod).
"""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

_SERVE_LINE = re.compile(r"Starting to serve on (127\.0\.0\.1|localhost|\[::1\]):(\d+)")


class Access(Protocol):
    def url(self, url: str) -> str:
        """Turn an in-cluster URL into one this process can open."""
        ...

    def service_url(self, host: str, port: int, path: str) -> str: ...

    def pod_url(self, pod: str, port: int, path: str) -> str: ...


def _join(base: str, path: str) -> str:
    return base + "/" + path.lstrip("/")


@dataclass(frozen=True)
class DirectAccess:
    """The runner is inside the network: use addresses as they are."""

    def url(self, url: str) -> str:
        return url

    def service_url(self, host: str, port: int, path: str) -> str:
        return _join(f"http://{host}:{port}", path)

    def pod_url(self, pod: str, port: int, path: str) -> str:
        return _join(f"http://{pod}:{port}", path)


def split_service_host(host: str, default_namespace: str) -> tuple[str, str]:
    """`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local` → (svc, ns)."""
    labels = host.split(".")
    if len(labels) == 1:
        return labels[0], default_namespace
    if len(labels) == 2 or labels[2] == "svc":
        return labels[0], labels[1]
    raise ValueError(f"{host!r} is not an in-cluster Service name (svc[.ns[.svc.cluster.local]])")


def split_pod_host(host: str) -> tuple[str, str] | None:
    """`pod.svc.ns.svc.cluster.local` → (pod, ns); None for any other name."""
    labels = host.split(".")
    if len(labels) == 6 and labels[3:] == ["svc", "cluster", "local"]:
        return labels[0], labels[2]
    return None


@dataclass(frozen=True)
class ProxyAccess:
    """Rewrite in-cluster addresses to the API server proxy behind a local `kubectl proxy`."""

    base: str  # e.g. http://127.0.0.1:40123
    namespace: str

    def service_url(self, host: str, port: int, path: str) -> str:
        pod = split_pod_host(host)
        if pod is not None:
            # A pod's own DNS name under a headless Service: reach exactly that pod, not
            # whichever member of the Service the API server would pick.
            name, ns = pod
            return _join(f"{self.base}/api/v1/namespaces/{ns}/pods/{name}:{port}/proxy", path)
        svc, ns = split_service_host(host, self.namespace)
        return _join(f"{self.base}/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy", path)

    def pod_url(self, pod: str, port: int, path: str) -> str:
        return _join(
            f"{self.base}/api/v1/namespaces/{self.namespace}/pods/{pod}:{port}/proxy", path
        )

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"cannot proxy {url!r}: only http://host:port/... URLs are supported")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.service_url(parts.hostname, parts.port or 80, path)


class KubectlProxy:
    """A `kubectl proxy --port=0` child, started and stopped by this process only."""

    def __init__(self, kubectl: str = "kubectl", *, startup_timeout: float = 20.0) -> None:
        self.kubectl = kubectl
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[str] | None = None
        self.base = ""

    def start(self) -> str:
        self.process = subprocess.Popen(
            [self.kubectl, "proxy", "--port=0", "--address=127.0.0.1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        found: list[str] = []
        stdout = self.process.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                match = _SERVE_LINE.search(line)
                if match:
                    host = "127.0.0.1" if match.group(1) != "[::1]" else "[::1]"
                    found.append(f"http://{host}:{match.group(2)}")
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if not found:
            self.stop()
            raise RuntimeError(
                "kubectl proxy did not report `Starting to serve on 127.0.0.1:PORT`; "
                "check the kubeconfig/context, or run with --direct from inside the cluster"
            )
        self.base = found[0]
        return self.base

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> KubectlProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
