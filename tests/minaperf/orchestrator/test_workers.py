"""The `wait` check for snark workers, against a Compute v1 stand-in and the fake kubectl."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minaperf.cloud.gcp_api import GcpApi
from minaperf.model.outputs import StackOutputs, parse_outputs
from minaperf.orchestrator.readiness import CheckFailedError, ClusterUnreachableError
from minaperf.orchestrator.workers import (
    GUEST_ATTRIBUTES_NAMESPACE,
    gce_worker_check,
    worker_pool_check,
)
from tests.fakes.gcp_apis import TOKEN
from tests.fakes.gcp_workers import FakeVm, FakeWorkerCompute, WorkerProject
from tests.fakes.outputs_fixture import make_outputs

FAKE_KUBECTL = str(Path(__file__).parents[2] / "fakes" / "fake_kubectl.py")
ZONE = "us-central1-a"
GROUP = "exp1-snark-workers"
NOW = 1_800_000_000.0
VERSION = "4.0.0-6965b50"


def gce_outputs(servers: int = 3, processes: int = 4) -> StackOutputs:
    data = make_outputs()
    data["platform"] = "gke"
    data["workerPool"] = {
        "kind": "gce",
        "servers": servers,
        "machineType": "c2d-highcpu-32",
        "processesPerServer": processes,
        "coordinatorAddress": "10.10.4.7:8301",
        "group": GROUP,
        "project": "my-project-1",
        "zone": ZONE,
        "packageVersion": VERSION,
    }
    return parse_outputs(data)


def published(
    running: int = 4,
    connected: int = 4,
    *,
    configured: int = 4,
    age: float = 10,
    version: str = VERSION,
) -> dict[str, dict[str, str]]:
    """What snark-worker-status.sh PUTs into the VM's guest attributes."""
    return {
        GUEST_ATTRIBUTES_NAMESPACE: {
            "configured": str(configured),
            "running": str(running),
            "connected": str(connected),
            "version": version,
            "updated": str(int(NOW - age)),
        }
    }


@pytest.fixture
def compute() -> Iterator[tuple[WorkerProject, GcpApi]]:
    project = WorkerProject(
        granted={"compute.instanceGroupManagers.get", "compute.instances.getGuestAttributes"},
        enabled={"compute.googleapis.com"},
    )
    server = FakeWorkerCompute(project)
    api = GcpApi(TOKEN, base_url=server.url)
    yield project, api
    api.close()
    server.close()


def run(outputs: StackOutputs, api: Any) -> tuple[bool, str]:
    status = gce_worker_check(outputs, api, clock=lambda: NOW)()
    return status.ok, status.line


def test_all_workers_running_and_connected(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm(f"exp1-snark-worker-{c}", attributes=published()) for c in "abc"
    ]
    ok, line = run(gce_outputs(), api)
    assert ok, line
    assert line == ("12/12 worker processes running, 12/12 connected to the coordinator on 3 VMs")


def test_counts_and_names_every_vm_that_falls_short(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", attributes=published()),
        FakeVm("exp1-snark-worker-bbbb", attributes=published(running=4, connected=1)),
        # a reclaimed Spot VM the group is recreating
        FakeVm("exp1-snark-worker-cccc", status="STOPPING", action="RECREATING"),
    ]
    ok, line = run(gce_outputs(), api)
    assert not ok
    assert line.startswith("8/12 worker processes running, 5/12 connected to the coordinator; ")
    assert "exp1-snark-worker-bbbb: 1/4 connected" in line
    assert "exp1-snark-worker-cccc: VM stopping, recreating" in line
    assert "aaaa" not in line


def test_a_vm_not_created_yet_and_a_short_group(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", attributes=published()),
        FakeVm("exp1-snark-worker-bbbb", status=None, action="CREATING"),
    ]
    ok, line = run(gce_outputs(), api)
    assert not ok
    assert "1 of 3 VMs not in group exp1-snark-workers" in line
    assert "exp1-snark-worker-bbbb: VM not created yet, creating" in line


