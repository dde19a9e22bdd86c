"""`python -m scripts.pin` against a stand-in OCI registry (tests/fakes/oci_registry.py): the pinned
digest is the multi-platform index's, every error class is one line, and --write edits the stack
file in place without losing a comment, or refuses and leaves it untouched."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from minaperf.cloud import oci
from minaperf.cloud.oci import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Registry,
    RegistryError,
    parse_challenges,
    parse_image,
)
from minaperf.model.stack_file import load_yaml, read_stack_input, validate
from scripts import pin
from tests.conftest import ROOT
from tests.fakes.oci_registry import SERVICE, FakeRegistry, image_manifest
from tests.fakes.openpgp import KeyServer, sample_keys

HUB = "registry-1.docker.io"


@dataclass
class Published:
    """What the stand-in serves for the stack's unpinned images."""

    daemon_index: str
    daemon_amd64: str
    orchestrator: str
    log_fetcher: str
    uptime: str


KEYS = sample_keys()
_KEY_SERVER: list[KeyServer] = []


@pytest.fixture(autouse=True)
def key_server() -> Iterator[KeyServer]:
    """The repository's key URL, served on 127.0.0.1 (every run passes it as --key-url)."""
    server = KeyServer(KEYS.repository.data)
    _KEY_SERVER[:] = [server]
    yield server
    server.close()


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    fake = FakeRegistry()
    yield fake
    fake.close()


@pytest.fixture
def published(registry: FakeRegistry) -> Published:
    daemon = registry.repository("minaprotocol/mina-daemon")
    index, platforms = daemon.put_index(
        "4.0.0-6965b50-jammy-devnet", DOCKER_MANIFEST_LIST, "daemon"
    )
    perf = registry.repository("o1labs/mina-perf-testing")
    orchestrator_manifest = image_manifest(DOCKER_MANIFEST, "orchestrator")
    log_fetcher, _ = perf.put_index("internal-trace-consumer-2.0.0", OCI_INDEX, "itc")
    return Published(
        daemon_index=index,
        daemon_amd64=platforms["amd64"],
        orchestrator=perf.put("orchestrator", DOCKER_MANIFEST, orchestrator_manifest),
        log_fetcher=log_fetcher,
        uptime=perf.put(
            "in-memory-uptime-backend", OCI_MANIFEST, image_manifest(OCI_MANIFEST, "uptime")
        ),
    )


def _stack(tmp_path: Path, source: Path = ROOT / "Pulumi.dev.yaml") -> Path:
    target = tmp_path / source.name
    target.write_bytes(source.read_bytes())
    return target


