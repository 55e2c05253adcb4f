"""Quadrature rules for the spectral n = inf solver (``solvers.limit_spectral``).

The solver needs potentials ``Phi(x) = int_0^1 K(|x - y|) (y (1 - y))^beta p(y) dy`` of
polynomials p, where K may be singular at y = x (``|t|^p``, ``log|t|``) and the weight
singular at y = 0 and 1 (beta < 0). :func:`potential_rule` returns nodes y and weights W
with ``Phi(x) ~ sum W p(y)`` for every polynomial p: [0, 1] is cut into pieces that carry
at most one singular end each (Gauss-Jacobi for ``t^e``, a Gauss rule for ``log t``), and
graded so that every other singular point lies at least one half-length away from a
piece (convergence in the nodes per piece at least like 3.7^(-2n)).

>>> y, w = gauss_log(8)  # int_0^1 -log(u) u^3 du = 1/16
>>> round(float(w @ y**3), 15)
0.0625
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
from scipy import special

__all__ = ["collocation_points", "gauss_jacobi", "gauss_log", "graded_pieces", "potential_rule"]


@functools.lru_cache(maxsize=256)
def gauss_jacobi(n: int, right: float, left: float) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss rule for int_{-1}^{1} (1 - t)^right (1 + t)^left f(t) dt."""
    if right == 0.0 and left == 0.0:
        return np.polynomial.legendre.leggauss(n)
    t, w = special.roots_jacobi(n, right, left)
    return t, w


@functools.lru_cache(maxsize=64)
def gauss_log(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-point Gauss rule for int_0^1 -log(u) f(u) du (exact for polynomials of degree
    < 2n): the recurrence from the moments 1/(k+1)^2 by Chebyshev's algorithm in 40 + 2n
    digits (mpmath), then Golub-Welsch in float64."""
    with mpmath.workdps(40 + 2 * n):
        mom = [mpmath.mpf(1) / (k + 1) ** 2 for k in range(2 * n)]
        a, b = [mpmath.mpf(0)] * n, [mpmath.mpf(0)] * n
        sig_prev = [mpmath.mpf(0)] * (2 * n)
        sig = list(mom)
        a[0], b[0] = mom[1] / mom[0], mom[0]
        for k in range(1, n):
            new = [mpmath.mpf(0)] * (2 * n)
            for m in range(k, 2 * n - k):
                new[m] = sig[m + 1] - a[k - 1] * sig[m] - b[k - 1] * sig_prev[m]
            a[k] = new[k + 1] / new[k] - sig[k] / sig[k - 1]
            b[k] = new[k] / sig[k - 1]
            sig_prev, sig = sig, new
        alpha = np.array([float(v) for v in a])
        beta = np.array([float(v) for v in b])
    J = np.diag(alpha) + np.diag(np.sqrt(beta[1:]), 1) + np.diag(np.sqrt(beta[1:]), -1)
    nodes, vectors = np.linalg.eigh(J)
    return nodes, beta[0] * vectors[0] ** 2


def _piece(a: float, b: float, n: int, left, right):
    """Nodes and weights on [a, b] for a singular factor at one end: ``left``/``right`` is
    None (no factor), a float e (the factor (y - a)^e or (b - y)^e) or "log" (log(y - a),
    log(b - y))."""
    half = 0.5 * (b - a)
    if left == "log" or right == "log":
        u, w = gauss_log(n)  # int_0^1 -log(u) f(u) du; the distance to the end is L u
        L = b - a
        t_l, w_l = gauss_jacobi(n, 0.0, 0.0)
        uu = 0.5 * (t_l + 1.0)
        # int_0^L log(s) g(s) ds = L log(L) int_0^1 g(L u) du - L int_0^1 -log(u) g(L u) du
        s = np.concatenate((L * uu, L * u))
        ws = np.concatenate((L * np.log(L) * 0.5 * w_l, -L * w))
        return (a + s, ws) if left == "log" else (b - s, ws)
    e_left = 0.0 if left is None else float(left)
    e_right = 0.0 if right is None else float(right)
    t, w = gauss_jacobi(n, e_right, e_left)
    return a + half * (t + 1.0), w * half ** (1.0 + e_left + e_right)


def graded_pieces(x: float):
    """The pieces of [0, 1] for a point 0 < x <= 1/2, each ``(a, b, left, right)`` with
    ``left``/``right`` one of None, "end" (the weight's singularity at 0 or 1) or "kernel"
    (the kernel's at x): [0, x/2], [x/2, x], [x, min(2x, m)], geometric pieces to
    m = (1 + x)/2, and [m, 1]."""
    m = 0.5 * (1.0 + x)
    pieces = [(0.0, 0.5 * x, "end", None), (0.5 * x, x, None, "kernel")]
    c = min(2.0 * x, m)
    pieces.append((x, c, "kernel", None))
    while c < m:
        nxt = min(2.0 * c, m)
        pieces.append((c, nxt, None, None))
        c = nxt
    pieces.append((m, 1.0, None, "end"))
    return pieces


def potential_rule(x: float, kernel, beta: float, n: int):
    """(y, W) with ``int_0^1 K(|x - y|) (y (1 - y))^beta p(y) dy ~ sum W p(y)``, 0 < x <= 1/2.

    ``kernel``: a :class:`solvers.limit_spectral.Kernel` (its ``value(t)``, and the
    singular factor at t = 0: ``exponent`` e for t^e, or "log"); ``n`` nodes per piece.
    """
    ys, ws = [], []
    for a, b, left, right in graded_pieces(x):
        sing = {"end": beta, "kernel": kernel.singularity, None: None}
        y, w = _piece(a, b, n, sing[left], sing[right])
        t = np.abs(x - y)
        k = kernel.value(t)
        if "kernel" in (left, right):
            k = k / kernel.factor(t)  # the rule's weight holds the singular factor
        if left == "end":
            weight = (1.0 - y) ** beta
        elif right == "end":
            weight = y ** beta
        else:
            weight = (y * (1.0 - y)) ** beta
        ys.append(y)
        ws.append(w * k * weight)
    return np.concatenate(ys), np.concatenate(ws)


def collocation_points(count: int) -> np.ndarray:
    """The ``count`` Chebyshev points of [0, 1] (first kind, 2 count of them) below 1/2."""
    i = np.arange(1, count + 1)
    return 0.5 * (1.0 - np.cos(np.pi * (2 * i - 1) / (4 * count)))