STOCKOUT = (
    "ZONE_RESOURCE_POOL_EXHAUSTED",
    "The zone 'projects/my-project-1/zones/us-central1-a' does not have enough resources "
    "available to fulfill the request.  Try a different zone, or try again later.",
)
QUOTA = ("QUOTA_EXCEEDED", "Quota 'C3_CPUS' exceeded.  Limit: 24.0 in region us-central1.")
SHIELDED = (
    "CONDITION_NOT_MET",
    "Constraint constraints/compute.requireShieldedVm violated for project 123456789012. "
    "Secure Boot is not enabled in the 'shielded_instance_config' field.",
)
MACHINE = (
    "INVALID_FIELD_VALUE",
    "Invalid value for field 'resource.machineType': 'zones/us-central1-a/machineTypes/"
    "c3-highcpu-192-metal'. Machine type with name 'c3-highcpu-192-metal' does not exist in "
    "zone 'us-central1-a'.",
)


def test_a_transient_creation_error_is_shown_and_waited_on(
    compute: tuple[WorkerProject, GcpApi],
) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", attributes=published()),
        # the group's latest attempt is the last error
        FakeVm("exp1-snark-worker-bbbb", status=None, action="CREATING", errors=[QUOTA, STOCKOUT]),
        FakeVm("exp1-snark-worker-cccc", status=None, action="CREATING", errors=[QUOTA]),
    ]
    ok, line = run(gce_outputs(), api)
    assert not ok
    assert (
        "exp1-snark-worker-bbbb: VM not created yet, creating: ZONE_RESOURCE_POOL_EXHAUSTED: "
        "The zone 'projects/my-project-1/zones/us-central1-a' does not have enough resources"
    ) in line
    assert (
        "exp1-snark-worker-cccc: VM not created yet, creating: QUOTA_EXCEEDED: Quota 'C3_CPUS' "
        "exceeded.  Limit: 24.0 in region us-central1."
    ) in line


@pytest.mark.parametrize("error", [SHIELDED, MACHINE], ids=["org policy", "machine type"])
def test_a_permanent_creation_error_ends_the_wait(
    compute: tuple[WorkerProject, GcpApi], error: tuple[str, str]
) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", status=None, action="CREATING", errors=[STOCKOUT]),
        FakeVm("exp1-snark-worker-bbbb", status=None, action="CREATING", errors=[error]),
        FakeVm("exp1-snark-worker-cccc", status=None, action="CREATING", errors=[error]),
    ]
    with pytest.raises(CheckFailedError) as caught:
        run(gce_outputs(), api)
    message = str(caught.value)
    assert message.startswith(
        f"snark workers: Compute refuses to create exp1-snark-worker-bbbb in group {GROUP} "
        f"({error[0]}: {error[1]}); retrying will not help"
    )
    assert message.endswith("(+1 more VMs refused)")


