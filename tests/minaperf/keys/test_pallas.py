"""Pallas arithmetic checked against group laws and a naive affine reference."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minaperf.keys import pallas
from minaperf.keys.pallas import G, P, Q

scalars = st.integers(1, Q - 1)


def _affine_add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    """Textbook affine addition, independent of the Jacobian code under test."""
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % P == 0:
        return None
    if a == b:
        slope = 3 * a[0] * a[0] * pow(2 * a[1], -1, P) % P
    else:
        slope = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (slope * slope - a[0] - b[0]) % P
    return (x, (slope * (a[0] - x) - a[1]) % P)


def _reference_mult(k: int) -> tuple[int, int] | None:
    result: tuple[int, int] | None = None
    addend: tuple[int, int] | None = G
    while k:
        if k & 1:
            result = _affine_add(result, addend)
        addend = _affine_add(addend, addend)
        k >>= 1
    return result


def test_generator_is_on_curve() -> None:
    assert pallas.is_on_curve(G)
    assert pallas.x_is_on_curve(G[0])
    assert not pallas.is_on_curve((G[0], G[1] + 1))


def test_group_order_is_q() -> None:
    assert pallas.scalar_mult(Q) is None
    assert pallas.scalar_mult(Q - 1) == (G[0], P - G[1])
    assert pallas.scalar_mult(1) == G


@settings(max_examples=25, deadline=None)
@given(k=scalars)
def test_matches_naive_affine_reference(k: int) -> None:
    assert pallas.scalar_mult(k) == _reference_mult(k)


@settings(max_examples=25, deadline=None)
@given(a=scalars, b=scalars)
def test_scalar_mult_is_a_homomorphism(a: int, b: int) -> None:
    sum_point = pallas.add(pallas.scalar_mult(a), pallas.scalar_mult(b))
    assert sum_point == pallas.scalar_mult(a + b)
    point = pallas.scalar_mult(a)
    assert point is not None
    assert pallas.is_on_curve(point)
    assert pallas.scalar_mult(b, point) == pallas.scalar_mult(a * b)


def test_off_curve_point_is_refused() -> None:
    with pytest.raises(ValueError, match="not on the Pallas curve"):
        pallas.scalar_mult(3, (1, 1))


def test_x_on_curve_rejects_a_non_residue() -> None:
    # Some x in the first few has x^3 + 5 a non-square; the check must say so.
    non_residues = [x for x in range(2, 40) if not pallas.x_is_on_curve(x)]
    assert non_residues
    for x in non_residues:
        assert pow((x**3 + 5) % P, (P - 1) // 2, P) == P - 1
    assert not pallas.x_is_on_curve(P)
