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
from policy.runner import evaluate, pack_levels
from tests.conftest import ROOT, Rendered, render
from tests.fakes.pinned import pin_overrides
from tests.policy.test_runner import run_policies

ORGANISATION_CONFIG = {"allowPublic": False}
HALVES = ["0.0.0.0/1", "128.0.0.0/1"]
PACK_LEVELS = pack_levels(json.loads((ROOT / "policy" / "config.json").read_text()))
"""The levels of the operator's checked-in pack config (images-pinned-by-digest: advisory)."""
ALL_MANDATORY = {**PACK_LEVELS, "images-pinned-by-digest": "mandatory"}
CODE_LEVELS = pack_levels({})
"""The levels in the code (the two supply-chain policies advisory)."""
"""An operator who made the digest policy mandatory (docs/security.md: Guardrails)."""


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
    violations = run_policies(rendered.resources, config, levels=CODE_LEVELS)
    assert [f"{v.policy}: {v.urn}: {v.message}" for v in violations] == []
    # Reported, not blocking: exactly the containers whose image the stack left as a tag.
    findings = evaluate(rendered.resources, config, levels=PACK_LEVELS)
    advisories = [f for f in findings if f.level == "advisory"]
    assert advisories
    assert {f.policy for f in advisories} == {"images-pinned-by-digest"}
    assert all("without a digest" in f.message for f in advisories)
    assert all("@sha256:" not in f.message for f in advisories)
    # Not pinned yet: `pulumi up` with the shipped pack config refuses the worker VMs until
    # `scripts.pin --write` sets the signing key's fingerprint (none without worker VMs).
    refused = [f for f in findings if f.level == "mandatory"]
    templates = [r["urn"] for r in rendered.resources if r["type"] == INSTANCE]
    assert [(f.policy, f.urn) for f in refused] == [
        ("worker-signing-key-pinned", urn) for urn in templates
    ]


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


