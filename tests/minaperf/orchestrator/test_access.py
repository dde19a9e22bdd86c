from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from minaperf.orchestrator.access import (
    DirectAccess,
    KubectlProxy,
    ProxyAccess,
    split_service_host,
)

FAKE_KUBECTL = str(Path(__file__).parents[2] / "fakes" / "fake_kubectl.py")


def test_service_and_pod_urls_through_the_api_proxy() -> None:
    proxy = ProxyAccess("http://127.0.0.1:4000", "exp1")
    assert (
        proxy.url("http://uptime-backend.exp1.svc.cluster.local:8080/v1/online")
        == "http://127.0.0.1:4000/api/v1/namespaces/exp1/services/uptime-backend:8080/proxy/v1/online"
    )
    assert (
        proxy.service_url("bp-1.other.svc.cluster.local", 3086, "/graphql")
        == "http://127.0.0.1:4000/api/v1/namespaces/other/services/bp-1:3086/proxy/graphql"
    )
    assert (
        proxy.service_url("bp-1", 3085, "graphql")
        == "http://127.0.0.1:4000/api/v1/namespaces/exp1/services/bp-1:3085/proxy/graphql"
    )
    assert (
        proxy.pod_url("bp-1-0", 3086, "/graphql")
        == "http://127.0.0.1:4000/api/v1/namespaces/exp1/pods/bp-1-0:3086/proxy/graphql"
    )


def test_direct_access_keeps_addresses() -> None:
    direct = DirectAccess()
    assert direct.url("http://x:1/v1/online") == "http://x:1/v1/online"
    assert direct.service_url("127.0.0.1", 5, "/graphql") == "http://127.0.0.1:5/graphql"


def test_non_service_hosts_are_refused() -> None:
    with pytest.raises(ValueError, match="not an in-cluster Service"):
        split_service_host("example.com.evil.net", "ns")
    with pytest.raises(ValueError, match="only http"):
        ProxyAccess("http://127.0.0.1:1", "ns").url("https://x.ns:443/")


def test_kubectl_proxy_start_and_stop_against_fake_kubectl() -> None:
    proxy = KubectlProxy(FAKE_KUBECTL)
    base = proxy.start()
    try:
        assert base.startswith("http://127.0.0.1:")
        url = ProxyAccess(base, "exp1").url("http://svc.exp1.svc.cluster.local:80/x")
        response = httpx.get(url, trust_env=False)
        assert response.json()["path"] == "/api/v1/namespaces/exp1/services/svc:80/proxy/x"
    finally:
        process = proxy.process
        proxy.stop()
    assert process is not None
    assert process.poll() is not None


def test_kubectl_proxy_that_never_serves_fails_clearly(tmp_path: Path) -> None:
    silent = tmp_path / "kubectl"
    silent.write_text("#!/bin/sh\necho 'error: no context' >&2\nexit 1\n")
    silent.chmod(0o755)
    with pytest.raises(RuntimeError, match="Starting to serve"):
        KubectlProxy(str(silent), startup_timeout=5).start()


def test_pod_dns_names_under_a_headless_service_go_to_that_pod() -> None:
    from minaperf.orchestrator.access import ProxyAccess

    access = ProxyAccess("http://127.0.0.1:9", "itn-dev")
    assert access.service_url("bp-2-0.bp.itn-dev.svc.cluster.local", 3086, "/graphql") == (
        "http://127.0.0.1:9/api/v1/namespaces/itn-dev/pods/bp-2-0:3086/proxy/graphql"
    )
    assert access.service_url("uptime-backend.itn-dev.svc.cluster.local", 8080, "/v1/online") == (
        "http://127.0.0.1:9/api/v1/namespaces/itn-dev/services/uptime-backend:8080/proxy/v1/online"
    )


def test_every_rendered_node_address_can_be_proxied(dev) -> None:
    from minaperf.orchestrator.access import ProxyAccess

    access = ProxyAccess("http://127.0.0.1:9", "itn-dev")
    for node in dev.outputs["nodes"]:
        url = access.service_url(node["service"], node["itnPort"], "/graphql")
        assert url.endswith(f"/pods/{node['pod']}:{node['itnPort']}/proxy/graphql")
