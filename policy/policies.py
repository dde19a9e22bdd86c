"""Guardrail policies for a Mina ITN experiment stack.

Everything testable lives here: pure `check_*` functions that take the wire inputs (camelCase,
numbers as floats) and return violation messages, and thin `ResourceValidationPolicy` wrappers.
Only `policy/__main__.py` builds the `PolicyPack` (constructing one starts a gRPC server that
never returns). Imports nothing outside `policy/`: the engine puts only that on `sys.path`.
See docs/security.md#guardrails-the-policy-pack.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

try:  # imported from the project (tests, scripts)
    from policy import markers
    from policy import pod_security as pss
    from policy.pod_security import BASELINE_CAPABILITIES
    from policy.ranges import public_address_count, public_width_error
except ImportError:  # run by the engine, with only this directory on sys.path
    import markers  # pyright: ignore[reportMissingImports]
    import pod_security as pss  # pyright: ignore[reportMissingImports]
    from pod_security import BASELINE_CAPABILITIES  # pyright: ignore[reportMissingImports]
    from ranges import (  # pyright: ignore[reportMissingImports]
        public_address_count,
        public_width_error,
    )

# --- contract with the program: policy/markers.py is its one home --------------------------------
# Conventions the program follows; the pack checks the experiment and expiry labels (and
# part-of on Namespaces), the ones the janitor and the policies depend on:
# * GCP resources that accept labels carry `experiment`, `expiry`, `owner` and `managed-by` labels
#   (`resourceLabels` on a GKE Cluster, `nodeConfig.resourceLabels` on a NodePool).
# * Service accounts (they take no labels) carry exactly
#   `mina-itn-experiment=<experiment>; expiry=<expiry label>` as their description, the marker the
#   janitor finds them by (policy/markers.py `own_description`).
# * Kubernetes objects carry `mina-itn/experiment`, `mina-itn/expiry`, `mina-itn/owner` and
#   `app.kubernetes.io/part-of: mina-itn` in `metadata.labels`.
# * A Service is "the PostgreSQL service" or "the dashboard service" when its `metadata.labels`
#   has `app.kubernetes.io/component` set to `postgres` or `dashboard`.
# * Expiry label values are `YYYY-MM-DD`, optionally followed by a label-safe UTC time such as
#   `_12-30` (the program's `%Y-%m-%d_%H-%M`), `t12-30z` or `t1230z` (labels cannot hold `:`).

GCP_LABEL_EXPERIMENT = markers.GCP_LABEL_EXPERIMENT
GCP_LABEL_EXPIRY = markers.GCP_LABEL_EXPIRY
GCP_LABEL_KEY = markers.GCP_LABEL_KEY
GCP_MAX_LABELS = markers.GCP_MAX_LABELS
K8S_LABEL_PART_OF = markers.K8S_PART_OF_LABEL
K8S_LABEL_EXPERIMENT = markers.K8S_EXPERIMENT_LABEL
K8S_LABEL_EXPIRY = markers.K8S_EXPIRY_LABEL
K8S_LABEL_COMPONENT = markers.K8S_COMPONENT_LABEL
SERVICE_ACCOUNT_MARKER = markers.SERVICE_ACCOUNT_MARKER

SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"

# Services with these component labels hold data or a UI and must never be open by accident.
RESTRICTED_COMPONENTS = frozenset({"postgres", "dashboard"})

# The opt-in for public ranges comes only from the policy pack's own config, which the operator
# sets (`pulumi preview --policy-pack policy --policy-pack-config policy/config.json`), never from
# the stack it guards: a stack cannot waive its own guardrail. The experiment is the stack name.
CONFIG_NAMESPACE = "mina-itn"
CONFIG_ALLOW_PUBLIC = "allowPublic"
CONFIG_EXPERIMENT = "experiment"
# A workload whose image really needs uid 0 says so per container, with the reason, in a pod
# template annotation `mina-itn/root.<container>: <why>`; runAsUser 0 anywhere else is refused.
ROOT_REASON_ANNOTATION = "mina-itn/root."

# GCP label limits (cloud.google.com/compute/docs/labeling-resources#requirements).
_GCP_LABEL_VALUE = re.compile(r"^[-_a-z0-9]{0,63}$")


# GCP types this program may create that accept labels in pulumi-gcp 10.2.0, and where the labels
# live. Firewall, Network, Subnetwork, Router, RouterNat and service accounts take none.
GCP_LABEL_PATHS: dict[str, tuple[str, ...]] = {
    "gcp:compute/instance:Instance": ("labels",),
    "gcp:compute/instanceTemplate:InstanceTemplate": ("labels",),
    "gcp:compute/disk:Disk": ("labels",),
    "gcp:compute/address:Address": ("labels",),
    "gcp:compute/globalAddress:GlobalAddress": ("labels",),
    "gcp:compute/forwardingRule:ForwardingRule": ("labels",),
    "gcp:compute/snapshot:Snapshot": ("labels",),
    "gcp:storage/bucket:Bucket": ("labels",),
    "gcp:container/cluster:Cluster": ("resourceLabels",),
    "gcp:container/nodePool:NodePool": ("nodeConfig", "resourceLabels"),
}
# `nodeConfig.labels` are Kubernetes node labels, accepted as a fallback for a NodePool.
_NODE_POOL_FALLBACK = ("nodeConfig", "labels")

FIREWALL = "gcp:compute/firewall:Firewall"
SERVICE = "kubernetes:core/v1:Service"
CLUSTER = "gcp:container/cluster:Cluster"
INSTANCE_TYPES = frozenset(
    {"gcp:compute/instance:Instance", "gcp:compute/instanceTemplate:InstanceTemplate"}
)

# Where the pod spec sits in each kind that holds one (every API group and version of the kind:
# `apps/v1beta2:Deployment` and `extensions/v1beta1:Deployment` run pods as `apps/v1` does).
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

# GKE's rule for a LoadBalancer Service (kubernetes/cloud-provider-gcp@4e24531
# providers/gce/gce_annotations.go:115-138, GetLoadBalancerAnnotationType): the class first
# (:118-122), then the first of these annotations that is present, whatever its value (:123-131),
# and only `Internal` or `internal` means internal (:44,47,133-135): `INTERNAL` is external.
_LB_TYPE_ANNOTATIONS = (
    "networking.gke.io/load-balancer-type",  # :38
    "cloud.google.com/load-balancer-type",  # :41, deprecated
)
_LB_INTERNAL_VALUES = frozenset({"Internal", "internal"})
_INTERNAL_LB_CLASSES = frozenset(
    {
        # GKE's own internal class (cloud.google.com/kubernetes-engine/docs/concepts/
        # service-load-balancer-parameters: "Internal passthrough Network Load Balancer").
        "networking.gke.io/l4-regional-internal",
        "networking.gke.io/l4-regional-internal-legacy",  # gce_annotations.go:51
    }
)
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
_INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
_INTERNAL_INGRESS_CLASS = "gce-internal"
"""GKE Ingress builds an internal Application Load Balancer only for this class annotation
(cloud.google.com/kubernetes-engine/docs/how-to/internal-load-balance-ingress); any other Ingress
is the external one, open to the internet."""
GATEWAY_KIND = "Gateway"
_INTERNAL_GATEWAY_CLASSES = frozenset(
    {"gke-l7-rilb", "gke-l7-rilb-mc", "gke-l7-cross-regional-internal-managed-mc"}
)
"""GKE's internal GatewayClasses (cloud.google.com/kubernetes-engine/docs/concepts/
gateway-api#gatewayclass); every other class of GKE's is an external load balancer."""
FORWARDING_RULES = frozenset(
    {
        "gcp:compute/forwardingRule:ForwardingRule",
        "gcp:compute/globalForwardingRule:GlobalForwardingRule",
    }
)
_INTERNAL_SCHEMES = frozenset({"INTERNAL", "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED"})
"""Forwarding rules reachable from the VPC only; an unset scheme is EXTERNAL (compute v1
forwardingRules: loadBalancingScheme, default EXTERNAL)."""
_K8S_TOKEN = re.compile(r"^kubernetes:(?P<group>[^:/]+)/(?P<version>[^:]+):(?P<kind>[A-Za-z]+)$")
_NOT_OBJECT_GROUPS = frozenset({"helm.sh", "yaml", "kustomize"})


