"""Preflight against the stand-in Google APIs: the success shape and every error shape."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from minaperf.cloud import gcp_credentials as credentials
from minaperf.cloud.gcp_api import GcpApi, GcpApiError
from minaperf.cloud.gcp_permissions import PERMISSIONS_BY_TYPE, permissions_for
from minaperf.cloud.gcp_project import BASE_APIS
from minaperf.cloud.preflight import (
    READ_PERMISSIONS,
    WAIT_PERMISSIONS,
    Environment,
    PreflightReport,
    preflight,
    run_preflight,
)
from minaperf.model.config import ExperimentConfig, GkePlatform
from minaperf.model.stack_file import read_stack_input, validate
from scripts import preflight as cli
from tests.conftest import ROOT, render
from tests.fakes.gcp_apis import TOKEN, FakeGcp, FakeProject
from tests.fakes.pinned import pin_overrides, pinned_copy

PROJECT = "my-project-1"
HERE = "203.0.113.7"
"""This machine's public address in these tests: inside the dev stack's 203.0.113.0/24."""
IMAGE_FEATURES = ["UEFI_COMPATIBLE", "VIRTIO_SCSI_MULTIQUEUE", "GVNIC", "SEV_CAPABLE"]


_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {}
"""A config (as JSON) -> the stack file and overrides it came from, to render it."""


def _config(
    stack_file: str = "Pulumi.dev.yaml", *overrides: str, pinned: bool = True
) -> ExperimentConfig:
    """The stack as a ready user has it: images and signing key pinned (`scripts.pin --write`)."""
    pins = pin_overrides(ROOT / stack_file) if pinned else []
    config = validate(
        read_stack_input(
            stack=None,
            config_file=ROOT / stack_file,
            overrides=[f"gcp:project={PROJECT}", *pins, *overrides],
        )
    )
    _SOURCES[config.model_dump_json()] = (stack_file, overrides)
    return config


def _resources(config: ExperimentConfig) -> list[dict[str, Any]]:
    """The config's render (what `scripts.preflight` renders; pins and project change no type)."""
    stack_file, overrides = _SOURCES[config.model_dump_json()]
    return render(config_file=ROOT / stack_file, overrides=overrides).resources


DEPLOY_PERMISSIONS = {
    permission
    for row in PERMISSIONS_BY_TYPE.values()
    if row.scope == "project"
    for permission in (*row.create, *row.update, *row.delete)
}


def _quota(metric: str, limit: float, usage: float = 0) -> dict[str, Any]:
    return {"metric": metric, "limit": limit, "usage": usage}


def healthy() -> FakeProject:
    """A project where the dev and large-200 stacks can be deployed."""
    return FakeProject(
        project_id=PROJECT,
        granted={*READ_PERMISSIONS, *WAIT_PERMISSIONS, *DEPLOY_PERMISSIONS},
        enabled={
            *BASE_APIS,
            "serviceusage.googleapis.com",
            "cloudkms.googleapis.com",
            "artifactregistry.googleapis.com",
        },
        regional_quotas={
            "us-central1": [
                _quota("CPUS", 24, 0),
                _quota("N2_CPUS", 2000, 16),
                _quota("C2D_CPUS", 500, 0),
                _quota("C3_CPUS", 2000, 0),
                _quota("SSD_TOTAL_GB", 50000, 100),
                _quota("DISKS_TOTAL_GB", 4096, 0),
                _quota("IN_USE_ADDRESSES", 16, 1),
                _quota("PREEMPTIBLE_CPUS", 0, 0),
            ]
        },
        project_quotas=[_quota("CPUS_ALL_REGIONS", 5000, 16)],
        zones={"us-central1-a": "UP"},
        machine_types={
            "us-central1-a": {
                "n2-standard-16",
                "n2-standard-32",
                "c2d-highcpu-32",
                "c3-highcpu-192-metal",
            }
        },
        images={
            ("debian-cloud", "debian-12"): {
                "name": "debian-12-bookworm-v20261110",
                "family": "debian-12",
                "architecture": "X86_64",
                "guestOsFeatures": [{"type": f} for f in [*IMAGE_FEATURES, "IDPF"]],
            }
        },
    )


@pytest.fixture
def gcp() -> Iterator[FakeGcp]:
    server = FakeGcp(healthy())
    yield server
    server.close()


