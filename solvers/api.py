"""``solve(U, n, method=...)``: problem (5) for any utility and any n, certified.

Problem (5) (Song et al. 2023):

    maximize  S(r) = sum_{1 <= i < j <= n} U(r_i - r_j)   s.t.  1 >= r_1 >= ... >= r_n >= 0.

Every method returns the same :class:`solvers.result.Solution`, certified by the same
function, :func:`solvers.kkt.kkt_residual`, so methods are compared on one certificate.

>>> sol = solve("log", 3)
>>> sol.rewards.tolist(), sol.unique, sol.kkt_residual
([1.0, 0.5, 0.0], True, 0.0)
"""

from __future__ import annotations

import time

import numpy as np

from rcollapse.solvers import cvx, lbfgs, newton
from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.solvers.kkt import kkt_residual
from rcollapse.solvers.result import Solution
from rcollapse.theory.objective import CHUNK_ELEMENTS, overall_utility
from rcollapse.theory.utilities import parse_utility

__all__ = ["solve", "METHODS", "memory_estimate", "available_memory"]

#: The methods, with a one-line description each.
METHODS = {
    "newton": "Newton's method on the symmetric half, multilevel start (large n)",
    "cvxpy": "the paper's formulation in CVXPY, solved by Clarabel (n up to a few hundred)",
    "lbfgs": "scipy L-BFGS-B on softmax-parametrized gaps (baseline)",
}
#: A cvxpy solution whose certificate is worse than this is an error, not an answer...
CVXPY_RESIDUAL_LIMIT = 1e-4
#: An answer Clarabel itself calls inaccurate is kept only below this certificate.
INACCURATE_RESIDUAL_LIMIT = 1e-6
#: An L-BFGS-B answer whose certificate is worse than this is an error, not an answer.
LBFGS_RESIDUAL_LIMIT = 1e-6
#: ...unless the optimum has a gap below this, the absolute accuracy of an interior point
#: (and, near r = 1, of float64 rewards): such a gap cannot be resolved to the relative
#: precision the certificate needs (power:0.9 at n = 17: the top gaps are 2.5e-16 and
#: 1.5e-11), and the residual is reported in ``status`` instead.
TINY_GAP = 1e-10


def _accuracy_limited(rewards) -> bool:
    r = np.asarray(rewards)
    return bool(np.any(r[:-1] - r[1:] < TINY_GAP))


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def memory_estimate(n: int, method: str) -> int:
    """Bytes ``solve`` needs at its peak for this n and method (a rough upper estimate).

    >>> memory_estimate(10_000, "newton") // 2**20
    573
    """
    if method == "newton":
        return newton.memory_estimate(n)
    if method == "cvxpy":
        return cvx.memory_estimate(n)
    return 8 * n * 40 + 12 * 8 * CHUNK_ELEMENTS  # lbfgs: 10 vector pairs + blocks of pairs