# --- small helpers -------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Unwrap a mock-recorded secret so checks see the value, not the envelope."""
    key, signature = markers.SECRET_SIG_KEY, markers.SECRET_SIG_VALUE
    while isinstance(value, Mapping) and value.get(key) == signature:
        value = value.get("value")
    return value


def get_path(props: Mapping[str, Any] | None, path: Sequence[str]) -> Any:
    """Follow `path` through nested mappings; None when any step is missing."""
    node: Any = plain(props)
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = plain(node.get(key))
    return node


def as_list(value: Any) -> list[Any]:
    """Inputs may hold lists or the engine's list proxies; strings are never lists."""
    value = plain(value)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(item) for item in value]
    return []


def as_map(value: Any) -> Mapping[str, Any]:
    value = plain(value)
    return value if isinstance(value, Mapping) else {}


def parse_expiry(value: Any) -> dt.datetime | None:
    """Read an expiry label value; None when it is not one of the accepted forms."""
    return markers.parse_expiry_label(plain(value))


def _truthy(value: Any) -> bool:
    value = plain(value)
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def stack_config(args: ResourceValidationArgs) -> dict[str, Any]:
    """The settings policies need: the pack's own config, plus the experiment (stack) name.

    `allowPublic` is read only from the pack config; the stack's `mina-itn:access.allowPublic`
    is deliberately ignored here."""
    config = dict(args.get_config() or {})
    if not config.get(CONFIG_EXPERIMENT):
        # One stack is one experiment; the engine names the stack in PULUMI_STACK.
        value = os.environ.get("PULUMI_STACK")
        if value:
            config[CONFIG_EXPERIMENT] = value
    return config


def allow_public(config: Mapping[str, Any]) -> bool:
    return _truthy(config.get(CONFIG_ALLOW_PUBLIC, False))


