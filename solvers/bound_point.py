"""The feasible point x of step 4 of :mod:`solvers.bound` (read its docstring): the
returned rewards, whose digits near 1 the solvers carry in ``complement``, as an exactly
feasible point of problem (5), its offset from the rewards, and its end blocks made exact.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. x is held as (rx, qx): x_k = 1 - qx_k where rx_k >= 1/2,
else rx_k; feasibility is decided exactly (fractions), and the bound's triangle
inequality |r - r*| <= |r - x| + |x - r*| charges the offset max_k |r_k - x_k|.

>>> rx, qx = _feasible_point(np.array([1.0, 0.7, 0.2, 0.0]), np.array([0.0, 0.3, 0.8, 1.0]))
>>> rx.tolist()
[1.0, 0.7, 0.2, 0.0]
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__: list = []


def _exact(v) -> Fraction:
    return Fraction(float(v))


def _ordered(r: np.ndarray, q: np.ndarray) -> bool:
    """Whether the point x (x_k = 1 - q_k where r_k >= 1/2, else r_k) is feasible for (5):
    1 >= x_1 >= ... >= x_n >= 0, decided exactly."""
    top = r >= 0.5
    if np.any(~top[:-1] & top[1:]):  # a reward below 1/2 above one at or over 1/2
        return False
    both_top, both_low = top[:-1] & top[1:], ~top[:-1] & ~top[1:]
    if np.any(both_top & (q[:-1] > q[1:])) or np.any(both_low & (r[:-1] < r[1:])):
        return False
    cross = np.flatnonzero(top[:-1] & ~top[1:])
    if cross.size and _exact(q[cross[0]]) + _exact(r[cross[0] + 1]) > 1:
        return False
    first = 1 - _exact(q[0]) if top[0] else _exact(r[0])
    last = 1 - _exact(q[-1]) if top[-1] else _exact(r[-1])
    return 0 <= last and first <= 1


def _feasible_point(r: np.ndarray, q: np.ndarray):
    """The point x of step 4 as (rx, qx): x_k = 1 - qx_k where rx_k >= 1/2, else rx_k;
    feasible, with x_1 = 1 and x_n = 0. None when no such x is found.

    A feasible input keeps its values. An infeasible one (out of order, or outside [0, 1])
    is sorted and clipped first: any feasible x is valid for the triangle inequality
    |r - r*| <= |r - x| + |x - r*|; the offset then includes the repair."""
    rx, qx = r.copy(), q.copy()
    if not _ordered(r, q):
        exact = [1 - _exact(b) if a >= 0.5 else _exact(a) for a, b in zip(r, q)]
        p = [min(Fraction(1), max(Fraction(0), v)) for v in sorted(exact, reverse=True)]
        rx = np.array([float(v) for v in p])
        qx = np.array([float(1 - v) for v in p])
    # x_1 := 1 and x_n := 0 (step 4): a feasible move, since x is ordered.
    rx[0], qx[0] = 1.0, 0.0
    rx[-1], qx[-1] = 0.0, 1.0
    # Where x_k = 1 - q_k, the gaps across 1/2 use rx_k = fl(1 - q_k): within 2^-54 of x_k
    # and never above 1 (the user's r_k enters only the offset).
    top = rx >= 0.5
    rx[top] = 1.0 - qx[top]
    if not _ordered(rx, qx):  # pragma: no cover - rounding to float64 cannot unorder x
        return None
    return rx, qx


def _snapped(rx: np.ndarray, qx: np.ndarray, tau: float):
    """x with the rewards within tau of 1 set to 1 and those within tau of 0 set to 0 (a
    nearly tied end block made exact), or None when nothing moves."""
    top = rx >= 0.5
    up = top & (qx > 0.0) & (qx < tau)
    down = ~top & (rx > 0.0) & (rx < tau)
    if not (up.any() or down.any()):
        return None
    rx, qx = rx.copy(), qx.copy()
    rx[up], qx[up] = 1.0, 0.0
    rx[down], qx[down] = 0.0, 1.0
    return rx, qx


def _offsets(r: np.ndarray, rx: np.ndarray, qx: np.ndarray):
    """(top, eta, offset) for the point x of (rx, qx): eta_k = |rx_k - x_k| (rounded up),
    used for the gaps across 1/2, and offset = max_k |r_k - x_k| (rounded up). Each is a
    sum of three floats, which math.fsum rounds correctly."""
    top = rx >= 0.5
    eta = np.zeros(r.size)
    dist = np.zeros(r.size)
    for k in np.flatnonzero(top):
        eta[k] = abs(math.fsum((rx[k], qx[k], -1.0)))
        dist[k] = abs(math.fsum((r[k], qx[k], -1.0)))
    low = ~top & (rx != r)
    for k in np.flatnonzero(low):
        dist[k] = abs(math.fsum((r[k], -rx[k])))
    eta = np.where(eta > 0.0, np.nextafter(eta, np.inf), 0.0)
    offset = float(dist.max())
    return top, eta, (math.nextafter(offset, math.inf) if offset else 0.0)