def _run(
    server: FakeGcp | None,
    config: ExperimentConfig | None = None,
    *,
    here: str = HERE,
    credentials: str | None = "application-default credentials",
    plugin: bool = True,
) -> PreflightReport:
    env = Environment(credentials=credentials, auth_plugin=plugin, public_ipv4=lambda: here)
    api = GcpApi(TOKEN, base_url=server.url) if server is not None else None
    try:
        config = config or _config()
        return preflight(config, env, api, resources=_resources(config))
    finally:
        if api is not None:
            api.close()


def _lines(report: PreflightReport) -> list[str]:
    return [problem.line() for problem in report.problems]


# ------------------------------------------------------------------------------ success


def test_a_ready_project_has_no_problems(gcp: FakeGcp) -> None:
    report = _run(gcp)
    assert _lines(report) == []
    rows = {row.metric: row for row in report.quotas}
    # dev: 2 Spot c2d-highcpu-32 workers; no preemptible quota, so the standard C2D quota.
    assert rows["C2D_CPUS"].needed == 64
    assert (rows["C2D_CPUS"].usage, rows["C2D_CPUS"].limit) == (0, 500)
    assert rows["IN_USE_ADDRESSES"].needed == 2
    assert rows["CPUS_ALL_REGIONS"].scope == "all regions"
    table = "\n".join(report.table())
    assert "C2D_CPUS" in table
    assert "NOT ENOUGH" not in table


def test_large_200_on_a_ready_project(gcp: FakeGcp) -> None:
    report = _run(gcp, _config("stacks/large-200.yaml"))
    assert _lines(report) == []
    rows = {row.metric: row for row in report.quotas}
    assert rows["C3_CPUS"].needed == 8 * 192  # eight bare-metal worker servers
    # The image family was read to check IDPF support for bare metal.
    assert "GET /compute/v1/projects/debian-cloud/global/images/family/debian-12" in (
        gcp.project.requests
    )


def test_kept_disks_of_earlier_deploys_are_named(gcp: FakeGcp) -> None:
    gcp.project.disks["us-central1-a"] = [
        {"name": "itn-dev-postgres-0a1b2c", "sizeGb": "1000", "creationTimestamp": "2030-01-01"},
        {
            "name": "itn-dev-postgres-3d4e5f",
            "sizeGb": "1000",
            "creationTimestamp": "2030-01-02",
            "users": ["projects/p/zones/z/instances/node"],  # in use: the live deploy's
        },
        {"name": "itn-devx-postgres-0a1b2c", "sizeGb": "10", "creationTimestamp": "2030-01-01"},
    ]
    report = _run(gcp)
    assert _lines(report) == []
    (note,) = report.notes
    path = f"projects/{PROJECT}/zones/us-central1-a/disks/itn-dev-postgres-0a1b2c"
    assert path in note
    assert f"mina-itn:postgres.existingDisk {path}" in note


# ------------------------------------------------------------------------------ local


def test_missing_credentials_and_plugin_are_reported_without_calling_apis() -> None:
    report = _run(None, credentials=None, plugin=False)
    lines = _lines(report)
    assert len(lines) == 2
    assert lines[0].startswith("credentials: no Google credentials")
    assert "gcloud auth application-default login" in lines[0]
    assert "gke-gcloud-auth-plugin" in lines[1]


def test_this_machine_outside_the_admin_ranges(gcp: FakeGcp) -> None:
    (line,) = _lines(_run(gcp, here="198.51.100.23"))
    assert line.startswith("access: this machine's address 198.51.100.23 is not in")
    assert 'mina-itn:access.adminCidrs[0]\' "198.51.100.23/32"' in line


def test_an_ipv6_answer_is_not_taken_for_the_address(gcp: FakeGcp) -> None:
    (line,) = _lines(_run(gcp, here="2001:db8::1"))
    assert line.startswith("access: cannot learn this machine's public IPv4 address")


# ------------------------------------------------------------------------------ permissions


def test_missing_permissions_name_the_role_to_grant(gcp: FakeGcp) -> None:
    gcp.project.granted -= {"resourcemanager.projects.setIamPolicy", "iam.serviceAccounts.actAs"}
    lines = _lines(_run(gcp))
    assert lines == [
        f"permissions: missing iam.serviceAccounts.actAs on project {PROJECT} (to "
        "create InstanceTemplate, create Cluster); fix: have an owner grant "
        f"you roles/iam.serviceAccountUser on {PROJECT}",
        f"permissions: missing resourcemanager.projects.setIamPolicy on project {PROJECT} (to "
        "create IAMMember, update IAMMember, delete IAMMember); fix: have an owner grant you "
        f"roles/resourcemanager.projectIamAdmin on {PROJECT}",
    ]


