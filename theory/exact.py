"""Closed-form optima of problem (5), for checking the solvers.

Stieltjes (1885), electrostatic interpretation of the zeros of orthogonal polynomials:
for U = log x, the optimum of problem (5) of Song et al. (2023),

    maximize  sum_{i<j} log(r_i - r_j)   s.t.  1 >= r_1 >= ... >= r_n >= 0,

is r_i = (1 + t_i) / 2, where t_1 > ... > t_n are the Gauss-Lobatto-Legendre nodes on
[-1, 1]: the two ends +-1 and the n - 2 zeros of P'_{n-1}, the derivative of the Legendre
polynomial of degree n - 1.

>>> gauss_lobatto_rewards(3).tolist()
[1.0, 0.5, 0.0]
>>> [round(float(v), 12) for v in gauss_lobatto_rewards(4)]  # (1 +- 1/sqrt(5)) / 2 inside
[1.0, 0.72360679775, 0.27639320225, 0.0]
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

__all__ = ["gauss_lobatto_rewards"]


def gauss_lobatto_rewards(n: int) -> np.ndarray:
    """The exact optimum of problem (5) for U = log (Stieltjes): r_i = (1 + t_i) / 2 with t
    the n Gauss-Lobatto-Legendre nodes, sorted best first; shape (n,), n >= 2.

    The nodes are found by the Newton iteration of von Winckel's ``lglnodes``, started at
    the Chebyshev-Gauss-Lobatto points -cos(pi k / N), N = n - 1: with P_k from the
    three-term recurrence, t <- t - (t P_N - P_{N-1}) / ((N + 1) P_N), whose fixed points
    are +-1 and the zeros of P'_N. O(n^2) work per sweep and O(n) memory; the result is
    made exactly symmetric, t_i = -t_{n+1-i}.

    >>> r = gauss_lobatto_rewards(6)
    >>> bool(np.allclose(r + r[::-1], 1.0))
    True
    >>> coef = np.zeros(6); coef[-1] = 1.0   # the interior nodes are the roots of P'_5
    >>> bool(np.allclose(legendre.legval(2 * r[1:-1] - 1, legendre.legder(coef)), 0.0, atol=1e-12))
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n = {n!r} is not valid; valid: an integer n >= 2")
    N = int(n) - 1
    t = -np.cos(np.pi * np.arange(N + 1) / N)
    for _ in range(100):
        p_prev, p = np.ones_like(t), t.copy()
        for k in range(2, N + 1):
            p_prev, p = p, ((2 * k - 1) * t * p - (k - 1) * p_prev) / k
        step = (t * p - p_prev) / ((N + 1) * p) if N >= 1 else 0.0
        t = t - step
        if np.max(np.abs(step)) <= 4 * np.finfo(float).eps:
            break
    t = 0.5 * (t - t[::-1])  # exact symmetry (t sorted ascending)
    t[0], t[-1] = -1.0, 1.0
    return (1.0 + t[::-1]) / 2.0
