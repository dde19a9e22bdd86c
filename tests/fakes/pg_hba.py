"""A stand-in for PostgreSQL's choice of pg_hba.conf line, for the lines our program writes.

PostgreSQL 15 src/backend/libpq/hba.c `check_hba`: the lines are tried in order and the first
whose connection type, client address, database and role all match decides; none matching is a
refusal. Connection types: `local` only the Unix socket; `host` any TCP connection;
`hostssl` TCP with TLS in use (`if (hba->conntype == ctHostSSL && !port->ssl_in_use) continue`);
`hostnossl` TCP without. An address matches only a rule of its own family (`check_ip`:
`raddr->addr.ss_family == addr->sa_family`). `all` matches any database or role. Keywords this
program never writes (`samehost`, `+group`, `@file`, `replication`, host names) are refused
here rather than guessed.

Checked against the real server in tests/minaperf/workloads/test_database_routes.py.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    address: str | None
    """None: the Unix socket."""
    user: str
    database: str
    tls: bool


def first_match(hba: str, client: Client) -> list[str] | None:
    """The fields of the deciding line, or None (refused)."""
    for raw in hba.splitlines():
        fields = raw.split("#", 1)[0].split()
        if not fields:
            continue
        kind, database, user = fields[0], fields[1], fields[2]
        for word in (database, user):
            if word.startswith(("+", "@")) or word in {"samerole", "sameuser", "replication"}:
                raise ValueError(f"stand-in does not model {word!r}")
        if kind == "local":
            if client.address is not None:
                continue
        elif kind in {"host", "hostssl", "hostnossl"}:
            if client.address is None:
                continue
            if (kind == "hostssl" and not client.tls) or (kind == "hostnossl" and client.tls):
                continue
            network = ipaddress.ip_network(fields[3])
            address = ipaddress.ip_address(client.address)
            if address.version != network.version or address not in network:
                continue
        else:
            raise ValueError(f"stand-in does not model connection type {kind!r}")
        if database not in {"all", client.database} or user not in {"all", client.user}:
            continue
        return fields
    return None
