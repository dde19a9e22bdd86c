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
  targetPort is looked up in the containers of the first listed pod the selector matches), and
  the line names that pod port, as kubectl does. A connection the pod refuses ends the forward:
  kubectl 1.23+ logs it and "lost connection to pod" and exits 1. A pod missing from
  $FAKE_KUBECTL_PODS fails like kubectl (`Error from server (NotFound): pods "x" not found`),
  and so does one whose phase is not Running (kubectl's port-forward refuses: "unable to forward
  port because pod is not running").
- `proxy --port=0 …`: the API server's proxy subresources on a local port. A request to
  `/api/v1/namespaces/NS/(services|pods)/NAME:PORT/proxy/PATH` is passed to 127.0.0.1:PORT/PATH
  WITHOUT its `Authorization` header: the API server deletes that header once it has
  authenticated the request (k8s.io/apiserver pkg/endpoints/filters/authentication.go,
  WithAuthentication, `req.Header.Del("Authorization")`). So an ITN-signed request sent this way
  arrives unsigned, as on a real cluster.
- `exec -i -n NS POD -c CONTAINER -- CMD…`: runs CMD here, stdin/stdout/stderr relayed. With
  $FAKE_KUBECTL_PODS set, POD must be listed (`Error from server (NotFound): pods "x" not
  found`) and CONTAINER one of its `spec.containers` (`Error from server (BadRequest): container
  c is not valid for pod x`, kubernetes pkg/registry/core/pod/strategy.go), exit 1. CMD is the
  "remote" process: it runs under a shim in its own session, as in the container runtime, so a
  signal to kubectl's process group does not reach it and killing kubectl does not end it
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


def _target_port(service: str, port: int) -> int:
    """The pod port a Service's `port` leads to (its targetPort, by number or by name)."""
    path = os.environ.get("FAKE_KUBECTL_SERVICES")
    items = json.loads(_read(path)).get("items", []) if path else []
    found = next((s for s in items if s.get("metadata", {}).get("name") == service), None)
    if found is None:
        return port  # no Services given: the port is the pod's
    spec = found.get("spec", {})
    entry = next((p for p in spec.get("ports", []) if p.get("port") == port), {})
    target = entry.get("targetPort", port)
    if isinstance(target, int):
        return target
    selector = spec.get("selector", {})
    for pod in _pods():
        labels = pod.get("metadata", {}).get("labels", {})
        if all(labels.get(k) == v for k, v in selector.items()):
            for container in pod.get("spec", {}).get("containers", []):
                for named in container.get("ports", []):
                    if named.get("name") == target:
                        return int(named["containerPort"])
    return port


def _port_forward(args: list[str]) -> int:
    resource = next(a for a in args if "/" in a)
    kind, _, name = resource.partition("/")
    if kind in ("pod", "pods", "po"):
        pod = next((p for p in _pods() if p.get("metadata", {}).get("name") == name), None)
        if pod is None:
            sys.stderr.write(f'Error from server (NotFound): pods "{name}" not found\n')
            return 1
        phase = pod.get("status", {}).get("phase", "Running")
        if phase != "Running":
            sys.stderr.write(
                "error: unable to forward port because pod is not running. "
                f"Current status={phase}\n"
            )
            return 1
    remotes = [int(a.rpartition(":")[2]) for a in args if re.fullmatch(r"\d*:\d+", a)]
    if kind in ("service", "services", "svc"):
        remotes = [_target_port(name, remote) for remote in remotes]
    for remote in remotes:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        print(f"Forwarding from 127.0.0.1:{listener.getsockname()[1]} -> {remote}", flush=True)
        threading.Thread(target=_relay, args=(listener, remote), daemon=True).start()
    while True:
        time.sleep(3600)


def _exec_refused(options: list[str]) -> str | None:
    """Why the API server refuses to exec into POD/CONTAINER, when the pods are known."""
    if not os.environ.get("FAKE_KUBECTL_PODS"):
        return None
    container = options[options.index("-c") + 1] if "-c" in options else ""
    valued = {"-n", "-c"}
    names = [
        a
        for i, a in enumerate(options[1:], 1)
        if not a.startswith("-") and options[i - 1] not in valued
    ]
    name = names[0] if names else ""
    kind, _, short = name.rpartition("/")
    if kind not in ("", "pod", "pods", "po"):
        return None  # deploy/x and the like: kubectl picks one of its pods (not modelled)
    name = short
    pod = next((p for p in _pods() if p.get("metadata", {}).get("name") == name), None)
    if pod is None:
        return f'Error from server (NotFound): pods "{name}" not found'
    containers = [c.get("name") for c in pod.get("spec", {}).get("containers", [])]
    if container not in containers:
        return f"Error from server (BadRequest): container {container} is not valid for pod {name}"
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