def test_nothing_granted_comes_back_as_an_empty_object(gcp: FakeGcp) -> None:
    gcp.project.granted = set()
    api = GcpApi(TOKEN, base_url=gcp.url)
    try:
        assert api.test_project_permissions(PROJECT, ["compute.disks.create"]) == set()
    finally:
        api.close()
    report = _run(gcp)
    permission_lines = [line for line in _lines(report) if line.startswith("permissions:")]
    # preflight's own reads, `wait`'s and every permission the dev render needs
    assert len(permission_lines) == len(
        {*READ_PERMISSIONS, *WAIT_PERMISSIONS, *permissions_for(_resources(_config()))}
    )


def test_a_project_the_caller_cannot_see(gcp: FakeGcp) -> None:
    config = _config("Pulumi.dev.yaml", "gcp:project=someone-elses-1")
    lines = _lines(_run(gcp, config))
    assert lines[0].startswith("permissions: permission denied: cannot test permissions")
    assert "The caller does not have permission" in lines[0]


def test_a_wrong_token_is_unauthenticated(gcp: FakeGcp) -> None:
    api = GcpApi("expired", base_url=gcp.url)
    try:
        with pytest.raises(GcpApiError) as caught:
            api.region(PROJECT, "us-central1")
    finally:
        api.close()
    assert (caught.value.http_status, caught.value.status) == (401, "UNAUTHENTICATED")


KEY = "projects/my-project-1/locations/us-central1/keyRings/itn/cryptoKeys/secrets"


def test_the_secrets_key_must_be_grantable(gcp: FakeGcp) -> None:
    config = _config("Pulumi.dev.yaml", f"platform.secretsKmsKey={KEY}")
    (line,) = _lines(_run(gcp, config))
    assert line.startswith(f"permissions: platform.secretsKmsKey {KEY} does not exist or you")
    gcp.project.keys[KEY] = {"cloudkms.cryptoKeys.getIamPolicy"}
    (line,) = _lines(_run(gcp, config))
    assert line.startswith(f"permissions: missing cloudkms.cryptoKeys.setIamPolicy on {KEY}")
    gcp.project.keys[KEY].add("cloudkms.cryptoKeys.setIamPolicy")
    assert _lines(_run(gcp, config)) == []


# ------------------------------------------------------------------------------ APIs


def test_disabled_apis_are_listed_with_the_command(gcp: FakeGcp) -> None:
    gcp.project.enabled -= {"compute.googleapis.com", "container.googleapis.com"}
    report = _run(gcp)
    (line,) = _lines(report)
    assert line.startswith(
        f"apis: not enabled in {PROJECT}: compute.googleapis.com, container.googleapis.com"
    )
    assert line.endswith(
        f"fix: gcloud services enable compute.googleapis.com container.googleapis.com "
        f"--project {PROJECT}"
    )
    assert report.quotas == []
    assert "quota and zone checks skipped" in report.notes[0]


def test_compute_s_service_disabled_shape_is_decoded(gcp: FakeGcp) -> None:
    gcp.project.enabled.discard("compute.googleapis.com")
    api = GcpApi(TOKEN, base_url=gcp.url)
    try:
        with pytest.raises(GcpApiError) as caught:
            api.region(PROJECT, "us-central1")
    finally:
        api.close()
    error = caught.value
    assert error.service_disabled
    assert (error.http_status, error.status, error.reason) == (
        403,
        "PERMISSION_DENIED",
        "SERVICE_DISABLED",
    )
    assert error.metadata["service"] == "compute.googleapis.com"


def test_service_usage_itself_disabled(gcp: FakeGcp) -> None:
    gcp.project.enabled.discard("serviceusage.googleapis.com")
    lines = _lines(_run(gcp))
    assert lines == [
        f"apis: serviceusage.googleapis.com is disabled in {PROJECT}, so preflight cannot read "
        f"enabled APIs; fix: gcloud services enable serviceusage.googleapis.com "
        f"--project {PROJECT}"
    ]


def test_options_need_their_apis(gcp: FakeGcp) -> None:
    gcp.project.enabled.discard("artifactregistry.googleapis.com")
    config = _config("Pulumi.dev.yaml", "platform.dockerHubMirror=true")
    (line,) = _lines(_run(gcp, config))
    assert "artifactregistry.googleapis.com" in line


# ------------------------------------------------------------------------------ quotas