def _labels_text(labels: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={plain(v)}" for k, v in sorted(labels.items())) or "none"


# --- pure checks: (resource type, inputs, config) -> violation messages ----------------------


def _too_wide(ranges: Sequence[Any]) -> str | None:
    return public_width_error(str(plain(r)) for r in ranges)


def check_public_ranges(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """No set of source ranges that covers a large part of the internet (judged on the addresses
    it covers, not its spelling) unless the operator opted in through the pack's config."""
    if allow_public(config):
        return []
    fix = (
        "list the client ranges explicitly (e.g. your office or VPN /32), or have the operator "
        f"set `{CONFIG_ALLOW_PUBLIC}: true` in the policy pack config for a deliberately public "
        "experiment"
    )
    if resource_type == FIREWALL:
        if str(plain(props.get("direction")) or "INGRESS").upper() != "INGRESS":
            return []
        ranges = as_list(props.get("sourceRanges"))
        reason = _too_wide(ranges)
        if reason:
            return [f"firewall `{name}` sourceRanges {ranges} {reason}; {fix}"]
        return []
    if resource_type == SERVICE:
        spec = as_map(props.get("spec"))
        if plain(spec.get("type")) != "LoadBalancer":
            return []
        ranges = as_list(spec.get("loadBalancerSourceRanges"))
        reason = _too_wide(ranges)
        if reason:
            return [f"Service `{name}` loadBalancerSourceRanges {ranges} {reason}; {fix}"]
        labels = as_map(get_path(props, ("metadata", "labels")))
        covered = plain(labels.get(K8S_LABEL_COMPONENT)) in RESTRICTED_COMPONENTS
        if not ranges and not covered and not is_internal_lb(props):
            return [
                f"Service `{name}` is an external LoadBalancer without "
                f"loadBalancerSourceRanges, so GKE opens it to 0.0.0.0/0; set "
                f"spec.loadBalancerSourceRanges, make it internal "
                f"(annotation networking.gke.io/load-balancer-type: Internal), or {fix}"
            ]
        return []
    if resource_type == CLUSTER:
        blocks = as_list(get_path(props, ("masterAuthorizedNetworksConfig", "cidrBlocks")))
        ranges = [plain(as_map(b).get("cidrBlock")) for b in blocks]
        reason = _too_wide(ranges)
        if reason:
            return [f"GKE cluster `{name}` master authorized networks {ranges} {reason}; {fix}"]
    return _public_l7(resource_type, name, props, fix)


def is_internal_lb(props: Mapping[str, Any]) -> bool:
    """Whether GKE builds an internal (VPC-only) load balancer for this Service, decided as GKE
    decides it (see _LB_TYPE_ANNOTATIONS): a class, if set, decides alone (any class but an
    internal one is not internal); then the first annotation present decides."""
    load_balancer_class = plain(get_path(props, ("spec", "loadBalancerClass")))
    if load_balancer_class is not None:
        return load_balancer_class in _INTERNAL_LB_CLASSES
    annotations = as_map(get_path(props, ("metadata", "annotations")))
    for key in _LB_TYPE_ANNOTATIONS:
        if key in annotations:
            return plain(annotations[key]) in _LB_INTERNAL_VALUES
    return False


def _k8s_kind(resource_type: str) -> str | None:
    match = _K8S_TOKEN.match(resource_type)
    if not match or match["group"] in _NOT_OBJECT_GROUPS:
        return None
    return match["kind"]


def _public_l7(resource_type: str, name: str, props: Mapping[str, Any], fix: str) -> list[str]:
    """Ingress, Gateway and GCP forwarding rules: internal, or (forwarding rules) limited to
    named source ranges; anything else is public."""
    if resource_type == INGRESS:
        annotations = as_map(get_path(props, ("metadata", "annotations")))
        ingress_class = plain(annotations.get(_INGRESS_CLASS_ANNOTATION))
        if ingress_class == _INTERNAL_INGRESS_CLASS:
            return []
        return [
            f"Ingress `{name}` (class {ingress_class!r}) is GKE's external Application Load "
            f"Balancer, open to the internet; annotate `{_INGRESS_CLASS_ANNOTATION}: "
            f"{_INTERNAL_INGRESS_CLASS}`, or {fix}"
        ]
    if _k8s_kind(resource_type) == GATEWAY_KIND and resource_type.startswith(
        "kubernetes:gateway.networking.k8s.io/"
    ):
        gateway_class = plain(get_path(props, ("spec", "gatewayClassName")))
        if gateway_class in _INTERNAL_GATEWAY_CLASSES:
            return []
        return [
            f"Gateway `{name}` (class {gateway_class!r}) is not one of GKE's internal classes "
            f"{sorted(_INTERNAL_GATEWAY_CLASSES)}, so it is open to the internet; use one, or {fix}"
        ]
    if resource_type in FORWARDING_RULES:
        scheme = str(plain(props.get("loadBalancingScheme")) or "EXTERNAL")
        if scheme in _INTERNAL_SCHEMES:
            return []
        ranges = as_list(props.get("sourceIpRanges"))
        reason = _too_wide(ranges) if ranges else "is not set, so every address may connect"
        if reason is None:
            return []
        return [
            f"forwarding rule `{name}` (loadBalancingScheme {scheme}) sourceIpRanges {ranges} "
            f"{reason}; make it internal, list the client ranges, or {fix}"
        ]
    return []


def check_restricted_service_ranges(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Data and UI load balancers always name their clients, even on public experiments."""
    if resource_type != SERVICE:
        return []
    labels = as_map(get_path(props, ("metadata", "labels")))
    component = plain(labels.get(K8S_LABEL_COMPONENT))
    if component not in RESTRICTED_COMPONENTS:
        return []
    if plain(get_path(props, ("spec", "type"))) != "LoadBalancer":
        return []
    ranges = as_list(get_path(props, ("spec", "loadBalancerSourceRanges")))
    if not ranges:
        return [
            f"Service `{name}` ({K8S_LABEL_COMPONENT}={component}) is a LoadBalancer without "
            "spec.loadBalancerSourceRanges; list the client CIDRs that may connect "
            "(required even when allowPublic is true)"
        ]
    reason = _too_wide(ranges)
    if reason:
        return [
            f"Service `{name}` ({K8S_LABEL_COMPONENT}={component}) loadBalancerSourceRanges "
            f"{ranges} {reason}; {component} is never public, whatever allowPublic says"
        ]
    return []


def pod_spec_path(resource_type: str) -> tuple[str, ...] | None:
    """Where a resource of this type holds its pod spec, or None if it holds none."""
    kind = _k8s_kind(resource_type)
    return POD_SPEC_PATHS.get(kind) if kind else None


def _pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = pod_spec_path(resource_type)
    if path is None:
        return None
    return as_map(get_path(props, path))


def _pod_annotations(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod's own annotations: a bare Pod's, or its template's."""
    path = pod_spec_path(resource_type) or ("spec",)
    return as_map(get_path(props, (*path[:-1], "metadata", "annotations")))


def _containers(pod_spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field, label in (("initContainers", "initContainer"), ("containers", "container")):
        for index, container in enumerate(as_list(pod_spec.get(field))):
            body = as_map(container)
            yield f"{label} `{plain(body.get('name')) or index}`", body


def _workload_containers(
    resource_type: str, props: Mapping[str, Any]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every container and initContainer of a workload; nothing for any other resource."""
    pod_spec = _pod_spec(resource_type, props)
    if pod_spec is not None:
        yield from _containers(pod_spec)


def _present(value: Any) -> bool:
    value = plain(value)
    return value is not None and str(value).strip() != ""


def check_container_resources(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Every container states cpu/memory requests and limits, so nodes are never overcommitted."""
    messages = []
    for label, container in _workload_containers(resource_type, props):
        resources = as_map(container.get("resources"))
        missing = [
            f"{section}.{kind}"
            for section in ("requests", "limits")
            for kind in ("cpu", "memory")
            if not _present(as_map(resources.get(section)).get(kind))
        ]
        if missing:
            messages.append(
                f"{label} in `{name}` has no resources {', '.join(missing)}; set "
                "resources.requests and resources.limits for cpu and memory"
            )
    return messages


def check_privileged(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """No container may gain host-level privileges."""
    messages = []
    for label, container in _workload_containers(resource_type, props):
        context = as_map(container.get("securityContext"))
        bad = [
            f"securityContext.{key}: {json.dumps(plain(context.get(key)))}"
            for key in ("privileged", "allowPrivilegeEscalation")
            if _truthy(context.get(key))
        ]
        if bad:
            messages.append(
                f"{label} in `{name}` sets {' and '.join(bad)}; remove it (or set it false)"
            )
    return messages


def check_no_public_ip(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Worker VMs reach the internet through Cloud NAT, never through their own public IP."""
    if resource_type not in INSTANCE_TYPES:
        return []
    kinds = []
    for nic in as_list(props.get("networkInterfaces")):
        nic_map = as_map(nic)
        if as_list(nic_map.get("accessConfigs")):
            kinds.append("accessConfigs")
        if as_list(nic_map.get("ipv6AccessConfigs")):
            kinds.append("ipv6AccessConfigs")
    if not kinds:
        return []
    return [
        f"instance `{name}` has networkInterfaces[].{'/'.join(sorted(set(kinds)))} (a public "
        "IP); remove them and reach the internet through Cloud NAT"
    ]


def _gcp_labels(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = as_map(get_path(props, GCP_LABEL_PATHS[resource_type]))
    if not labels and resource_type == "gcp:container/nodePool:NodePool":
        labels = as_map(get_path(props, _NODE_POOL_FALLBACK))
    return labels


def is_k8s_object(resource_type: str) -> bool:
    """A Kubernetes API object we create (not a Patch, List, Helm release or YAML group)."""
    match = _K8S_TOKEN.match(resource_type)
    if not match or match["group"] in _NOT_OBJECT_GROUPS:
        return False
    return not match["kind"].endswith(("Patch", "List"))


def check_labels(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Experiment and expiry labels let the janitor find and remove leftovers."""
    if resource_type == SERVICE_ACCOUNT:
        return _check_account_marker(name, props, config)
    if resource_type in GCP_LABEL_PATHS:
        labels = _gcp_labels(resource_type, props)
        where = ".".join(GCP_LABEL_PATHS[resource_type])
        experiment_key, expiry_key, required = GCP_LABEL_EXPERIMENT, GCP_LABEL_EXPIRY, ()
    elif is_k8s_object(resource_type):
        labels = as_map(get_path(props, ("metadata", "labels")))
        where = "metadata.labels"
        experiment_key, expiry_key = K8S_LABEL_EXPERIMENT, K8S_LABEL_EXPIRY
        # The janitor selects namespaces by this label.
        required = (K8S_LABEL_PART_OF,) if resource_type == "kubernetes:core/v1:Namespace" else ()
    else:
        return []
    problems = [
        f"missing `{key}`"
        for key in (experiment_key, expiry_key, *required)
        if not _present(labels.get(key))
    ]
    expiry = labels.get(expiry_key)
    if _present(expiry) and parse_expiry(expiry) is None:
        problems.append(f"`{expiry_key}`={plain(expiry)!r} is not YYYY-MM-DD")
    experiment = plain(config.get(CONFIG_EXPERIMENT))
    actual = plain(labels.get(experiment_key))
    if experiment and _present(actual) and str(actual) != str(experiment):
        problems.append(f"`{experiment_key}`={actual!r} but this experiment is {experiment!r}")
    if not problems:
        return []
    return [
        f"`{name}` ({resource_type}) {where}: {'; '.join(problems)} (labels: "
        f"{_labels_text(labels)}); set `{experiment_key}` to the stack's experiment and "
        f"`{expiry_key}` to its expiry date"
    ]


def _check_account_marker(
    name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """A service account takes no labels: the janitor finds a leaked one by its description."""
    description = plain(props.get("description"))
    match = SERVICE_ACCOUNT_MARKER.fullmatch(description) if isinstance(description, str) else None
    experiment = plain(config.get(CONFIG_EXPERIMENT))
    if match and (not experiment or match["experiment"] == str(experiment)):
        return []
    return [
        f"`{name}` ({SERVICE_ACCOUNT}) description={description!r} is not the janitor's marker "
        f"for this experiment; set it to 'mina-itn-experiment=<experiment>; "
        f"expiry=<YYYY-MM-DD_HH-MM>' (policy/markers.py own_description)"
    ]


def check_cluster_deletion_protection(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """A cluster that can be destroyed in one step must say when it should be."""
    if resource_type != CLUSTER:
        return []
    # The provider default is true, so only an explicit false counts.
    if plain(props.get("deletionProtection")) is not False:
        return []
    expiry = as_map(props.get("resourceLabels")).get(GCP_LABEL_EXPIRY)
    if parse_expiry(expiry) is not None:
        return []
    return [
        f"GKE cluster `{name}` has deletionProtection false but no valid resourceLabels."
        f"{GCP_LABEL_EXPIRY} (got {plain(expiry)!r}); set `{GCP_LABEL_EXPIRY}: YYYY-MM-DD` "
        "or keep deletionProtection true"
    ]


def check_host_access(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Pod Security baseline: no host namespaces, host paths or host ports."""
    pod_spec = _pod_spec(resource_type, props)
    if pod_spec is None:
        return []
    found = [
        f"{key}: true"
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if _truthy(pod_spec.get(key))
    ]
    found += [
        f"volume `{plain(as_map(v).get('name'))}` is a hostPath"
        for v in as_list(pod_spec.get("volumes"))
        if as_map(v).get("hostPath") is not None
    ]
    for label, container in _containers(pod_spec):
        for port in as_list(container.get("ports")):
            if plain(as_map(port).get("hostPort")) not in (None, 0, "0"):
                found.append(f"{label} uses hostPort {plain(as_map(port).get('hostPort'))}")
    if not found:
        return []
    return [f"`{name}` reaches into the host: {'; '.join(found)}; remove it"]


def check_capabilities(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Pod Security baseline: containers add no capability beyond the baseline list."""
    messages = []
    for label, container in _workload_containers(resource_type, props):
        added = as_list(get_path(container, ("securityContext", "capabilities", "add")))
        extra = sorted({str(plain(c)) for c in added} - BASELINE_CAPABILITIES)
        if extra:
            messages.append(
                f"{label} in `{name}` adds capabilities {extra} beyond the Pod Security "
                "baseline; drop them"
            )
    return messages


def check_root_user(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """`runAsUser: 0` only for a container whose image needs root, with the reason stated."""
    pod_spec = _pod_spec(resource_type, props)
    if pod_spec is None:
        return []
    annotations = _pod_annotations(resource_type, props)
    pod_user = plain(as_map(pod_spec.get("securityContext")).get("runAsUser"))
    messages = []
    for label, container in _containers(pod_spec):
        user = plain(as_map(container.get("securityContext")).get("runAsUser"))
        effective = pod_user if user is None else user
        container_name = plain(container.get("name"))
        reason = plain(annotations.get(f"{ROOT_REASON_ANNOTATION}{container_name}"))
        if str(effective) == "0" and not _present(reason):
            messages.append(
                f"{label} in `{name}` runs as root (runAsUser: 0); run it as a non-root uid, or "
                f"state why the image needs root in the pod annotation "
                f"`{ROOT_REASON_ANNOTATION}{container_name}`"
            )
    return messages


def check_node_exposure(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """No NodePort Service (it opens a port on every node) and no externalIPs (CVE-2020-8554)."""
    if resource_type != SERVICE:
        return []
    spec = as_map(props.get("spec"))
    found = []
    if plain(spec.get("type")) == "NodePort":
        found.append("type NodePort opens the port on every node")
    if as_list(spec.get("externalIPs")):
        found.append(f"externalIPs {as_list(spec.get('externalIPs'))} (CVE-2020-8554)")
    if not found:
        return []
    return [
        f"Service `{name}`: {'; '.join(found)}; use ClusterIP, or an internal or "
        "range-restricted LoadBalancer"
    ]


def check_firewall_sources(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """An ingress firewall names its sources: with no sourceRanges (and no source tags or service
    accounts) GCP applies it to 0.0.0.0/0."""
    if resource_type != FIREWALL:
        return []
    if str(plain(props.get("direction")) or "INGRESS").upper() != "INGRESS":
        return []
    if any(
        as_list(props.get(key)) for key in ("sourceRanges", "sourceTags", "sourceServiceAccounts")
    ):
        return []
    return [
        f"firewall `{name}` has no sourceRanges, so GCP admits 0.0.0.0/0; list the source "
        "ranges explicitly"
    ]


def check_private_cluster(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """GKE nodes have no public addresses and the control plane answers listed ranges only."""
    if resource_type != CLUSTER:
        return []
    problems = []
    if not _truthy(get_path(props, ("privateClusterConfig", "enablePrivateNodes"))):
        problems.append("nodes are not private (privateClusterConfig.enablePrivateNodes)")
    if not as_list(get_path(props, ("masterAuthorizedNetworksConfig", "cidrBlocks"))):
        problems.append(
            "the control plane has no authorized networks "
            "(masterAuthorizedNetworksConfig.cidrBlocks)"
        )
    if _truthy(get_path(props, ("masterAuthorizedNetworksConfig", "gcpPublicCidrsAccessEnabled"))):
        problems.append(
            "every Google Cloud public address may reach the control plane "
            "(masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled: true; set it false)"
        )
    if not problems:
        return []
    return [f"GKE cluster `{name}`: {'; '.join(problems)}; set them"]


def check_label_limits(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """GCP refuses more than 64 labels, or keys and values outside its character rules."""
    if resource_type not in GCP_LABEL_PATHS:
        return []
    labels = _gcp_labels(resource_type, props)
    problems = []
    if len(labels) > GCP_MAX_LABELS:
        problems.append(f"{len(labels)} labels, more than GCP's {GCP_MAX_LABELS}")
    bad_keys = sorted(str(k) for k in labels if not GCP_LABEL_KEY.match(str(k)))
    if bad_keys:
        problems.append(f"invalid keys {bad_keys[:5]}")
    bad_values = sorted(
        f"{k}={plain(v)!r}"
        for k, v in labels.items()
        if not isinstance(plain(v), str) or not _GCP_LABEL_VALUE.match(plain(v))
    )
    if bad_values:
        problems.append(f"invalid values {bad_values[:5]}")
    if not problems:
        return []
    return [
        f"`{name}` ({resource_type}) labels: {'; '.join(problems)}; keys start with a lowercase "
        "letter, keys and values hold lowercase letters, digits, '-' and '_', at most 63 "
        "characters"
    ]


NODE_POOL = "gcp:container/nodePool:NodePool"
_DEFAULT_COMPUTE_ACCOUNT = re.compile(r"^[0-9]+-compute@developer\.gserviceaccount\.com$")


def _default_account(email: Any) -> str | None:
    """Why `email` means the project's default compute account, or None if it names another.
    An unset or empty account is the default one (pulumi-gcp passes "" on; terraform-provider-
    google@e03b7622 compute/compute_instance_helpers.go:779-780 turns it into "default", and
    website/docs/r/container_cluster.html.markdown:1247-1248 says an unset node account is the
    default one)."""
    value = plain(email)
    if value is None or value == "":
        return "names no service account (GCP then uses the default compute account)"
    if value == "default" or (isinstance(value, str) and _DEFAULT_COMPUTE_ACCOUNT.match(value)):
        return f"runs as the default compute account ({value})"
    return None


def _node_configs(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(where, nodeConfig) of each pool a GKE resource makes: a cluster with `nodePools` makes
    those and no default pool; without them its `nodeConfig` is the default pool, which exists
    even when removed right after create."""
    if resource_type == NODE_POOL:
        return [("nodeConfig", props.get("nodeConfig"))]
    if resource_type != CLUSTER:
        return []
    pools = as_list(props.get("nodePools"))
    if pools:
        return [
            (f"nodePools[{index}].nodeConfig", as_map(pool).get("nodeConfig"))
            for index, pool in enumerate(pools)
        ]
    return [("nodeConfig", props.get("nodeConfig"))]


def check_service_accounts(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """VMs and GKE nodes run as an account of their own, never the project's default compute
    account (Editor on the whole project in many projects; CIS GKE 5.2.1)."""
    if resource_type in INSTANCE_TYPES:
        places = [("", get_path(props, ("serviceAccount", "email")))]
    else:
        places = [
            (f"{where}: ", get_path(as_map(node), ("serviceAccount",)))
            for where, node in _node_configs(resource_type, props)
        ]
    problems = []
    for where, email in places:
        why = _default_account(email)
        if why is not None:
            problems.append(
                f"`{name}` ({resource_type}) {where}{why}; give it the experiment's own "
                "service account"
            )
    return problems


NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEFAULT_DENY_POLICY = "default-deny-ingress"


def check_vm_access(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Worker VMs: SSH only through OS Login (IAM), never by keys in metadata, and no
    interactive serial console (it bypasses OS Login's network path)."""
    if resource_type not in INSTANCE_TYPES:
        return []
    metadata = as_map(props.get("metadata"))
    problems = [
        f"metadata {key}={plain(metadata.get(key))!r} (must be TRUE)"
        for key in ("enable-oslogin", "block-project-ssh-keys")
        if str(plain(metadata.get(key))).strip().upper() != "TRUE"
    ]
    serial = plain(metadata.get("serial-port-enable"))
    if serial is not None and str(serial).strip().upper() not in {"FALSE", "0"}:
        problems.append(f"metadata serial-port-enable={serial!r} opens the serial console")
    problems += [
        f"metadata {key} grants SSH by key, outside OS Login"
        for key in ("ssh-keys", "sshKeys")
        if key in metadata
    ]
    if not problems:
        return []
    return [f"`{name}` ({resource_type}): {'; '.join(problems)}; remove or fix them"]


def check_node_metadata(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """GKE nodes (node pools and a cluster's own or default pool) hide the node's credentials
    from pods: Workload Identity's metadata server, never the node's own, and no legacy
    endpoints."""
    problems = []
    for where, config_value in _node_configs(resource_type, props):
        node = as_map(config_value)
        mode = plain(get_path(node, ("workloadMetadataConfig", "mode")))
        if mode != "GKE_METADATA":
            problems.append(
                f"{where}.workloadMetadataConfig.mode is {mode!r}: pods could read the node's "
                "own credentials; set GKE_METADATA"
            )
        legacy = plain(as_map(node.get("metadata")).get("disable-legacy-endpoints"))
        if legacy is not None and str(legacy).strip().lower() != "true":
            problems.append(
                f"{where}.metadata disable-legacy-endpoints={legacy!r} re-opens the metadata "
                "server's legacy (v0.1, v1beta1) endpoints; remove it or set true"
            )
    if not problems:
        return []
    return [f"`{name}` ({resource_type}): {'; '.join(problems)}"]


def _seccomp_problems(
    resource_type: str, props: Mapping[str, Any], pod_spec: Mapping[str, Any]
) -> list[str]:
    problems = []
    contexts = [("the pod", as_map(pod_spec.get("securityContext")))]
    contexts += [
        (label, as_map(container.get("securityContext")))
        for label, container in _containers(pod_spec)
    ]
    for label, context in contexts:
        kind = plain(get_path(context, ("seccompProfile", "type")))
        if kind is not None and kind not in pss.BASELINE_SECCOMP_TYPES:
            problems.append(f"{label} sets seccompProfile.type {kind!r}")
    for key, value in _pod_annotations(resource_type, props).items():
        if key == pss.SECCOMP_POD_ANNOTATION or key.startswith(pss.SECCOMP_CONTAINER_ANNOTATION):
            text = str(plain(value))
            if text not in pss.BASELINE_SECCOMP_ANNOTATIONS and not text.startswith(
                pss.SECCOMP_LOCALHOST_PREFIX
            ):
                problems.append(f"annotation {key}={text!r}")
    return problems


def check_pod_security(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Pod Security baseline beyond host access and capabilities: namespaces enforce it, no pod
    runs seccomp-unconfined, no pod sets an unsafe sysctl."""
    if resource_type == NAMESPACE:
        labels = as_map(get_path(props, ("metadata", "labels")))
        level = plain(labels.get(pss.ENFORCE_LABEL))
        if level in pss.ENFORCED_LEVELS:
            return []
        return [
            f"Namespace `{name}` has {pss.ENFORCE_LABEL}={level!r}: the API server holds its "
            f"pods to no Pod Security level; label it `{pss.ENFORCE_LABEL}: baseline`"
        ]
    pod_spec = _pod_spec(resource_type, props)
    if pod_spec is None:
        return []
    problems = _seccomp_problems(resource_type, props, pod_spec)
    sysctls = [
        str(plain(as_map(entry).get("name")))
        for entry in as_list(get_path(pod_spec, ("securityContext", "sysctls")))
    ]
    unsafe = sorted(set(sysctls) - pss.BASELINE_SYSCTLS)
    if unsafe:
        problems.append(f"unsafe sysctls {unsafe} (baseline allows {sorted(pss.BASELINE_SYSCTLS)})")
    if not problems:
        return []
    return [f"`{name}` breaks Pod Security baseline: {'; '.join(problems)}; remove them"]


def check_network_policy_sources(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """A NetworkPolicy ingress rule names its sources: a rule without `from` (or with an empty
    list) admits every source (Kubernetes NetworkPolicyIngressRule), as does a /0 ipBlock."""
    if resource_type != NETWORK_POLICY:
        return []
    problems = []
    for index, rule in enumerate(as_list(get_path(props, ("spec", "ingress")))):
        peers = as_list(as_map(rule).get("from"))
        if not peers:
            problems.append(f"ingress[{index}] has no `from`: every source may connect")
        for peer in peers:
            cidr = str(plain(get_path(peer, ("ipBlock", "cidr"))))
            if cidr.endswith("/0"):
                problems.append(f"ingress[{index}] admits ipBlock {cidr}")
    if not problems:
        return []
    return [
        f"NetworkPolicy `{name}`: {'; '.join(problems)}; list the pods or ranges a flow needs "
        "(components/network_policy.py)"
    ]


def _is_default_deny(props: Mapping[str, Any]) -> bool:
    spec = as_map(props.get("spec"))
    selector = as_map(spec.get("podSelector"))
    return (
        not as_map(selector.get("matchLabels"))
        and not as_list(selector.get("matchExpressions"))
        and "Ingress" in [plain(t) for t in as_list(spec.get("policyTypes"))]
        and not as_list(spec.get("ingress"))
    )


def check_default_deny(resources: Sequence[PolicyResource]) -> list[tuple[str, str]]:
    """Every namespace the stack creates holds a NetworkPolicy that selects every pod and admits
    nothing, so a pod takes only the connections a later policy allows. (message, namespace URN)
    for each namespace without one."""
    namespaces = {
        str(plain(get_path(r.props, ("metadata", "name"))) or r.name): r.urn
        for r in resources
        if r.resource_type == NAMESPACE
    }
    denied = {
        str(plain(get_path(r.props, ("metadata", "namespace"))))
        for r in resources
        if r.resource_type == NETWORK_POLICY and _is_default_deny(r.props)
    }
    return [
        (
            f"Namespace `{namespace}` has no default-deny NetworkPolicy (podSelector {{}}, "
            f"policyTypes [Ingress], no ingress rules): every pod takes connections from "
            f"anywhere; keep `{DEFAULT_DENY_POLICY}` (components/network_policy.py)",
            urn,
        )
        for namespace, urn in sorted(namespaces.items())
        if namespace not in denied
    ]


_FINGERPRINT_SETTING = re.compile(r"^readonly SIGNING_KEY_FINGERPRINT='(?P<value>[^']*)'$", re.M)
_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")


def check_signing_key(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Worker VMs check the apt repository's signing key against a pinned fingerprint: without
    one they trust whatever key the repository serves on first boot (minaperf/shell/worker_script.py
    writes `readonly SIGNING_KEY_FINGERPRINT='...'` into the startup script)."""
    if resource_type not in INSTANCE_TYPES:
        return []
    script = plain(as_map(props.get("metadata")).get("startup-script"))
    match = _FINGERPRINT_SETTING.search(script) if isinstance(script, str) else None
    if match is None or _FINGERPRINT.match(match["value"]):
        return []
    return [
        f"`{name}` installs the Mina package with no pinned signing key fingerprint "
        "(workerPool.minaPackage.signingKeyFingerprint), so its VMs trust the first key they "
        "fetch; run `python -m scripts.pin --stack <stack> --write`"
    ]


# --- policies ------------------------------------------------------------------------------------

_PINNED_IMAGE = re.compile(r"@sha256:[0-9a-f]{64}$")


def check_image_digests(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """Every container's image is pinned by digest (`repo:tag@sha256:...`): a tag is whatever
    the registry points it to on the day a node pulls."""
    messages = []
    for label, container in _workload_containers(resource_type, props):
        image = plain(container.get("image"))
        if not isinstance(image, str) or not _PINNED_IMAGE.search(image):
            messages.append(
                f"{label} in `{name}` runs {image!r} without a digest; pin it with "
                "`python -m scripts.pin --stack <stack> --write`"
            )
    return messages


_NON_TLS_HBA = {"host", "hostnossl", "hostgssenc", "hostnogssenc"}
"""pg_hba connection types a client may match without TLS (PostgreSQL docs, "The pg_hba.conf
File": only `hostssl` requires it)."""


def _hba_address(fields: list[str]) -> tuple[str, int]:
    """The address a TCP pg_hba line names, and where its method field is: `ADDRESS/LEN METHOD`
    or `ADDRESS NETMASK METHOD`."""
    address = fields[3] if len(fields) > 3 else ""
    if "/" not in address and len(fields) > 5:
        try:
            return str(ipaddress.ip_network(f"{address}/{fields[4]}")), 5
        except ValueError:
            pass
    return address, 4


def check_pg_hba(
    resource_type: str, name: str, props: Mapping[str, Any], config: Mapping[str, Any]
) -> list[str]:
    """A `pg_hba.conf` shipped in a ConfigMap trusts nobody, and a line that admits a client
    without TLS names only non-public ranges (the cluster's own clients), never `all`,
    `samenet` or a host name."""
    if resource_type != "kubernetes:core/v1:ConfigMap":
        return []
    text = plain(as_map(plain(props.get("data"))).get("pg_hba.conf"))
    if not isinstance(text, str):
        return []
    messages = []
    for number, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"ConfigMap `{name}` pg_hba.conf line {number} `{' '.join(fields)}`"
        address, method_at = ("", 3) if fields[0] == "local" else _hba_address(fields)
        if len(fields) > method_at and fields[method_at] == "trust":
            messages.append(f"{where} trusts without a password; use scram-sha-256")
        if fields[0] not in _NON_TLS_HBA:
            continue
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            network = None
        if network is None or any(public_address_count([str(network)], v) for v in (4, 6)):
            messages.append(
                f"{where} admits clients without TLS from {address or 'nowhere named'}, which "
                "is not only the cluster's own (non-public) ranges; use hostssl for everyone else"
            )
    return messages


Check = Callable[[str, str, Mapping[str, Any], Mapping[str, Any]], list[str]]

_PACK_CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        CONFIG_ALLOW_PUBLIC: {"type": "boolean"},
        CONFIG_EXPERIMENT: {"type": "string"},
    }
)


def _validator(check: Check) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.name, args.props, stack_config(args)):
            report_violation(message, None)

    validate.__doc__ = check.__doc__
    return validate


def _policy(
    name: str,
    description: str,
    check: Check,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=_validator(check),
        enforcement_level=level,
        config_schema=_PACK_CONFIG_SCHEMA,
    )


no_public_ingress = _policy(
    "no-public-ingress",
    "Firewall sourceRanges, Service loadBalancerSourceRanges, forwarding rule sourceIpRanges and "
    "GKE master authorized networks cover at most a /16 of public addresses (however spelled); "
    "no external LoadBalancer lacks ranges, and Ingresses and Gateways are internal (as GKE "
    "decides), unless the policy pack config sets allowPublic.",
    check_public_ranges,
)
restricted_services_need_source_ranges = _policy(
    "restricted-services-need-source-ranges",
    "PostgreSQL and dashboard LoadBalancer Services (label app.kubernetes.io/component) list "
    "loadBalancerSourceRanges and are never public, whatever allowPublic says.",
    check_restricted_service_ranges,
)
containers_have_resources = _policy(
    "containers-have-resources",
    "Every container and initContainer sets cpu and memory requests and limits.",
    check_container_resources,
)
no_privileged_containers = _policy(
    "no-privileged-containers",
    "No container is privileged or allows privilege escalation (also when spelled as a string).",
    check_privileged,
)
no_host_access = _policy(
    "no-host-access",
    "Pod Security baseline: no hostNetwork, hostPID, hostIPC, hostPath volumes or hostPort.",
    check_host_access,
)
baseline_capabilities_only = _policy(
    "baseline-capabilities-only",
    "Pod Security baseline: containers add no capability beyond the baseline list.",
    check_capabilities,
)
no_needless_root = _policy(
    "no-needless-root",
    "runAsUser 0 only for containers whose need for root is stated in an annotation.",
    check_root_user,
)
no_node_exposure = _policy(
    "no-node-exposure",
    "No NodePort Services and no Service externalIPs.",
    check_node_exposure,
)
firewall_names_sources = _policy(
    "firewall-names-sources",
    "Ingress firewalls list their sources (GCP's default is 0.0.0.0/0).",
    check_firewall_sources,
)
private_cluster = _policy(
    "private-cluster",
    "GKE clusters have private nodes and master authorized networks, without Google Cloud's "
    "public ranges (gcpPublicCidrsAccessEnabled).",
    check_private_cluster,
)
gcp_label_limits = _policy(
    "gcp-label-limits",
    "At most 64 GCP labels per resource, keys and values within GCP's character rules.",
    check_label_limits,
)
no_default_service_account = _policy(
    "no-default-service-account",
    "GCE instances, instance templates, GKE clusters (their own or default pool) and node pools "
    "run as a named service account, never the project's default compute account.",
    check_service_accounts,
)
no_vm_public_ip = _policy(
    "no-vm-public-ip",
    "GCE instances have no accessConfigs (no public IP).",
    check_no_public_ip,
)
experiment_labels = _policy(
    "experiment-labels",
    "Labelled GCP resources and all Kubernetes objects carry experiment and expiry labels; "
    "service accounts carry the janitor's experiment/expiry marker as their description.",
    check_labels,
)
# Advisory until every stack pins its images (`python -m scripts.pin --write`); an operator makes
# it mandatory in the pack config (policy/config.json), as for any policy.
images_pinned_by_digest = _policy(
    "images-pinned-by-digest",
    "Every container image carries a digest (`repo:tag@sha256:...`).",
    check_image_digests,
    EnforcementLevel.ADVISORY,
)
pg_hba_trusts_nobody = _policy(
    "pg-hba-trusts-nobody",
    "A pg_hba.conf in a ConfigMap has no trust line, and no line that admits without TLS "
    "(host, hostnossl) for anything but non-public ranges (the cluster's own clients).",
    check_pg_hba,
)
vm_access_through_os_login = _policy(
    "vm-access-through-os-login",
    "GCE instances and templates: enable-oslogin and block-project-ssh-keys TRUE, no ssh-keys "
    "metadata, no serial-port-enable.",
    check_vm_access,
)
node_metadata_concealed = _policy(
    "node-metadata-concealed",
    "GKE node pools and a cluster's own or default pool use workloadMetadataConfig GKE_METADATA "
    "and never re-enable the metadata server's legacy endpoints.",
    check_node_metadata,
)
pod_security_baseline = _policy(
    "pod-security-baseline",
    "Namespaces enforce Pod Security baseline (or restricted); no pod of any pod-template kind "
    "runs seccomp Unconfined or sets an unsafe sysctl.",
    check_pod_security,
)
# Advisory in the code, mandatory in the shipped pack config (policy/config.json): `pulumi up`
# with that config needs the fingerprint `scripts.pin --write` sets.
worker_signing_key_pinned = _policy(
    "worker-signing-key-pinned",
    "Worker VM templates and instances check the apt signing key against a pinned fingerprint.",
    check_signing_key,
    EnforcementLevel.ADVISORY,
)
network_policy_sources = _policy(
    "network-policies-name-sources",
    "Every NetworkPolicy ingress rule names its sources (no allow-all rule, no /0 ipBlock).",
    check_network_policy_sources,
)


def _validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for message, urn in check_default_deny(args.resources):
        report_violation(message, urn)


network_policies_deny_by_default = StackValidationPolicy(
    name="network-policies-deny-by-default",
    description="Every namespace the stack creates holds a default-deny ingress NetworkPolicy.",
    validate=_validate_stack,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_PACK_CONFIG_SCHEMA,
)
cluster_deletion_protection_needs_expiry = _policy(
    "cluster-deletion-protection-needs-expiry",
    "A GKE cluster may turn deletionProtection off only when it carries an expiry label.",
    check_cluster_deletion_protection,
)

ALL_POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    no_public_ingress,
    restricted_services_need_source_ranges,
    containers_have_resources,
    no_privileged_containers,
    no_host_access,
    baseline_capabilities_only,
    no_needless_root,
    no_node_exposure,
    firewall_names_sources,
    private_cluster,
    gcp_label_limits,
    no_vm_public_ip,
    no_default_service_account,
    experiment_labels,
    cluster_deletion_protection_needs_expiry,
    vm_access_through_os_login,
    node_metadata_concealed,
    pod_security_baseline,
    network_policy_sources,
    network_policies_deny_by_default,
    worker_signing_key_pinned,
    images_pinned_by_digest,
    pg_hba_trusts_nobody,
]
