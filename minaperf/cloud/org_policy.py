"""Organization policy constraints a stack's render would run into, judged against the project's
effective policies (Resource Manager v1 `projects.getEffectiveOrgPolicy`).

`constraint_needs` reads the render and says, for each constraint this stack can hit, what it
needs and why; `judge` compares one need with one effective policy.
See docs/gcp-deploy.md#organization-policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from minaperf.model.config import GkePlatform
from minaperf.plan.preview import INTERNAL_LB_ANNOTATION

MULTI_REGION_GROUPS = {
    "in:us-locations": "us-",
    "in:europe-locations": "europe-",
    "in:eu-locations": "europe-",
    "in:asia-locations": "asia-",
}
"""Value groups of gcp.resourceLocations that cover whole region prefixes (Resource Manager,
"Restricting resource locations", value groups)."""


@dataclass(frozen=True)
class Need:
    """What this stack needs from one constraint."""

    constraint: str
    """Without the `constraints/` prefix, e.g. `compute.requireShieldedVm`."""
    why: str
    """What in the render needs it (shown in the problem)."""
    fix: str
    values: tuple[str, ...] = ()
    """List constraints: the values that must be allowed; empty: a boolean constraint that must
    not be enforced."""
    note_only: bool = False
    """Only say that the stack is unaffected (compute.vmExternalIpAccess)."""


@dataclass(frozen=True)
class Verdict:
    problem: str | None = None
    note: str | None = None


def _of_type(resources: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [r for r in resources if r.get("type") == kind]


def _exempt(constraint: str, project: str) -> str:
    return (
        f"have an organization policy administrator exempt {project} from "
        f"constraints/{constraint} (a project-level policy)"
    )


def _worker_vm_needs(resources: Sequence[Mapping[str, Any]], project: str) -> list[Need]:
    """The worker VMs: bare metal (no Shielded VM) and guest attributes (read by `wait`)."""
    needs: list[Need] = []
    templates = _of_type(resources, "gcp:compute/instanceTemplate:InstanceTemplate")
    unshielded = [
        t
        for t in templates
        if not ((t["inputs"].get("shieldedInstanceConfig") or {}).get("enableSecureBoot"))
    ]
    if unshielded:
        machine = unshielded[0]["inputs"].get("machineType")
        needs.append(
            Need(
                "compute.requireShieldedVm",
                f"the worker VMs ({machine}) are bare metal, which cannot run as Shielded VMs",
                f"{_exempt('compute.requireShieldedVm', project)}, or set "
                "workerPool.machineType to a VM (not -metal) shape",
            )
        )
    if any(
        str((t["inputs"].get("metadata") or {}).get("enable-guest-attributes")).upper() == "TRUE"
        for t in templates
    ):
        needs.append(
            Need(
                "compute.disableGuestAttributesAccess",
                "`wait` reads the worker VMs' status from their guest attributes",
                _exempt("compute.disableGuestAttributesAccess", project),
            )
        )
    return needs


def _load_balancer_needs(resources: Sequence[Mapping[str, Any]], project: str) -> list[Need]:
    """The passthrough load balancers GKE makes for LoadBalancer Services, by type."""
    needs: list[Need] = []
    lb_types = sorted(
        {
            "INTERNAL_TCP_UDP"
            if ((s["inputs"].get("metadata") or {}).get("annotations") or {}).get(
                INTERNAL_LB_ANNOTATION
            )
            == "Internal"
            else "EXTERNAL_NETWORK_TCP_UDP"
            for s in _of_type(resources, "kubernetes:core/v1:Service")
            if (s["inputs"].get("spec") or {}).get("type") == "LoadBalancer"
        }
    )
    if lb_types:
        needs.append(
            Need(
                "compute.restrictLoadBalancerCreationForTypes",
                "GKE makes a passthrough Network load balancer for each LoadBalancer Service "
                "(PostgreSQL's external access, the coordinator's worker endpoint)",
                f"allow these types in constraints/compute.restrictLoadBalancerCreationForTypes "
                f"for {project}",
                values=tuple(lb_types),
            )
        )
    return needs


def constraint_needs(resources: Sequence[Mapping[str, Any]], platform: GkePlatform) -> list[Need]:
    """Every constraint the rendered resources would run into, in a stable order."""
    project = platform.project
    needs = _worker_vm_needs(resources, project)
    if _of_type(resources, "gcp:serviceaccount/account:Account"):
        needs.append(
            Need(
                "iam.disableServiceAccountCreation",
                "the program creates the node and worker service accounts",
                _exempt("iam.disableServiceAccountCreation", project),
            )
        )
    services = ["compute.googleapis.com"]
    if _of_type(resources, "gcp:container/cluster:Cluster"):
        services.append("container.googleapis.com")
    if _of_type(resources, "gcp:artifactregistry/repository:Repository"):
        services.append("artifactregistry.googleapis.com")
    needs.append(
        Need(
            "gcp.restrictNonCmekServices",
            "the program's disks, cluster and repository use Google-managed encryption keys "
            "(platform.secretsKmsKey encrypts only GKE Secrets)",
            f"{_exempt('gcp.restrictNonCmekServices', project)} for these services",
            values=tuple(services),
        )
    )
    needs += _load_balancer_needs(resources, project)
    needs.append(
        Need(
            "gcp.resourceLocations",
            f"the experiment's resources live in {platform.region} ({platform.zone})",
            f"choose a platform.region/platform.zone the policy allows, or "
            f"{_exempt('gcp.resourceLocations', project)}",
            values=(platform.region, platform.zone),
        )
    )
    needs.append(
        Need(
            "compute.vmExternalIpAccess",
            "no VM of this stack has an external IP address (egress through Cloud NAT)",
            "",
            note_only=True,
        )
    )
    for cluster in _of_type(resources, "gcp:container/cluster:Cluster"):
        private = cluster["inputs"].get("privateClusterConfig") or {}
        if private.get("masterIpv4CidrBlock"):
            needs.append(
                Need(
                    "compute.restrictVpcPeering",
                    "the private cluster's control plane (masterIpv4CidrBlock) is reached over "
                    "VPC peering with a Google-managed network outside your organization",
                    _exempt("compute.restrictVpcPeering", project),
                    values=("google-managed GKE control-plane network",),
                )
            )
    return needs


def _strip(value: str) -> str:
    return value.removeprefix("is:")


def _matches(value: str, listed: Sequence[str]) -> bool | None:
    """Whether `value` is among `listed` (None: a group we cannot expand names it or not)."""
    undecided = False
    for entry in (_strip(str(item)) for item in listed):
        if entry == value:
            return True
        if entry.startswith("in:"):
            prefix = MULTI_REGION_GROUPS.get(entry)
            if entry in {f"in:{value}-locations", f"in:{value.rsplit('-', 1)[0]}-locations"}:
                return True
            if prefix is not None:
                if value.startswith(prefix):
                    return True
                continue
            if entry in {"in:INTERNAL", "in:EXTERNAL"}:
                if value.startswith(entry.removeprefix("in:") + "_"):
                    return True
                continue
            undecided = True
    return None if undecided else False


def _allowed(value: str, policy: Mapping[str, Any]) -> bool | None:
    listing = policy.get("listPolicy") or {}
    every = listing.get("allValues")
    if every == "DENY":
        return False
    if every == "ALLOW":
        return True
    if _matches(value, listing.get("deniedValues") or []):
        return False
    allowed = listing.get("allowedValues") or []
    return True if not allowed else _matches(value, allowed)


def restricts(policy: Mapping[str, Any]) -> bool:
    listing = policy.get("listPolicy") or {}
    return bool(
        listing.get("allValues") == "DENY"
        or listing.get("allowedValues")
        or listing.get("deniedValues")
    )


def judge(need: Need, policy: Mapping[str, Any], project: str) -> Verdict:
    """One need against the constraint's effective policy on the project.

    A need is a boolean constraint not enforced, or list values allowed. The policy is v1 JSON:
    `booleanPolicy {enforced}` or `listPolicy {allowedValues, deniedValues, allValues}`; values
    may carry the `is:`, `in:` or `under:` prefixes; an unset constraint comes back without
    either, or with it empty.
    """
    name = f"constraints/{need.constraint}"
    if need.note_only:
        if restricts(policy):
            return Verdict(note=f"{name} restricts external IPs in {project}; {need.why}")
        return Verdict()
    if not need.values:
        if (policy.get("booleanPolicy") or {}).get("enforced"):
            return Verdict(problem=f"{name} is enforced on {project}, but {need.why}")
        return Verdict()
    if need.constraint == "compute.restrictVpcPeering":
        if restricts(policy) and (policy.get("listPolicy") or {}).get("allValues") != "ALLOW":
            return Verdict(problem=f"{name} restricts VPC peering in {project}, but {need.why}")
        return Verdict()
    if need.constraint == "gcp.restrictNonCmekServices":
        # Listed (denied) services must use CMEK; the rest may use Google-managed keys.
        listing = policy.get("listPolicy") or {}
        forced = [
            s
            for s in need.values
            if listing.get("allValues") == "DENY" or _matches(s, listing.get("deniedValues") or [])
        ]
        if forced:
            return Verdict(
                problem=f"{name} requires CMEK for {', '.join(forced)} in {project}, but {need.why}"
            )
        return Verdict()
    refused = [v for v in need.values if _allowed(v, policy) is False]
    unknown = [v for v in need.values if _allowed(v, policy) is None]
    if refused:
        return Verdict(
            problem=f"{name} does not allow {', '.join(refused)} in {project}, but {need.why}"
        )
    if unknown:
        return Verdict(
            note=f"{name}: could not tell whether {', '.join(unknown)} is allowed in {project} "
            "(a value group preflight cannot expand); check it yourself"
        )
    return Verdict()
