"""Reaching daemon ports from outside the cluster: port-forward carries the ITN signature."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from minaperf.keys.itn import ItnKey
from minaperf.orchestrator.access import (
    DirectAccess,
    PortForwardAccess,
    PortForwardError,
    kubectl_error_line,
    split_pod_host,
    split_service_host,
    url_parts,
)
from minaperf.orchestrator.readiness import itn_auth
from tests.fakes.outputs_fixture import ORCHESTRATOR_KEY, ORCHESTRATOR_PUBLIC_KEY
from tests.fakes.servers import FakeDaemon

FAKE_KUBECTL = str(Path(__file__).parents[2] / "fakes" / "fake_kubectl.py")
KEY = ItnKey.from_secret_b64(ORCHESTRATOR_KEY)


def _pods(tmp_path: Path, **phases: str) -> Path:
    path = tmp_path / "pods.json"
    items = [{"metadata": {"name": n}, "status": {"phase": p}} for n, p in phases.items()]
    path.write_text(json.dumps({"items": items}))
    return path


@pytest.fixture
def daemon():
    daemon = FakeDaemon({ORCHESTRATOR_PUBLIC_KEY})
    yield daemon
    daemon.close()


def test_direct_access_keeps_addresses() -> None:
    with DirectAccess().open("127.0.0.1", [5, 6]) as base:
        assert base == {5: "http://127.0.0.1:5", 6: "http://127.0.0.1:6"}


def test_names_and_urls() -> None:
    assert split_service_host("bp-1", "ns") == ("bp-1", "ns")
    assert split_service_host("uptime.exp1.svc.cluster.local", "ns") == ("uptime", "exp1")
    assert split_pod_host("bp-2-0.bp.itn-dev.svc.cluster.local") == ("bp-2-0", "itn-dev")
    assert url_parts("http://u.exp1.svc:8080/v1/online") == ("u.exp1.svc", 8080, "/v1/online")
    with pytest.raises(ValueError, match="not an in-cluster Service"):
        split_service_host("example.com.evil.net", "ns")
    with pytest.raises(ValueError, match="only http"):
        url_parts("https://x.ns:443/")


def test_signed_auth_passes_through_port_forward(
    tmp_path: Path, daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(_pods(tmp_path, **{"bp-1-0": "Running"})))
    access = PortForwardAccess(FAKE_KUBECTL, "exp1")
    with (
        access.open("bp-1.exp1.svc.cluster.local", [daemon.itn.port], pod="bp-1-0") as base,
        httpx.Client(trust_env=False) as client,
    ):
        assert base[daemon.itn.port].startswith("http://127.0.0.1:")
        info = itn_auth(client, base[daemon.itn.port] + "/graphql", KEY.authorization_header)
    assert info.server_uuid == daemon.server_uuid
    assert daemon.requests[-1]["status"] == 200


def test_the_api_server_proxy_strips_the_signature(daemon: FakeDaemon) -> None:
    """Why `wait` no longer uses `kubectl proxy`: the same request arrives without its header
    (k8s.io/apiserver pkg/endpoints/filters/authentication.go deletes `Authorization`)."""
    proxy = subprocess.Popen([FAKE_KUBECTL, "proxy", "--port=0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None
        base = proxy.stdout.readline().strip().rpartition(" ")[2]
        url = f"http://{base}/api/v1/namespaces/exp1/pods/bp-1-0:{daemon.itn.port}/proxy/graphql"
        with (
            httpx.Client(trust_env=False) as client,
            pytest.raises(ValueError, match="401"),
        ):
            itn_auth(client, url, KEY.authorization_header)
        assert daemon.requests[-1]["authorization"] == ""
    finally:
        proxy.terminate()
        proxy.wait()
        assert proxy.stdout is not None
        proxy.stdout.close()


def test_port_forward_to_a_missing_or_pending_pod_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(_pods(tmp_path, **{"bp-1-0": "Pending"})))
    access = PortForwardAccess(FAKE_KUBECTL, "exp1", pod_running_timeout=1)
    with (
        pytest.raises(PortForwardError, match='pods "gone-0" not found'),
        access.open("x", [1], pod="gone-0"),
    ):
        pass
    with (
        pytest.raises(PortForwardError, match="pod is not running"),
        access.open("x", [1], pod="bp-1-0"),
    ):
        pass


def test_a_service_without_a_pod_gets_kubectls_own_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl waits `--pod-running-timeout` for a pod behind the Service before it answers
    (helpers.go:40-87); `wait` gives it that long and a margin, so the line is kubectl's verdict
    naming the Service, not "kubectl said nothing"."""
    service = {"metadata": {"name": "node"}, "spec": {"selector": {"app": "node"}}}
    (tmp_path / "services.json").write_text(json.dumps({"items": [service]}))
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(_pods(tmp_path, **{"bp-1-0": "Running"})))
    monkeypatch.setenv("FAKE_KUBECTL_SERVICES", str(tmp_path / "services.json"))
    access = PortForwardAccess(FAKE_KUBECTL, "exp1", pod_running_timeout=2)
    with (
        pytest.raises(PortForwardError) as raised,
        access.open("node.exp1", [80]),
    ):
        pass
    assert str(raised.value) == (
        "port-forward to service/node: error: timed out waiting for the condition"
    )


