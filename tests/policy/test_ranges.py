"""One reading of an address range (`policy.ranges.parse_range`), checked against Go's `net`.

`go_reading` is a stand-in for what Kubernetes and GKE's controllers do with a range: Go's
`ParseCIDR` masks the address (go src/net/ip.go `ParseCIDR`: `ip.Mask(m)`), and `IPNet.String`
and `IPNet.Contains` go through `networkNumberAndMask`, which takes `ip.To4()` (the last 4 bytes
when the first 10 are zero and the next two 0xff) and, for a 16-byte mask on a 4-byte address,
the mask's last 4 bytes (`m = m[12:]`).
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.ranges import parse_range, public_address_count, public_width_error

MAPPED = 0xFFFF << 32


def go_reading(text: str) -> str:
    """`(*IPNet).String()` of `net.ParseCIDR(text)` for an IPv6 CIDR."""
    address, length = text.split("/")
    bits = int(length)
    raw = ipaddress.IPv6Address(address).packed
    mask = ((1 << 128) - 1) ^ ((1 << (128 - bits)) - 1)
    masked = (int.from_bytes(raw) & mask).to_bytes(16)
    if masked[:10] == bytes(10) and masked[10:12] == b"\xff\xff":  # ip.To4() != nil
        ones = bin(mask & 0xFFFFFFFF).count("1")  # m[12:]
        return f"{ipaddress.IPv4Address(masked[12:])}/{ones}"
    return str(ipaddress.IPv6Network((int.from_bytes(masked), bits)))


ipv4_networks = st.builds(
    lambda address, prefix: ipaddress.IPv4Network((address, prefix), strict=False),
    st.integers(0, (1 << 32) - 1),
    st.integers(0, 32),
)
near_mapped = st.builds(
    lambda low, prefix: f"{ipaddress.IPv6Address(MAPPED | low)}/{prefix}",
    st.integers(0, (1 << 32) - 1),
    st.integers(80, 128),
)


@given(ipv4_networks)
def test_a_mapped_range_is_its_ipv4_range(network: ipaddress.IPv4Network) -> None:
    mapped = f"::ffff:{network.network_address}/{network.prefixlen + 96}"
    assert parse_range(mapped) == network
    assert str(parse_range(mapped)) == go_reading(mapped)
    for version in (4, 6):
        assert public_address_count([mapped], version) == public_address_count(
            [str(network)], version
        )
    assert public_width_error([mapped]) == public_width_error([str(network)])


@given(near_mapped)
def test_parse_range_reads_like_go(text: str) -> None:
    assert str(parse_range(text, strict=False)) == go_reading(text)


@given(ipv4_networks)
def test_ipv4_compatible_ranges_are_refused(network: ipaddress.IPv4Network) -> None:
    compatible = ipaddress.IPv6Network((int(network.network_address), network.prefixlen + 96))
    if compatible.subnet_of(ipaddress.IPv6Network("::/127")):
        assert parse_range(str(compatible)) == compatible  # `::`, `::1`: IPv6's own
        return
    with pytest.raises(ValueError, match="IPv4-compatible"):
        parse_range(str(compatible))
    # The pack, reading a resource, counts it as the IPv4 range it may be taken for.
    assert public_address_count([str(compatible)], 4) == public_address_count([str(network)], 4)


@given(st.integers(0, 95))
def test_an_ipv6_range_holding_all_mapped_addresses_counts_as_all_of_ipv4(prefix: int) -> None:
    wide = str(ipaddress.IPv6Network((0, prefix)))
    assert public_address_count([wide], 4) == public_address_count(["0.0.0.0/0"], 4)
    assert public_width_error([wide]) is not None


def test_the_issue_examples() -> None:
    assert str(parse_range("::ffff:0:0/96")) == "0.0.0.0/0" == go_reading("::ffff:0:0/96")
    assert public_width_error(["::ffff:0:0/96"]) == public_width_error(["0.0.0.0/0"])
    assert public_width_error(["::/0"]) is not None
    assert public_width_error(["::ffff:10.0.0.0/104"]) is None
    assert parse_range("::1/128") == ipaddress.IPv6Network("::1/128")
    with pytest.raises(ValueError, match="host bits"):
        parse_range("::ffff:10.0.0.1/104")
