"""Preflight's organization-policy check against the stand-in's effective policies (v1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from minaperf.cloud.org_policy import constraint_needs
from minaperf.model.config import GkePlatform
from tests.fakes.gcp_apis import FakeGcp
from tests.scripts.test_preflight import PROJECT, _config, _lines, _resources, _run, healthy

LARGE = "stacks/large-200.yaml"
ENFORCED = {"booleanPolicy": {"enforced": True}}


@pytest.fixture
def gcp() -> Iterator[FakeGcp]:
    server = FakeGcp(healthy())
    yield server
    server.close()


def _org_lines(gcp: FakeGcp, stack: str = "Pulumi.dev.yaml", *overrides: str) -> list[str]:
    return [line for line in _lines(_run(gcp, _config(stack, *overrides))) if "org policy" in line]


def _notes(gcp: FakeGcp, stack: str = "Pulumi.dev.yaml") -> list[str]:
    report = _run(gcp, _config(stack))
    return [n for n in report.notes if n.startswith("organization policies:")]


def _needed(stack: str, *overrides: str) -> list[str]:
    config = _config(stack, *overrides)
    assert isinstance(config.platform, GkePlatform)
    return [n.constraint for n in constraint_needs(_resources(config), config.platform)]


def test_only_the_constraints_the_render_hits_are_read() -> None:
    dev = _needed("Pulumi.dev.yaml")
    assert "compute.requireShieldedVm" not in dev  # c2d VMs run with Secure Boot
    assert "compute.disableGuestAttributesAccess" in dev
    assert "compute.restrictVpcPeering" in dev
    assert "compute.requireShieldedVm" in _needed(LARGE)  # bare metal
    no_workers = _needed("Pulumi.dev.yaml", "workerPool.servers=0")
    assert "compute.disableGuestAttributesAccess" not in no_workers


def test_no_policies_set_is_no_problem(gcp: FakeGcp) -> None:
    assert _lines(_run(gcp, _config(LARGE))) == []
    assert _notes(gcp, LARGE) == []


def test_an_inherited_shielded_vm_policy_refuses_bare_metal_workers(gcp: FakeGcp) -> None:
    gcp.project.organization_policies["compute.requireShieldedVm"] = ENFORCED
    assert _org_lines(gcp) == []  # dev's VMs are Shielded VMs
    (line,) = _org_lines(gcp, LARGE)
    assert line == (
        f"org policy: constraints/compute.requireShieldedVm is enforced on {PROJECT}, but the "
        "worker VMs (c3-highcpu-192-metal) are bare metal, which cannot run as Shielded VMs; "
        "fix: have an organization policy administrator exempt my-project-1 from "
        "constraints/compute.requireShieldedVm (a project-level policy), or set "
        "workerPool.machineType to a VM (not -metal) shape"
    )
    # the project's own policy supersedes the organization's
    gcp.project.org_policies["compute.requireShieldedVm"] = {"booleanPolicy": {}}
    assert _org_lines(gcp, LARGE) == []


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("compute.disableGuestAttributesAccess", "`wait` reads the worker VMs' status"),
        ("iam.disableServiceAccountCreation", "creates the node and worker service accounts"),
    ],
)
def test_enforced_boolean_constraints(gcp: FakeGcp, constraint: str, expected: str) -> None:
    gcp.project.org_policies[constraint] = ENFORCED
    (line,) = _org_lines(gcp)
    assert line.startswith(f"org policy: constraints/{constraint} is enforced on {PROJECT}")
    assert expected in line


def test_denied_load_balancer_type(gcp: FakeGcp) -> None:
    policies = gcp.project.organization_policies
    policies["compute.restrictLoadBalancerCreationForTypes"] = {
        "listPolicy": {"deniedValues": ["EXTERNAL_NETWORK_TCP_UDP"]}
    }
    (line,) = _org_lines(gcp)
    assert line.startswith(
        "org policy: constraints/compute.restrictLoadBalancerCreationForTypes does not allow "
        f"EXTERNAL_NETWORK_TCP_UDP in {PROJECT}"
    )


def test_list_values_inherited_from_the_organization_add_up(gcp: FakeGcp) -> None:
    constraint = "compute.restrictLoadBalancerCreationForTypes"
    gcp.project.organization_policies[constraint] = {
        "listPolicy": {"allowedValues": ["is:EXTERNAL_NETWORK_TCP_UDP"]}
    }
    own = {"listPolicy": {"allowedValues": ["in:INTERNAL"], "inheritFromParent": True}}
    gcp.project.org_policies[constraint] = own
    assert _org_lines(gcp) == []
    own["listPolicy"]["inheritFromParent"] = False  # the project's list alone
    (line,) = _org_lines(gcp)
    assert "does not allow EXTERNAL_NETWORK_TCP_UDP" in line
    assert "INTERNAL_TCP_UDP" not in line


def test_resource_locations(gcp: FakeGcp) -> None:
    policies = gcp.project.organization_policies
    policies["gcp.resourceLocations"] = {"listPolicy": {"allowedValues": ["in:us-locations"]}}
    assert _org_lines(gcp) == []
    policies["gcp.resourceLocations"] = {"listPolicy": {"allowedValues": ["in:europe-locations"]}}
    (line,) = _org_lines(gcp)
    assert line.startswith(
        f"org policy: constraints/gcp.resourceLocations does not allow us-central1, "
        f"us-central1-a in {PROJECT}"
    )
    assert "fix: choose a platform.region/platform.zone the policy allows" in line
    policies["gcp.resourceLocations"] = {"listPolicy": {"allowedValues": ["in:my-own-group"]}}
    assert _org_lines(gcp) == []
    (note,) = _notes(gcp)
    assert "could not tell whether us-central1, us-central1-a is allowed" in note


def test_cmek_required_for_compute(gcp: FakeGcp) -> None:
    gcp.project.organization_policies["gcp.restrictNonCmekServices"] = {
        "listPolicy": {"deniedValues": ["compute.googleapis.com"]}
    }
    (line,) = _org_lines(gcp)
    assert line.startswith(
        f"org policy: constraints/gcp.restrictNonCmekServices requires CMEK for "
        f"compute.googleapis.com in {PROJECT}"
    )
    assert "platform.secretsKmsKey encrypts only GKE Secrets" in line


def test_vpc_peering_restricted(gcp: FakeGcp) -> None:
    gcp.project.organization_policies["compute.restrictVpcPeering"] = {
        "listPolicy": {"allowedValues": ["under:organizations/123456789"]}
    }
    (line,) = _org_lines(gcp)
    assert line.startswith(
        f"org policy: constraints/compute.restrictVpcPeering restricts VPC peering in {PROJECT}"
    )


def test_external_ip_restrictions_do_not_matter_and_say_so(gcp: FakeGcp) -> None:
    gcp.project.organization_policies["compute.vmExternalIpAccess"] = {
        "listPolicy": {"allValues": "DENY"}
    }
    assert _org_lines(gcp) == []
    assert _notes(gcp) == [
        f"organization policies: constraints/compute.vmExternalIpAccess restricts external IPs "
        f"in {PROJECT}; no VM of this stack has an external IP address (egress through Cloud NAT)"
    ]


def test_unreadable_policies_are_one_note_not_a_failure(gcp: FakeGcp) -> None:
    gcp.project.org_policy_readable = False
    gcp.project.organization_policies["compute.requireShieldedVm"] = ENFORCED
    assert _lines(_run(gcp, _config(LARGE))) == []
    (note,) = _notes(gcp, LARGE)
    assert note.startswith(
        "organization policies: could not check compute.requireShieldedVm, "
        "compute.disableGuestAttributesAccess, iam.disableServiceAccountCreation"
    )
    assert "403 PERMISSION_DENIED: The caller does not have permission" in note
    assert note.endswith("grant roles/orgpolicy.policyViewer to see them before `pulumi up` does")
    calls = [r for r in gcp.project.requests if r.endswith(":getEffectiveOrgPolicy")]
    assert len(calls) == 2  # one per run: the first 403 stops the rest
