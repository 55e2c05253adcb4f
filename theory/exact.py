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

    The interior nodes are the roots of P'_{n-1} (numpy's Legendre series with coefficient
    1 at degree n - 1, differentiated), polished by Newton steps on P'_{n-1} and made
    exactly symmetric, t_i = -t_{n+1-i}.

    >>> r = gauss_lobatto_rewards(6)
    >>> bool(np.allclose(r + r[::-1], 1.0))
    True
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n = {n!r} is not valid; valid: an integer n >= 2")
    n = int(n)
    coef = np.zeros(n)
    coef[-1] = 1.0  # P_{n-1}
    d1 = legendre.legder(coef)
    d2 = legendre.legder(d1)
    if n > 2:
        t = np.sort(legendre.legroots(d1).real)
        for _ in range(3):  # Newton on P'_{n-1}: the eigenvalue roots lose a few digits
            t = t - legendre.legval(t, d1) / legendre.legval(t, d2)
        t = 0.5 * (t - t[::-1])  # exact symmetry
    else:
        t = np.empty(0)
    nodes = np.concatenate(([-1.0], t, [1.0]))
    return (1.0 + nodes[::-1]) / 2.0
