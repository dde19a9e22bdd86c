"""Resolve an image tag to the digest Kubernetes would pull, through the OCI distribution API.

Facts from distribution/distribution@0d6b721 (the reference registry) and its vendored
distribution/reference v0.6.0, cited next to each use. The digest is computed here from the bytes
of a GET, never taken from a header, and the multi-platform index is kept (each node resolves its
own platform from it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

# Media types (manifest/manifestlist/manifestlist.go:17, manifest/schema2/manifest.go:17,
# vendor/github.com/opencontainers/image-spec/specs-go/v1/mediatype.go:25,28).
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
ACCEPT = ", ".join(MANIFEST_TYPES)
"""Every type we take. Without the two index types a registry answers a tag that names a
manifest list with the default platform's manifest instead (registry/handlers/manifests.go:175-210)
or with MANIFEST_UNKNOWN for an OCI index (manifests.go:170-172), and the pin would be wrong."""

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
"""Docker Hub's registry endpoint (docs/content/about/configuration.md:317 `remoteurl`)."""
TIMEOUT = httpx.Timeout(20.0, connect=10.0)

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_TOKEN_CHARS = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class RegistryError(Exception):
    """One line naming the image, what went wrong and what to do."""


@dataclass(frozen=True)
class ImageRef:
    """An image reference as written (`name`) and as the registry API addresses it."""

    name: str
    """The repository as written in the config, e.g. `postgres` or `gcr.io/p/r`."""
    domain: str
    remote: str
    """The repository path on the registry (Docker Hub official images under `library/`)."""
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    def pinned(self, digest: str) -> str:
        """`name:tag@digest` (the tag kept for readability)."""
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.name}{tag}@{digest}"

    def tagged(self) -> str:
        return f"{self.name}:{self.tag}" if self.tag else self.name


def parse_image(text: str) -> ImageRef:
    """Split an image reference as Docker does (distribution/reference normalize.go:126-170):
    the first path element is a registry host only if it is `localhost` or holds `.` or `:`
    (or uppercase); `index.docker.io` means Docker Hub; a one-element Hub name gets `library/`."""
    rest, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ValueError(f"{text!r}: only sha256 digests are supported")
    name, tag = rest, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1 :]
    if not name or (tag is not None and not tag):
        raise ValueError(f"{text!r} is not an image reference")
    first, sep, remainder = name.partition("/")
    if not sep:
        domain, remote = DOCKER_HUB, name
    elif first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, remainder
    else:
        domain, remote = DOCKER_HUB, name
    if domain == "index.docker.io":
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in remote:
        remote = f"library/{remote}"
    return ImageRef(name=name, domain=domain, remote=remote, tag=tag, digest=digest or None)


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str]


def parse_challenges(values: list[str]) -> list[Challenge]:
    """`WWW-Authenticate` values as the registry client reads them
    (internal/client/auth/challenge/authchallenge.go:141-215): a scheme token (lower-cased), then
    comma-separated `key=token` or `key="quoted"` parameters (keys lower-cased, `\\` escapes)."""
    challenges = []
    for value in values:
        match = _TOKEN_CHARS.match(value)
        if not match:
            continue
        scheme, rest = match.group().lower(), value[match.end() :]
        params: dict[str, str] = {}
        rest = "," + rest.lstrip(" \t")
        while rest.startswith(","):
            rest = rest[1:].lstrip(" \t")
            key = _TOKEN_CHARS.match(rest)
            if not key or not rest[key.end() :].startswith("="):
                break
            rest = rest[key.end() + 1 :]
            if rest.startswith('"'):
                parsed, rest = _quoted(rest[1:])
            else:
                token = _TOKEN_CHARS.match(rest)
                parsed, rest = (token.group(), rest[token.end() :]) if token else ("", rest)
            if not parsed:
                break
            params[key.group().lower()] = parsed
            rest = rest.lstrip(" \t")
        challenges.append(Challenge(scheme, params))
    return challenges


def _quoted(text: str) -> tuple[str, str]:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(out), text[index + 1 :]
        if char == "\\" and index + 1 < len(text):
            index += 1
            char = text[index]
        out.append(char)
        index += 1
    return "", ""  # unterminated: no value