def test_exhausted_quota_is_reported_side_by_side(gcp: FakeGcp) -> None:
    quotas = gcp.project.regional_quotas["us-central1"]
    quotas[:] = [q for q in quotas if q["metric"] != "C2D_CPUS"] + [_quota("C2D_CPUS", 24, 24)]
    report = _run(gcp)
    (line,) = _lines(report)
    assert line == (
        "quota: C2D_CPUS in us-central1: this experiment needs 64, but 24 of 24 are in use "
        "(0 free); fix: request C2D_CPUS >= 88 for us-central1 (console: IAM & Admin > Quotas & "
        "System Limits, filter 'C2D_CPUS'), or shrink the experiment"
    )
    (row,) = [text for text in report.table() if text.startswith("C2D_CPUS")]
    assert row.split()[:6] == ["C2D_CPUS", "us-central1", "64", "24", "24", "0"]
    assert row.endswith("NOT ENOUGH")


def test_spot_uses_preemptible_quota_when_the_project_has_it(gcp: FakeGcp) -> None:
    quotas = gcp.project.regional_quotas["us-central1"]
    quotas[:] = [q for q in quotas if q["metric"] != "PREEMPTIBLE_CPUS"]
    quotas.append(_quota("PREEMPTIBLE_CPUS", 32, 0))
    report = _run(gcp)
    (line,) = _lines(report)
    assert line.startswith("quota: PREEMPTIBLE_CPUS in us-central1: this experiment needs 64")
    assert "C2D_CPUS" not in {row.metric for row in report.quotas}


def test_rate_limited_api_says_to_wait(gcp: FakeGcp) -> None:
    gcp.project.rate_limited.add("compute")
    lines = _lines(_run(gcp))
    assert lines
    assert all("API rate quota exhausted" in line for line in lines)
    assert all(line.endswith("fix: wait a minute and run preflight again") for line in lines)


def test_missing_compute_read_permission_is_a_clear_line(gcp: FakeGcp) -> None:
    gcp.project.granted.discard("compute.regions.get")
    lines = _lines(_run(gcp))
    assert any(line.startswith("permissions: missing compute.regions.get") for line in lines)
    (quota,) = [line for line in lines if line.startswith("quota:")]
    assert "permission denied: cannot read quotas" in quota
    assert "Required 'compute.regions.get' permission" in quota


# ------------------------------------------------------------------------------ zone


def test_a_machine_type_missing_from_the_zone(gcp: FakeGcp) -> None:
    gcp.project.machine_types["us-central1-a"].discard("c3-highcpu-192-metal")
    (line,) = _lines(_run(gcp, _config("stacks/large-200.yaml")))
    assert line.startswith(
        "zone: c3-highcpu-192-metal (snark worker servers) is not offered in us-central1-a"
    )


def test_bare_metal_needs_an_image_with_idpf(gcp: FakeGcp) -> None:
    image = gcp.project.images[("debian-cloud", "debian-12")]
    image["guestOsFeatures"] = [{"type": f} for f in IMAGE_FEATURES]
    (line,) = _lines(_run(gcp, _config("stacks/large-200.yaml")))
    assert "lacks IDPF, which c3-highcpu-192-metal needs" in line


def test_an_unknown_zone(gcp: FakeGcp) -> None:
    config = _config("Pulumi.dev.yaml", "platform.zone=us-central1-z")
    (line,) = _lines(_run(gcp, config))
    assert line.startswith("zone: zone us-central1-z does not exist")


# ------------------------------------------------------------------------------ the CLI


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = f"{HERE}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ip"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    path = pinned_copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.exp.yaml")
    text = path.read_text()
    path.write_text(text.replace("config:\n", f"config:\n  gcp:project: {PROJECT}\n", 1))
    return path


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, gcp: FakeGcp, tmp_path: Path) -> FakeGcp:
    plugin = tmp_path / "bin" / "gke-gcloud-auth-plugin"
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\nexit 0\n")
    plugin.chmod(0o755)
    monkeypatch.setenv("PATH", f"{plugin.parent}")
    monkeypatch.setenv(credentials.TOKEN_ENV, TOKEN)
    monkeypatch.setenv(credentials.API_BASE_ENV, gcp.url)
    return gcp


