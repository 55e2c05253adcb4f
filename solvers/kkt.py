"""The certificate of problem (5): one function shared by every method, recomputed by
``solve`` on the vector it returns.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to the
n + 1 constraints c_k(r) >= 0,

    c_0 = 1 - r_1,   c_k = r_k - r_{k+1} (k = 1..n-1),   c_n = r_n.

**Primal feasibility** is checked exactly, not to a tolerance: every reward finite and in
[0, 1], the order r_1 >= ... >= r_n (every c_k >= 0), the complement (when given) equal
to 1 - r up to one rounding, and S(r) not NaN and not -inf from a tie (U(0) = -inf for
log and neg-power). S = -inf at strictly ordered rewards is an overflow of U at a tiny
positive gap (neg-power:200 at n = 200), which the point's feasibility does not depend on.

**Stationarity.** KKT, with multipliers lambda_0..lambda_n >= 0:
grad S + sum_k lambda_k grad c_k = 0 and lambda_k c_k = 0. Stationarity, component by
component, gives the multipliers as cumulative sums of the gradient g = grad S:

    lambda_k = lambda_0 - G_k,   G_k = g_1 + ... + g_k   (k = 1..n),

so it holds exactly once lambda_0 is chosen (lambda_n = lambda_0 - G_n; G_n = 0 up to
rounding since S is translation invariant). What remains is dual feasibility and
complementary slackness. The residual is the smallest violation over every choice of
lambda_0 >= 0, relative to the gradient scale s = max_k sum_{j != k} |U'(pair gap)| (the
largest total force on one reward, also the size of the multipliers):

    kkt_residual = min_{lambda_0 >= 0} max_k max( max(0, -lambda_k), |lambda_k| c_k ) / s.

The inner minimum has a closed form (the violations are monotone in lambda_0):

    t* = max(0, max_{k: c_k > 0} max(-G_k c_k, (G_max - G_k) c_k / (1 + c_k))) / s,

with G_0 = 0 and G_max = max_{k >= 1} G_k. It is 0 exactly at a KKT point.

**Scale.** The residual is invariant under U' -> K U' (K > 0), so it is computed on
forces divided by the largest one. Where U' underflows or overflows float64 at the pairs'
gaps (log-sigmoid:1e-6 at n = 10: U'(1/9) = exp(-1.1e5) / 1e-6; neg-power:200 at n = 200),
the forces are formed as exp(log U' - max log U'), with log U' derived symbolically from
the one definition of U (log sigmoid(z) = -softplus(-z)), so the residual never becomes
0/0. Where even that is impossible, the certificate says why and the residual is inf:
"cannot certify" is never reported as 0.

>>> kkt_residual("linear", [1.0, 1.0, 0.0, 0.0])
0.0
>>> round(kkt_residual("linear", [1.0, 0.9, 0.0, 0.0]), 4)  # r_2 should be 1
0.0303
>>> kkt_residual("log", [1.0, 0.5, 0.5000001, 0.0])  # out of order: infeasible
inf
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from rcollapse.theory.objective import CHUNK_ELEMENTS, _signed_gaps, overall_utility, utility_gradient
from rcollapse.theory.utilities import parse_utility, sigmoid, softplus, x

__all__ = ["kkt_residual", "certify", "Certificate", "constraint_slacks", "residual_from_gradient",
           "rewards_and_complement"]

#: Forces computed directly are used when their scale s lies in this range; outside it
#: (underflow or overflow near), they are recomputed from log U' (module docstring).
DIRECT_SCALE = (1e-200, 1e200)
#: The complement may differ from 1 - rewards by this much (one rounding of 1 - r).
COMPLEMENT_SLACK = 2.0 ** -52


@dataclass(frozen=True)
class Certificate:
    """What :func:`certify` found about one reward vector.

    ``residual`` is the relative KKT residual (module docstring), inf when the vector is
    infeasible or cannot be certified; ``problem`` says why (None when certified);
    ``objective`` is S(r) (-inf on overflow, nan when undefined); ``rescaled`` is True when
    the forces had to be formed from log U' (they under- or overflow float64);
    ``note`` states anything a reader should know about a certified vector (overflow)."""

    residual: float
    objective: float
    problem: str | None
    rescaled: bool = False
    note: str | None = None
    #: About the smallest residual float64 rewards can show here: a gap rounded by one
    #: unit moves U' by |(log U')'| times that unit, relative (log-sigmoid:1e-8: 1e-16 / 1e-8).
    rounding_floor: float = 0.0
    #: A certificate from fast sums (:func:`solvers.newton_cg.certify_fast`) states its
    #: measured summation error (max over the rows checked directly of |g_fast - g_direct|,
    #: relative to s) and the bound 2 n err max_k c_k that it puts on ``residual``; both
    #: None here, where every sum is direct.
    summation_error: float | None = None
    residual_error_bound: float | None = None
    rows_checked: int = 0

    @property
    def certified(self) -> bool:
        return self.problem is None and math.isfinite(self.residual)


def rewards_and_complement(rewards, complement=None) -> tuple[np.ndarray, np.ndarray]:
    """(r, q): ``rewards`` as a 1-D float array of n >= 2 values and ``complement``
    (1 - r computed without cancellation, when the caller has it; else 1 - r) of the same
    shape, or ValueError naming the bad shape. The one input check of every certificate
    and bound (:func:`certify`, :func:`solvers.certify_fast.certify_fast`,
    :func:`solvers.bound.error_bound`); values are checked by each (feasibility).

    >>> r, q = rewards_and_complement([1.0, 0.25, 0.0])
    >>> q.tolist()
    [0.0, 0.75, 1.0]
    """
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"rewards must be a 1-D array of n >= 2 values, got shape {r.shape}")
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    if q.shape != r.shape:
        raise ValueError(f"complement has shape {q.shape}, rewards {r.shape}; they must match")
    return r, q


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


def residual_from_gradient(rewards, complement, g, s: float) -> float:
    """The relative KKT residual of ``rewards`` (n,) from a given gradient g = grad S (n,)
    and force scale s = max_k sum_{j != k} |U'(gap)|: the closed form of the module
    docstring,

        max( max_k max(0, -c_k), max(0, max_{k: c_k > 0} max(-G_k c_k, (G_max - G_k) c_k / (1 + c_k))) / s ),

    c the slacks (:func:`constraint_slacks`, gaps near 1 from ``complement``), G the
    cumulative gradient. inf when g or s is not finite. The one definition: :func:`certify`
    applies it to g summed directly, :func:`solvers.newton_cg.certify_fast` to g summed fast.

    >>> residual_from_gradient([1.0, 0.5, 0.0], [0.0, 0.5, 1.0], [1.5, 0.0, -1.5], 3.0)
    0.0
    >>> residual_from_gradient([1.0, 0.9, 0.0, 0.0], None, [3.0, 1.0, -2.0, -2.0], 3.0) > 0
    True
    """
    c = constraint_slacks(rewards, complement=complement)
    g = np.asarray(g, dtype=float)
    primal = float(max(0.0, -c.min()))
    if not (np.all(np.isfinite(g)) and math.isfinite(s)):
        return math.inf
    if s == 0.0:
        return primal
    G = np.concatenate(([0.0], np.cumsum(g)))
    g_max = G[1:].max()
    slack = c > 0.0
    cs, Gs = c[slack], G[slack]
    t = max(0.0, float(np.max(-Gs * cs)), float(np.max((g_max - Gs) * cs / (1.0 + cs))))
    return max(primal, t / s)


def _log_derivative_expr(U):
    expr = sp.expand_log(sp.log(U.dexpr), force=True)
    return expr.replace(lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sigmoid),
                        lambda e: -softplus(-e.args[0].args[0]))


def _numpy(expr):
    if not expr.free_symbols:
        value = float(expr)
        return lambda t: np.full(np.shape(t), value)
    return sp.lambdify(x, expr, modules=[{"softplus": lambda z: np.logaddexp(0.0, z),
                                          "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z))},
                                         "numpy"])


@functools.lru_cache(maxsize=64)
def _log_derivative_slope(U):
    """(log U')'(t) = U''(t) / U'(t), numpy-vectorized, finite where U' underflows."""
    return _numpy(sp.diff(_log_derivative_expr(U), x))


def rounding_floor(U, r, q, c) -> float:
    """max over the open adjacent gaps c_k of |(log U')'(c_k)| times the gap's rounding
    error (one unit in the last place of the smaller of r and 1 - r at either end): about
    the least KKT residual a float64 vector can show for this problem."""
    k = np.flatnonzero(c[1:-1] > 0.0)
    if k.size == 0:
        return 0.0
    ends = np.minimum(r, q)
    unit = np.spacing(np.maximum(ends[k], ends[k + 1]))
    with np.errstate(all="ignore"):
        slope = np.abs(np.asarray(_log_derivative_slope(U)(c[1:-1][k]), dtype=float))
    value = float(np.max(slope * unit, initial=0.0))
    return value if math.isfinite(value) else 0.0


@functools.lru_cache(maxsize=64)
def _log_derivative(U):
    """log U'(t), numpy-vectorized, derived from the one sympy definition of U: the log
    is expanded and log sigmoid(z) rewritten as -softplus(-z), so it stays finite where
    U' itself underflows. None when U' has no such form (then the certificate says so)."""
    expr = _log_derivative_expr(U)
    if expr.has(sigmoid) or expr.has(sp.exp):
        return None
    return _numpy(expr)


def _rescaled_gradient(r, q, U, chunk_elements):
    """(g, force) / max pair force, from log U' (one pass; the shift M grows as needed).
    None where log U' is unavailable or not finite."""
    logd1 = _log_derivative(U)
    if logd1 is None:
        return None
    n = r.size
    g, force = np.zeros(n), np.zeros(n)
    M = -np.inf
    step = max(1, min(n, chunk_elements // max(n, 1)))
    with np.errstate(all="ignore"):
        for a in range(0, n, step):
            rows = slice(a, min(n, a + step))
            d, diag = _signed_gaps(r, q, rows)
            d[diag] = 1.0
            L = np.asarray(logd1(d), dtype=float)
            L[diag] = -np.inf
            if np.any(np.isnan(L)) or np.any(L == np.inf):
                return None
            bm = float(L.max())
            if bm > M:
                if np.isfinite(M):
                    shrink = math.exp(M - bm)
                    g *= shrink
                    force *= shrink
                M = bm
            f = np.exp(L - M)
            force[rows] = f.sum(axis=1)
            k = np.arange(rows.start, rows.stop)[:, None]
            np.negative(f, out=f, where=np.arange(n)[None, :] < k)
            g[rows] = f.sum(axis=1)
    if not np.isfinite(M):
        return None
    return g, force


def _primal_problem(r, q, c, U, objective) -> str | None:
    """Why ``r`` is not a feasible point of (5), or None."""
    if not np.all(np.isfinite(r)):
        return "a reward is not finite"
    if r.min() < 0.0 or r.max() > 1.0:
        k = int(np.argmax((r < 0.0) | (r > 1.0)))
        return f"r_{k + 1} = {r[k]!r} is outside [0, 1]"
    if not np.all(np.isfinite(q)) or np.max(np.abs(q - (1.0 - r))) > COMPLEMENT_SLACK:
        return "the complement is not 1 - rewards"
    if np.any(c < 0.0):
        k = int(np.argmin(c))
        if k == 0:
            return f"1 - r_1 = {c[0]:.3g} < 0"
        if k == r.size:
            return f"r_n = {c[-1]:.3g} < 0"
        return f"out of order: r_{k} < r_{k + 1} by {-c[k]:.3g}"
    if np.isnan(objective):
        return "S(r) is not defined (nan)"
    if objective == -np.inf and np.any(c[1:-1] == 0.0) and not np.isfinite(U(np.array([0.0]))[0]):
        return "S(r) = -inf: two rewards tie where U(0) = -inf"
    return None


def certify(U, rewards, *, complement=None, chunk_elements: int = CHUNK_ELEMENTS,
            with_objective: bool = True) -> Certificate:
    """The certificate of ``rewards`` (n,), best first, for problem (5): primal
    feasibility (exact) and the relative KKT residual (module docstring), with forces
    rescaled where they under- or overflow. ``U`` is a Utility or a spec string;
    ``complement`` is 1 - rewards computed without cancellation, when the caller has it.
    Cost: two chunked passes over the n^2 pairs (three when rescaled);
    ``with_objective=False`` skips S (objective nan, its checks skipped), for a solver's
    own stopping test: ``solve`` always certifies with it.

    >>> cert = certify("log-sigmoid:1e-6", [1.0, 0.5, 0.0])   # U' underflows: rescaled
    >>> cert.residual, cert.rescaled, cert.certified
    (0.0, True, True)
    >>> certify("log-sigmoid:1e-6", [1.0, 0.75, 0.0]).residual > 0.1   # unequal gaps
    True
    >>> certify("log", [1.0, 0.5, 0.5, 0.0]).problem
    'infeasible: S(r) = -inf: two rewards tie where U(0) = -inf'
    """
    U = parse_utility(U)
    r, q = rewards_and_complement(rewards, complement)
    with np.errstate(all="ignore"):
        c = constraint_slacks(r, complement=q)
        feasible_box = np.all(np.isfinite(r)) and r.min() >= 0.0 and r.max() <= 1.0
        objective = (overall_utility(r, U, complement=q, chunk_elements=chunk_elements)
                     if with_objective and feasible_box and np.all(c >= 0.0) else float("nan"))
    problem = _primal_problem(r, q, c, U, objective if with_objective else 0.0)
    if problem is not None:
        return Certificate(float("inf"), float(objective), "infeasible: " + problem)
    note = None
    if objective == -np.inf:
        note = "S(r) overflows float64 (U is below -1.8e308 at the smallest gaps)"
    with np.errstate(all="ignore"):
        g, force = utility_gradient(r, U, complement=q, chunk_elements=chunk_elements)
    finite = np.all(np.isfinite(g)) and np.all(np.isfinite(force))
    s = float(force.max()) if finite else float("nan")
    rescaled = False
    if not (finite and DIRECT_SCALE[0] <= s <= DIRECT_SCALE[1]):
        if np.any(c[1:-1] == 0.0) and U.dU0 is None:
            return Certificate(float("inf"), float(objective),
                               "not a KKT point: two rewards tie where U'(0+) is infinite")
        out = _rescaled_gradient(r, q, U, chunk_elements)
        if out is None:
            return Certificate(float("inf"), float(objective),
                               "cannot certify: U' is not finite at the pairs' gaps, even as log U'")
        g, force = out
        s, rescaled = float(force.max()), True
    if not (s > 0.0 and math.isfinite(s)):
        return Certificate(float("inf"), float(objective),
                           f"cannot certify: the force scale max_k sum_j |U'| is {s!r}", rescaled)
    residual = residual_from_gradient(r, q, g, s)
    return Certificate(residual, float(objective), None, rescaled, note, rounding_floor(U, r, q, c))


def kkt_residual(U, rewards, *, complement=None, chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """The relative KKT residual of ``rewards`` (n,) for problem (5), ``certify(...).residual``:

        max(0, max_{k: c_k > 0} max(-G_k c_k, (G_max - G_k) c_k / (1 + c_k))) / s,

    c the n + 1 constraint slacks (:func:`constraint_slacks`), G_k = g_1 + ... + g_k the
    cumulative gradient (G_0 = 0, G_max = max_{k >= 1} G_k) and
    s = max_k sum_{j != k} |U'(pair gap)|. This is the smallest, over the free multiplier
    lambda_0 >= 0, of the worst dual infeasibility max(0, -lambda_k) and complementarity
    |lambda_k| c_k of the multipliers lambda_k = lambda_0 - G_k that stationarity gives
    (derivation: module docstring), relative to s. inf when the vector is infeasible
    (out of order, outside [0, 1], S undefined) or cannot be certified (a tie where
    U'(0+) is infinite); :func:`certify` says which.

    ``U`` is a :class:`theory.utilities.Utility` or a spec string such as ``"log"``.

    >>> kkt_residual("log", [1.0, 0.5, 0.0])
    0.0
    """
    return certify(U, rewards, complement=complement, chunk_elements=chunk_elements).residual


# --------------------------------------------------------------------------------------
# The certificate recomputed on a returned vector (rcollapse verify, the benchmarks).
# --------------------------------------------------------------------------------------
def recomputed_certificate(sol) -> float:
    """The KKT residual of problem (5) recomputed on ``sol.rewards`` (with ``sol.complement``,
    1 - r without cancellation), by :func:`certify`; never ``sol.kkt_residual``.
    Above ``FAST_FROM`` rewards (chosen by the vector's size, not by what the solver says
    it is) by ``solvers.newton_cg.certify_fast``, the same certificate by fast sums: the
    value is its residual plus the bound its measured summation error puts on it.

    It covers primal feasibility (order, bounds, a finite objective) and stationarity. A
    vector that is infeasible or cannot be certified, or a certificate that raises,
    counts as inf: it can never pass. :func:`certificate_problem` says why.

    >>> from types import SimpleNamespace
    >>> recomputed_certificate(SimpleNamespace(spec="log", rewards=[1.0, 0.5, 0.0], complement=None))
    0.0
    """
    return recomputed_certificate_details(sol)[0]


def certificate_problem(sol) -> str | None:
    """Why ``sol``'s vector has no finite certificate (None when it has one)."""
    return recomputed_certificate_details(sol)[1]


def recomputed_certificate_details(sol) -> tuple[float, str | None, dict | None]:
    """(value, problem, fast) of :func:`recomputed_certificate`: ``problem`` says why the
    value is inf (None when it is finite); ``fast`` states a fast certificate's summation
    error, the bound it puts on the residual and the rows checked directly (None for the
    dense one)."""
    from rcollapse.solvers.newton_cg import certify_fast, method_for_size

    rewards = np.asarray(sol.rewards, dtype=float)
    complement = getattr(sol, "complement", None)
    if not np.all(np.isfinite(rewards)):
        return math.inf, "rewards are not finite", None
    fast = None
    try:
        if method_for_size(rewards.size) == "fast":
            cert = certify_fast(sol.spec, rewards, complement=complement)
            fast = {"residual": float(cert.residual), "summation_error": cert.summation_error,
                    "residual_error_bound": cert.residual_error_bound, "rows_checked": cert.rows_checked}
            bound = cert.residual_error_bound
            value = float(cert.residual) + (math.inf if bound is None else float(bound))
        else:
            cert = certify(sol.spec, rewards, complement=complement)
            value = float(cert.residual)
        problem = cert.problem
    except (ValueError, ArithmeticError, RuntimeError, TypeError) as err:
        return math.inf, f"the certificate raised {type(err).__name__}: {err}", fast
    if problem is not None or not math.isfinite(value):
        return math.inf, problem or f"residual {value!r}", fast
    return value, None, fast


__all__ += ["recomputed_certificate", "certificate_problem", "recomputed_certificate_details"]
