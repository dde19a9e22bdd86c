"""How a runner outside the cluster reaches in-cluster ports without losing request headers.

The daemons' ITN port checks a signed `Authorization` header that the API server's proxy does
not pass on, so the default is one `kubectl port-forward` per node (`PortForwardAccess`); inside
the network (`--direct`) addresses are used as they are (`DirectAccess`).
See docs/design.md#wait-reaches-daemons-through-kubectl-port-forward-not-kubectl-proxy.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

# kubectl prints one `Forwarding from 127.0.0.1:L -> R` line per port once it listens (client-go
# tools/portforward/portforward.go, getListener).
_FORWARDING = re.compile(r"Forwarding from (127\.0\.0\.1|\[::1\]):(\d+) -> (\d+)")
_KLOG_PREFIX = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]]+\] ")


class PortForwardError(RuntimeError):
    """kubectl port-forward did not come up (pod missing or not running, RBAC, no cluster)."""


def kubectl_error_line(stderr: str) -> str:
    """The first non-empty line of kubectl's stderr, without klog's `E1129 12:00:00.1 1 x.go:1]`."""
    for line in stderr.splitlines():
        text = _KLOG_PREFIX.sub("", line.strip()).strip()
        if text:
            return text[:300]
    return "kubectl failed without a message"


class Access(Protocol):
    def open(
        self, host: str, ports: Sequence[int], *, pod: str | None = None
    ) -> contextlib.AbstractContextManager[Mapping[int, str]]:
        """Make `ports` of `host` (or of `pod`) reachable; yields remote port → base URL."""
        ...


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


def url_parts(url: str) -> tuple[str, int, str]:
    """`http://host:port/path?q` → (host, port, path?q); only plain http URLs."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"cannot reach {url!r}: only http://host:port/... URLs are supported")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, path


@dataclass(frozen=True)
class DirectAccess:
    """The runner is inside the network: use addresses as they are."""

    @contextlib.contextmanager
    def open(
        self, host: str, ports: Sequence[int], *, pod: str | None = None
    ) -> Iterator[Mapping[int, str]]:
        yield {port: f"http://{host}:{port}" for port in ports}


@dataclass(frozen=True)
class PortForwardAccess:
    """One `kubectl port-forward` per `open`, to the pod (or the Service's pod), ended on exit.

    Why not the API server's proxy subresources (what `kubectl proxy` exposes): once the API
    server has authenticated a request it deletes `Authorization` before handing the request on
    (k8s.io/apiserver pkg/endpoints/filters/authentication.go, WithAuthentication: "authorization
    header is not required anymore in case of a successful authentication"), and client-go's
    bearer and exec round-trippers leave a caller's own `Authorization` alone rather than adding
    a second one (client-go transport/round_trippers.go, bearerAuthRoundTripper.RoundTrip returns
    early when the header is set), so the signed header either never reaches the daemon or is
    taken as the API server's credential: a signed request sent that way gets 401. A
    port-forward is a TCP tunnel through the API server to the pod that carries bytes, headers
    included, untouched. The runner opens one per node for the duration of that node's checks.
    """

    kubectl: str
    namespace: str
    pod_running_timeout: int = 20
    """Seconds kubectl waits for a running pod behind a Service (its `--pod-running-timeout`)."""
    _live: set[subprocess.Popen[str]] = field(default_factory=set, compare=False, repr=False)
    _closed: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def startup_timeout(self) -> float:
        """kubectl's own wait, then time for it to print its verdict: a pod that is not running
        yet gets kubectl's own verdict, not our silence."""
        return self.pod_running_timeout + 10.0

    def close_all(self) -> None:
        """End every forward still open; later `open` calls fail at once (a signal ends `wait`:
        nothing may outlive it)."""
        with self._lock:
            self._closed.set()
            live = list(self._live)
        for process in live:
            _stop(process)

    def _resource(self, host: str, pod: str | None) -> tuple[str, str]:
        if pod:
            return f"pod/{pod}", self.namespace
        in_pod = split_pod_host(host)
        if in_pod is not None:
            return f"pod/{in_pod[0]}", in_pod[1]
        service, namespace = split_service_host(host, self.namespace)
        return f"service/{service}", namespace

    @contextlib.contextmanager
    def open(
        self, host: str, ports: Sequence[int], *, pod: str | None = None
    ) -> Iterator[Mapping[int, str]]:
        resource, namespace = self._resource(host, pod)
        with self._lock:
            if self._closed.is_set():
                raise PortForwardError(f"port-forward to {resource}: stopping")
            process = subprocess.Popen(
                [
                    self.kubectl,
                    "port-forward",
                    "-n",
                    namespace,
                    "--address",
                    "127.0.0.1",
                    f"--pod-running-timeout={self.pod_running_timeout}s",
                    resource,
                    *(f":{port}" for port in ports),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._live.add(process)
        try:
            yield self._await_listeners(process, resource, ports)
        finally:
            _end(process)
            with self._lock:
                self._live.discard(process)

    def _await_listeners(
        self, process: subprocess.Popen[str], resource: str, ports: Sequence[int]
    ) -> dict[int, str]:
        found: dict[int, str] = {}
        listening = threading.Event()
        stdout = process.stdout
        assert stdout is not None

        def read() -> None:  # keeps draining: kubectl prints a line per connection
            # One line per requested port, in order. It names the pod's port, which for a
            # Service is the targetPort the port maps to, not the port asked for.
            with stdout:
                for line in stdout:
                    match = _FORWARDING.search(line)
                    if match and len(found) < len(ports):
                        found[ports[len(found)]] = f"http://127.0.0.1:{match.group(2)}"
                        if set(ports) <= set(found):
                            listening.set()
            listening.set()

        threading.Thread(target=read, daemon=True).start()
        listening.wait(self.startup_timeout)
        if set(ports) <= set(found):
            return found
        _stop(process)
        stderr = process.stderr.read() if process.stderr else ""
        if not stderr.strip():
            raise PortForwardError(
                f"port-forward to {resource}: no listener after {self.startup_timeout:g}s "
                f"(kubectl said nothing; is {resource} running?)"
            )
        raise PortForwardError(f"port-forward to {resource}: {kubectl_error_line(stderr)}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _end(process: subprocess.Popen[str]) -> None:
    _stop(process)
    if process.stderr is not None:  # stdout is closed by its reader at EOF
        process.stderr.close()
