"""Pallas curve arithmetic in plain Python integers (only what Mina key derivation needs).

Curve y^2 = x^3 + 5 over F_p; the group order is q (the scalar field). Jacobian coordinates
avoid one modular inversion per step and a fixed-base table makes s*G ~0.3 ms — fast enough to
derive hundreds of keys per `pulumi preview` without a native dependency. Not constant time:
used to derive keys on the operator's machine, never on a network-facing path.
"""

from __future__ import annotations

import functools

P = 28948022309329048855892746252171976963363056481941560715954676764349967630337
Q = 28948022309329048855892746252171976963363056481941647379679742748393362948097
B = 5
G = (1, 12418654782883325593414442427049395787963493412651469444558597405572177144507)

AffinePoint = tuple[int, int]
_Jacobian = tuple[int, int, int]  # (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z == 0 is infinity

_INFINITY: _Jacobian = (1, 1, 0)


def is_on_curve(point: AffinePoint) -> bool:
    """True when `point` satisfies the curve equation with coordinates in [0, p)."""
    x, y = point
    return 0 <= x < P and 0 <= y < P and (y * y - x * x * x - B) % P == 0


def x_is_on_curve(x: int) -> bool:
    """True when some y gives a curve point with this x (x^3 + 5 is a square mod p)."""
    if not 0 <= x < P:
        return False
    rhs = (x * x * x + B) % P
    return rhs == 0 or pow(rhs, (P - 1) // 2, P) == 1


def _double(point: _Jacobian) -> _Jacobian:
    x1, y1, z1 = point
    if z1 == 0 or y1 == 0:
        return _INFINITY
    # a = 0 doubling (dbl-2009-l).
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = b * b % P
    d = 2 * ((x1 + b) * (x1 + b) - a - c) % P
    e = 3 * a % P
    f = e * e % P
    x3 = (f - 2 * d) % P
    y3 = (e * (d - x3) - 8 * c) % P
    z3 = 2 * y1 * z1 % P
    return (x3, y3, z3)


def _add_affine(point: _Jacobian, other: AffinePoint) -> _Jacobian:
    """Mixed addition: Jacobian + affine (madd-2007-bl)."""
    x1, y1, z1 = point
    x2, y2 = other
    if z1 == 0:
        return (x2, y2, 1)
    z1z1 = z1 * z1 % P
    u2 = x2 * z1z1 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - x1) % P
    r = 2 * (s2 - y1) % P
    if h == 0:
        return _double(point) if r == 0 else _INFINITY
    hh = h * h % P
    i = 4 * hh % P
    j = h * i % P
    v = x1 * i % P
    x3 = (r * r - j - 2 * v) % P
    y3 = (r * (v - x3) - 2 * y1 * j) % P
    z3 = ((z1 + h) * (z1 + h) - z1z1 - hh) % P
    return (x3, y3, z3)


def _to_affine(point: _Jacobian) -> AffinePoint | None:
    x, y, z = point
    if z == 0:
        return None
    z_inv = pow(z, -1, P)
    z_inv2 = z_inv * z_inv % P
    return (x * z_inv2 % P, y * z_inv2 * z_inv % P)


_WINDOW_BITS = 4
_WINDOWS = 64  # 64 * 4 = 256 bits > log2(q)


def _lift(point: AffinePoint) -> _Jacobian:
    return (point[0], point[1], 1)


@functools.cache
def _generator_table() -> tuple[tuple[AffinePoint, ...], ...]:
    """table[i][j-1] = j * 16^i * G, built once (~30 ms) so that s*G needs ~60 additions."""
    rows: list[tuple[AffinePoint, ...]] = []
    base = G
    for _ in range(_WINDOWS):
        row = [base]
        for _ in range((1 << _WINDOW_BITS) - 2):
            point = _to_affine(_add_affine(_lift(row[-1]), base))
            assert point is not None  # multiples below the prime order are never infinity
            row.append(point)
        rows.append(tuple(row))
        next_base = _to_affine(_add_affine(_lift(row[-1]), base))
        assert next_base is not None
        base = next_base
    return tuple(rows)


def _generator_mult(scalar: int) -> _Jacobian:
    acc = _INFINITY
    table = _generator_table()
    mask = (1 << _WINDOW_BITS) - 1
    for i in range(_WINDOWS):
        digit = (scalar >> (_WINDOW_BITS * i)) & mask
        if digit:
            acc = _add_affine(acc, table[i][digit - 1])
    return acc


def scalar_mult(scalar: int, point: AffinePoint = G) -> AffinePoint | None:
    """scalar * point (None is the point at infinity).

    Multiples of G use a fixed-base window table; other points use double-and-add.
    """
    if not is_on_curve(point):
        raise ValueError("point is not on the Pallas curve")
    scalar %= Q
    if point == G:
        return _to_affine(_generator_mult(scalar))
    acc = _INFINITY
    for bit in bin(scalar)[2:] if scalar else "":
        acc = _double(acc)
        if bit == "1":
            acc = _add_affine(acc, point)
    return _to_affine(acc)


def add(a: AffinePoint | None, b: AffinePoint | None) -> AffinePoint | None:
    """Group addition in affine form (for tests and cross-checks)."""
    if a is None:
        return b
    if b is None:
        return a
    return _to_affine(_add_affine(_lift(a), b))
