"""Starts for Newton's method on problem (5): the limit's quantiles, a given point, and the
multilevel transfer from n / 2 rewards to n.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. The solvers (:mod:`solvers.newton`, :mod:`solvers.newton_cg`)
work on the symmetric half y_k = 1 - r_k, k = 1..n // 2 (Lemmas 4.1, C.1, C.2). A good
start comes from the limit (Theorems 2, 3): the Beta(a, a) quantiles of
:func:`limit_beta_parameter`; for log-sigmoid, Theorem 4's atom mass
U'(1) / (U'(0) + U'(1)) at each end and uniform between; for a user-written U, the
quantiles of :func:`solvers.limit.solve_limit`'s measure. Each level of the multilevel
start begins from the previous optimum carried over (:func:`transfer`).

>>> first_start(parse_utility("log"), 6, box=False).round(4).tolist()
[0.0, 0.0955, 0.3455]
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.interpolate import PchipInterpolator

from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["first_start", "start_from", "transfer", "limit_beta_parameter", "argument_scale", "BLEND"]

#: Weight of the default start blended into a given start that has ties.
BLEND = 1e-3


def limit_beta_parameter(U: Utility) -> float | None:
    """a of the Beta(a, a) limit of Theorems 2 and 3 (None: uniform, or log-sigmoid and
    linear, which have atoms). Used only to start the iteration.

    >>> limit_beta_parameter(parse_utility("power:0.5")), limit_beta_parameter(parse_utility("log"))
    (0.25, 0.5)
    """
    g = U.param
    if U.family == "power":
        return (1.0 - g) / 2.0
    if U.family == "log":
        return 0.5
    if U.family == "neg-power" and g < 1.0:
        return (1.0 + g) / 2.0
    return None


def argument_scale(U: Utility, n: int) -> float:
    """c such that the half problem evaluates U(c t), U'(c t), U''(c t) instead of U(t):
    n - 1 for neg-power:g with g >= 1, else 1. U = -t^(-g) is homogeneous,
    U(c t) = c^(-g) U(t), so the maximizer is the same and the Newton step (B^-1 q: both
    scale by c^(-g)) too; but the forces at the optimum's gaps (about 1/n, since the limit
    is uniform) are then about g instead of g n^(g + 1), which overflows float64 for
    neg-power:200 at n = 50."""
    if U.hypersingular_exponent is not None:
        return float(n - 1)
    return 1.0



def _cdf_pair(U: Utility):
    a = limit_beta_parameter(U)
    if a is None:
        return (lambda y: np.asarray(y, dtype=float)), (lambda u: np.asarray(u, dtype=float))
    dist = stats.beta(a, a)
    return dist.cdf, dist.ppf


def _ranks(n: int) -> np.ndarray:
    """p_k = (k - 1) / (n - 1) of the top half k = 1..m: 0 at the top, 1/2 in the middle."""
    return np.arange(n // 2) / (n - 1)


def first_start(U: Utility, n: int, box: bool) -> np.ndarray:
    m = n // 2
    if U.is_user_written:  # no closed-form limit: the quantiles of solve_limit's measure
        from rcollapse.solvers.limit import limit_start

        y = limit_start(U, n, box=box)
        if y is not None:
            return y
    if not box:
        _, ppf = _cdf_pair(U)
        y = ppf(_ranks(n))
        y[0] = 0.0
        return y
    # log-sigmoid: Theorem 4's lower bound on the atom mass at each end, uniform between
    a = U.dU1 / (U.dU0 + U.dU1)
    if int(a * n) < 1:
        # Not one reward in the atom: equal gaps, the optimum's limit as s -> 0 (where U'
        # underflows float64 at every gap, log-sigmoid:1e-6 at n = 10, no step can move it).
        return np.arange(m) / (n - 1)
    k0 = min(max(int(a * n), 1), m)
    y = np.zeros(m)
    rest = n - 2 * k0
    y[k0:] = (np.arange(m - k0) + 0.5) / rest if rest > 0 else 0.0
    return y


def start_from(U: Utility, start, n: int, box: bool, complement=None) -> np.ndarray:
    """The half-problem variable y_k = 1 - r_k (k = 1..n // 2) of a given feasible start,
    symmetrized; y_1 = 0. Strict order needs distinct values, so ties are split slightly."""
    r = np.asarray(start, dtype=float)
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    y = 0.5 * (q + r[::-1])[: n // 2]
    y[0] = 0.0
    y = np.clip(y, 0.0, 0.5)
    if not box:
        # Ties (or a reward at the middle) are moved a thousandth of the way to the
        # default start, which is strictly ordered: the blend is strictly ordered too
        # (start [0.5] * 5 gave y = (0, 0.5 + 1e-12), past the middle reward 0.5).
        ends = np.append(y, 0.5 if n % 2 else 1.0 - y[-1])
        if not np.all(np.diff(ends) > 0.0):
            y = (1.0 - BLEND) * y + BLEND * first_start(U, n, box)
            y[0] = 0.0
    return y


def transfer(U: Utility, n_coarse: int, y_coarse: np.ndarray, n: int, box: bool) -> np.ndarray:
    """A start for n rewards from the optimum for n_coarse (about n / 2).

    Strict order (power, log, neg-power): in the coordinate u = F(y) of the limit's CDF
    F, the optimum is u_k = (k - 1 + delta_k) / (n - 1 + 2 delta_k), an index shift
    delta_k that depends on the index k and hardly on n (power:0.5: delta_2 = 0.3852,
    0.3855, 0.3857 at n = 500, 1000, 2000; log: delta -> 1/4). So delta is carried over
    index by index, and held at its last value beyond the coarse indices.
    Runs (log-sigmoid): u = y, interpolated (monotone PCHIP) in p = (k - 1) / (n - 1),
    which keeps the runs of exact zeros.
    """
    cdf, ppf = _cdf_pair(U)
    if not box:
        kc = np.arange(n_coarse // 2)
        u = cdf(y_coarse)
        delta = (u * (n_coarse - 1) - kc) / (1.0 - 2.0 * u)
        k = np.arange(n // 2)
        d = np.concatenate((delta, np.full(max(0, k.size - delta.size), delta[-1])))[: k.size]
        y = ppf((k + d) / (n - 1 + 2.0 * d))
        y[0] = 0.0
        ends = np.concatenate((y, [0.5 if n % 2 else 1.0 - y[-1]]))
        if np.all(np.isfinite(y)) and np.all(np.diff(ends) > 0.0):
            return y
        return first_start(U, n, box)
    p = _ranks(n_coarse)
    u = cdf(y_coarse)
    mid_p, mid_u = ([0.5], [0.5]) if n_coarse % 2 else ([], [])
    P = np.concatenate((p, mid_p, 1.0 - p[::-1]))
    Uu = np.concatenate((u, mid_u, 1.0 - u[::-1]))
    return np.clip(ppf(np.clip(PchipInterpolator(P, Uu)(_ranks(n)), 0.0, 0.5)), 0.0, 0.5)