def _check_n(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise SolverInputError(f"n = {n!r} is not an integer; valid: an integer n >= 2")
    if n < 2:
        raise SolverInputError(f"n = {int(n)} is out of range; valid: an integer n >= 2")
    return int(n)


def _check_start(start, n: int, method: str) -> np.ndarray | None:
    if start is None:
        return None
    if method == "cvxpy":
        raise SolverInputError("start is not taken by method 'cvxpy'; valid: method newton or lbfgs")
    r = np.asarray(start, dtype=float)
    if r.shape != (n,) or not np.all(np.isfinite(r)):
        raise SolverInputError(f"start has shape {r.shape}; valid: {n} finite rewards")
    if r.min() < 0.0 or r.max() > 1.0 or np.any(np.diff(r) > 0.0):
        raise SolverInputError("start is not feasible; valid: 1 >= r_1 >= ... >= r_n >= 0")
    return r


def solve(U, n: int, *, method: str = "newton", tol: float = 1e-9, max_iter: int | None = None,
          start=None, check_memory: bool = True) -> Solution:
    """The optimum of problem (5) for utility ``U`` (a Utility or a spec such as
    ``"power:0.5"``) and ``n`` completions, by ``method`` (see :data:`METHODS`).

    - ``tol``: the KKT residual target. newton raises :class:`ConvergenceError` above it;
      cvxpy raises only above max(tol, 1e-4) (an interior point gives about 1e-8..1e-12),
      or above 1e-6 when Clarabel itself reports ``optimal_inaccurate``,
      and not even then when the optimum has gaps below 1e-10, the interior point's
      absolute accuracy (the status says so);
      lbfgs raises above max(tol, 1e-6), or when scipy reports no convergence (it stalls on
      near-degenerate problems: log-sigmoid:3.065 at n = 25 stops at a residual of 3e-4).
      Every ConvergenceError carries the point reached as ``err.solution``.
    - ``max_iter``: Newton steps on the full problem (default 100; 1000 from a ``start``) or L-BFGS iterations
      (default 20,000); ignored by cvxpy.
    - ``start``: a feasible point (n,), sorted best first, to start newton or lbfgs from
      (newton symmetrizes it and skips its multilevel start); cvxpy takes none.
    - ``check_memory``: refuse (SolverInputError) when the estimate exceeds MemAvailable.

    ``unique`` is False only for linear U with odd n: the middle reward (coefficient 0 in
    S = sum_k (n + 1 - 2k) r_k) is free; every other family here is strictly concave, so
    the optimum is unique (Lemma C.2).

    >>> sol = solve("linear", 5)
    >>> sol.rewards.tolist(), sol.unique
    ([1.0, 1.0, 0.5, 0.0, 0.0], False)
    """
    t0 = time.perf_counter()
    U = parse_utility(U)
    n = _check_n(n)
    if not isinstance(method, str) or method not in METHODS:
        raise SolverInputError(f"method = {method!r} is unknown; valid: {', '.join(METHODS)}")
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and 0.0 < tol < 1.0):
        raise SolverInputError(f"tol = {tol!r} is out of range; valid: 0 < tol < 1")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer))
                                 or max_iter < 1):
        raise SolverInputError(f"max_iter = {max_iter!r} is not valid; valid: an integer >= 1")
    if check_memory:
        need, free = memory_estimate(n, method), available_memory()
        if free is not None and need > free:
            raise SolverInputError(
                f"n = {n} needs about {need / 2**30:.3g} GiB for method {method!r}, more than the "
                f"{free / 2**30:.3g} GiB available; valid: a smaller n")
    start = _check_start(start, n, method)
    unique = U.family != "linear" or n % 2 == 0
    complement = None
    if method == "newton":
        # From a given start, Newton may need many damped steps before its gaps reach the
        # optimum's (power:0.99 at n = 28: gaps of 1e-290, 204 steps from a random start).
        default_iter = 100 if start is None else 1000
        out = newton.solve_newton(U, n, tol=tol, max_iter=max_iter or default_iter, start=start)
        rewards, complement, objective = out.rewards, out.complement, out.objective
        residual, iterations = out.kkt_residual, out.iterations
        status = (f"converged (levels n = {', '.join(map(str, out.levels))}; "
                  f"{out.total_iterations} Newton steps in all)")
        if U.family == "linear":
            status = "converged (linear: an LP, solved in closed form)"
    elif method == "cvxpy":
        out = cvx.solve_cvxpy(U, n)
        rewards, iterations, status = out.rewards, out.iterations, out.status
        objective = overall_utility(rewards, U)
        residual = kkt_residual(U, rewards)
        limit = max(tol, CVXPY_RESIDUAL_LIMIT)
        if "inaccurate" in status and not residual <= max(tol, INACCURATE_RESIDUAL_LIMIT):
            # Clarabel says its answer is inaccurate and the certificate agrees: on a nearly
            # flat utility (log-sigmoid:4.5 at n = 22: KKT 2.4e-6) that is 2e-4 in rewards.
            raise ConvergenceError(
                f"cvxpy: {U.spec} at n = {n}: Clarabel stopped at {status!r} with KKT residual "
                f"{residual:.3g} > {INACCURATE_RESIDUAL_LIMIT:g}")
        if not residual <= limit:
            if not (np.isfinite(residual) and _accuracy_limited(rewards)):
                raise ConvergenceError(f"cvxpy: {U.spec} at n = {n}: KKT residual {residual:.3g} > "
                                       f"{limit:g} at status {status!r}")
            status += (f"; KKT residual {residual:.2g} > {limit:g}: gaps below {TINY_GAP:g}, "
                       f"the interior point's absolute accuracy (newton resolves them)")
    else:
        out = lbfgs.solve_lbfgs(U, n, tol=tol, max_iter=max_iter or 20_000, start=start)
        rewards, iterations = out.rewards, out.iterations
        objective = overall_utility(rewards, U)
        residual = kkt_residual(U, rewards)
        status = "converged" if out.converged else f"not converged: scipy says {out.message!r}"
    if complement is None:
        complement = 1.0 - rewards
    solution = Solution(spec=U.spec, n=n, method=method, rewards=rewards,
                        objective=float(objective), kkt_residual=float(residual),
                        iterations=int(iterations), seconds=time.perf_counter() - t0,
                        unique=unique, status=status, complement=complement)
    if method == "lbfgs":
        limit = max(tol, LBFGS_RESIDUAL_LIMIT)
        if not (out.converged and residual <= limit):
            raise ConvergenceError(
                f"lbfgs: {U.spec} at n = {n}: KKT residual {residual:.3g} (limit {limit:g}), "
                f"status {status!r}", solution=solution)
    return solution