def _run(
    registry: FakeRegistry, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    key_url = ["--key-url", _KEY_SERVER[0].url]
    status = pin.main([*argv, "--registry", f"{HUB}={registry.url}", *key_url])
    out, err = capsys.readouterr()
    return status, out, err


def _images(file: Path) -> dict[str, str]:
    config = validate(read_stack_input(stack=None, config_file=file, overrides=()))
    return {k.removeprefix("images."): v for k, v in pin.images(config).items()}


# --- pinning -----------------------------------------------------------------------------------


def test_write_pins_every_unpinned_image_to_its_index_digest(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path)
    before = stack.read_text()
    status, out, err = _run(registry, capsys, "--config", str(stack), "--write")
    assert (status, err) == (0, ""), err
    images = _images(stack)
    assert images["daemon"] == (
        f"minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet@{published.daemon_index}"
    )
    # The index, not linux/amd64's manifest (what a client without the list type gets).
    assert published.daemon_amd64 not in images["daemon"]
    assert images["orchestrator"].endswith(f":orchestrator@{published.orchestrator}")
    assert images["logFetcher"].endswith(f"@{published.log_fetcher}")
    assert images["uptimeBackend"].endswith(f"@{published.uptime}")
    assert (
        images["postgres"]
        == pin.images(validate(read_stack_input(stack="dev", config_file=None, overrides=())))[
            "images.postgres"
        ]
    ), "already pinned: left alone"
    after = stack.read_text()
    # Only added lines: every comment and key of the original is still there, in order.
    assert [line for line in after.splitlines() if line in before.splitlines()] == (
        before.splitlines()
    )
    assert "multi-platform index" in out
    assert "set 5 key(s)" in out
    pinned = validate(read_stack_input(stack=None, config_file=stack, overrides=()))
    assert pinned.worker_pool.mina_package.signing_key_fingerprint == KEYS.repository.fingerprint
    assert f"fingerprint: {KEYS.repository.fingerprint}" in out
    assert "uid: Mina Test Repository <packages@example.org>" in out
    assert "expires: never" in out
    # Anonymous token from the realm the challenge named, with its service and scope.
    assert {"service": [SERVICE], "scope": ["repository:minaprotocol/mina-daemon:pull"]} in (
        registry.token_requests
    )


def test_a_client_that_omits_the_index_types_pins_the_wrong_digest(
    registry: FakeRegistry, published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trap the Accept list avoids (manifests.go:175-210): the registry answers a manifest
    list with the amd64 manifest. The test above would catch a tool that falls into it."""
    monkeypatch.setattr(oci, "ACCEPT", f"{DOCKER_MANIFEST}, {OCI_MANIFEST}")
    with httpx.Client() as client:
        wrong = Registry(client, lambda host: registry.url).resolve(
            "minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet"
        )
    assert wrong.digest == published.daemon_amd64
    assert wrong.digest != published.daemon_index


def test_stand_in_is_strict_about_accept_and_head(
    registry: FakeRegistry, published: Published
) -> None:
    with httpx.Client() as client:
        token = client.get(
            registry.realm,
            params={"service": SERVICE, "scope": "repository:o1labs/mina-perf-testing:pull"},
        ).json()["token"]
        url = f"{registry.url}/v2/o1labs/mina-perf-testing/manifests/internal-trace-consumer-2.0.0"
        auth = {"Authorization": f"Bearer {token}"}
        refused = client.get(url, headers={**auth, "Accept": DOCKER_MANIFEST})
        head = client.head(url, headers={**auth, "Accept": OCI_INDEX})
        anonymous = client.get(url, headers={"Accept": OCI_INDEX})
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["docker-content-digest"] == published.log_fetcher
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert parse_challenges([anonymous.headers["www-authenticate"]])[0].params["realm"] == (
        registry.realm
    )


def test_default_prints_the_config_commands_and_writes_nothing(
    registry: FakeRegistry, published: Published, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (ROOT / "Pulumi.dev.yaml").read_bytes()
    status, out, err = _run(registry, capsys, "--stack", "dev")
    assert (status, err) == (0, "")
    assert (ROOT / "Pulumi.dev.yaml").read_bytes() == before
    daemon = f"minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet@{published.daemon_index}"
    assert f"pulumi config set --stack dev --path 'mina-itn:images.daemon' {daemon}" in out


def test_config_file_suggestions_name_the_stack_file_keys(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path, ROOT / "stacks" / "kind.yaml")
    status, out, _ = _run(registry, capsys, "--config", str(stack))
    assert status == 0
    uptime = f"o1labs/mina-perf-testing:in-memory-uptime-backend@{published.uptime}"
    assert f"mina-itn:images.uptimeBackend: {uptime}" in out


def _publish_base_images(registry: FakeRegistry) -> None:
    """postgres, curl and busybox under their default tags (other bytes than upstream's)."""
    for name in ("postgres", "curlimages/curl", "busybox"):
        remote = name if "/" in name else f"library/{name}"
        tag = parse_image(_images(ROOT / "stacks" / "kind.yaml")[name.split("/")[-1]]).tag
        assert tag is not None
        registry.repository(remote).put_index(tag, OCI_INDEX, name)


# --- --check: drift ----------------------------------------------------------------------------


def test_check_reports_drift_and_write_bumps_it(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = _stack(tmp_path, ROOT / "stacks" / "kind.yaml")
    _publish_base_images(registry)
    assert _run(registry, capsys, "--config", str(stack), "--write")[0] == 0
    # Pin postgres, curl and busybox to what the stand-in serves: nothing drifted yet.
    status, out, _ = _run(registry, capsys, "--config", str(stack), "--check")
    assert status == 1, "the built-in postgres/curl/busybox digests are not the stand-in's"
    accept = ("--check", "--write", "--accept-changes")
    assert _run(registry, capsys, "--config", str(stack), *accept)[0] == 0
    status, out, err = _run(registry, capsys, "--config", str(stack), "--check")
    assert (status, err) == (0, ""), out
    assert "still at" in out

    # Upstream moves a tag: drift, with the new value to set.
    moved = registry.repositories["o1labs/mina-perf-testing"].put(
        "orchestrator", DOCKER_MANIFEST, image_manifest(DOCKER_MANIFEST, "orchestrator-2")
    )
    before = stack.read_bytes()
    status, out, _ = _run(registry, capsys, "--config", str(stack), "--check")
    assert status == 1
    assert f"DRIFT: o1labs/mina-perf-testing:orchestrator now points to {moved}" in out
    assert f"mina-itn:images.orchestrator: o1labs/mina-perf-testing:orchestrator@{moved}" in out
    assert stack.read_bytes() == before
    # A moved tag is never bumped silently: old and new are shown, nothing is written.
    status, out, err = _run(registry, capsys, "--config", str(stack), "--check", "--write")
    assert status == 1
    assert f"now points to {moved}, pinned {published.orchestrator}" in out
    assert "--accept-changes" in err
    assert stack.read_bytes() == before
    assert _run(registry, capsys, "--config", str(stack), *accept)[0] == 0
    assert _images(stack)["orchestrator"].endswith(f"@{moved}")


def test_check_of_an_unpinned_stack_says_so(
    registry: FakeRegistry, published: Published, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(registry, capsys, "--stack", "dev", "--check")
    assert status == 1
    assert "images.daemon: minaprotocol/mina-daemon" in out
    assert "is not pinned" in out


# --- errors: one line each, nothing written ----------------------------------------------------


def _one_error(
    registry: FakeRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str], failed: int = 1
) -> str:
    stack = _stack(tmp_path)
    before = stack.read_bytes()
    status, _, err = _run(registry, capsys, "--config", str(stack), "--write")
    assert status == 1
    assert stack.read_bytes() == before
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1] == f"pin: {failed} lookup(s) failed; nothing was written", lines
    assert len(lines) == failed + 1
    return lines[0]


def test_unknown_tag(registry, published, tmp_path, capsys) -> None:
    del registry.repositories["o1labs/mina-perf-testing"].tags["orchestrator"]
    line = _one_error(registry, tmp_path, capsys)
    assert line.startswith("pin: images.orchestrator: o1labs/mina-perf-testing:orchestrator: ")
    assert "MANIFEST_UNKNOWN" in line
    assert "check the tag" in line


def test_unknown_repository(registry, published, tmp_path, capsys) -> None:
    del registry.repositories["minaprotocol/mina-daemon"]
    line = _one_error(registry, tmp_path, capsys)
    assert line.startswith("pin: images.daemon: minaprotocol/mina-daemon:")
    # Like Docker Hub, the token server grants nothing for it, so the registry says 401.
    assert "refused an anonymous pull" in line


def test_name_unknown(registry, published, tmp_path, capsys) -> None:
    registry.grant_unknown = True
    del registry.repositories["minaprotocol/mina-daemon"]
    line = _one_error(registry, tmp_path, capsys)
    assert line.startswith("pin: images.daemon: minaprotocol/mina-daemon:")
    assert "does not exist (NAME_UNKNOWN); check the repository name" in line


def test_private_repository(registry, published, tmp_path, capsys) -> None:
    registry.repository("o1labs/mina-perf-testing", private=True)
    line = _one_error(registry, tmp_path, capsys, failed=3)
    assert "refused an anonymous pull (HTTP 401, UNAUTHORIZED)" in line
    assert "pin it from a machine that can pull it" in line


def test_rate_limited(registry, published, tmp_path, capsys) -> None:
    registry.rate_limited = True
    stack = _stack(tmp_path)
    status, _, err = _run(registry, capsys, "--config", str(stack), "--write")
    assert status == 1
    assert "TOOMANYREQUESTS" in err
    assert "retry after 60 s" in err


def test_digest_header_that_does_not_match_the_bytes_is_refused(
    registry, published, tmp_path, capsys
):
    registry.lie_about_digest = True
    stack = _stack(tmp_path)
    status, _, err = _run(registry, capsys, "--config", str(stack), "--write")
    assert status == 1
    assert "refusing to pin" in err


def test_unreachable_registry(tmp_path, capsys) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stack = _stack(tmp_path)
    status = pin.main(
        [
            "--config",
            str(stack),
            "--registry",
            f"{HUB}=http://127.0.0.1:{port}",
            "--key-url",
            _KEY_SERVER[0].url,
        ]
    )
    _, err = capsys.readouterr()
    assert status == 1
    assert f"cannot reach {HUB}" in err.splitlines()[0]
    assert "check the network" in err.splitlines()[0]


def test_bad_input_is_one_line_exit_2(tmp_path, capsys) -> None:
    assert pin.main(["--stack", "no-such-stack"]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1
    assert "Pulumi.no-such-stack.yaml does not exist" in err
    assert pin.main(["--stack", "dev", "--registry", "nonsense"]) == 2
    _, err = capsys.readouterr()
    assert err.strip() == "error: --registry 'nonsense': use HOST=URL"


# --- --write: safe edits only ------------------------------------------------------------------


def test_write_keeps_comments_mode_and_refuses_what_it_cannot_edit(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        (ROOT / "stacks" / "kind.yaml").read_text()
        + "  # pinned by hand\n  mina-itn:images: {postgres: 'postgres:15'}\n"
    )
    os.chmod(flow, 0o640)
    before = flow.read_bytes()
    status, _, err = _run(registry, capsys, "--config", str(flow), "--write")
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "cannot be added to a {...} or empty mapping; set it by hand" in err
    assert flow.read_bytes() == before
    assert list(tmp_path.iterdir()) == [flow], "no temporary file left behind"

    block = tmp_path / "block.yaml"
    block.write_text(
        before.decode().replace("{postgres: 'postgres:15'}", "\n    postgres: 'postgres:15'  # why")
    )
    os.chmod(block, 0o640)
    assert _run(registry, capsys, "--config", str(block), "--write")[0] == 1, (
        "postgres:15 is not in the stand-in"
    )
    registry.repository("library/postgres").put_index("15", OCI_INDEX, "pg")
    assert _run(registry, capsys, "--config", str(block), "--write")[0] == 0
    text = block.read_text()
    assert "  # pinned by hand\n" in text
    assert "    postgres: 'postgres:15@sha256:" in text
    assert "'  # why\n" in text
    assert os.stat(block).st_mode & 0o777 == 0o640
    assert (
        load_yaml(text)["config"]["mina-itn:nodes"]
        == load_yaml(before.decode())["config"]["mina-itn:nodes"]
    )


# --- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host", "remote", "tag"),
    [
        ("postgres:15.10-bookworm", HUB, "library/postgres", "15.10-bookworm"),
        ("docker.io/busybox:1.36.1", HUB, "library/busybox", "1.36.1"),
        ("index.docker.io/o1labs/x:y", HUB, "o1labs/x", "y"),
        ("minaprotocol/mina-daemon:4.0.0", HUB, "minaprotocol/mina-daemon", "4.0.0"),
        ("gcr.io/p/r/img:v1", "gcr.io", "p/r/img", "v1"),
        ("us-docker.pkg.dev/p/repo/img:v1", "us-docker.pkg.dev", "p/repo/img", "v1"),
        ("localhost:5000/img:v1", "localhost:5000", "img", "v1"),
        ("localhost/img", "localhost", "img", None),
    ],
)
def test_parse_image_normalizes_like_docker(text, host, remote, tag) -> None:
    ref = parse_image(text)
    assert (ref.api_host, ref.remote, ref.tag) == (host, remote, tag)


def test_challenge_parsing() -> None:
    (challenge,) = parse_challenges(
        [
            'Bearer realm="https://auth.example/token",service="reg.example",'
            'scope="repository:a/b:pull",error="insufficient_scope"'
        ]
    )
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.example/token",
        "service": "reg.example",
        "scope": "repository:a/b:pull",
        "error": "insufficient_scope",
    }
    assert parse_challenges(['Basic realm="x\\"y"'])[0].params == {"realm": 'x"y'}


def test_basic_challenge_is_not_an_anonymous_token(tmp_path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="private"'})

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(RegistryError, match="wants credentials"),
    ):
        Registry(client).resolve("gcr.io/p/img:v1")


# --- the repository signing key ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "message"),
    [
        (
            lambda: KEYS.two_keys,
            "the file holds 2 primary keys; a repository key file must hold one",
        ),
        (lambda: KEYS.expired.data, "expired on 2020-01-02T00:00:00+00:00"),
        (lambda: b"<html>moved</html>", "gpg cannot read the file as an OpenPGP key"),
        (lambda: None, "answered HTTP 404"),
    ],
)
def test_a_bad_key_file_is_one_line_and_nothing_is_written(
    registry, published, key_server, tmp_path, capsys, served, message
) -> None:
    key_server.data = served()
    line = _one_error(registry, tmp_path, capsys)
    assert line.startswith(f"pin: signing key: {key_server.url}: ")
    assert message in line


def test_check_compares_the_pinned_fingerprint(
    registry, published, key_server, tmp_path, capsys
) -> None:
    stack = _stack(tmp_path)
    _publish_base_images(registry)
    assert _run(registry, capsys, "--config", str(stack), "--write")[0] == 0
    accept = ("--check", "--write", "--accept-changes")
    assert _run(registry, capsys, "--config", str(stack), *accept)[0] == 0
    status, out, _ = _run(registry, capsys, "--config", str(stack), "--check")
    assert status == 0
    assert (
        f"workerPool.minaPackage.signingKeyFingerprint: already {KEYS.repository.fingerprint}"
        in out
    )
    key_server.data = KEYS.other.data  # the repository rotated its key
    status, out, _ = _run(registry, capsys, "--config", str(stack))
    assert status == 1, "a new key is never taken silently"
    assert f"DRIFT: the key is now {KEYS.other.fingerprint}" in out
    before = stack.read_bytes()
    status, out, _ = _run(registry, capsys, "--config", str(stack), "--check", "--write")
    assert status == 1, "a rotated key needs --accept-changes"
    assert f"the key is now {KEYS.other.fingerprint}, pinned {KEYS.repository.fingerprint}" in out
    assert stack.read_bytes() == before
    status, out, _ = _run(registry, capsys, "--config", str(stack), *accept)
    assert status == 0
    pinned = validate(read_stack_input(stack=None, config_file=stack, overrides=()))
    assert pinned.worker_pool.mina_package.signing_key_fingerprint == KEYS.other.fingerprint


def test_a_stack_without_worker_vms_needs_no_key(registry, published, key_server, tmp_path, capsys):
    key_server.data = None
    status, out, _ = _run(
        registry, capsys, "--config", str(_stack(tmp_path, ROOT / "stacks" / "kind.yaml"))
    )
    assert status == 0
    assert "signing key: this stack creates no worker VMs; nothing to pin" in out


def test_write_keeps_secrets_line_endings_and_symlinks(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys
) -> None:
    """An encrypted value stays byte for byte; CRLF files stay CRLF; a linked file is edited
    through its link."""
    secure = "  mina-itn:keys:\r\n    seed:\r\n      secure: v1:abc123==\r\n"
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("\n", "\r\n") + secure
    target = tmp_path / "real" / "Pulumi.dev.yaml"
    target.parent.mkdir()
    target.write_bytes(text.encode())
    link = tmp_path / "Pulumi.dev.yaml"
    link.symlink_to(target)
    status, _, err = _run(registry, capsys, "--config", str(link), "--write")
    assert (status, err) == (0, "")
    assert link.is_symlink()
    edited = target.read_bytes().decode()
    assert secure in edited
    assert "\n" not in edited.replace("\r\n", "")
    assert load_yaml(edited)["config"]["mina-itn:images"]["daemon"].endswith(
        f"@{published.daemon_index}"
    )


def test_any_registry_host_through_its_own_challenge(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys
) -> None:
    """A non-Hub host (here ghcr.io, pointed at the stand-in) keeps its name; the repository path
    gets no `library/`; the token comes from the realm that host's challenge names."""
    registry.repository("acme/postgres").put_index("15", OCI_INDEX, "ghcr")
    stack = _stack(tmp_path, ROOT / "stacks" / "kind.yaml")
    stack.write_text(
        stack.read_text() + "  mina-itn:images:\n    postgres: ghcr.io/acme/postgres:15\n"
    )
    status = pin.main(
        [
            "--config",
            str(stack),
            "--write",
            "--registry",
            f"{HUB}={registry.url}",
            "--registry",
            f"ghcr.io={registry.url}",
            "--key-url",
            _KEY_SERVER[0].url,
        ]
    )
    _, err = capsys.readouterr()
    assert (status, err) == (0, "")
    pinned = _images(stack)["postgres"]
    assert pinned.startswith("ghcr.io/acme/postgres:15@sha256:")
    assert {"service": [SERVICE], "scope": ["repository:acme/postgres:pull"]} in (
        registry.token_requests
    )


def test_an_index_without_linux_amd64_is_refused(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys
) -> None:
    """The nodes and worker VMs are linux/amd64: an arm64-only index is never pinned."""
    registry.repositories["minaprotocol/mina-daemon"].put_index(
        "4.0.0-6965b50-jammy-devnet", DOCKER_MANIFEST_LIST, "daemon-arm", arches=("arm64",)
    )
    stack = _stack(tmp_path)
    before = stack.read_bytes()
    status, _, err = _run(registry, capsys, "--config", str(stack), "--write")
    assert status == 1
    assert "no linux/amd64 image (platforms: linux/arm64)" in err
    assert stack.read_bytes() == before


def test_only_the_pull_scope_is_asked_for(
    registry: FakeRegistry, published: Published, tmp_path: Path, capsys
) -> None:
    """A challenge that names a wider scope (push, the catalog) gets a token request for this
    repository's pull scope only."""
    registry.challenge_scope = "repository:minaprotocol/mina-daemon:push,pull registry:catalog:*"
    _publish_base_images(registry)
    status, _, err = _run(registry, capsys, "--config", str(_stack(tmp_path)))
    assert status == 0, err
    scopes = {scope for request in registry.token_requests for scope in request["scope"]}
    assert scopes
    assert all(s.startswith("repository:") and s.endswith(":pull") for s in scopes), scopes
    assert not any("push" in s or "catalog" in s for s in scopes)


def test_accept_changes_only_with_check_write(registry, published, tmp_path, capsys) -> None:
    status, _, err = _run(registry, capsys, "--config", str(_stack(tmp_path)), "--accept-changes")
    assert status == 2
    assert "--accept-changes goes with --check --write" in err
