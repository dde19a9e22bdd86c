#!/usr/bin/env python3
"""Stand-in for the `kubectl` subcommands the runner uses; the "cluster" is this machine.

- `get pods -n NS [-l k=v,...] -o json`: prints $FAKE_KUBECTL_PODS (a file with a PodList),
  filtered by an equality label selector when given.
- `get deployments,statefulsets -n NS -o json`: prints $FAKE_KUBECTL_WORKLOADS (a List), or an
  empty List when unset.
- `port-forward -n NS --address 127.0.0.1 pod/NAME|service/NAME :PORT…`: a TCP relay from a new
  local port to 127.0.0.1:PORT, announced as kubectl does, `Forwarding from 127.0.0.1:L -> R`
  (client-go tools/portforward/portforward.go, getListener), plus `Handling connection for R`
  per connection. Bytes pass untouched, headers included. For `service/NAME :P` the relay goes to
  the Service's `targetPort` for port P, from $FAKE_KUBECTL_SERVICES (a List of Services; a named
  targetPort is looked up in the containers of the pod kubectl picks, below), and the line names
  that pod port, as kubectl does. A connection the pod refuses ends the forward: kubectl 1.23+
  logs it and "lost connection to pod" and exits 1. A pod missing from $FAKE_KUBECTL_PODS fails
  like kubectl (`Error from server (NotFound): pods "x" not found`), and so does one whose phase
  is not Running (kubectl's port-forward refuses: "unable to forward port because pod is not
  running").
- `service/NAME` (with $FAKE_KUBECTL_SERVICES) and `deploy/NAME` (a Deployment in
  $FAKE_KUBECTL_WORKLOADS) resolve to one pod as kubectl does: of the pods in $FAKE_KUBECTL_PODS
  the selector matches, the most active (assigned, Running, ready, not deleting); with none, it
  waits `--pod-running-timeout` (default 60 s) for one to appear, then `error: timed out waiting
  for the condition`. An unknown object is `Error from server (NotFound): deployments.apps "x"
  not found` (or `services "x"`).
- `proxy --port=0 …`: the API server's proxy subresources on a local port. A request to
  `/api/v1/namespaces/NS/(services|pods)/NAME:PORT/proxy/PATH` is passed to 127.0.0.1:PORT/PATH
  WITHOUT its `Authorization` header: the API server deletes that header once it has
  authenticated the request (k8s.io/apiserver pkg/endpoints/filters/authentication.go,
  WithAuthentication, `req.Header.Del("Authorization")`). So an ITN-signed request sent this way
  arrives unsigned, as on a real cluster.
- `exec -i -n NS POD|deploy/NAME -c CONTAINER -- CMD…`: runs CMD here, stdin/stdout/stderr
  relayed. With $FAKE_KUBECTL_PODS set, POD must be listed (or the Deployment resolve to a pod),
  not completed (`error: cannot exec into a container in a completed pod; current phase is
  Succeeded`), and CONTAINER one of its `spec.containers` (`error: container c is not valid for
  pod x out of: a, b`), all checked by kubectl itself (pkg/cmd/exec/exec.go:322-367), exit 1.
  CMD is the "remote" process: it runs under a shim in its own session, as in the container
  runtime, so a signal to kubectl's process group does not reach it and killing kubectl does not
  end it
  (kubernetes/kubernetes#89031, kubernetes/kubectl#1076); once kubectl is gone its stdin is at
  EOF and its output is drained and dropped. A non-zero exit prints `command terminated with exit
  code N` and exits N (client-go remotecommand's CodeExitError, which kubectl's CheckErr exits
  with); a signal ends it as 128+N; a command not found is the runtime's exit 126.
- $FAKE_KUBECTL_UNREACHABLE=1: every command fails as kubectl does with no API server: klog
  error lines, then `The connection to the server … was refused`, exit 1.
Every argv is appended to $FAKE_KUBECTL_LOG as a JSON line, so tests can check no secret is on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_PROXY_PATH = re.compile(r"^/api/v1/namespaces/[^/]+/(services|pods)/[^/:]+:(\d+)/proxy(/.*)?$")
_SERVER = "127.0.0.1:6443"


def _unreachable() -> int:
    stamp = time.strftime("%m%d %H:%M:%S")
    for _ in range(3):  # kubectl's discovery client retries and logs each try via klog
        sys.stderr.write(
            f"E{stamp}.000000   4242 memcache.go:265] couldn't get current server API group "
            f'list: Get "https://{_SERVER}/api?timeout=32s": dial tcp {_SERVER}: connect: '
            "connection refused\n"
        )
    sys.stderr.write(
        f"The connection to the server {_SERVER} was refused - did you specify the right host "
        "or port?\n"
    )
    return 1


def _read(path: str) -> str:
    with open(path) as source:
        return source.read()


def _pods() -> list[dict[str, Any]]:
    path = os.environ.get("FAKE_KUBECTL_PODS")
    return json.loads(_read(path)).get("items", []) if path else []


def _serve_proxy() -> int:
    # Imported here: http.server and urllib cost ~0.2 s of start-up that the port-forwards,
    # started once per node per sweep, should not pay.
    import urllib.error
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class _Proxy(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            match = _PROXY_PATH.match(self.path)
            if not match:
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("authorization", "host", "content-length", "connection")
            }
            request = urllib.request.Request(
                f"http://127.0.0.1:{match.group(2)}{match.group(3) or '/'}",
                data=body,
                headers=headers,
                method=self.command,
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    status, data = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, data = error.code, error.read()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _forward  # noqa: N815
        do_POST = _forward  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    print(f"Starting to serve on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _relay(listener: socket.socket, remote: int) -> None:
    while True:
        client, _ = listener.accept()
        print(f"Handling connection for {remote}", flush=True)
        try:
            upstream = socket.create_connection(("127.0.0.1", remote), timeout=5)
        except OSError as error:
            # kubectl 1.23+ (kubernetes/kubernetes#103526): a failed upstream connection is
            # fatal; it logs the error, then "lost connection to pod", and exits (the output
            # quoted in kubernetes/kubectl#1169 and #1289).
            stamp = time.strftime("%m%d %H:%M:%S")
            sys.stderr.write(
                f"E{stamp}.000000   4242 portforward.go:406] an error occurred forwarding "
                f"{listener.getsockname()[1]} -> {remote}: error forwarding port {remote} to "
                f"pod fake, uid : failed to connect to localhost:{remote} inside namespace "
                f'"fake", IPv4: dial tcp4 127.0.0.1:{remote}: {error}\n'
                f"E{stamp}.000000   4242 portforward.go:234] lost connection to pod\n"
            )
            sys.stderr.flush()
            os._exit(1)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _items(variable: str) -> list[dict[str, Any]]:
    path = os.environ.get(variable)
    return json.loads(_read(path)).get("items", []) if path else []


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((i for i in items if i.get("metadata", {}).get("name") == name), None)


def _matches(pod: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = pod.get("metadata", {}).get("labels", {})
    return all(labels.get(key) == value for key, value in selector.items())


def _activeness(pod: dict[str, Any]) -> tuple[bool, int, bool, bool]:
    """Criteria 1-4 of podutils.ActivePods.Less (kubectl pkg/util/podutils/podutils.go:133-152):
    assigned, then Running > Unknown > Pending, then ready, then not being deleted."""
    status = pod.get("status", {})
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
    )
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Running"), 0)
    deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
    return bool(pod.get("spec", {}).get("nodeName", "n")), phase, ready, not deleting


def _seconds(options: list[str]) -> float:
    """`--pod-running-timeout` (a Go duration such as 20s, 500ms or 1m0s); kubectl's default
    for exec and port-forward is 60 s (pkg/cmd/exec/exec.go:78, portforward.go:99)."""
    given = next(
        (o.split("=", 1)[1] for o in options if o.startswith("--pod-running-timeout=")), ""
    )
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", given)
    return sum(float(n) * units[u] for n, u in parts) if parts else 60.0


def _first_pod(selector: dict[str, str], timeout: float) -> dict[str, Any] | None:
    """The pod kubectl picks for a Deployment or Service: of the pods the selector matches, the
    most active (sort.Reverse(ActivePods), attachablepodforobject.go:51-52); with none, it watches
    until one appears or the timeout passes (helpers.go:40-87 GetPodList), None then."""
    deadline = time.monotonic() + timeout
    while True:
        pods = [pod for pod in _pods() if _matches(pod, selector)]
        if pods:
            return max(pods, key=_activeness)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


_NO_POD = "error: timed out waiting for the condition"
"""What kubectl prints when no pod appeared in time (client-go tools/watch/until.go
UntilWithoutRetry returns wait.ErrWaitTimeout; kubectl's CheckErr prefixes `error: `)."""


def _resolve(kind: str, name: str, options: list[str]) -> dict[str, Any] | str:
    """The pod a `pod/X`, `deploy/X` or `service/X` argument names, or kubectl's error line."""
    if kind in ("pod", "pods", "po", ""):
        pod = _named(_pods(), name)
        return pod if pod is not None else f'Error from server (NotFound): pods "{name}" not found'
    if kind in ("deploy", "deployment", "deployments"):
        found = _named(
            [i for i in _items("FAKE_KUBECTL_WORKLOADS") if i.get("kind") == "Deployment"], name
        )
        if found is None:
            return f'Error from server (NotFound): deployments.apps "{name}" not found'
        selector = found.get("spec", {}).get("selector", {}).get("matchLabels", {})
    else:
        found = _named(_items("FAKE_KUBECTL_SERVICES"), name)
        if found is None:
            return f'Error from server (NotFound): services "{name}" not found'
        selector = found.get("spec", {}).get("selector", {})
    pod = _first_pod(selector, _seconds(options))
    return pod if pod is not None else _NO_POD


def _target_port(service: dict[str, Any], pod: dict[str, Any], port: int) -> int:
    """The pod port a Service's `port` leads to: its targetPort, by number or by name in the
    chosen pod's containers (portforward.go:182-210, translateServicePortToTargetPort)."""
    entry = next((p for p in service.get("spec", {}).get("ports", []) if p.get("port") == port), {})
    target = entry.get("targetPort", port)
    if isinstance(target, int):
        return target
    for container in pod.get("spec", {}).get("containers", []):
        for named in container.get("ports", []):
            if named.get("name") == target:
                return int(named["containerPort"])
    return port


def _port_forward(args: list[str]) -> int:
    resource = next(a for a in args if "/" in a)
    kind, _, name = resource.partition("/")
    remotes = [int(a.rpartition(":")[2]) for a in args if re.fullmatch(r"\d*:\d+", a)]
    service = kind in ("service", "services", "svc")
    if service and not os.environ.get("FAKE_KUBECTL_SERVICES"):
        pod = None  # no Services given: the port is the pod's, no pod to check
    else:
        pod = _resolve(kind, name, args)
        if isinstance(pod, str):
            sys.stderr.write(pod + "\n")
            return 1
        phase = pod.get("status", {}).get("phase", "Running")
        if phase != "Running":  # portforward.go:427-429
            sys.stderr.write(
                "error: unable to forward port because pod is not running. "
                f"Current status={phase}\n"
            )
            return 1
        if service:
            found = _named(_items("FAKE_KUBECTL_SERVICES"), name) or {}
            remotes = [_target_port(found, pod, remote) for remote in remotes]
    for remote in remotes:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        print(f"Forwarding from 127.0.0.1:{listener.getsockname()[1]} -> {remote}", flush=True)
        threading.Thread(target=_relay, args=(listener, remote), daemon=True).start()
    while True:
        time.sleep(3600)


def _exec_refused(options: list[str]) -> str | None:
    """Why kubectl refuses to exec into POD (or a Deployment's pod) and CONTAINER, when the pods
    are known: kubectl pkg/cmd/exec/exec.go:322-367 (the object, the pod it resolves to, a
    completed pod, a container the pod does not have, all checked before any stream opens)."""
    if not os.environ.get("FAKE_KUBECTL_PODS"):
        return None
    container = options[options.index("-c") + 1] if "-c" in options else ""
    valued = {"-n", "-c"}
    names = [
        a
        for i, a in enumerate(options[1:], 1)
        if not a.startswith("-") and options[i - 1] not in valued
    ]
    kind, _, name = (names[0] if names else "").rpartition("/")
    pod = _resolve(kind, name, options)
    if isinstance(pod, str):
        return pod
    name = pod.get("metadata", {}).get("name", name)
    phase = pod.get("status", {}).get("phase", "Running")
    if phase in ("Succeeded", "Failed"):
        return f"error: cannot exec into a container in a completed pod; current phase is {phase}"
    containers = [c.get("name") for c in pod.get("spec", {}).get("containers", [])]
    if container not in containers:
        return f"error: container {container} is not valid for pod {name} out of: " + ", ".join(
            map(str, containers)
        )
    return None


_SHIM = "__fake-kubectl-shim__"


def _copy(source: int, sink: int | None, done: Callable[[], None] = lambda: None) -> None:
    """Copy bytes from fd `source` to fd `sink` until EOF, then call `done`; when the sink is
    gone (the client died), keep draining and drop them, as the runtime's stream copier does."""
    while chunk := os.read(source, 65536):
        if sink is None:
            continue
        try:
            os.write(sink, chunk)
        except OSError:
            sink = None
    done()


def _pipe_through(child: subprocess.Popen[bytes]) -> int:
    """This process's stdin to the child's (closed at EOF), its output to ours; its status."""
    streams = [child.stdout, child.stderr]
    outputs = [
        threading.Thread(target=_copy, args=(stream.fileno(), fd), daemon=True)
        for stream, fd in zip(streams, (1, 2), strict=True)
        if stream is not None
    ]
    if child.stdin is not None:
        feed = threading.Thread(
            target=_copy, args=(0, child.stdin.fileno(), child.stdin.close), daemon=True
        )
        feed.start()
    for thread in outputs:
        thread.start()
    code = child.wait()
    for thread in outputs:
        thread.join()
    return code


def _exec(command: list[str], *, stdin: bool) -> int:
    """The client: relay this process's streams to the shim and report its exit status."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a Go binary: SIGINT ends it, no traceback
    shim = subprocess.Popen(
        [sys.executable, __file__, _SHIM, *command],
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    code = _pipe_through(shim)
    if code:
        sys.stderr.write(f"command terminated with exit code {code}\n")
    return code


def _shim(command: list[str]) -> int:
    """The container runtime's side: run the command, outliving the client."""
    try:
        remote = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError:
        sys.stderr.write(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: "
            f'"{command[0]}": executable file not found in $PATH: unknown\n'
        )
        return 126
    code = _pipe_through(remote)
    return 128 - code if code < 0 else code


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == [_SHIM]:  # the "container" side of an exec: not a kubectl call
        return _shim(args[1:])
    log = os.environ.get("FAKE_KUBECTL_LOG")
    if log:
        with open(log, "a") as sink:
            sink.write(json.dumps(args) + "\n")
    if os.environ.get("FAKE_KUBECTL_UNREACHABLE"):
        return _unreachable()
    if args[:2] == ["get", "pods"]:
        pods = os.environ.get("FAKE_KUBECTL_PODS")
        if not pods:
            sys.stderr.write("error: the server doesn't have a resource type pods\n")
            return 1
        if "-l" not in args:
            sys.stdout.write(_read(pods))
            return 0
        # `-l k=v[,k=v]`: equality selectors only, every term must match (kubectl/apimachinery
        # labels.Parse; `=` and `==` mean the same).
        terms = [t.replace("==", "=").split("=", 1) for t in args[args.index("-l") + 1].split(",")]
        listing = json.loads(_read(pods))
        listing["items"] = [
            item
            for item in listing.get("items", [])
            if all(
                item.get("metadata", {}).get("labels", {}).get(key) == value for key, value in terms
            )
        ]
        sys.stdout.write(json.dumps(listing))
        return 0
    if args[:2] == ["get", "deployments,statefulsets"]:
        workloads = os.environ.get("FAKE_KUBECTL_WORKLOADS")
        text = _read(workloads) if workloads else '{"kind": "List", "items": []}'
        sys.stdout.write(text)
        return 0
    if args[:1] == ["port-forward"]:
        return _port_forward(args[1:])
    if args[:1] == ["proxy"]:
        return _serve_proxy()
    if args[:1] == ["exec"] and "--" in args:
        refused = _exec_refused(args[: args.index("--")])
        if refused:
            sys.stderr.write(refused + "\n")
            return 1
        stdin = any(o in ("-i", "--stdin") or o.startswith("-i") for o in args[: args.index("--")])
        return _exec(args[args.index("--") + 1 :], stdin=stdin)
    sys.stderr.write(f"fake kubectl: unsupported {args}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
