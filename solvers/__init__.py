"""Solvers for problem (5) of Song et al. (2023) and for its n = inf limit (Theorem 5).

    maximize  sum_{i<j} U(r_i - r_j)   s.t.  1 >= r_1 >= ... >= r_n >= 0        (5)

Public API:

- :func:`solve` (U, n, *, method="newton" | "cvxpy" | "lbfgs") -> :class:`Solution`;
- :func:`certify` and :func:`kkt_residual`, the one certificate, which ``solve``
  recomputes on every vector it returns (exact feasibility and the relative KKT residual);
- :func:`solve_limit` (U, *, grid) -> :class:`LimitSolution`, the measure of Theorem 5;
- errors: :class:`SolverInputError` (a ValueError), :class:`ConvergenceError` (a
  RuntimeError).

>>> sol = solve("power:0.5", 6)
>>> bool(abs(sol.rewards + sol.rewards[::-1] - 1).max() < 1e-12), sol.kkt_residual < 1e-9
(True, True)
"""

from rcollapse.solvers.api import METHODS, solve
from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.solvers.kkt import certify, kkt_residual
from rcollapse.solvers.limit import LimitSolution, solve_limit
from rcollapse.solvers.result import Solution

__all__ = [
    "METHODS",
    "ConvergenceError",
    "LimitSolution",
    "Solution",
    "SolverInputError",
    "certify",
    "kkt_residual",
    "solve",
    "solve_limit",
]
