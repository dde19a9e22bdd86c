"""How much of the internet a set of address ranges opens, judged on the addresses it covers.

`0.0.0.0/1` plus `128.0.0.0/1` is the whole internet although neither is `0.0.0.0/0`; a list of
a thousand /24s is as wide as a /14. Both the config check (`minaperf.config`) and the policy pack
use this module, so it imports nothing but the standard library (the engine runs the pack with
only `policy/` on `sys.path`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

MAX_PUBLIC_ADDRESSES = 1 << 16
"""Most public IPv4 addresses (a /16) a set of allowed ranges may cover without an opt-in."""
MAX_PUBLIC_IPV6_ADDRESSES = 1 << 80
"""Most public IPv6 addresses (a /48) a set of allowed ranges may cover without an opt-in."""

_NOT_PUBLIC = [
    ipaddress.ip_network(block)
    for block in (
        # RFC 6890 special-purpose blocks: private, shared, loopback, link-local, documentation.
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
        "2001:db8::/32",
    )
]


def public_address_count(cidrs: Iterable[str], version: int) -> int:
    """Public addresses the union of `cidrs` covers, however it is spelled (`0.0.0.0/1` plus
    `128.0.0.0/1` is the whole internet), not counting private and documentation blocks."""
    networks = []
    for cidr in cidrs:
        network = _network(cidr)
        if network is not None and network.version == version:
            networks.append(network)
    total = 0
    for network in ipaddress.collapse_addresses(networks):  # type: ignore[arg-type]
        covered = network.num_addresses
        for reserved in _NOT_PUBLIC:
            if reserved.version != version:
                continue
            if network.subnet_of(reserved):  # type: ignore[arg-type]
                covered = 0
                break
            if reserved.subnet_of(network):  # type: ignore[arg-type]
                covered -= reserved.num_addresses
        total += covered
    return total


def public_width_error(cidrs: Iterable[str]) -> str | None:
    """Why `cidrs` open too much of the internet, or None when they stay under the bound."""
    cidrs = list(cidrs)
    v4 = public_address_count(cidrs, 4)
    if v4 > MAX_PUBLIC_ADDRESSES:
        return (
            f"covers {v4:,} public IPv4 addresses (more than a /16, {MAX_PUBLIC_ADDRESSES:,}), "
            "which opens it to a large part of the internet"
        )
    v6 = public_address_count(cidrs, 6)
    if v6 > MAX_PUBLIC_IPV6_ADDRESSES:
        return (
            "covers more public IPv6 space than a /48, which opens it to a large part of the "
            "internet"
        )
    return None


def _network(text: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A range as GCP and Kubernetes read it; `0/0`, `*` and `any` mean everything."""
    value = str(text).strip()
    if value in {"0/0", "*", "any"}:
        return ipaddress.ip_network("0.0.0.0/0")
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