@dataclass(frozen=True)
class Resolved:
    digest: str
    media_type: str

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


BaseUrl = Callable[[str], str]
"""Registry host -> base URL (`https://<host>`; tests point a host at a stand-in)."""


def https_base(host: str) -> str:
    return f"https://{host}"


class Registry:
    """Anonymous pulls of manifests; one instance per run (tokens are kept per repository)."""

    def __init__(self, client: httpx.Client, base_url: BaseUrl = https_base) -> None:
        self.client = client
        self.base_url = base_url
        self.tokens: dict[tuple[str, str], str] = {}

    def resolve(self, image: str, reference: str | None = None) -> Resolved:
        """The digest `image`'s tag (or `reference`) names now, from a GET of its manifest."""
        ref = parse_image(image)
        wanted = reference or ref.tag or ref.digest
        if wanted is None:
            raise RegistryError(f"{image}: has neither a tag nor a digest to look up")
        base = self.base_url(ref.api_host)
        url = f"{base}/v2/{ref.remote}/manifests/{wanted}"
        response = self._get(image, url, ref, accept=ACCEPT)
        return self._verified(image, response)

    # --- HTTP --------------------------------------------------------------------------------

    def _get(self, image: str, url: str, ref: ImageRef, *, accept: str) -> httpx.Response:
        headers = {"Accept": accept}
        key = (ref.api_host, ref.remote)
        if key in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[key]}"
        response = self._send(image, ref, url, headers)
        if response.status_code == 401 and key not in self.tokens:
            # The registry names its token server in the challenge
            # (registry/auth/token/accesscontroller.go:125-146, docs/content/spec/auth/token.md).
            self.tokens[key] = self._token(image, ref, url, response)
            headers["Authorization"] = f"Bearer {self.tokens[key]}"
            response = self._send(image, ref, url, headers)
        self._raise_for_status(image, ref, response)
        return response

    def _send(self, image: str, ref: ImageRef, url: str, headers: dict[str, str]) -> httpx.Response:
        try:
            return self.client.get(url, headers=headers, timeout=TIMEOUT)
        except httpx.TimeoutException:
            raise RegistryError(
                f"{image}: {ref.api_host} did not answer in time; retry, or check the network"
            ) from None
        except httpx.HTTPError as error:
            raise RegistryError(
                f"{image}: cannot reach {ref.api_host} ({type(error).__name__}: "
                f"{_short(str(error))}); check the network or proxy and retry"
            ) from None

    def _token(self, image: str, ref: ImageRef, url: str, response: httpx.Response) -> str:
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is None or "realm" not in bearer.params:
            schemes = ", ".join(sorted({c.scheme for c in challenges})) or "none"
            raise RegistryError(
                f"{image}: {ref.api_host} wants credentials (challenge: {schemes}), not an "
                "anonymous token; pin it from a machine that can pull it, or set the digest by hand"
            )
        realm = bearer.params["realm"]
        scheme = httpx.URL(realm).scheme
        if scheme != "https" and not url.startswith("http://"):
            raise RegistryError(f"{image}: {ref.api_host} names a token server over {scheme}")
        # Only the pull scope of this repository, whatever the challenge asks for: an anonymous
        # token for more (push, another repository, `registry:catalog:*`) is never wanted.
        params = {"scope": f"repository:{ref.remote}:pull"}
        if "service" in bearer.params:
            params["service"] = bearer.params["service"]
        try:
            answer = self.client.get(realm, params=params, timeout=TIMEOUT)
        except httpx.HTTPError as error:
            raise RegistryError(
                f"{image}: cannot reach the token server {httpx.URL(realm).host} "
                f"({type(error).__name__}); check the network or proxy and retry"
            ) from None
        if answer.status_code == 429:
            raise RegistryError(self._rate_limited(image, ref, answer))
        if answer.status_code != 200:
            raise RegistryError(
                f"{image}: the token server {httpx.URL(realm).host} refused an anonymous token "
                f"(HTTP {answer.status_code}); the repository may be private"
            )
        try:
            body = answer.json()
            # `token`, or `access_token` for OAuth 2.0 clients (docs/content/spec/auth/token.md).
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{image}: the token server answered without a token")
        return token

    def _raise_for_status(self, image: str, ref: ImageRef, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        codes = _error_codes(response)
        where = f"{ref.api_host}/{ref.remote}"
        if status == 404 and "NAME_UNKNOWN" in codes:
            raise RegistryError(
                f"{image}: {where} does not exist (NAME_UNKNOWN); check the repository name"
            )
        if status == 404:
            raise RegistryError(
                f"{image}: {where} has no tag or manifest {ref.tag or ref.digest!r} "
                "(MANIFEST_UNKNOWN); check the tag, or choose a published one"
            )
        if status in (401, 403):
            raise RegistryError(
                f"{image}: {where} refused an anonymous pull (HTTP {status}"
                f"{', ' + '/'.join(codes) if codes else ''}): it is private or does not exist; "
                "pin it from a machine that can pull it, or set the digest by hand"
            )
        if status == 429:
            raise RegistryError(self._rate_limited(image, ref, response))
        raise RegistryError(
            f"{image}: {ref.api_host} answered HTTP {status}"
            f"{' (' + '/'.join(codes) + ')' if codes else ''}; retry later"
        )

    @staticmethod
    def _rate_limited(image: str, ref: ImageRef, response: httpx.Response) -> str:
        after = response.headers.get("retry-after")
        wait = f"retry after {after} s" if after and after.isdigit() else "retry later"
        return (
            f"{image}: {ref.api_host} is rate-limiting anonymous pulls (TOOMANYREQUESTS); "
            f"{wait}, or run from another address"
        )

    def _verified(self, image: str, response: httpx.Response) -> Resolved:
        body = response.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        announced = response.headers.get("docker-content-digest")
        if announced is not None and announced != digest:
            raise RegistryError(
                f"{image}: the manifest's bytes hash to {digest} but the registry says "
                f"{announced}; refusing to pin (a proxy changed it?)"
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            raise RegistryError(
                f"{image}: the registry answered with {media_type or 'no content type'}, "
                "not an image manifest or index; refusing to pin"
            )
        try:
            declared = json.loads(body).get("mediaType")
        except (ValueError, AttributeError):
            raise RegistryError(f"{image}: the manifest is not a JSON object") from None
        if declared is not None and declared != media_type:
            raise RegistryError(
                f"{image}: the manifest says {declared} but was served as {media_type}"
            )
        if media_type in INDEX_TYPES:
            _require_platform(image, body)
        return Resolved(digest, media_type)


NODE_PLATFORM = {"os": "linux", "architecture": "amd64"}
"""What the GKE nodes and the worker VMs run (x86 machine types only)."""


def _require_platform(image: str, body: bytes) -> None:
    """An index pinned for the nodes must hold a linux/amd64 image: `manifests[].platform`
    (OCI image-spec image-index.md; Docker manifest list v2.2), variant not required."""
    manifests = json.loads(body).get("manifests")
    platforms = (
        [m.get("platform") for m in manifests if isinstance(m, dict)]
        if isinstance(manifests, list)
        else []
    )
    found = [p for p in platforms if isinstance(p, dict)]
    if any(all(p.get(k) == v for k, v in NODE_PLATFORM.items()) for p in found):
        return
    listed = ", ".join(sorted({f"{p.get('os')}/{p.get('architecture')}" for p in found})) or "none"
    raise RegistryError(
        f"{image}: the index has no linux/amd64 image (platforms: {listed}); the nodes and "
        "worker VMs are linux/amd64: choose a tag published for it"
    )


def _error_codes(response: httpx.Response) -> list[str]:
    """`errors[].code` of a registry error body (registry/api/errcode/errors.go:99-103,203-230)."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return []
    if not isinstance(errors, list):
        return []
    return [str(e["code"]) for e in errors if isinstance(e, dict) and "code" in e]


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 120 else f"{line[:117]}..."
