"""The policy pack over what the real program registers, as `pulumi preview` would run it.

Every policy must be able to fire: each one gets a planted violation built from the dev render
(one real record, changed the way a careless edit would change it), and the untouched renders have
none at all.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from policy import policies as p
from policy.runner import evaluate, pack_levels, run_policies
from tests.conftest import ROOT, Rendered, render
from tests.fakes.pinned import pin_overrides

ORGANISATION_CONFIG = {"allowPublic": False}
HALVES = ["0.0.0.0/1", "128.0.0.0/1"]
PACK_LEVELS = pack_levels(json.loads((ROOT / "policy" / "config.json").read_text()))
"""The levels of the operator's checked-in pack config (images-pinned-by-digest: advisory)."""
ALL_MANDATORY = {**PACK_LEVELS, "images-pinned-by-digest": "mandatory"}
"""An operator who made the digest policy mandatory (README: Guardrails)."""


def pinned_dev() -> Rendered:
    """The dev stack as `scripts.pin --write` leaves it."""
    return render("dev", overrides=pin_overrides(ROOT / "Pulumi.dev.yaml"))


@pytest.mark.parametrize(
    "stack",
    [
        pytest.param(lambda: render("dev"), id="dev"),
        pytest.param(lambda: render(config_file=ROOT / "stacks" / "kind.yaml"), id="kind"),
        pytest.param(
            lambda: render(config_file=ROOT / "stacks" / "large-200.yaml"), id="large-200"
        ),
    ],
)
def test_safe_stacks_pass_every_policy(stack) -> None:
    rendered: Rendered = stack()
    config = {**ORGANISATION_CONFIG, "experiment": rendered.run.stack}
    violations = run_policies(rendered.resources, config, levels=PACK_LEVELS)
    assert [f"{v.policy}: {v.urn}: {v.message}" for v in violations] == []
    # Reported, not blocking: exactly the containers whose image the stack left as a tag.
    findings = evaluate(rendered.resources, config, levels=PACK_LEVELS)
    advisories = [f for f in findings if f.level == "advisory"]
    assert advisories
    assert {f.policy for f in advisories} == {"images-pinned-by-digest"}
    assert all("without a digest" in f.message for f in advisories)
    assert all("@sha256:" not in f.message for f in advisories)


def test_a_pinned_stack_has_no_finding_even_with_the_digest_policy_mandatory() -> None:
    rendered = pinned_dev()
    config = {**ORGANISATION_CONFIG, "experiment": "dev"}
    assert evaluate(rendered.resources, config, levels=ALL_MANDATORY) == []


def test_a_stacks_own_opt_in_does_not_waive_the_organisations_policy() -> None:
    # The stack sets access.allowPublic and opens its control plane to both halves of the
    # internet; the config check lets it through (the stack opted in), the pack does not.
    rendered = render(config_file=ROOT / "tests" / "data" / "stacks" / "unsafe.yaml")
    violations = run_policies(rendered.resources, {**ORGANISATION_CONFIG, "experiment": "unsafe"})
    assert [(v.policy, v.resource_type) for v in violations] == [
        ("no-public-ingress", "gcp:container/cluster:Cluster")
    ], [v.message for v in violations]
    assert "public IPv4 addresses" in violations[0].message
    operator_opt_in = {"allowPublic": True, "experiment": "unsafe"}
    assert run_policies(rendered.resources, operator_opt_in) == []


# --- planted violations ---------------------------------------------------------------------


def _first(resources: list[dict[str, Any]], kind: str, **labels: str) -> dict[str, Any]:
    for record in resources:
        record_labels = ((record["inputs"].get("metadata") or {}).get("labels")) or {}
        if record["type"] == kind and all(record_labels.get(k) == v for k, v in labels.items()):
            return record
    raise AssertionError(f"the dev render has no {kind} {labels}")


def _pod(record: dict[str, Any]) -> dict[str, Any]:
    return record["inputs"]["spec"]["template"]["spec"]


def _container(record: dict[str, Any]) -> dict[str, Any]:
    return _pod(record)["containers"][0]


STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SERVICE = "kubernetes:core/v1:Service"
FIREWALL = "gcp:compute/firewall:Firewall"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
INSTANCE = "gcp:compute/instanceTemplate:InstanceTemplate"
"""The worker VMs' definition (a MIG creates the instances from it)."""


