"""Pod Security of every workload the program renders: the namespace's level, and per pod and
container what the shared helper (components/security.py) promises."""

from __future__ import annotations

from typing import Any

import pytest

from components.security import BASELINE_CAPABILITIES, container_security, scanner_skips
from tests.conftest import ROOT, Rendered, render

NAMESPACE = "kubernetes:core/v1:Namespace"
WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


def renders() -> list[Rendered]:
    return [
        render("dev"),
        render(config_file=ROOT / "stacks" / "kind.yaml"),
    ]


def workloads(rendered: Rendered) -> list[dict[str, Any]]:
    return [w["inputs"] for t in WORKLOAD_TYPES for w in rendered.of_type(t)]


def skipped(workload: dict[str, Any]) -> set[str]:
    annotations = workload["metadata"].get("annotations") or {}
    return {
        value.split("=", 1)[0]
        for key, value in annotations.items()
        if key.startswith("checkov.io/skip")
    }


@pytest.mark.parametrize("index", [0, 1], ids=["dev", "kind"])
def test_namespace_enforces_baseline_and_warns_restricted(index: int) -> None:
    (namespace,) = renders()[index].of_type(NAMESPACE)
    labels = namespace["inputs"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize("index", [0, 1], ids=["dev", "kind"])
def test_every_pod_and_container_is_confined(index: int) -> None:
    for workload in workloads(renders()[index]):
        name = workload["metadata"]["name"]
        spec = workload["spec"]["template"]["spec"]
        skips = skipped(workload)
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), (name, key)
        assert not any("hostPath" in volume for volume in spec.get("volumes", [])), name
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert set(context["capabilities"].get("add", [])) <= BASELINE_CAPABILITIES, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context.get("privileged") is False, where
            if not context["readOnlyRootFilesystem"]:
                assert "CKV_K8S_22" in skips, f"{where}: writable root without a reason"
            if not context.get("runAsNonRoot"):
                assert "CKV_K8S_23" in skips, f"{where}: root without a reason"
            if container in spec["containers"]:
                if "livenessProbe" not in container:
                    assert "CKV_K8S_8" in skips, f"{where}: no liveness probe"
                if "readinessProbe" not in container:
                    assert "CKV_K8S_9" in skips, f"{where}: no readiness probe"


def test_postgres_runs_as_its_image_user_on_a_read_only_root() -> None:
    (postgres,) = [w for w in workloads(renders()[0]) if w["metadata"]["name"] == "postgres"]
    spec = postgres["spec"]["template"]["spec"]
    assert spec["securityContext"]["fsGroup"] == 999
    server = next(c for c in spec["containers"] if c["name"] == "postgres")
    assert server["securityContext"]["runAsUser"] == 999
    assert server["securityContext"]["runAsNonRoot"] is True
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in server["volumeMounts"]}
    assert {"/var/run/postgresql", "/tmp"} <= mounts
    assert not any("valueFrom" in entry for entry in server["env"])


def test_helper_refuses_capabilities_beyond_baseline_and_skips_without_reason() -> None:
    with pytest.raises(ValueError, match="SYS_ADMIN"):
        container_security(add=["SYS_ADMIN"])
    with pytest.raises(ValueError, match="reason"):
        scanner_skips({"CKV_K8S_8": " "})
    assert scanner_skips({"CKV_K8S_9": "b", "CKV_K8S_8": "a"}) == {
        "checkov.io/skip1": "CKV_K8S_8=a",
        "checkov.io/skip2": "CKV_K8S_9=b",
    }
