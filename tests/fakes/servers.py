"""Stand-in HTTP servers on 127.0.0.1: a Mina daemon (ITN + GraphQL ports) and the uptime backend.

The ITN server checks `Authorization` the way the daemon does (mina-nodes §2.4), verifying with
PyNaCl directly rather than with the code under test: 401 for a malformed header, an unknown key
or a bad signature; `auth` is the only unsequenced operation; everything else must be sequenced
with this server's uuid and the signer's next seqno, else 412.

With `scheduler_file` (the handle table the fake orchestrator schedules into), a sequenced
`stopScheduledTransactions(handle)` answers as the daemon does (mina_graphql.ml,
stop_scheduled_transactions): a handle this node holds and whose duration has not run out is
removed and acknowledged; any other is "Could not find scheduled transactions with handle …".
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1:0 calling `handle(method, path, headers, body)`."""

    def __init__(self, handle: Handler) -> None:
        outer = handle

        class RequestHandler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = outer(self.command, self.path, dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve  # noqa: N815
            do_POST = _serve  # noqa: N815
            do_DELETE = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _verify(public_b64: str, signature_b64: str, message: bytes) -> bool:
    try:
        key = nacl.signing.VerifyKey(base64.b64decode(public_b64, validate=True))
        key.verify(message, base64.b64decode(signature_b64, validate=True))
    except (binascii.Error, ValueError, nacl.exceptions.CryptoError):
        return False
    return True


@dataclass
class FakeDaemon:
    """One node: an ITN GraphQL port and a plain GraphQL port."""

    itn_keys: set[str]
    sync_status: str = "SYNCED"
    uint16_as_string: bool = True
    libp2p_port: int = 8302
    is_block_producer: bool = False
    server_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    seqnos: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    scheduler_file: Path | None = None

    def __post_init__(self) -> None:
        self.itn = _Server(self._itn)
        self.graphql = _Server(self._graphql)

    def close(self) -> None:
        self.itn.close()
        self.graphql.close()

    def _uint16(self, value: int) -> str | int:
        return str(value) if self.uint16_as_string else value

    def _itn(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        header = headers.get("Authorization", "")
        record: dict[str, Any] = {"path": path, "authorization": header, "body": body}
        self.requests.append(record)
        if method != "POST" or path != "/graphql":
            return 404, {"error": "not found"}
        signature_part, sep, sequencing = header.partition(" ; Sequencing ")
        words = signature_part.split(" ")
        if len(words) != 3 or words[0] != "Signature" or words[1] not in self.itn_keys:
            record["status"] = 401
            return 401, {"error": "Unauthorized"}
        public_b64, signature_b64 = words[1], words[2]
        query = json.loads(body or b"{}").get("query", "")
        is_auth = "auth" in query and "{" in query and "auth {" in query.replace("auth{", "auth {")
        if not sep:
            if not is_auth or not _verify(public_b64, signature_b64, body):
                record["status"] = 401
                return 401, {"error": "Unauthorized"}
            seqno = self.seqnos.setdefault(public_b64, 0)
            record["status"] = 200
            return 200, {
                "data": {
                    "auth": {
                        "serverUuid": self.server_uuid,
                        "signerSequenceNumber": self._uint16(seqno),
                        "libp2pPort": self._uint16(self.libp2p_port),
                        "peerId": "12D3KooWFakePeerId",
                        "isBlockProducer": self.is_block_producer,
                    }
                }
            }
        seq_words = sequencing.split(" ")
        if len(seq_words) != 2 or not seq_words[1].isdigit():
            return 401, {"error": "Unauthorized"}
        server_uuid, seqno = seq_words[0], int(seq_words[1])
        message = seqno.to_bytes(2, "big") + server_uuid.encode() + body
        if not _verify(public_b64, signature_b64, message):
            record["status"] = 401
            return 401, {"error": "Unauthorized"}
        if server_uuid != self.server_uuid or seqno != self.seqnos.get(public_b64, 0):
            record["status"] = 412
            return 412, {"error": "sequencing"}
        self.seqnos[public_b64] = seqno + 1
        record["status"] = 200
        request = json.loads(body or b"{}")
        if self.scheduler_file is not None and "stopScheduledTransactions" in query:
            return 200, self._stop(str((request.get("variables") or {}).get("handle")))
        return 200, {"data": {}}

    def _stop(self, handle: str) -> dict[str, Any]:
        assert self.scheduler_file is not None
        table = json.loads(self.scheduler_file.read_text()) if self.scheduler_file.exists() else {}
        entry = table.get(handle) or {}
        mine = entry.get("address") == f"127.0.0.1:{self.itn.port}"
        if not mine or entry["expires"] <= time.time():
            message = f"Could not find scheduled transactions with handle {handle}"
            return {"data": None, "errors": [{"message": message}]}
        del table[handle]
        self.scheduler_file.write_text(json.dumps(table))
        message = f"Requesting stop of scheduled transactions with handle {handle}"
        return {"data": {"stopScheduledTransactions": message}}

    def _graphql(self, method: str, path: str, headers: dict[str, str], body: bytes):
        query = json.loads(body or b"{}").get("query", "")
        if "syncStatus" not in query:
            return 400, {"errors": [{"message": "unsupported query"}]}
        return 200, {"data": {"syncStatus": self.sync_status}}


@dataclass
class FakeUptimeBackend:
    """`GET /v1/online`: the in-memory backend's array of recent submitters."""

    online: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = _Server(self._handle)
        self.port = self.server.port

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes):
        if path == "/v1/online":
            return 200, self.online
        if path == "/":
            return 200, "delegation backend service"
        return 404, {"error": "not found"}

    def close(self) -> None:
        self.server.close()
