"""How a person's tools reach the experiment's PostgreSQL, built from the stack outputs alone.

Two routes, each admitted by the pg_hba.conf the program writes: `external` (the default: the
load balancer, the read-only role, verified TLS) and `port-forward` (the superuser, arriving at
127.0.0.1 inside the pod). `libpq_params` gives the connection keywords and `failure_hint` says
what to check when a route fails. See docs/database-access.md#the-reports-default-route.
"""

from __future__ import annotations

import contextlib
import ipaddress
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from minaperf.model.outputs import SECRET_MARKER, StackOutputs

RouteName = Literal["external", "port-forward"]


class RouteError(ValueError):
    """The outputs cannot make this route; the message names the missing value and the fix."""


@dataclass(frozen=True)
class Route:
    name: RouteName
    address: str
    """Where the TCP connection goes (an IP address or a name)."""
    port: int
    user: str
    database: str
    server_name: str
    """The name the server's certificate carries (`postgres.host`)."""
    ca_certificate: str | None
    password: str = field(repr=False)

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def sslmode(self) -> str:
        if self.ca_certificate is None:
            return "prefer"  # port-forward to a stack without the output: TLS if offered
        return "verify-full" if _is_ip(self.address) else "verify-ca"

    def describe(self) -> str:
        """One line for people: no password."""
        return f"the {self.name} route to {self.target} as {self.user} (sslmode={self.sslmode})"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _password(value: str | None, name: str, env: Mapping[str, str]) -> str:
    if value and value != SECRET_MARKER:
        return value
    if env.get("PGPASSWORD"):
        return env["PGPASSWORD"]
    raise RouteError(
        f"{name} is masked or missing in the outputs; use --stack NAME, outputs rendered with "
        "--show-secrets, or set PGPASSWORD"
    )


def external_route(outputs: StackOutputs, env: Mapping[str, str], port: int | None = None) -> Route:
    """The read-only role over verified TLS through the load balancer."""
    pg = outputs.postgres
    forward = (
        f"kubectl -n {outputs.namespace} port-forward svc/postgres 5432:5432, then pass "
        "--db-host 127.0.0.1 (the port-forward route, as the superuser)"
    )
    if not pg.external_address:
        raise RouteError(
            "the outputs hold no postgres.externalAddress (no postgres.allowedCidrs or "
            f"access.adminCidrs, or the load balancer has no address yet); {forward}"
        )
    if not pg.reader_user or not pg.ca_certificate:
        raise RouteError(
            "the outputs hold no postgres.readerUser or postgres.caCertificate (a stack deployed "
            f"by an older version): run `pulumi up` to publish them, or {forward}"
        )
    password = _password(outputs.postgres_reader_password, "postgresReaderPassword", env)
    return _route(outputs, "external", pg.external_address, port, pg.reader_user, password)


def port_forward_route(
    outputs: StackOutputs, env: Mapping[str, str], host: str, port: int | None = None
) -> Route:
    """The superuser through `kubectl port-forward` (or any tunnel ending in the pod)."""
    password = _password(outputs.postgres_password, "postgresPassword", env)
    return _route(outputs, "port-forward", host, port, outputs.postgres.user, password)


def _route(
    outputs: StackOutputs,
    name: RouteName,
    address: str,
    port: int | None,
    user: str,
    password: str,
) -> Route:
    pg = outputs.postgres
    return Route(
        name=name,
        address=address,
        port=port or pg.port,
        user=user,
        database=pg.database,
        server_name=pg.host,
        ca_certificate=pg.ca_certificate,
        password=password,
    )


@contextlib.contextmanager
def libpq_params(route: Route) -> Iterator[dict[str, Any]]:
    """libpq connection keywords for `route`; the certificate file lives until the block ends
    (libpq reads it while connecting)."""
    params: dict[str, Any] = {
        "port": route.port,
        "dbname": route.database,
        "user": route.user,
        "password": route.password,
        "sslmode": route.sslmode,
    }
    if route.sslmode == "verify-full":
        # TCP to the address, the certificate checked against the server's own name.
        params |= {"host": route.server_name, "hostaddr": route.address}
    else:
        params["host"] = route.address
    if route.ca_certificate is None:
        yield params
        return
    with tempfile.TemporaryDirectory(prefix="minaperf-pg-") as directory:
        ca = Path(directory) / "server.crt"
        ca.write_text(route.ca_certificate)
        yield params | {"sslrootcert": str(ca)}


def failure_hint(route: Route, reason: str, namespace: str) -> str:
    """What to check, judged by libpq's message (src/interfaces/libpq/fe-connect.c and the
    server's authentication errors, src/backend/libpq/auth.c)."""
    text = reason.lower()
    forward = f"kubectl -n {namespace} port-forward svc/postgres {route.port}:5432"
    if "no pg_hba.conf entry" in text:
        if route.name == "external":
            return (
                "the server has no pg_hba line for the read-only role over TLS from this "
                "address: is it running this stack's pg_hba.conf (configMap postgres-scripts)?"
            )
        return (
            "the superuser is admitted only from inside the pod and the pod ranges: connect "
            f"through `{forward}` and pass --db-host 127.0.0.1"
        )
    if "password authentication failed" in text:
        if route.name == "external":
            return (
                "the read-only role's password is set by the log fetchers' reader-role init "
                f"container: check `kubectl -n {namespace} logs deploy/log-fetcher-1 -c "
                "reader-role`"
            )
        return (
            "the superuser's password is the one the data directory was created with (a kept "
            "disk keeps its first stack's password)"
        )
    if "certificate" in text or "ssl" in text:
        return (
            "the server did not prove it holds this stack's certificate (postgres.caCertificate)"
            ": is the address this stack's PostgreSQL?"
        )
    if route.name == "port-forward":
        return f"is `{forward}` running?"
    return (
        "nothing answered: check that this machine's address is in postgres.allowedCidrs (or "
        "access.adminCidrs, its default) and that the load balancer is ready, or use "
        f"`{forward}` and pass --db-host 127.0.0.1"
    )