def test_close_all_ends_open_forwards_and_refuses_new_ones(
    tmp_path: Path, daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a signal in `wait` relies on: no kubectl outlives it, none starts after it."""
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(_pods(tmp_path, **{"bp-1-0": "Running"})))
    log = tmp_path / "kubectl.jsonl"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    access = PortForwardAccess(FAKE_KUBECTL, "exp1")
    with access.open("bp-1", [daemon.itn.port], pod="bp-1-0"):
        (process,) = access._live
        access.close_all()
        assert process.poll() is not None
    assert "--pod-running-timeout=20s" in log.read_text()
    with (
        pytest.raises(PortForwardError, match="port-forward to pod/bp-1-0: stopping"),
        access.open("bp-1", [daemon.itn.port], pod="bp-1-0"),
    ):
        pass


def test_kubectl_error_line_drops_klog_headers() -> None:
    stderr = (
        "E1129 19:36:28.123456   4242 memcache.go:265] couldn't get current server API group "
        "list: connection refused\nThe connection to the server 127.0.0.1:6443 was refused\n"
    )
    assert kubectl_error_line(stderr).startswith("couldn't get current server API group list")
    assert kubectl_error_line("") == "kubectl failed without a message"


def test_a_service_port_reaches_its_named_target_port(
    tmp_path: Path, daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl names the pod's port in its listener line, not the Service port asked for."""
    pod = {
        "metadata": {"name": "node-0", "labels": {"app": "node"}},
        "status": {"phase": "Running"},
        "spec": {"containers": [{"ports": [{"name": "itn", "containerPort": daemon.itn.port}]}]},
    }
    service = {
        "metadata": {"name": "node"},
        "spec": {"selector": {"app": "node"}, "ports": [{"port": 80, "targetPort": "itn"}]},
    }
    (tmp_path / "pods.json").write_text(json.dumps({"items": [pod]}))
    (tmp_path / "services.json").write_text(json.dumps({"items": [service]}))
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(tmp_path / "pods.json"))
    monkeypatch.setenv("FAKE_KUBECTL_SERVICES", str(tmp_path / "services.json"))
    with (
        PortForwardAccess(FAKE_KUBECTL, "exp1").open("node.exp1", [80]) as base,
        httpx.Client(trust_env=False) as client,
    ):
        info = itn_auth(client, base[80] + "/graphql", KEY.authorization_header)
    assert info.server_uuid == daemon.server_uuid


def test_a_forward_whose_pod_refuses_the_connection_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl 1.23+: the failed upstream connection ends the forward (kubernetes#103526); the
    request fails at once rather than hanging on a dead tunnel."""
    monkeypatch.setenv("FAKE_KUBECTL_PODS", str(_pods(tmp_path, **{"bp-1-0": "Running"})))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    access = PortForwardAccess(FAKE_KUBECTL, "exp1")
    with access.open("bp-1", [port], pod="bp-1-0") as base:
        (process,) = access._live
        with httpx.Client(trust_env=False) as client, pytest.raises(httpx.HTTPError):
            client.get(base[port])
        assert process.wait(10) == 1