def test_a_vm_that_published_nothing_yet(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [FakeVm("exp1-snark-worker-aaaa")]
    ok, line = run(gce_outputs(servers=1), api)
    assert not ok
    assert "exp1-snark-worker-aaaa: no status published yet (startup script running?)" in line


def test_a_stale_report_does_not_count(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", attributes=published(age=600))
    ]
    ok, line = run(gce_outputs(servers=1), api)
    assert not ok
    assert line.startswith("0/4 worker processes running")
    assert "status is 600s old" in line


def test_a_vm_of_another_build_or_shape_is_named(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", attributes=published(version="3.0.0", configured=2)),
    ]
    ok, line = run(gce_outputs(servers=1), api)
    assert not ok
    assert "configured for 2 processes, stack says 4" in line
    assert f"runs package 3.0.0, stack says {VERSION}" in line


def test_pages_through_a_large_group(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm(f"exp1-snark-worker-{i:04d}", attributes=published(running=1, connected=1,
                                                                   configured=1))
        for i in range(60)
    ]  # fmt: skip
    members = api.managed_instances("my-project-1", ZONE, GROUP)
    assert len(members) == 60
    ok, line = run(gce_outputs(servers=60, processes=1), api)
    assert ok, line


def test_missing_group_and_missing_permission(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    ok, line = run(gce_outputs(), api)
    assert not ok
    assert "group exp1-snark-workers unreadable (404" in line
    project.groups[(ZONE, GROUP)] = [FakeVm("exp1-snark-worker-aaaa", attributes=published())]
    project.granted.discard("compute.instances.getGuestAttributes")
    ok, line = run(gce_outputs(servers=1), api)
    assert not ok
    assert "status unreadable (403" in line
    assert "compute.instances.getGuestAttributes" in line


def test_rejected_credentials_end_the_wait(compute: tuple[WorkerProject, GcpApi]) -> None:
    project, api = compute
    project.groups[(ZONE, GROUP)] = []
    server_url = api._hosts["compute"]  # pyright: ignore[reportPrivateUsage]
    wrong = GcpApi("expired-token", base_url=server_url)
    try:
        with pytest.raises(ClusterUnreachableError, match="401"):
            run(gce_outputs(), wrong)
    finally:
        wrong.close()


# ------------------------------------------------------------------------------ pods


def worker_pod(name: str, ready: bool, *, component: str = "snark-worker") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": component}},
        "status": {
            "phase": "Running" if ready else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


@pytest.fixture
def pods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pods.json"
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(path))
    return path


def pod_outputs(servers: int) -> StackOutputs:
    data = make_outputs()
    data["workerPool"] = {**data["workerPool"], "servers": servers, "deployment": "snark-workers"}
    return parse_outputs(data)


def no_compute() -> Any:
    raise AssertionError("the pods check must not ask Compute")


def test_pods_ready_count_and_names(pods: Path) -> None:
    pods.write_text(
        json.dumps(
            {
                "items": [
                    worker_pod("snark-workers-1", True),
                    worker_pod("snark-workers-2", False),
                    worker_pod("seed-1-0", True, component="mina-daemon"),
                ]
            }
        )
    )
    check = worker_pool_check(pod_outputs(3), FAKE_KUBECTL, no_compute)
    assert check is not None
    status = check()
    assert not status.ok
    assert status.line.startswith("1/3 worker pods ready (2/6 processes); ")
    assert "1 of 3 pods not created" in status.line
    assert "snark-workers-2: not ready (pending)" in status.line


def test_pods_all_ready(pods: Path) -> None:
    pods.write_text(json.dumps({"items": [worker_pod("snark-workers-1", True)]}))
    check = worker_pool_check(pod_outputs(1), FAKE_KUBECTL, no_compute)
    assert check is not None
    assert check().ok


def test_no_check_without_workers() -> None:
    assert worker_pool_check(pod_outputs(0), FAKE_KUBECTL, no_compute) is None


def test_wait_wires_the_check_with_the_preflight_credentials(
    compute: tuple[WorkerProject, GcpApi], monkeypatch: pytest.MonkeyPatch
) -> None:
    from minaperf.orchestrator.access import DirectAccess
    from scripts.experiment_cli.wait import CHECKS, WaitContext, snark_workers

    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm(f"exp1-snark-worker-{c}", attributes=published()) for c in "abc"
    ]
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("MINA_ITN_GCP_API_BASE", api._hosts["compute"])  # pyright: ignore[reportPrivateUsage]
    assert snark_workers in CHECKS
    check = snark_workers(WaitContext(gce_outputs(), FAKE_KUBECTL, DirectAccess()))
    assert check is not None
    status = check()
    assert status.name == "snark workers"
    assert status.line.startswith("12/12 worker processes running, 12/12 connected")


def test_wait_exits_1_at_once_on_a_refused_vm(
    compute: tuple[WorkerProject, GcpApi],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`scripts.experiment wait` over the stand-in: the first sweep sees the refused VM and the
    gate ends with exit 1 and the cause, long before its timeout."""
    import time

    from scripts import experiment
    from tests.fakes.outputs_fixture import write_outputs

    project, api = compute
    project.groups[(ZONE, GROUP)] = [
        FakeVm("exp1-snark-worker-aaaa", status=None, action="CREATING", errors=[SHIELDED])
    ]
    data = make_outputs()
    data["platform"] = "gke"
    data["workerPool"] = gce_outputs(servers=1).model_dump(by_alias=True)["workerPool"]
    outputs = write_outputs(tmp_path / "outputs.json", data)
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("MINA_ITN_GCP_API_BASE", api._hosts["compute"])  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(tmp_path / "no-pods.json"))
    (tmp_path / "no-pods.json").write_text('{"items": []}')
    started = time.monotonic()
    args = ["--outputs", str(outputs), "--kubectl", FAKE_KUBECTL, "wait", "--direct"]
    code = experiment.main([*args, "--timeout", "600"])
    err = capsys.readouterr().err
    assert code == 1
    assert time.monotonic() - started < 60
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "error: snark workers: Compute refuses to create exp1-snark-worker-aaaa in group "
        f"{GROUP} (CONDITION_NOT_MET: Constraint constraints/compute.requireShieldedVm"
    )
