"""How much of the internet a set of address ranges opens, judged on the addresses it covers.

`0.0.0.0/1` plus `128.0.0.0/1` is the whole internet although neither is `0.0.0.0/0`; a list of
a thousand /24s is as wide as a /14. Both the config check (`minaperf.model.config`) and the policy
pack use this module, so it imports nothing but the standard library (the engine runs the pack with
only `policy/` on `sys.path`). See docs/security.md#guardrails-the-policy-pack.
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
        if network is None:
            continue
        networks += [seen for seen in _as_seen(network) if seen.version == version]
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_UNSPECIFIED_AND_LOOPBACK = ipaddress.IPv6Network("::/127")
"""`::` and `::1` lie in `::/96` but are IPv6's own addresses, not IPv4-compatible ones."""
_ALL_IPV4 = ipaddress.IPv4Network("0.0.0.0/0")


def parse_range(text: str, *, strict: bool = True) -> Network:
    """A range as Go's `net` reads it: an IPv4-mapped range becomes its IPv4 range
    (`::ffff:10.0.0.0/104` is `10.0.0.0/8`, `::ffff:0:0/96` is `0.0.0.0/0`); an IPv4-compatible
    one is refused. `strict`: host bits set are an error (`10.0.0.1/8`). ValueError otherwise.

    The one rule for reading a range, shared by Go's `net` and so by Kubernetes and GKE's
    controllers. Go's `IPNet.String` and `IPNet.Contains` go through `networkNumberAndMask` (go
    src/net/ip.go), which takes `ip.To4()` (the last 4 bytes when the first 10 are zero and the
    next two 0xff) and the last 4 bytes of a 16-byte mask: `::ffff:0:0/96` prints, and matches, as
    `0.0.0.0/0`. IPv4-compatible ranges (inside `::/96`, deprecated by RFC 4291 §2.5.5.1) are
    refused: Go keeps them IPv6, other software maps them, so no reading of them is safe."""
    network = ipaddress.ip_network(text, strict=strict)
    if network.version == 4 or network.prefixlen < 96:
        return network
    if network.subnet_of(_IPV4_MAPPED):  # type: ignore[arg-type]
        return _ipv4_of(network)
    if network.subnet_of(_IPV4_COMPATIBLE) and not network.subnet_of(  # type: ignore[arg-type]
        _UNSPECIFIED_AND_LOOPBACK
    ):
        raise ValueError(
            f"{network} is an IPv4-compatible IPv6 range (deprecated, RFC 4291 §2.5.5.1), which "
            "Go keeps as IPv6 and other software maps to IPv4; write the IPv4 range instead"
        )
    return network


def _as_seen(network: Network) -> list[Network]:
    """`network`, plus all of IPv4 when it holds the whole IPv4-mapped or -compatible block
    (`::/0`, `::/80`): a dual-stack socket shows every IPv4 client inside them."""
    if network.version == 6 and (
        _IPV4_MAPPED.subnet_of(network) or _IPV4_COMPATIBLE.subnet_of(network)  # type: ignore[arg-type]
    ):
        return [network, _ALL_IPV4]
    return [network]


def _network(text: object) -> Network | None:
    """A range as GCP and Kubernetes read it; `0/0`, `*` and `any` mean everything; an
    IPv4-compatible range (refused by the config) counts as the IPv4 range it may be read as."""
    value = str(text).strip()
    if value in {"0/0", "*", "any"}:
        return _ALL_IPV4
    try:
        return parse_range(value, strict=False)
    except ValueError:
        pass
    try:
        return _ipv4_of(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return None


def _ipv4_of(network: Network) -> ipaddress.IPv4Network:
    """The IPv4 range in the last 32 bits of an IPv6 range of at least /96."""
    return ipaddress.IPv4Network(
        (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)
    )
