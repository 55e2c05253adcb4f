"""Problem (5) written in CVXPY as the paper writes it: the reference formulation.

    maximize  sum_{i<j} U(r_i - r_j)   s.t.  1 >= r_1 >= r_2 >= ... >= r_n >= 0

``D`` is the sparse pair-difference matrix, one row e_i - e_j per pair i < j, so
``D @ r`` holds the n (n - 1) / 2 gaps and ``cvxpy_utility(U, .)`` turns it into a concave, DCP-valid
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

U's CVXPY form is translated here from its sympy expression, atom by atom
(:func:`cvxpy_utility`; :func:`cvxpy_form_error` says why a U has none): the translation
belongs to this solver, so theory imports no CVXPY and no solver.

>>> cvxpy_utility(parse_utility("log"), cp.Variable()).is_concave()
True
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sparse
import sympy as sp

from rcollapse.solvers.errors import ConvergenceError
from rcollapse.theory.sympy_functions import UtilityError, one_line, sigmoid, softplus, x

__all__ = ["cvxpy_form_error", "cvxpy_utility", "memory_estimate", "pair_difference_matrix", "solve_cvxpy"]

#: What every "no CVXPY form" refusal advises, written once: the methods that need none.
NO_FORM_ADVICE = "use method newton or lbfgs"


def _no_form(reason: str) -> UtilityError:
    """The one-line refusal of a U with no CVXPY form: ``reason``, then the advice."""
    return UtilityError(f"{reason}; {NO_FORM_ADVICE}")


# --------------------------------------------------------------------------------------
# U as a CVXPY expression, translated from its sympy expression atom by atom
# --------------------------------------------------------------------------------------
def cvxpy_utility(U, t):
    """U(t) as a DCP-valid concave CVXPY expression of the affine expression t;
    :class:`UtilityError` (one line, naming the methods that can) when U has none."""
    try:
        return _to_cvxpy(U.expr, t)
    except UtilityError as err:
        raise UtilityError(f"{one_line(U.spec, 80)}: {err}") from None
    except (ArithmeticError, TypeError, ValueError) as err:  # a constant CVXPY cannot hold
        raise _no_form(f"{one_line(U.spec, 80)}: no CVXPY form ({type(err).__name__}: "
                       f"{one_line(str(err), 60)})") from None


@functools.lru_cache(maxsize=512)
def cvxpy_form_error(U) -> str | None:
    """None when U has a DCP-valid concave CVXPY form, else why not (one line).

    >>> from rcollapse.theory.utilities import parse_utility
    >>> cvxpy_form_error(parse_utility("log")) is None
    True
    """
    try:
        cvxpy_utility(U, cp.Variable())
    except UtilityError as err:
        return str(err)
    return None


def _to_cvxpy(expr: sp.Expr, t):
    """Translate a sympy expression in x into a CVXPY expression of t, atom by atom; a
    translation that is not DCP-concave is refused."""
    out = _to_cvxpy_atoms(expr, t)
    if not isinstance(out, (int, float)) and not out.is_concave():
        raise _no_form(f"no DCP-concave CVXPY form for {expr} (the translation is not provably concave)")
    return out


def _to_cvxpy_atoms(expr: sp.Expr, t):
    if expr == x:
        return t
    if expr.is_Number or (expr.is_number and expr.is_real):
        return float(expr)
    if expr.is_Add:
        terms = [_to_cvxpy_atoms(a, t) for a in expr.args]
        return functools.reduce(lambda a, b: a + b, terms)
    if expr.is_Mul:
        numbers = [a for a in expr.args if a.is_number]
        rest = [a for a in expr.args if not a.is_number]
        if len(rest) != 1:  # a product of two non-constant factors: not DCP
            raise _no_form(f"no CVXPY form for {expr}: a product of functions of x")
        return float(sp.Mul(*numbers)) * _to_cvxpy_atoms(rest[0], t)
    if expr.is_Pow:
        base, exponent = expr.args
        if not exponent.is_Number:
            raise _no_form(f"no CVXPY form for {expr}: exponent must be a number")
        # Exact power cones (approx=False): no rational approximation of the exponent.
        return cp.power(_to_cvxpy_atoms(base, t), float(exponent), approx=False)
    if isinstance(expr, sp.log):
        (arg,) = expr.args
        if isinstance(arg, sigmoid):  # log sigmoid(z) = -softplus(-z)
            return -cp.logistic(-_to_cvxpy_atoms(arg.args[0], t))
        return cp.log(_to_cvxpy_atoms(arg, t))
    if isinstance(expr, sp.exp):
        return cp.exp(_to_cvxpy_atoms(expr.args[0], t))
    if isinstance(expr, softplus):
        return cp.logistic(_to_cvxpy_atoms(expr.args[0], t))
    raise _no_form(f"no CVXPY form for {expr} ({type(expr).__name__} has no CVXPY atom)")

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
    if U.hypersingular_exponent is not None:
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
    objective = cp.Maximize(cp.sum(cvxpy_utility(U, D @ r)) / D.shape[0])
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
