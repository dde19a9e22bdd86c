"""Pod Security settings every workload shares: one place decides what a container may do.

Pods run the runtime's default seccomp profile; containers drop every capability, cannot gain
privileges and have a read-only root filesystem unless their process writes to it. Callers add
back only the capabilities they need, saying why beside the call, and each scanner (checkov)
check an object cannot pass carries its reason (`scanner_skips`).
See docs/security.md#what-reaches-what-and-why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi_kubernetes as k8s

from policy.pod_security import BASELINE_CAPABILITIES

POD_SECURITY_LABELS = {
    "pod-security.kubernetes.io/enforce": "baseline",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}
"""Namespace labels: the API server refuses pods that break `baseline` (host namespaces,
privileged, extra capabilities, hostPath...) and warns about anything short of `restricted`."""

NOBODY = 65534
"""An unprivileged user for images whose process needs no account of its own."""


def pod_security(*, fs_group: int | None = None) -> k8s.core.v1.PodSecurityContextArgsDict:
    """Every pod: the container runtime's default seccomp profile. `fs_group` makes mounted
    volumes group-owned by it, for a non-root process that writes to a persistent volume."""
    context: k8s.core.v1.PodSecurityContextArgsDict = {
        "seccomp_profile": {"type": "RuntimeDefault"}
    }
    if fs_group is not None:
        context["fs_group"] = fs_group
        # Only re-chown a volume whose root is not already ours (large data disks).
        context["fs_group_change_policy"] = "OnRootMismatch"
    return context


def container_security(
    *,
    user: int | None = None,
    read_only_root: bool = True,
    add: Sequence[str] = (),
) -> k8s.core.v1.SecurityContextArgsDict:
    """A container that drops every capability and adds back only `add` (each a baseline
    capability); runs as `user` (and its group) when given, else as the image's user.

    Images that can run as an unprivileged user get one (`user`); the rest run as root, which the
    namespace's `baseline` Pod Security level allows and `restricted` warns about. Scratch space
    of a read-only root filesystem is an emptyDir."""
    unknown = sorted(set(add) - BASELINE_CAPABILITIES)
    if unknown:
        raise ValueError(f"capabilities {unknown} are not allowed under Pod Security baseline")
    capabilities: k8s.core.v1.CapabilitiesArgsDict = {"drop": ["ALL"]}
    if add:
        capabilities["add"] = sorted(add)
    context: k8s.core.v1.SecurityContextArgsDict = {
        "allow_privilege_escalation": False,
        "privileged": False,
        "capabilities": capabilities,
        "read_only_root_filesystem": read_only_root,
    }
    if user is not None:
        context["run_as_user"] = user
        context["run_as_group"] = user
        context["run_as_non_root"] = True
    return context


def scanner_skips(
    reasons: Mapping[str, str] | None = None, *, images: Sequence[str] = ()
) -> dict[str, str]:
    """`checkov.io/skip<N>: <check>=<reason>` annotations, one per check, in a stable order,
    for the scanner's checks (checkov, see `.checkov.yaml`) an object cannot pass for a real
    reason.
    `images` are the workload's images: those without a digest get the digest check skipped,
    naming them (no digest could be established for them from public sources)."""
    reasons = dict(reasons or {})
    unpinned = sorted({image for image in images if "@sha256:" not in image})
    if unpinned:
        reasons["CKV_K8S_43"] = (
            f"no public digest known for {', '.join(unpinned)}; pin it in the stack's "
            "`images` config as repo:tag@sha256:<digest> (docs/security.md#images-pinned-by-digest)"
        )
    annotations: dict[str, str] = {}
    for number, (check, reason) in enumerate(sorted(reasons.items()), start=1):
        if not check.startswith(("CKV_K8S_", "CKV2_K8S_")) or not reason.strip():
            raise ValueError(f"a skip needs a Kubernetes check id and a reason: {check!r}")
        annotations[f"checkov.io/skip{number}"] = f"{check}={reason}"
    return annotations


def container_security_args(
    *, user: int | None = None, read_only_root: bool = True, add: Sequence[str] = ()
) -> k8s.core.v1.SecurityContextArgs:
    """`container_security` for components written with the typed `...Args` classes."""
    container_security(user=user, read_only_root=read_only_root, add=add)  # same checks
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=sorted(add) or None),
        read_only_root_filesystem=read_only_root,
        run_as_user=user,
        run_as_group=user,
        run_as_non_root=True if user is not None else None,
    )


def pod_security_args() -> k8s.core.v1.PodSecurityContextArgs:
    """`pod_security` for components written with the typed `...Args` classes."""
    return k8s.core.v1.PodSecurityContextArgs(
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")
    )