def test_cli_exits_0_when_ready(
    cli_env: FakeGcp, stack_file: Path, echo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--config", str(stack_file), "--ipv4-url", echo]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "C2D_CPUS" in out
    assert out.rstrip().endswith(f"project {PROJECT} is ready for `pulumi up`")


def test_cli_exits_2_with_one_line_per_problem(
    cli_env: FakeGcp, stack_file: Path, echo: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.project.enabled.discard("container.googleapis.com")
    cli_env.project.granted.discard("iam.serviceAccounts.actAs")
    assert cli.main(["--config", str(stack_file), "--ipv4-url", echo]) == 2
    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert all("; fix: " in line for line in lines)


def test_cli_without_a_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--stack", "dev"]) == 2
    _, err = capsys.readouterr()
    assert err.strip() == (
        "config: no GCP project is set; fix: pulumi config set gcp:project <your-project-id>"
    )


def test_cli_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("config:\n  mina-itn:nodes:\n    seeds: 0\n")
    assert cli.main(["--config", str(bad)]) == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("config error: ")


def test_run_preflight_returns_only_the_problems(gcp: FakeGcp) -> None:
    api = GcpApi(TOKEN, base_url=gcp.url)
    env = Environment(credentials="token", auth_plugin=True, public_ipv4=lambda: HERE)
    resources = _resources(_config())
    try:
        assert run_preflight(_config(), env, api, resources=resources) == []
        gcp.project.granted.discard("compute.disks.create")
        (problem,) = run_preflight(_config(), env, api, resources=resources)
    finally:
        api.close()
    assert problem.check == "permissions"
    assert isinstance(_config().platform, GkePlatform)


# ------------------------------------------------------------------------------ supply chain


def test_unpinned_images_and_key_are_problems_naming_the_pin_command(gcp: FakeGcp) -> None:
    lines = _lines(_run(gcp, _config(pinned=False)))
    fix = "; fix: python -m scripts.pin --stack dev --write"
    assert lines == [
        "images: images.daemon (minaprotocol/mina-daemon:4.0.0-6965b50-jammy-devnet) has no "
        f"digest, so every node pulls whatever the tag points to that day{fix}",
        "images: images.orchestrator (o1labs/mina-perf-testing:orchestrator) has no digest, so "
        f"every node pulls whatever the tag points to that day{fix}",
        "images: images.logFetcher (o1labs/mina-perf-testing:internal-trace-consumer-2.0.0) has "
        f"no digest, so every node pulls whatever the tag points to that day{fix}",
        "images: images.uptimeBackend (o1labs/mina-perf-testing:in-memory-uptime-backend) has no "
        f"digest, so every node pulls whatever the tag points to that day{fix}",
        "signing key: workerPool.minaPackage.signingKeyFingerprint is not set, so the worker VMs "
        "would trust whatever key the repository serves on their first boot; `pulumi up` with "
        "the shipped pack config refuses it (policy worker-signing-key-pinned is mandatory "
        f"there){fix}",
    ]


def test_one_unpinned_image_is_one_problem(gcp: FakeGcp) -> None:
    config = _config("Pulumi.dev.yaml", "images.orchestrator=o1labs/mina-perf-testing:v2")
    (line,) = _lines(_run(gcp, config))
    assert line.startswith("images: images.orchestrator (o1labs/mina-perf-testing:v2) has no")


def test_a_stack_without_worker_vms_needs_no_key_but_pinned_images() -> None:
    kind = _config("stacks/kind.yaml", pinned=False)
    report = preflight(kind, Environment(None, False, lambda: HERE), None, resources=[])
    assert [p.check for p in report.problems] == ["images"] * 4
    assert _config("stacks/kind.yaml").worker_pool.mina_package.signing_key_fingerprint is None
    pinned = preflight(
        _config("stacks/kind.yaml"), Environment(None, False, lambda: HERE), None, resources=[]
    )
    assert pinned.problems == []
    no_workers = _config("Pulumi.dev.yaml", "workerPool.servers=0", pinned=False)
    problems = run_preflight(no_workers, _env(), None, resources=[])
    assert "signing key" not in [p.check for p in problems]


def _env() -> Environment:
    return Environment(credentials="token", auth_plugin=True, public_ipv4=lambda: HERE)


# ------------------------------------------------------------------------------ credentials


def test_unusable_google_credentials_are_one_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """(Exchanging good credentials for a token is google-auth's job against Google's fixed
    token endpoint, which no stand-in can take the place of.)"""
    monkeypatch.delenv(credentials.TOKEN_ENV, raising=False)
    monkeypatch.setenv(
        credentials.KEY_ENV, json.dumps({"type": "authorized_user", "client_id": "x"})
    )
    token, why = credentials.access_token()
    assert token is None
    assert why is not None
    assert "\n" not in why


def test_no_credentials_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(credentials.TOKEN_ENV, raising=False)
    monkeypatch.delenv(credentials.KEY_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    token, why = credentials.access_token()
    assert token is None
    assert why is not None
    assert "missing.json" in why
