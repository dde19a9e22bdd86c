"""The routes to PostgreSQL built from the outputs, without a server (the real-server test is
tests/minaperf/workloads/test_database_routes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minaperf.experiment.postgres_routes import (
    RouteError,
    external_route,
    failure_hint,
    libpq_params,
    port_forward_route,
)
from minaperf.model.outputs import parse_outputs
from tests.fakes.outputs_fixture import make_outputs

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def outputs(**postgres: Any) -> Any:
    data = make_outputs()
    data["postgres"] |= {
        "externalAddress": "203.0.113.7",
        "readerUser": "logs_reader",
        "caCertificate": CERT,
        **postgres,
    }
    data["postgresPassword"] = "super-secret"
    data["postgresReaderPassword"] = "reader-secret"
    return parse_outputs(data)


def test_the_external_route_verifies_the_name_in_the_certificate_at_the_address() -> None:
    route = external_route(outputs(), {})
    with libpq_params(route) as params:
        ca = Path(params.pop("sslrootcert"))
        assert ca.read_text() == CERT
        assert ca.parent.stat().st_mode & 0o077 == 0  # a private directory
        assert params == {
            "host": "postgres.exp1.svc.cluster.local",
            "hostaddr": "203.0.113.7",
            "port": 5432,
            "dbname": "itn",
            "user": "logs_reader",
            "password": "reader-secret",
            "sslmode": "verify-full",
        }
    assert not ca.exists()


def test_a_load_balancer_name_pins_the_certificate_without_the_name_check() -> None:
    route = external_route(outputs(externalAddress="lb.example.net"), {}, port=6432)
    with libpq_params(route) as params:
        assert (params["host"], params["port"], params["sslmode"]) == (
            "lb.example.net",
            6432,
            "verify-ca",
        )
        assert "hostaddr" not in params


def test_the_port_forward_route_is_the_superuser() -> None:
    route = port_forward_route(outputs(), {}, "127.0.0.1", 15432)
    assert route.describe() == (
        "the port-forward route to 127.0.0.1:15432 as itn (sslmode=verify-full)"
    )
    older = port_forward_route(outputs(caCertificate=None), {}, "127.0.0.1")
    with libpq_params(older) as params:
        assert params["sslmode"] == "prefer"
        assert "sslrootcert" not in params


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"externalAddress": None}, "no postgres.externalAddress"),
        ({"readerUser": None}, "no postgres.readerUser or postgres.caCertificate"),
        ({"caCertificate": None}, "run `pulumi up` to publish them"),
    ],
)
def test_the_external_route_says_what_is_missing_and_offers_the_port_forward(
    changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(RouteError) as raised:
        external_route(outputs(**changes), {})
    assert says in str(raised.value)
    assert "kubectl -n exp1 port-forward svc/postgres 5432:5432" in str(raised.value)


def test_a_masked_password_comes_from_pgpassword_or_is_an_error() -> None:
    masked = outputs().model_copy(update={"postgres_reader_password": "[secret]"})
    with pytest.raises(RouteError, match="postgresReaderPassword is masked"):
        external_route(masked, {})
    assert external_route(masked, {"PGPASSWORD": "from-env"}).password == "from-env"


@given(st.text(alphabet="§¤¶Øæ0123456789", min_size=6))
def test_no_password_in_what_a_route_prints(password: str) -> None:
    route = external_route(outputs().model_copy(update={"postgres_reader_password": password}), {})
    assert route.password == password
    for text in (
        repr(route),
        route.describe(),
        failure_hint(route, "timeout expired", "exp1"),
    ):
        assert password not in text


@pytest.mark.parametrize(
    ("route", "reason", "hint"),
    [
        ("external", "timeout expired", "postgres.allowedCidrs"),
        ("external", 'no pg_hba.conf entry for host "1.2.3.4"', "this stack's pg_hba.conf"),
        ("external", 'password authentication failed for user "r"', "-c reader-role"),
        ("external", "SSL error: certificate verify failed", "postgres.caCertificate"),
        ("port-forward", "Connection refused", "port-forward svc/postgres 5432:5432` running"),
        ("port-forward", "no pg_hba.conf entry", "only from inside the pod"),
    ],
)
def test_the_hint_follows_the_servers_answer(route: str, reason: str, hint: str) -> None:
    built = (
        external_route(outputs(), {})
        if route == "external"
        else port_forward_route(outputs(), {}, "127.0.0.1")
    )
    text = failure_hint(built, reason, "exp1")
    assert hint in text
    if "pg_hba" in reason or "password" in reason:
        assert "allowedCidrs" not in text
