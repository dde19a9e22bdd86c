"""The permission table against the real renders: every type of every shipped stack is covered."""

from __future__ import annotations

from pathlib import Path

import pytest

from minaperf.cloud.gcp_permissions import (
    PERMISSIONS_BY_TYPE,
    UnknownResourceTypeError,
    needs_no_permission,
    permissions_for,
)
from tests.conftest import ROOT, Rendered, render

SHIPPED = sorted([ROOT / "Pulumi.dev.yaml", *(ROOT / "stacks").glob("*.yaml")])
KEY = "projects/my-project-1/locations/us-central1/keyRings/itn/cryptoKeys/secrets"
OPTIONS = [("platform.dockerHubMirror=true",), (f"platform.secretsKmsKey={KEY}",)]
"""Options that add resource types to a GKE stack."""


def _renders() -> list[tuple[str, Path, tuple[str, ...]]]:
    cases = [(path.name, path, ()) for path in SHIPPED]
    cases += [(f"dev+{o[0].split('=')[0]}", ROOT / "Pulumi.dev.yaml", o) for o in OPTIONS]
    return cases


@pytest.mark.parametrize(("label", "path", "overrides"), _renders(), ids=lambda v: str(v))
def test_the_table_covers_every_rendered_type(
    label: str, path: Path, overrides: tuple[str, ...]
) -> None:
    rendered = render(config_file=path, overrides=overrides)
    cloud = {r["type"] for r in rendered.resources if not needs_no_permission(r)}
    assert cloud, label
    assert cloud <= set(PERMISSIONS_BY_TYPE), cloud - set(PERMISSIONS_BY_TYPE)
    permissions_for(rendered.resources)  # raises on a type the table lacks


@pytest.fixture(scope="module")
def dev() -> Rendered:
    return render(config_file=ROOT / "Pulumi.dev.yaml")


def test_dev_needs_what_the_program_calls_and_not_instances_create(dev: Rendered) -> None:
    wanted = permissions_for(dev.resources)
    for permission in [
        "compute.instanceTemplates.create",
        "compute.instanceGroupManagers.create",
        "compute.addresses.createInternal",
        "compute.routers.update",
        "compute.subnetworks.use",
        "container.clusters.create",
        "container.statefulSets.create",
        "iam.serviceAccounts.delete",
    ]:
        assert permission in wanted, permission
    assert "compute.instances.create" not in wanted
    assert wanted["compute.routers.update"] == [
        "update Router",
        "create RouterNat",
        "update RouterNat",
        "delete RouterNat",
    ]
    assert permissions_for(dev.resources, scope="key") == {}


def test_the_table_s_assumptions_hold_in_the_renders() -> None:
    for path in SHIPPED:
        resources = render(config_file=path).resources
        for address in (r for r in resources if r["type"] == "gcp:compute/address:Address"):
            assert address["inputs"]["addressType"] == "INTERNAL"  # createInternal row
        for service in (r for r in resources if r["type"] == "gcp:projects/service:Service"):
            assert service["inputs"]["disableOnDestroy"] is False  # empty delete row


def test_a_secrets_key_is_checked_on_the_key() -> None:
    rendered = render(
        config_file=ROOT / "Pulumi.dev.yaml", overrides=(f"platform.secretsKmsKey={KEY}",)
    )
    assert sorted(permissions_for(rendered.resources, scope="key")) == [
        "cloudkms.cryptoKeys.getIamPolicy",
        "cloudkms.cryptoKeys.setIamPolicy",
    ]
    assert "cloudkms.cryptoKeys.setIamPolicy" not in permissions_for(rendered.resources)


def test_kubernetes_objects_outside_gke_need_no_iam() -> None:
    kind = render(config_file=ROOT / "stacks" / "kind.yaml")
    assert permissions_for(kind.resources) == {}


def test_an_unknown_type_is_an_error() -> None:
    with pytest.raises(UnknownResourceTypeError, match="gcp:compute/instance:Instance"):
        permissions_for([{"type": "gcp:compute/instance:Instance", "custom": True}])


def test_every_row_cites_its_page() -> None:
    for resource_type, row in PERMISSIONS_BY_TYPE.items():
        assert row.doc.startswith("https://cloud.google.com/"), resource_type
        assert row.create, resource_type
        for permission in (*row.create, *row.update, *row.delete):
            assert permission.count(".") == 2, permission


def test_the_deploy_doc_shows_the_table() -> None:
    text = (ROOT / "docs" / "gcp-deploy.md").read_text()
    for resource_type, row in PERMISSIONS_BY_TYPE.items():
        if resource_type.startswith("kubernetes:"):
            continue
        line = next(x for x in text.splitlines() if x.startswith(f"| `{resource_type}` |"))
        for permission in (*row.create, *row.update, *row.delete):
            assert f"`{permission}`" in line, (resource_type, permission)
        assert row.doc in line