def _node_pool(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A separate NodePool, as a program without its own pools on the cluster would make: the
    dev cluster's first pool, added to the render."""
    cluster = _first(resources, CLUSTER)
    pool = {
        **cluster,
        "urn": cluster["urn"].replace("gcp:container/cluster:Cluster", NODE_POOL) + "-pool",
        "type": NODE_POOL,
        "inputs": {**copy.deepcopy(cluster["inputs"]["nodePools"][0]), "cluster": "itn-dev"},
    }
    resources.append(pool)
    return pool


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


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"


def _network_policy(name: str) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    def pick(resources: list[dict[str, Any]]) -> dict[str, Any]:
        return next(
            r
            for r in resources
            if r["type"] == NETWORK_POLICY and r["inputs"]["metadata"]["name"] == name
        )

    return pick


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
    ("no-default-service-account", "a default pool without nodeConfig",
     lambda rs: _first(rs, CLUSTER), lambda i: i.pop("nodePools"), False),
    ("no-default-service-account", "own pool as the default compute account",
     lambda rs: _first(rs, CLUSTER), lambda i: i["nodePools"][1]["nodeConfig"].update(
         serviceAccount="123456789012-compute@developer.gserviceaccount.com"), False),
    ("no-default-service-account", "node pool as the default compute account",
     lambda rs: _node_pool(rs), lambda i: i["nodeConfig"].update(
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
    ("private-cluster", "Google Cloud's public ranges on the control plane",
     lambda rs: _first(rs, CLUSTER), lambda i: i["masterAuthorizedNetworksConfig"].update(
         gcpPublicCidrsAccessEnabled=True), False),
    ("vm-access-through-os-login", "serial port", lambda rs: _first(rs, INSTANCE),
     lambda i: i["metadata"].update({"serial-port-enable": "TRUE"}), False),
    ("vm-access-through-os-login", "OS Login off", lambda rs: _first(rs, INSTANCE),
     lambda i: i["metadata"].update({"enable-oslogin": "FALSE"}), False),
    ("vm-access-through-os-login", "project keys let in", lambda rs: _first(rs, INSTANCE),
     lambda i: i["metadata"].update({"block-project-ssh-keys": "FALSE"}), False),
    ("vm-access-through-os-login", "an ssh key", lambda rs: _first(rs, INSTANCE),
     lambda i: i["metadata"].update({"ssh-keys": "me:ssh-ed25519 AAAA me"}), False),
    ("node-metadata-concealed", "own pool's metadata exposed", lambda rs: _first(rs, CLUSTER),
     lambda i: i["nodePools"][0]["nodeConfig"]["workloadMetadataConfig"].update(
         mode="GCE_METADATA"), False),
    ("node-metadata-concealed", "legacy endpoints", lambda rs: _first(rs, CLUSTER),
     lambda i: i["nodePools"][1]["nodeConfig"].setdefault("metadata", {}).update(
         {"disable-legacy-endpoints": "false"}), False),
    ("node-metadata-concealed", "node pool's metadata exposed", lambda rs: _node_pool(rs),
     lambda i: i["nodeConfig"]["workloadMetadataConfig"].update(mode="GCE_METADATA"), False),
    ("node-metadata-concealed", "default pool on the node's metadata",
     lambda rs: _first(rs, CLUSTER),
     lambda i: i.update(nodePools=[], nodeConfig={"workloadMetadataConfig": {
         "mode": "GCE_METADATA"}}), False),
    ("pod-security-baseline", "namespace without Pod Security labels",
     lambda rs: _first(rs, NAMESPACE), lambda i: i["metadata"]["labels"].pop(
         "pod-security.kubernetes.io/enforce"), False),
    ("pod-security-baseline", "namespace enforcing privileged",
     lambda rs: _first(rs, NAMESPACE), lambda i: i["metadata"]["labels"].update(
         {"pod-security.kubernetes.io/enforce": "privileged"}), False),
    ("pod-security-baseline", "container seccomp Unconfined",
     lambda rs: _first(rs, STATEFULSET), lambda i: _container({"inputs": i})[
         "securityContext"].update(seccompProfile={"type": "Unconfined"}), False),
    ("pod-security-baseline", "pod seccomp Unconfined", lambda rs: _first(rs, STATEFULSET),
     lambda i: _pod({"inputs": i}).setdefault("securityContext", {}).update(
         seccompProfile={"type": "Unconfined"}), False),
    ("pod-security-baseline", "seccomp annotation unconfined",
     lambda rs: _first(rs, STATEFULSET), lambda i: i["spec"]["template"]["metadata"].setdefault(
         "annotations", {}).update({"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
     False),
    ("pod-security-baseline", "unsafe sysctl", lambda rs: _first(rs, STATEFULSET),
     lambda i: _pod({"inputs": i}).setdefault("securityContext", {}).update(
         sysctls=[{"name": "kernel.msgmax", "value": "65536"}]), False),
    ("network-policies-name-sources", "a flow from everywhere",
     _network_policy("allow-postgres"), lambda i: i["spec"]["ingress"][0].pop("from"), False),
    ("network-policies-name-sources", "a flow from 0.0.0.0/0",
     _network_policy("allow-postgres"), lambda i: i["spec"]["ingress"][0]["from"].append(
         {"ipBlock": {"cidr": "0.0.0.0/0"}}), False),
    ("worker-signing-key-pinned", "no fingerprint", lambda rs: _first(rs, INSTANCE),
     lambda i: i["metadata"].update({"startup-script": i["metadata"]["startup-script"].replace(
         "readonly SIGNING_KEY_FINGERPRINT='" + "AB" * 20 + "'",
         "readonly SIGNING_KEY_FINGERPRINT=''")}), False),
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


def _without_network_policies(resources: list[dict[str, Any]]) -> None:
    resources[:] = [r for r in resources if r["type"] != NETWORK_POLICY]


def _allow_all(resources: list[dict[str, Any]]) -> None:
    _network_policy("default-deny-ingress")(resources)["inputs"]["spec"]["ingress"] = [{}]


def _narrowed(resources: list[dict[str, Any]]) -> None:
    spec = _network_policy("default-deny-ingress")(resources)["inputs"]["spec"]
    spec["podSelector"] = {"matchLabels": {"app.kubernetes.io/component": "postgres"}}


STACK_PLANTS = [
    ("NetworkPolicies removed", _without_network_policies, set()),
    ("default-deny turned allow-all", _allow_all, {"network-policies-name-sources"}),
    ("default-deny narrowed to one component", _narrowed, set()),
]


@pytest.mark.parametrize(
    ("plant", "also"), [pytest.param(plant, also, id=case) for case, plant, also in STACK_PLANTS]
)
def test_the_namespace_keeps_its_default_deny(plant, also) -> None:
    resources = copy.deepcopy(pinned_dev().resources)
    plant(resources)
    violations = run_policies(resources, {"allowPublic": False, "experiment": "dev"})
    namespace = _first(resources, NAMESPACE)
    assert {(v.policy, v.urn) for v in violations if v.urn == namespace["urn"]} == {
        ("network-policies-deny-by-default", namespace["urn"])
    }
    assert {v.policy for v in violations} == {"network-policies-deny-by-default", *also}


@pytest.mark.parametrize(
    "resource_type",
    [
        "kubernetes:core/v1:ReplicationController",
        "kubernetes:core/v1:PodTemplate",
        "kubernetes:core/v1:Pod",
        "kubernetes:apps/v1:ReplicaSet",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:apps/v1beta2:Deployment",
        "kubernetes:extensions/v1beta1:Deployment",
        "kubernetes:batch/v1:Job",
        "kubernetes:batch/v1:CronJob",
        "kubernetes:batch/v1beta1:CronJob",
    ],
)
def test_every_pod_template_kind_is_held_to_baseline(resource_type: str) -> None:
    """The dev render's first StatefulSet's pod template, carried by another kind, with host PID
    and seccomp Unconfined planted: the pack sees the pod in every kind."""
    resources = copy.deepcopy(pinned_dev().resources)
    template = copy.deepcopy(_first(resources, STATEFULSET)["inputs"]["spec"]["template"])
    template["spec"]["hostPID"] = True
    template["spec"].setdefault("securityContext", {})["seccompProfile"] = {"type": "Unconfined"}
    kind = resource_type.rsplit(":", 1)[-1]
    wrapped: dict[str, Any] = {"spec": {"template": template}}
    if kind == "Pod":
        wrapped = {"metadata": template["metadata"], "spec": template["spec"]}
    elif kind == "PodTemplate":
        wrapped = {"template": template}
    elif kind == "CronJob":
        wrapped = {"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template}}}}
    source = _first(resources, STATEFULSET)
    carrier = {
        **copy.deepcopy(source),
        "type": resource_type,
        "urn": source["urn"].replace(STATEFULSET, resource_type),
        "inputs": {"kind": kind, "metadata": source["inputs"]["metadata"], **wrapped},
    }
    violations = run_policies([carrier], {"allowPublic": False, "experiment": "dev"})
    assert {v.policy for v in violations} >= {"pod-security-baseline", "no-host-access"}, [
        v.message for v in violations
    ]


def test_every_policy_has_a_planted_violation() -> None:
    planted = {policy for policy, *_ in PLANTS} | {"network-policies-deny-by-default"}
    assert planted == {policy.name for policy in p.ALL_POLICIES}


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
