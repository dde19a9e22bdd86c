"""Each service waits for what it uses, not for whole components (issue "Time to a running
experiment"): the log fetchers and the log API need PostgreSQL's in-cluster Service and its
credentials Secret, never its external LoadBalancer, which Pulumi awaits until it has an address."""

from __future__ import annotations

from tests.conftest import Rendered


def _urn(dev: Rendered, resource_type: str, name: str) -> str:
    return dev.named(resource_type, name)["urn"]


def test_log_services_depend_on_the_postgres_service_and_secret_only(dev: Rendered) -> None:
    service = _urn(dev, "kubernetes:core/v1:Service", "postgres")
    secret = _urn(dev, "kubernetes:core/v1:Secret", "postgres-credentials")
    external = _urn(dev, "kubernetes:core/v1:Service", "postgres-external")
    (component,) = [r["urn"] for r in dev.of_type("mina-itn:services:Postgres")]
    users = [
        r
        for r in dev.of_type("kubernetes:apps/v1:Deployment")
        if r["inputs"]["metadata"]["name"] == "log-api"
        or r["inputs"]["metadata"]["name"].startswith("log-fetcher")
    ]
    assert len(users) == 3  # the API and dev's two fetcher shards
    for user in users:
        dependencies = set(user["dependencies"])
        assert {service, secret} <= dependencies, user["name"]
        assert external not in dependencies, user["name"]
        assert component not in dependencies, user["name"]
