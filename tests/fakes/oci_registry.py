"""A stand-in OCI registry and its token server on 127.0.0.1, as strict as the reference registry.

Behaviour copied from distribution/distribution@0d6b721dc3ceacb5d678c25b718b2f40a507c2d8 (cited
per behaviour below; no code copied):

* every manifest request needs `Authorization: Bearer <token>` whose scope allows pull of that
  repository; otherwise 401, JSON `UNAUTHORIZED` and a `WWW-Authenticate: Bearer realm=...,
  service=...,scope="repository:<name>:pull"` challenge (registry/handlers/app.go:865-906,
  registry/auth/token/accesscontroller.go:125-152);
* the token server takes `service` and `scope` and answers `{"token", "access_token",
  "expires_in"}` (docs/content/spec/auth/token.md:140-160); anonymous callers get pull on public
  repositories only, so a private one still answers 401 with the token (what Docker Hub does);
* an unknown repository is 404 `NAME_UNKNOWN` (registry/handlers/app.go:761), an unknown tag 404
  `MANIFEST_UNKNOWN` (registry/handlers/manifests.go:121-128); error bodies are
  `{"errors": [{"code", "message", "detail"?}]}` as application/json
  (registry/api/errcode/errors.go:99-103,203-230, registry/api/errcode/handler.go:11-37);
* the Accept header is split on commas and each type parsed (manifests.go:94-117); an OCI index or
  OCI manifest the client did not accept is 404 MANIFEST_UNKNOWN (manifests.go:166-173); a Docker
  manifest list fetched by tag without the list type in Accept is answered with the linux/amd64
  manifest and *its* digest (manifests.go:175-210) -- the trap a wrong Accept falls into;
* 200 carries Content-Type, Content-Length, Docker-Content-Digest and Etag; HEAD the same headers
  and no body (manifests.go:217-225);
* `rate_limited` answers 429 TOOMANYREQUESTS (registry/api/errcode/register.go:69-75).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from minaperf.cloud.oci import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST

SERVICE = "registry.stand-in"


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def image_manifest(media_type: str, seed: str) -> bytes:
    """A single-platform manifest (schema2 or OCI); `seed` makes its bytes unique."""
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 1}
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": digest_of(seed.encode()),
        },
        "layers": [{**layer, "digest": digest_of(f"{seed}-layer".encode())}],
    }
    return json.dumps(manifest, indent=3).encode()


def index_manifest(media_type: str, platforms: dict[tuple[str, str], bytes]) -> bytes:
    """A multi-platform index / manifest list over `(os, architecture) -> manifest bytes`."""
    child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
    manifests = [
        {
            "mediaType": child_type,
            "size": len(body),
            "digest": digest_of(body),
            "platform": {"os": os_name, "architecture": arch},
        }
        for (os_name, arch), body in platforms.items()
    ]
    return json.dumps(
        {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    ).encode()


@dataclass
class Repository:
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """digest -> (media type, bytes)"""
    tags: dict[str, str] = field(default_factory=dict)
    private: bool = False

    def put(self, tag: str, media_type: str, body: bytes) -> str:
        digest = digest_of(body)
        self.manifests[digest] = (media_type, body)
        self.tags[tag] = digest
        return digest

    def put_index(
        self, tag: str, media_type: str, seed: str, arches: tuple[str, ...] = ("amd64", "arm64")
    ) -> tuple[str, dict[str, str]]:
        """A multi-platform image (linux/<arch> each): (index digest, arch -> digest)."""
        child_type = OCI_MANIFEST if media_type == OCI_INDEX else DOCKER_MANIFEST
        platforms = {
            ("linux", arch): image_manifest(child_type, f"{seed}-{arch}") for arch in arches
        }
        children = {}
        for (_, arch), body in platforms.items():
            children[arch] = digest_of(body)
            self.manifests[digest_of(body)] = (child_type, body)
        return self.put(tag, media_type, index_manifest(media_type, platforms)), children


def _error(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    return {"errors": [error]}


class FakeRegistry:
    """Registry on one port, token server on another (the realm is another host, as on Hub)."""

    def __init__(self) -> None:
        self.repositories: dict[str, Repository] = {}
        self.tokens: dict[str, set[str]] = {}
        """token -> repositories it may pull"""
        self.rate_limited = False
        self.token_requests: list[dict[str, list[str]]] = []
        self.requests: list[tuple[str, str, Message]] = []
        self.lie_about_digest = False
        self.grant_unknown = False
        self.challenge_scope: str | None = None
        """A scope the challenge names instead of `repository:<name>:pull` (a registry asking
        for more than a pull needs)."""
        """A token server that grants pull on any name (an allow-all ACL), so the registry
        itself answers an unknown repository with NAME_UNKNOWN."""
        self.registry = _Http(self._registry)
        self.token_server = _Http(self._token)
        self.url = f"http://127.0.0.1:{self.registry.port}"
        self.realm = f"http://127.0.0.1:{self.token_server.port}/token"

    def close(self) -> None:
        self.registry.close()
        self.token_server.close()

    def repository(self, name: str, *, private: bool = False) -> Repository:
        repo = self.repositories.setdefault(name, Repository())
        repo.private = private
        return repo

    # --- token server ------------------------------------------------------------------------

    def _token(self, method: str, path: str, headers: Message) -> _Answer:
        url = urlsplit(path)
        query = parse_qs(url.query)
        self.token_requests.append(query)
        if method != "GET" or url.path != "/token" or query.get("service") != [SERVICE]:
            return _Answer.json(400, {"errors": [{"code": "invalid_request"}]})
        granted = set()
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            repo = self.repositories.get(name)
            # Anonymous: pull on public repositories only; an unknown or private one is granted
            # nothing (the registry then answers 401 to the request that carries the token).
            public = (repo is not None and not repo.private) or (
                repo is None and self.grant_unknown
            )
            if kind == "repository" and "pull" in actions.split(",") and public:
                granted.add(name)
        token = secrets.token_urlsafe(16)
        self.tokens[token] = granted
        return _Answer.json(200, {"token": token, "access_token": token, "expires_in": 300})

    # --- registry ----------------------------------------------------------------------------

    def _challenge(self, name: str, error: str | None = None) -> dict[str, str]:
        scope = self.challenge_scope or f"repository:{name}:pull"
        value = f'Bearer realm="{self.realm}",service="{SERVICE}",scope="{scope}"'
        if error:
            value += f',error="{error}"'
        return {"WWW-Authenticate": value}

    def _registry(self, method: str, path: str, headers: Message) -> _Answer:
        self.requests.append((method, path, headers))
        if self.rate_limited:
            return _Answer.json(
                429,
                _error("TOOMANYREQUESTS", "too many requests"),
                {"Retry-After": "60"},
            )
        prefix, _, rest = path.partition("/v2/")
        name, sep, reference = rest.rpartition("/manifests/")
        if prefix or not sep or method not in ("GET", "HEAD"):
            return _Answer.json(404, _error("UNSUPPORTED", "not in this stand-in"))
        authorization = headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else ""
        if token not in self.tokens:
            return _Answer.json(
                401,
                _error("UNAUTHORIZED", "authentication required", [{"Name": name}]),
                self._challenge(name, "invalid_token" if token else None),
            )
        if name not in self.tokens[token]:
            return _Answer.json(
                401,
                _error("UNAUTHORIZED", "authentication required"),
                self._challenge(name, "insufficient_scope"),
            )
        repo = self.repositories.get(name)
        if repo is None:
            return _Answer.json(
                404, _error("NAME_UNKNOWN", "repository name not known to registry")
            )
        accepted = set()
        for value in headers.get_all("Accept") or []:
            for item in value.split(","):
                # Go's mime.ParseMediaType drops parameters and lower-cases the type.
                accepted.add(item.split(";")[0].strip().lower())
        by_tag = not reference.startswith("sha256:")
        digest = repo.tags.get(reference) if by_tag else reference
        if digest is None or digest not in repo.manifests:
            return _Answer.json(404, _error("MANIFEST_UNKNOWN", "manifest unknown"))
        media_type, body = repo.manifests[digest]
        if media_type in (OCI_MANIFEST, OCI_INDEX) and media_type not in accepted:
            return _Answer.json(404, _error("MANIFEST_UNKNOWN", "accept header does not support"))
        if by_tag and media_type == DOCKER_MANIFEST_LIST and media_type not in accepted:
            listed = json.loads(body)["manifests"]
            amd64 = next(
                m["digest"]
                for m in listed
                if m["platform"] == {"os": "linux", "architecture": "amd64"}
            )
            digest = amd64
            media_type, body = repo.manifests[amd64]
            if media_type == DOCKER_MANIFEST and media_type not in accepted:
                return _Answer.json(400, _error("MANIFEST_INVALID", "manifest invalid"))
        announced = digest_of(b"lie") if self.lie_about_digest else digest
        answer_headers = {
            "Content-Type": media_type,
            "Docker-Content-Digest": announced,
            "Etag": f'"{digest}"',
        }
        return _Answer(200, body if method == "GET" else b"", answer_headers, len(body))


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    length: int

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> _Answer:
        body = json.dumps(payload).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})}, len(body))


class _Http:
    def __init__(self, handle: Any) -> None:
        outer = handle

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                answer: _Answer = outer(self.command, self.path, self.headers)
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(answer.length))
                self.end_headers()
                if answer.body:
                    self.wfile.write(answer.body)

            do_GET = _serve  # noqa: N815
            do_HEAD = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
