"""Preflight's permission check follows each stack's render (minaperf.cloud.gcp_permissions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from minaperf.cloud.gcp_api import GcpApi
from minaperf.cloud.preflight import Environment, preflight
from tests.fakes.gcp_apis import TOKEN, FakeGcp
from tests.scripts.test_preflight import HERE, PROJECT, _config, _lines, _resources, _run, healthy


@pytest.fixture
def gcp() -> Iterator[FakeGcp]:
    server = FakeGcp(healthy())
    yield server
    server.close()


def _missing(gcp: FakeGcp, stack: str, *overrides: str) -> dict[str, str]:
    found = {}
    for line in _lines(_run(gcp, _config(stack, *overrides))):
        if line.startswith("permissions: missing "):
            permission = line.removeprefix("permissions: missing ").split(" ", 1)[0]
            found[permission] = line
    return found


@pytest.mark.parametrize("stack", ["Pulumi.dev.yaml", "stacks/large-200.yaml"])
def test_each_missing_permission_is_named_with_what_needs_it(gcp: FakeGcp, stack: str) -> None:
    taken = {
        "compute.instanceTemplates.create",
        "compute.instanceGroupManagers.create",
        "compute.addresses.createInternal",
        "compute.routers.update",
        "compute.subnetworks.use",
        "compute.instances.getGuestAttributes",
    }
    gcp.project.granted -= taken
    missing = _missing(gcp, stack)
    assert set(missing) == taken
    assert missing["compute.routers.update"] == (
        f"permissions: missing compute.routers.update on project {PROJECT} (to update Router, "
        "create RouterNat, update RouterNat, delete RouterNat); fix: have an owner grant you "
        f"roles/editor on {PROJECT}"
    )
    guest = missing["compute.instances.getGuestAttributes"]
    assert "(to let `wait` read the worker VMs' status)" in guest


def test_the_docker_hub_mirror_needs_artifact_registry(gcp: FakeGcp) -> None:
    """Both shipped GKE stacks set platform.dockerHubMirror; without it nothing needs the API."""
    gcp.project.granted = {p for p in gcp.project.granted if not p.startswith("artifactregistry.")}
    assert _missing(gcp, "Pulumi.dev.yaml", "platform.dockerHubMirror=false") == {}
    for stack in ("Pulumi.dev.yaml", "stacks/large-200.yaml"):
        assert sorted(_missing(gcp, stack)) == [
            "artifactregistry.repositories.create",
            "artifactregistry.repositories.delete",
            "artifactregistry.repositories.get",
            "artifactregistry.repositories.update",
        ]


def test_a_type_the_table_lacks_is_one_problem_not_a_traceback(gcp: FakeGcp) -> None:
    config = _config()
    planted = [*_resources(config), {"type": "gcp:compute/instance:Instance", "custom": True}]
    env = Environment(credentials="token", auth_plugin=True, public_ipv4=lambda: HERE)
    api = GcpApi(TOKEN, base_url=gcp.url)
    try:
        report = preflight(config, env, api, resources=planted)
    finally:
        api.close()
    (line,) = [p.line() for p in report.problems if p.check == "permissions"]
    assert line.startswith(
        "permissions: cannot tell what the render needs: gcp:compute/instance:Instance is not in "
        "minaperf.cloud.gcp_permissions.PERMISSIONS_BY_TYPE"
    )
