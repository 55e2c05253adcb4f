"""The KKT certificate of problem (5), one function shared by every method.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to the
n + 1 constraints c_k(r) >= 0,

    c_0 = 1 - r_1,   c_k = r_k - r_{k+1} (k = 1..n-1),   c_n = r_n.

KKT, with multipliers lambda_0..lambda_n >= 0: grad S + sum_k lambda_k grad c_k = 0 and
lambda_k c_k = 0. Stationarity, component by component, gives the multipliers as
cumulative sums of the gradient g = grad S:

    lambda_k = lambda_0 - G_k,   G_k = g_1 + ... + g_k   (k = 1..n),

so it holds exactly once lambda_0 is chosen (lambda_n = lambda_0 - G_n; G_n = 0 up to
rounding since S is translation invariant). What remains is dual feasibility and
complementary slackness. The residual is the smallest violation over every choice of
lambda_0 >= 0, relative to the gradient scale s = max_k sum_{j != k} |U'(pair gap)| (the
largest total force on one reward, also the size of the multipliers), plus the primal
violation:

    kkt_residual = max( max_k max(0, -c_k),
                        min_{lambda_0 >= 0} max_k max( max(0, -lambda_k), |lambda_k| c_k ) / s ).

The inner minimum has a closed form (the violations are monotone in lambda_0):

    t* = max(0, max_{k: c_k > 0} max(-G_k c_k, (G_max - G_k) c_k / (1 + c_k))) / s,

with G_0 = 0 and G_max = max_{k >= 1} G_k. It is 0 exactly at a KKT point.

>>> from rcollapse.theory.utilities import parse_utility
>>> kkt_residual(parse_utility("linear"), [1.0, 1.0, 0.0, 0.0])
0.0
>>> round(kkt_residual(parse_utility("linear"), [1.0, 0.9, 0.0, 0.0]), 4)  # r_2 should be 1
0.0303
"""

from __future__ import annotations

import numpy as np

from rcollapse.theory.objective import CHUNK_ELEMENTS, utility_gradient

__all__ = ["kkt_residual", "constraint_slacks"]


def constraint_slacks(rewards, *, complement=None) -> np.ndarray:
    """c_0..c_n of problem (5): (1 - r_1, r_1 - r_2, ..., r_{n-1} - r_n, r_n), shape (n + 1,).

    Gaps between two rewards >= 1/2 come from ``complement`` (1 - r, see
    :mod:`theory.objective`).

    >>> constraint_slacks([1.0, 0.25, 0.0]).tolist()
    [0.0, 0.75, 0.25, 0.0]
    """
    r = np.asarray(rewards, dtype=float)
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    gaps = np.where(r[1:] >= 0.5, q[1:] - q[:-1], r[:-1] - r[1:])
    return np.concatenate(([q[0]], gaps, [r[-1]]))


def kkt_residual(U, rewards, *, complement=None, chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """The relative KKT residual of ``rewards`` (n,) for problem (5):

        max( max_k max(0, -c_k),
             max(0, max_{k: c_k > 0} max(-G_k c_k, (G_max - G_k) c_k / (1 + c_k))) / s ),

    c the n + 1 constraint slacks (:func:`constraint_slacks`), G_k = g_1 + ... + g_k the
    cumulative gradient (G_0 = 0, G_max = max_{k >= 1} G_k) and
    s = max_k sum_{j != k} |U'(pair gap)|. This is the smallest, over the free multiplier
    lambda_0 >= 0, of the worst dual infeasibility max(0, -lambda_k) and complementarity
    |lambda_k| c_k of the multipliers lambda_k = lambda_0 - G_k that stationarity gives
    (derivation: module docstring), relative to s; plus the primal infeasibility.

    ``U`` is a :class:`theory.utilities.Utility`; ``complement`` is 1 - rewards computed
    without cancellation, when the caller has it. Returns inf when the gradient is not
    finite (a tie where U'(0+) is infinite). Cost: one chunked pass over the n^2 pairs.

    >>> from rcollapse.theory.utilities import parse_utility
    >>> kkt_residual(parse_utility("log"), [1.0, 0.5, 0.0])
    0.0
    """
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"rewards must be a 1-D array of n >= 2 values, got shape {r.shape}")
    c = constraint_slacks(r, complement=complement)
    primal = float(max(0.0, -c.min()))
    g, force = utility_gradient(r, U, complement=complement, chunk_elements=chunk_elements)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(force))):
        return float("inf")
    s = float(force.max())
    if s == 0.0:
        return primal
    G = np.concatenate(([0.0], np.cumsum(g)))
    g_max = G[1:].max()
    slack = c > 0.0
    cs, Gs = c[slack], G[slack]
    t = max(0.0, float(np.max(-Gs * cs)), float(np.max((g_max - Gs) * cs / (1.0 + cs))))
    return max(primal, t / s)