def _lb(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return next(
        r
        for r in resources
        if r["type"] == SERVICE
        and (r["inputs"].get("spec") or {}).get("type") == "LoadBalancer"
        and r["inputs"]["metadata"]["labels"].get("app.kubernetes.io/component") == "postgres"
    )


def _hba(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return _first(
        resources, "kubernetes:core/v1:ConfigMap", **{"app.kubernetes.io/component": "postgres"}
    )


def _set_hba(inputs: dict[str, Any], change: Callable[[str], str]) -> None:
    inputs["data"]["pg_hba.conf"] = change(inputs["data"]["pg_hba.conf"])


Plant = Callable[[dict[str, Any]], None]
PLANTS: list[tuple[str, str, Callable[[list[dict[str, Any]]], dict[str, Any]], Plant, bool]] = [
    # (policy, case, which record, how to break it, operator opted in to public ranges)
    ("no-public-ingress", "internet halves on a firewall", lambda rs: _first(rs, FIREWALL),
     lambda i: i.update(sourceRanges=HALVES), False),
    ("no-public-ingress", "many /9s on the control plane", lambda rs: _first(rs, CLUSTER),
     lambda i: i["masterAuthorizedNetworksConfig"].update(
         cidrBlocks=[{"cidrBlock": f"{n}.0.0.0/9"} for n in range(11, 60, 2)]), False),
    ("restricted-services-need-source-ranges", "PostgreSQL open even with the opt-in", _lb,
     lambda i: i["spec"].update(loadBalancerSourceRanges=["0.0.0.0/2", "64.0.0.0/2"]), True),
    ("restricted-services-need-source-ranges", "PostgreSQL without ranges", _lb,
     lambda i: i["spec"].pop("loadBalancerSourceRanges"), True),
    ("containers-have-resources", "no limits", lambda rs: _first(rs, STATEFULSET),
     lambda i: _container({"inputs": i})["resources"].pop("limits"), False),
    ("no-privileged-containers", "privileged as a string", lambda rs: _first(rs, STATEFULSET),
     lambda i: _container({"inputs": i})["securityContext"].update(privileged="true"), False),
    ("no-host-access", "hostPID", lambda rs: _first(rs, STATEFULSET),
     lambda i: _pod({"inputs": i}).update(hostPID=True), False),
    ("no-host-access", "hostNetwork", lambda rs: _first(rs, STATEFULSET),
     lambda i: _pod({"inputs": i}).update(hostNetwork=True), False),
    ("no-host-access", "hostIPC", lambda rs: _first(rs, STATEFULSET),
     lambda i: _pod({"inputs": i}).update(hostIPC=True), False),
    ("no-host-access", "hostPath", lambda rs: _first(rs, STATEFULSET),
     lambda i: _pod({"inputs": i}).setdefault("volumes", []).append(
         {"name": "host", "hostPath": {"path": "/"}}), False),
    ("baseline-capabilities-only", "NET_ADMIN", lambda rs: _first(rs, STATEFULSET),
     lambda i: _container({"inputs": i})["securityContext"].update(
         capabilities={"drop": ["ALL"], "add": ["CHOWN", "NET_ADMIN"]}), False),
    ("no-needless-root", "runAsUser 0", lambda rs: _first(rs, STATEFULSET),
     lambda i: _container({"inputs": i})["securityContext"].update(runAsUser=0), False),
    ("no-node-exposure", "NodePort", lambda rs: _first(rs, SERVICE),
     lambda i: i["spec"].update(type="NodePort"), False),
    ("no-node-exposure", "externalIPs", lambda rs: _first(rs, SERVICE),
     lambda i: i["spec"].update(externalIPs=["198.51.100.7"]), False),
    ("firewall-names-sources", "no sourceRanges", lambda rs: _first(rs, FIREWALL),
     lambda i: i.pop("sourceRanges"), False),
    ("private-cluster", "public nodes", lambda rs: _first(rs, CLUSTER),
     lambda i: i["privateClusterConfig"].update(enablePrivateNodes=False), False),
    ("private-cluster", "no authorized networks", lambda rs: _first(rs, CLUSTER),
     lambda i: i.pop("masterAuthorizedNetworksConfig"), False),
    ("gcp-label-limits", "65 labels", lambda rs: _first(rs, INSTANCE),
     lambda i: i["labels"].update({f"extra-{n}": "x" for n in range(61)}), False),
    ("gcp-label-limits", "bad characters", lambda rs: _first(rs, INSTANCE),
     lambda i: i["labels"].update({"team": "Platform.Team"}), False),
    ("no-vm-public-ip", "access config", lambda rs: _first(rs, INSTANCE),
     lambda i: i["networkInterfaces"][0].update(accessConfigs=[{}]), False),
    ("no-default-service-account", "VM template without an account",
     lambda rs: _first(rs, INSTANCE), lambda i: i.pop("serviceAccount"), False),
    ("no-default-service-account", "default pool without nodeConfig",
     lambda rs: _first(rs, CLUSTER), lambda i: i.pop("nodeConfig"), False),
    ("no-default-service-account", "node pool as the default compute account",
     lambda rs: _first(rs, NODE_POOL), lambda i: i["nodeConfig"].update(
         serviceAccount="123456789012-compute@developer.gserviceaccount.com"), False),
    ("no-default-service-account", "template with email 'default'",
     lambda rs: _first(rs, INSTANCE), lambda i: i["serviceAccount"].update(email="default"),
     False),
    ("experiment-labels", "no experiment label", lambda rs: _first(rs, INSTANCE),
     lambda i: i["labels"].pop("experiment"), False),
    ("experiment-labels", "service account without the janitor's marker",
     lambda rs: _first(rs, p.SERVICE_ACCOUNT), lambda i: i.pop("description"), False),
    ("experiment-labels", "service account marked for another experiment",
     lambda rs: _first(rs, p.SERVICE_ACCOUNT), lambda i: i.update(
         description="mina-itn-experiment=exp-old; expiry=2030-06-01_06-00"), False),
    ("cluster-deletion-protection-needs-expiry", "no expiry", lambda rs: _first(rs, CLUSTER),
     lambda i: i["resourceLabels"].pop("expiry"), False),
    ("pg-hba-trusts-nobody", "a trust line", _hba,
     lambda i: _set_hba(i, lambda t: t.replace("scram-sha-256", "trust", 1)),
     False),
    ("pg-hba-trusts-nobody", "no TLS from anywhere", _hba,
     lambda i: _set_hba(i, lambda t: t + "host logs postgres 0.0.0.0/0 scram-sha-256\n"), False),
    ("pg-hba-trusts-nobody", "no TLS for `all` addresses", _hba,
     lambda i: _set_hba(i, lambda t: t + "host all all all scram-sha-256\n"), False),
    ("pg-hba-trusts-nobody", "no TLS by address and netmask", _hba,
     lambda i: _set_hba(i, lambda t: t + "hostnossl all all 0.0.0.0 0.0.0.0 scram-sha-256\n"),
     False),
    ("images-pinned-by-digest", "a tag without its digest", lambda rs: _first(rs, STATEFULSET),
     lambda i: _container({"inputs": i}).update(
         image=_container({"inputs": i})["image"].split("@")[0]), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "pick", "plant", "opted_in"),
    [pytest.param(policy, pick, plant, opt, id=f"{policy}: {case}")
     for policy, case, pick, plant, opt in PLANTS],
)  # fmt: skip
def test_every_policy_fires_on_a_planted_violation(policy, pick, plant, opted_in) -> None:
    resources = copy.deepcopy(pinned_dev().resources)
    target = pick(resources)
    plant(target["inputs"])
    config = {"allowPublic": opted_in, "experiment": "dev"}
    violations = run_policies(resources, config, levels=ALL_MANDATORY)
    assert policy in {v.policy for v in violations if v.urn == target["urn"]}, [
        f"{v.policy}: {v.message}" for v in violations
    ]
    assert {v.urn for v in violations} == {target["urn"]}


def test_every_policy_has_a_planted_violation() -> None:
    assert {policy for policy, *_ in PLANTS} == {policy.name for policy in p.ALL_POLICIES}


def test_an_unpinned_image_is_advisory_by_default_and_mandatory_when_the_operator_says_so() -> None:
    resources = copy.deepcopy(pinned_dev().resources)
    target = _first(resources, STATEFULSET)
    container = _container(target)
    container["image"] = container["image"].split("@")[0]
    config = {**ORGANISATION_CONFIG, "experiment": "dev"}
    assert run_policies(resources, config, levels=PACK_LEVELS) == []
    (finding,) = evaluate(resources, config, levels=PACK_LEVELS)
    assert (finding.policy, finding.level, finding.urn) == (
        "images-pinned-by-digest",
        "advisory",
        target["urn"],
    )
    assert f"runs {container['image']!r} without a digest" in finding.message
    operator = pack_levels({"images-pinned-by-digest": {"enforcementLevel": "mandatory"}})
    assert [v.policy for v in run_policies(resources, config, levels=operator)] == [
        "images-pinned-by-digest"
    ]
