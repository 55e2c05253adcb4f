"""Problem (5) written in CVXPY as the paper writes it: the reference formulation.

    maximize  sum_{i<j} U(r_i - r_j)   s.t.  1 >= r_1 >= r_2 >= ... >= r_n >= 0

``D`` is the sparse pair-difference matrix, one row e_i - e_j per pair i < j, so
``D @ r`` holds the n (n - 1) / 2 gaps and ``U.cvxpy`` turns it into a concave, DCP-valid
expression (power and exponential cones). The objective is divided by the number of pairs
(the mean over pairs: same maximizer; without it Clarabel stops for lack of progress on
power:0.5 from n = 100). Solved by Clarabel (an interior-point method); meant for n up to
a few hundred, since every pair costs one or more cones. Clarabel is not robust here for
the singular utilities: log and neg-power fail from about n = 100 on, and that failure is
raised as :class:`ConvergenceError`, never hidden. For them a second formulation drops
the order constraints, which the domain of U (every gap > 0) already imposes; it
rescues some cases (log at n = 100, neg-power:3 at n = 20).

>>> from rcollapse.theory.utilities import parse_utility
>>> out = solve_cvxpy(parse_utility("log"), 3)
>>> [round(float(v), 6) for v in out.rewards]
[1.0, 0.5, 0.0]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sparse

from rcollapse.solvers.errors import ConvergenceError

__all__ = ["solve_cvxpy", "pair_difference_matrix", "memory_estimate"]

#: Clarabel's settings, tried in turn while an attempt stops for lack of progress: tight
#: tolerances (1e-12, which also proved the most robust), then 1e-10, then the defaults.
CLARABEL_ATTEMPTS = (
    {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12, "tol_ktratio": 1e-10,
     "max_iter": 400},
    {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8,
     "max_iter": 400},
    {},
)


@dataclass(frozen=True)
class CvxOutcome:
    rewards: np.ndarray
    iterations: int
    status: str
    value: float  # CVXPY's optimal value (S of the scaled rewards, see argument_scale)
    scale: float  # argument_scale(U, n): the variable is scale * rewards


def memory_estimate(n: int) -> int:
    """Bytes CVXPY and Clarabel need, roughly: 150 MiB plus 7 kB per pair (cone data,
    the KKT system of the interior-point method and its factorization; measured 6.7 kB
    for log-sigmoid at n = 150 and 300).

    >>> memory_estimate(100) // 2**20
    183
    """
    return 7_000 * n * (n - 1) // 2 + 150 * 2**20


def argument_scale(U, n: int) -> float:
    """c, the factor the variable carries (it is c * rewards, so the gaps are about 1):
    n - 1 for neg-power:g with g >= 1, else 1. U = -t^(-g) is homogeneous,
    U(c t) = c^(-g) U(t), so the maximizer is the same; unscaled, the cone data overflows
    (neg-power:200 at n = 50: gaps near 1/50, U about -1e340) and Clarabel reports the
    problem infeasible.

    >>> from rcollapse.theory.utilities import parse_utility
    >>> argument_scale(parse_utility("neg-power:200"), 50), argument_scale(parse_utility("log"), 50)
    (49.0, 1.0)
    """
    if U.family == "neg-power" and U.param >= 1.0:
        return float(n - 1)
    return 1.0


def pair_difference_matrix(n: int) -> sparse.csr_matrix:
    """D, shape (n (n - 1) / 2, n): row (i, j), i < j (row-major), is e_i - e_j.

    >>> pair_difference_matrix(3).toarray().tolist()
    [[1.0, -1.0, 0.0], [1.0, 0.0, -1.0], [0.0, 1.0, -1.0]]
    """
    i, j = np.triu_indices(n, k=1)
    rows = np.arange(i.size)
    data = np.concatenate((np.ones(i.size), -np.ones(i.size)))
    return sparse.csr_matrix((data, (np.concatenate((rows, rows)), np.concatenate((i, j)))),
                             shape=(i.size, n))


def _solve_first(problems):
    """The first problem Clarabel solves, trying CLARABEL_ATTEMPTS in turn; or None."""
    for prob in problems:
        for options in CLARABEL_ATTEMPTS:
            try:
                with warnings.catch_warnings():  # "inaccurate" is reported in status instead
                    warnings.simplefilter("ignore", UserWarning)
                    prob.solve(solver=cp.CLARABEL, **options)
                return prob
            except cp.error.SolverError:
                continue
    return None


def solve_cvxpy(U, n: int) -> CvxOutcome:
    """Problem (5) by CVXPY + Clarabel. Raises :class:`ConvergenceError` unless the status
    is ``OPTIMAL`` or ``OPTIMAL_INACCURATE`` (the latter is reported in ``status``)."""
    D = pair_difference_matrix(n)
    c = argument_scale(U, n)
    r = cp.Variable(n)  # c times the rewards: 1 >= r_1 ... becomes c >= r_1 ...
    objective = cp.Maximize(cp.sum(U.cvxpy(D @ r)) / D.shape[0])
    constraints = [r[0] <= c, r[:-1] >= r[1:], r[-1] >= 0]
    problems = [cp.Problem(objective, constraints)]
    if U.dU0 is None:  # log, power, neg-power: the domain of U already orders r (D r > 0)
        problems.append(cp.Problem(objective, [r[0] <= c, r[-1] >= 0]))
    prob = _solve_first(problems)
    if prob is None:
        raise ConvergenceError(f"cvxpy: {U.spec} at n = {n}: Clarabel failed "
                               f"(insufficient progress) with tight and default tolerances")
    if prob.status not in (cp.settings.OPTIMAL, cp.settings.OPTIMAL_INACCURATE) or r.value is None:
        raise ConvergenceError(f"cvxpy: {U.spec} at n = {n}: status {prob.status!r}, "
                               f"expected {cp.settings.OPTIMAL!r}")
    # Clarabel's interior point can overshoot a bound by ~1e-10: clip and keep the ranking.
    rewards = np.sort(np.clip(np.asarray(r.value, dtype=float) / c, 0.0, 1.0))[::-1].copy()
    iterations = int(getattr(prob.solver_stats, "num_iters", None) or 0)
    status = "converged" if prob.status == cp.settings.OPTIMAL else f"converged ({prob.status})"
    return CvxOutcome(rewards, iterations, status, float(prob.value) * D.shape[0], c)
