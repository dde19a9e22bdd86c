#!/usr/bin/env python3
"""Stand-in for the `kubectl` subcommands the runner uses.

- `get pods -n NS -o json`: prints $FAKE_KUBECTL_PODS (a file with a PodList).
- `proxy --port=0 …`: serves HTTP on 127.0.0.1 (echoing the path as JSON) after printing
  `Starting to serve on 127.0.0.1:PORT`, like kubectl.
- `exec -i -n NS POD -c CONTAINER -- CMD…`: runs CMD here, stdin/stdout/stderr passed through
  (the "pod" is this machine).
Every argv is appended to $FAKE_KUBECTL_LOG as a JSON line, so tests can check no secret is on it.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> int:
    args = sys.argv[1:]
    log = os.environ.get("FAKE_KUBECTL_LOG")
    if log:
        with open(log, "a") as sink:
            sink.write(json.dumps(args) + "\n")
    if args[:2] == ["get", "pods"]:
        pods = os.environ.get("FAKE_KUBECTL_PODS")
        if not pods:
            sys.stderr.write("error: the server doesn't have a resource type pods\n")
            return 1
        sys.stdout.write(Path(pods).read_text())
        return 0
    if args[:1] == ["proxy"]:
        server = HTTPServer(("127.0.0.1", 0), Echo)
        print(f"Starting to serve on 127.0.0.1:{server.server_address[1]}", flush=True)
        server.serve_forever()
        return 0
    if args[:1] == ["exec"] and "--" in args:
        command = args[args.index("--") + 1 :]
        os.execvp(command[0], command)  # noqa: S606
    sys.stderr.write(f"fake kubectl: unsupported {args}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
