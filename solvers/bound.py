"""A certified error bound for problem (5): how far, in max norm, rewards are from the optimum.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) over the feasible set
C = {1 >= r_1 >= r_2 >= ... >= r_n >= 0}. The KKT residual of :mod:`solvers.kkt` says how
far a point is from satisfying the optimality conditions; this module turns such a residual
into what a user wants to know, a proven upper bound on max_i |r_i - r*_i|.

Derivation (every step is used by :func:`error_bound`)
------------------------------------------------------
1. Strong concavity. Let mu = inf over (0, 1] of -U'' (derived symbolically from the one
   definition of U: :attr:`theory.utilities.Utility.strong_concavity`; 1/4 for power:0.5,
   1 for log, 2 for neg-power:1, sigma(1)sigma(-1) = 0.1966 for log-sigmoid:1; 0 for
   linear, which gets no bound). On C every gap r_i - r_j (i < j) lies in [0, 1], so along
   any segment of C, with direction delta,

       d^2/dt^2 S = sum_{i<j} U''(gap_ij) (delta_i - delta_j)^2 <= -mu Q(delta),
       Q(delta) = sum_{i<j} (delta_i - delta_j)^2 = delta' (n I - 1 1') delta,

   the quadratic form of the complete graph's Laplacian (a pair whose gap is 0 along the
   whole segment has delta_i = delta_j and adds nothing).
2. An a posteriori inequality valid for every active set. Let x be a feasible point with
   x_1 = 1, x_n = 0 and a finite gradient g = grad S(x); r* a maximizer (x and r* need not
   lie on the same face). Write the constraints as c_k(r) >= 0, c_0 = 1 - r_1,
   c_k = r_k - r_{k+1}, c_n = r_n, take any multipliers lambda >= 0 with lambda_k c_k(x) = 0,
   and the Lagrangian L(r) = S(r) + sum_k lambda_k c_k(r), whose gradient at x is the
   residual rho = g + sum_k lambda_k grad c_k, i.e. rho_k = g_k + lambda_k - lambda_{k-1}.
   With delta = x - r*:
   (a) r* maximizes S on C and S is mu Q-strongly concave on the segment [r*, x], so
       S(r*) >= S(x) + (mu/2) Q(delta) (no gradient at r* is needed);
   (b) lambda >= 0 and c(r*) >= 0 give S(r*) <= L(r*), and L has the Hessian of S, so
       L(r*) <= L(x) - <rho, delta> - (mu/2) Q(delta), with L(x) = S(x).
   Together: mu Q(delta) <= -<rho, delta>. Since delta_1 = delta_n = 0 (Lemma 4.1: r*_1 = 1,
   r*_n = 0), only the interior I = {2..n-1} counts, and Q on it is the grounded Laplacian
   L_g = n I_m - 1 1' (m = n - 2): eigenvalues n (m - 1 times) and exactly 2 (all interior
   rewards shifted together), inverse L_g^{-1} = (I + 1 1' / 2) / n. Cauchy-Schwarz in the
   L_g inner product gives sqrt(Q) <= ||rho_I||_{L_g^{-1}} / mu, and
   |delta_i| = |<e_i, delta>| <= sqrt(e_i' L_g^{-1} e_i) sqrt(Q) = sqrt(3 / (2 n)) sqrt(Q).
   Hence the bound, with N = sqrt(||rho_I||_2^2 + (sum_I rho)^2 / 2) the projected gradient:

       max_i |x_i - r*_i|  <=  sqrt(3/2) N / (n mu).                                  (*)

   The constants are exact for the complete graph: a single spike delta = e_i + (1/3) on the
   other interior rewards attains |delta_i| = sqrt(3 / (2 n)) sqrt(Q). Merging tied rewards
   into blocks only restricts delta to a subspace (the merged form is
   sum_{blocks A<B} |A||B| (Delta_A - Delta_B)^2), so (*) holds on every face; it does not
   need r* to lie on x's face, which could not be checked a posteriori.
3. The multipliers. lambda lives on the exactly tied pairs of x (complementary slackness
   then holds exactly); its choice only changes rho. For a run of ties (a block) at the
   top, lambda_j = g_{j+1} + ... + g_b cancels rho on the block below r_1; at the bottom,
   lambda_j = -(g_a + ... + g_j); inside, the block's net force is spread evenly. Every
   lambda_j is clipped at 0, and rho is recomputed from the clipped lambda: any lambda >= 0
   keeps (*) valid.
4. The returned vector. ``rewards`` near 1 are rounded (the solver carries their digits in
   ``complement`` q = 1 - r), so the bound is proved for the point x with x_k = 1 - q_k
   where r_k >= 1/2 and x_k = r_k elsewhere (the point the gaps of :mod:`theory.objective`
   describe), with x_1 set to 1 and x_n to 0; then max |r - r*| <= max |r - x| + (*), the
   first term computed exactly. Rewards out of order or outside [0, 1] are first sorted
   and clipped (any feasible x serves the triangle inequality). Where U'(0+) is finite
   (log-sigmoid) the optimum has tied end blocks, which an interior-point answer carries
   as 1 - 1e-12; x with those rewards set to exactly 1 or 0 (``SNAP``) is tried as well,
   and the smallest of the proven bounds is returned.
5. Rounding. The gradient at x is computed pair by pair in float64 and summed pairwise; the
   bound adds, per reward k, e_k = gamma_{ceil(log2 n)} sum_j |t_kj| + sum_j rel_kj |t_kj|
   (t_kj = U'(computed gap)), where rel_kj covers (i) evaluating U' (``EVAL_ULPS`` ulps,
   times 1 + E + A |log gap| / 2 for a rounded argument or exponent, see
   :func:`eval_relative_error`; checked against mpmath by the tests) and (ii) the computed
   gap's own error Delta (one rounding, plus |r_k - x_k| for a pair across 1/2), through
   the elasticity E = sup_{(0,1]} -x U''(x) / U'(x) (derived symbolically):
   |log U'(d) - log U'(d^)| <= E |log(d / d^)|. Then rho_k lies in [rho^_k - e_k,
   rho^_k + e_k] and N is bounded over that box. The sum over I uses the exact identity
   sum_k g_k = 0 (each pair adds +U' and -U'), so its error is e_1 + e_n, not sum_I e_k.
   Final float operations are covered by a relative inflation of (n + 8) ulps.
6. The local curvature (where sympy proves -U'' nonincreasing: every family here). mu is
   the curvature of the widest gap, 1; neighbouring rewards are much closer, and their
   weight -U''(gap) is far larger (2 / gap^3 for neg-power:1). With beta the bound so far,
   every gap on the segment [x, r*] is at most its value at x plus 2 beta, so the weight of
   the neighbours (k, k+1) is at least w_k = -U''(min(1, gap_k(x) + 2 beta)). Then
   L_W >= sum_k c_k b_k b_k' + mu L_K (c_k = w_k - mu, b_k = e_k - e_{k+1}, L_K the
   complete graph) in the Loewner order, and step 2 runs with the grounded form
   L = M - mu 1 1', M = T + n mu I, T the grounded path Laplacian of c (tridiagonal):

       |x_i - r*_i| <= sqrt(L^-1_ii) sqrt(rho' L^-1 rho),
       L^-1 = M^-1 + mu n (M^-1 1)(M^-1 1)' / (2 + 1' M^-1 T 1)     (Sherman-Morrison),

   with rho' M^-1 rho <= |rho|' M^-1 |rho| (M^-1 >= 0, an M-matrix). M^-1 v (v >= 0) and
   diag(M^-1) come from O(n) recurrences of positive numbers only (relative error
   <= 16 (n + 4) u, checked against a 50-digit inverse). With c = 0 this is (*) again
   (up to the sign cancellation (*) keeps in sum_I rho). The first beta is min(1, (*))
   (x and r* lie in [0, 1]^n); each round's bound is the next round's beta
   (``BOOTSTRAP_ROUNDS``), and the smallest bound is kept. U.d2 is taken with
   ``CURVATURE_TOLERANCE`` relative accuracy (checked against mpmath).
7. Fast sums (n above :data:`solvers.newton_cg.FAST_FROM`, x exactly symmetric, as every
   solver returns it). The only all-pairs sums above are those of step 5: g_k and its
   error e_k. They are computed by the fast multipole sums of the fast solver and its
   certificate (:class:`solvers.newton_cg.FastHalf`, :mod:`solvers.fastsum`) on the top
   half; at an exactly symmetric x the exact gradient has g_(n+1-k) = -g_k and a middle
   g of 0, so the bottom half follows with the same e. e_k is step 5's expression with
   each sum over j a fast sum: gamma sum_j |U'| and the evaluation terms, sum_j |U'| |log d|
   where A > 0, and the gaps across 1/2 through sum_j |U'| / d (the drift's slope at the
   largest eta and smallest gap across 1/2), all ``FAST_TERMS_MARGIN`` times over. The
   fast sums' own error enters as in the fast certificate: on the first and last four
   rows of the top half and ``SPOT_ROWS`` random ones, g is also summed directly and
   pairwise from the same float gaps as the fast sums form them (so the difference is
   their approximation alone; the gaps' rounding is the term above), and
   ``SUMMATION_MARGIN`` times the largest |fast - direct| / sum_j |U'| is added, times
   sum_j |U'|, on every row. The rest (multipliers, N, step 6) is O(n) and unchanged.
   Measured with ``sums="fast"`` against ``sums="dense"`` at ``solve(U, n, method="fast")``
   (n = 3001..4000; power:0.3, power:0.5, log, neg-power:0.5, neg-power:1, log-sigmoid:1):
   1.0 to 2.4 times the dense bound, and equal to 0.1% at a point 1e-8 away
   (tests/test_error_bound.py holds them to 1..10 times and 0.1%).

>>> from rcollapse.solvers import solve
>>> sol = solve("log", 10)
>>> eb = error_bound("log", sol.rewards, complement=sol.complement)
>>> eb.mu, eb.value < 1e-9
(1.0, True)
>>> error_bound("linear", [1.0, 0.0, 0.0]).reason
'linear is not strongly concave on (0, 1] (inf -U" = 0): no error bound'
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from rcollapse.solvers.kkt import rewards_and_complement
from rcollapse.theory.utilities import Utility, parse_utility, x as _x

__all__ = ["ErrorBound", "error_bound", "eval_relative_error", "curvature_decreasing", "EVAL_ULPS"]

#: Unit roundoff of float64 (round to nearest).
_U = 2.0**-53
#: Relative error allowed for one evaluation of U' (numpy, from the sympy form), in units
#: of the roundoff, times 1 + E + A |log gap| / 2 (:func:`eval_relative_error`). The tests
#: check U.d1 against 40-digit mpmath with a margin of 4.
EVAL_ULPS = 16
#: Entries of one block of pairs held at once (several float64 arrays of this size).
CHUNK_ELEMENTS = 2**20
#: Thresholds at which rewards within tau of 1 or 0 are tried as exact end blocks (only
#: where U'(0+) is finite, the only case with tied optimal rewards): an interior-point
#: answer carries its blocks as 1 - 1e-12 rather than 1.
SNAP = (1e-13, 1e-11, 1e-9, 1e-7)
#: Relative accuracy assumed of U.d2 (numpy) when it gives the curvature weights of step 6
#: (checked against mpmath by the tests, with a margin of 10).
CURVATURE_TOLERANCE = 1e-9
#: Rounds of step 6 at most, each from the previous bound (stopped when one gains < 1%).
BOOTSTRAP_ROUNDS = 50
#: sqrt(3 / 2): the max-norm constant of the grounded complete-graph Laplacian, times sqrt(n).
_MAXNORM = math.sqrt(1.5)
#: Fast sums (step 7): rows of the top half whose gradient is also summed directly
#: (plus the first and last four), as the fast certificate checks its own.
SPOT_ROWS = 64
#: Step 7: the largest |fast - direct| / sum_j |U'| measured on the spot rows counts this
#: many times over on every row, times that row's sum_j |U'| (the spot rows are a sample).
SUMMATION_MARGIN = 10.0
#: Step 7: the rounding terms of step 5, themselves summed by fast sums (relative error
#: about 1e-13, measured by the tests), count this many times over.
FAST_TERMS_MARGIN = 2.0


@dataclass(frozen=True)
class ErrorBound:
    """A proven bound on max_i |r_i - r*_i| for rewards r against the optimum r* of (5).

    ``value = offset + B``, B the smaller of sqrt(3/2) * projected_gradient / (n * mu)
    and the local-curvature bound of step 6 (capped by the trivial bound
    max_k max(r_k, 1 - r_k)), or None with the ``reason``; ``projected_gradient`` =
    sqrt(||rho_I||^2 + (sum_I rho)^2 / 2) with the gradient's rounding error included,
    ``rounding`` the same norm of the rounding error alone, ``offset`` = max |r - x| (see
    the module docstring).
    """

    value: float | None
    reason: str
    mu: float | None
    projected_gradient: float | None
    n: int
    rounding: float | None = None
    offset: float | None = None
    sums: str = "dense"  # how the all-pairs sums were done: "dense" (steps 1-6) or "fast" (step 7)
    summation_error: float | None = None  # fast: max |fast - direct| / sum_j |U'| on the spot rows
    seconds: float | None = None  # wall time of error_bound

    def to_json(self) -> dict:
        """A strict-JSON dict of the fields (None where there is no number)."""

        def num(v):
            return None if v is None or not math.isfinite(v) else float(v)

        return {"value": num(self.value), "reason": self.reason, "mu": num(self.mu),
                "projected_gradient": num(self.projected_gradient), "n": int(self.n),
                "rounding": num(self.rounding), "offset": num(self.offset), "sums": self.sums,
                "summation_error": num(self.summation_error), "seconds": num(self.seconds)}


def _none(reason: str, n: int, mu=None) -> ErrorBound:
    return ErrorBound(value=None, reason=reason, mu=mu, projected_gradient=None, n=n)


@functools.lru_cache(maxsize=64)
def _constants(U: Utility):
    """(mu, mu_low, E, A, reason): the strong-concavity constant mu = inf_{(0,1]} -U'' (and
    mu_low, rounded down), the elasticity bound E = sup_{(0,1]} -x U''/U' (rounded up), the
    largest inexact exponent A of U' (see :func:`eval_relative_error`); reason is "" or why
    there is none."""
    mu = float(U.strong_concavity)
    status = getattr(U, "property_status", {}).get("strong_concavity", "proved")
    if not mu > 0.0:
        return None, None, None, None, (
            f'{U.spec} is not strongly concave on (0, 1] (inf -U" = 0): no error bound')
    if status != "proved":
        return None, None, None, None, (f"{U.spec}: strong concavity mu = {mu:.6g} was {status}; "
                            "a proven bound needs a proved mu")
    if not U.increasing:
        return None, None, None, None, f"{U.spec} is not increasing on (0, 1]: no error bound"
    elasticity = sp.simplify(-_x * U.d2expr / U.dexpr)
    slope = sp.simplify(sp.diff(elasticity, _x))
    if slope.is_nonnegative:
        top = elasticity.subs(_x, 1)
    elif slope.is_nonpositive:
        top = sp.limit(elasticity.rewrite(sp.exp), _x, 0, "+")
    else:
        top = None
    try:
        E = float(sp.N(top, 30)) if top is not None else math.nan
    except (TypeError, ValueError):
        E = math.nan
    if not (math.isfinite(E) and E >= 0.0):
        return None, None, None, None, (
            f"{U.spec}: cannot bound the elasticity -x U''/U' on (0, 1], needed for the "
            "gradient's rounding error")
    A = 0.0
    for power in U.dexpr.atoms(sp.Pow):
        a = power.exp
        if not a.is_Number:
            A = max(A, 1.0 + E)  # not one of the families: a generous allowance
        elif sp.Rational(float(a)) != a:
            A = max(A, abs(float(a)))
    return mu, mu * (1.0 - 4 * _U), E * (1.0 + 4 * _U) + 4 * _U, A, ""


@functools.lru_cache(maxsize=64)
def _finite_slope_at_zero(U: Utility) -> bool:
    return U.dU0 is not None


@functools.lru_cache(maxsize=64)
def curvature_decreasing(U: Utility) -> bool:
    """Whether sympy proves U^(3) >= 0 for x > 0, i.e. -U'' nonincreasing: then a gap that
    is at most D has a curvature weight -U''(gap) >= -U''(D). Directly, or (log-sigmoid)
    after x = y / a and exp(y) = 1 + w with w > 0, where a is the one rate of exp in U."""
    d3 = sp.diff(U.d2expr, _x)
    if d3.is_nonnegative:
        return True
    e = d3.rewrite(sp.exp)
    rates = {t.args[0].coeff(_x) for t in e.atoms(sp.exp)} - {0}
    if not rates or len({abs(r) for r in rates}) != 1:
        return False
    a = abs(next(iter(rates)))
    y, w = sp.Symbol("y", positive=True), sp.Symbol("w", positive=True)
    e = e.subs(_x, y / a)
    e = e.replace(lambda t: isinstance(t, sp.exp) and t.args[0] in (y, -y),
                  lambda t: (1 + w) if t.args[0] == y else 1 / (1 + w))
    return bool(sp.factor(sp.together(e)).is_nonnegative)


def _exact(v) -> Fraction:
    return Fraction(float(v))


def _ordered(r: np.ndarray, q: np.ndarray) -> bool:
    """Whether the point x (x_k = 1 - q_k where r_k >= 1/2, else r_k) is feasible for (5):
    1 >= x_1 >= ... >= x_n >= 0, decided exactly."""
    top = r >= 0.5
    if np.any(~top[:-1] & top[1:]):  # a reward below 1/2 above one at or over 1/2
        return False
    both_top, both_low = top[:-1] & top[1:], ~top[:-1] & ~top[1:]
    if np.any(both_top & (q[:-1] > q[1:])) or np.any(both_low & (r[:-1] < r[1:])):
        return False
    cross = np.flatnonzero(top[:-1] & ~top[1:])
    if cross.size and _exact(q[cross[0]]) + _exact(r[cross[0] + 1]) > 1:
        return False
    first = 1 - _exact(q[0]) if top[0] else _exact(r[0])
    last = 1 - _exact(q[-1]) if top[-1] else _exact(r[-1])
    return 0 <= last and first <= 1


def _feasible_point(r: np.ndarray, q: np.ndarray):
    """The point x of step 4 as (rx, qx): x_k = 1 - qx_k where rx_k >= 1/2, else rx_k;
    feasible, with x_1 = 1 and x_n = 0. None when no such x is found.

    A feasible input keeps its values. An infeasible one (out of order, or outside [0, 1])
    is sorted and clipped first: any feasible x is valid for the triangle inequality
    |r - r*| <= |r - x| + |x - r*|; the offset then includes the repair."""
    rx, qx = r.copy(), q.copy()
    if not _ordered(r, q):
        exact = [1 - _exact(b) if a >= 0.5 else _exact(a) for a, b in zip(r, q)]
        p = [min(Fraction(1), max(Fraction(0), v)) for v in sorted(exact, reverse=True)]
        rx = np.array([float(v) for v in p])
        qx = np.array([float(1 - v) for v in p])
    # x_1 := 1 and x_n := 0 (step 4): a feasible move, since x is ordered.
    rx[0], qx[0] = 1.0, 0.0
    rx[-1], qx[-1] = 0.0, 1.0
    # Where x_k = 1 - q_k, the gaps across 1/2 use rx_k = fl(1 - q_k): within 2^-54 of x_k
    # and never above 1 (the user's r_k enters only the offset).
    top = rx >= 0.5
    rx[top] = 1.0 - qx[top]
    if not _ordered(rx, qx):  # pragma: no cover - rounding to float64 cannot unorder x
        return None
    return rx, qx


def _snapped(rx: np.ndarray, qx: np.ndarray, tau: float):
    """x with the rewards within tau of 1 set to 1 and those within tau of 0 set to 0 (a
    nearly tied end block made exact), or None when nothing moves."""
    top = rx >= 0.5
    up = top & (qx > 0.0) & (qx < tau)
    down = ~top & (rx > 0.0) & (rx < tau)
    if not (up.any() or down.any()):
        return None
    rx, qx = rx.copy(), qx.copy()
    rx[up], qx[up] = 1.0, 0.0
    rx[down], qx[down] = 0.0, 1.0
    return rx, qx


def _offsets(r: np.ndarray, rx: np.ndarray, qx: np.ndarray):
    """(top, eta, offset) for the point x of (rx, qx): eta_k = |rx_k - x_k| (rounded up),
    used for the gaps across 1/2, and offset = max_k |r_k - x_k| (rounded up). Each is a
    sum of three floats, which math.fsum rounds correctly."""
    top = rx >= 0.5
    eta = np.zeros(r.size)
    dist = np.zeros(r.size)
    for k in np.flatnonzero(top):
        eta[k] = abs(math.fsum((rx[k], qx[k], -1.0)))
        dist[k] = abs(math.fsum((r[k], qx[k], -1.0)))
    low = ~top & (rx != r)
    for k in np.flatnonzero(low):
        dist[k] = abs(math.fsum((r[k], -rx[k])))
    eta = np.where(eta > 0.0, np.nextafter(eta, np.inf), 0.0)
    offset = float(dist.max())
    return top, eta, (math.nextafter(offset, math.inf) if offset else 0.0)


def _trivial(r: np.ndarray) -> float:
    """max_k max(r_k, 1 - r_k), rounded up: |r_k - r*_k| is never more, as r*_k is in [0, 1]."""
    return math.nextafter(max(float(r.max()), float(1.0 - r.min())), math.inf)


def _pairwise_row_sums(F: np.ndarray) -> np.ndarray:
    """Row sums by explicit pairwise summation: error <= gamma_{ceil(log2 w)} sum |F_kj|."""
    while F.shape[1] > 1:
        w = F.shape[1]
        h = w // 2
        S = F[:, :h] + F[:, h:2 * h]
        F = np.concatenate((S, F[:, 2 * h:]), axis=1) if w % 2 else S
    return F[:, 0]


def eval_relative_error(d, E: float, A: float):
    """The relative error allowed for one numpy evaluation of U' at the gap d (elementwise):

        EVAL_ULPS u (1 + E + A |log d| / 2).

    E (the elasticity bound) scales the error of a rounded argument (x / s in log-sigmoid:
    relative error about E u); A is the largest |a| over the exponents a of U' that float64
    does not hold exactly (x^(-7/10) for power:0.3; 0 for power:0.5, log, neg-power:1),
    whose rounding costs a relative |a| u |log d| (then allowed 8 times over). An exact tie
    (d = 0) has no log."""
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        logd = np.where(d > 0.0, np.abs(np.log(np.where(d > 0.0, d, 1.0))), 0.0)
    return EVAL_ULPS * _U * (1.0 + E + 0.5 * A * logd)


def _gradient_with_error(U: Utility, rx, qx, top, eta, E: float, A: float, chunk_elements: int):
    """(g^, e): the computed gradient of S at x and a bound on its error, per reward;
    None, None when a term is not finite or a gap across 1/2 is not resolved.

    x is sorted, so the rewards with x_k = 1 - q_k (``top``) are the first m. A gap inside
    the top is q_j - q_k, one inside the bottom r_k - r_j (both one rounding, relative u);
    a gap across 1/2 is rx_k - rx_j, off by eta_k more (rx_k = fl(1 - q_k))."""
    n = rx.size
    m = int(top.sum())
    if not top[:m].all():  # pragma: no cover - _ordered makes top a prefix
        raise AssertionError("top rewards must come first")
    depth = math.ceil(math.log2(n))
    gamma_sum = depth * _U / (1 - depth * _U)
    u1 = _U / (1 - _U)
    y0 = 2.0 * E * u1  # the drift bound E |log(d / d^)| of a one-rounding gap
    drift0 = y0 * (1.0 + y0)
    g = np.zeros(n)
    err = np.zeros(n)
    cols = np.arange(n)[None, :]
    step = max(1, min(n, chunk_elements // n))
    for a in range(0, n, step):
        b = min(n, a + step)
        rows = np.arange(a, b)[:, None]
        # d[k, j] = x_k - x_j, then the sign flipped where j < k: the pair's gap, >= 0.
        d = rx[a:b, None] - rx[None, :]
        tb = min(b, m)  # rows a..tb-1 are top rows
        if a < tb:
            d[:tb - a, :m] = qx[None, :m] - qx[a:tb, None]
        np.negative(d, out=d, where=cols < rows)
        diag = cols == rows
        d[diag] = 1.0
        t = U.d1(d)
        if not np.all(np.isfinite(t)):
            return None, None
        t[diag] = 0.0
        size = np.abs(t)
        # rel = (eps + drift) / (1 - eps)
        #     = (eps + drift0) / (1 - eps) + (drift - drift0) / (1 - eps)
        if A > 0.0:
            eps = eval_relative_error(d, E, A)  # (i) evaluation of U'
            relsum = (size * ((eps + drift0) / (1.0 - eps))).sum(axis=1)
        else:
            eps0 = float(eval_relative_error(1.0, E, 0.0))
            relsum = size.sum(axis=1) * ((eps0 + drift0) / (1.0 - eps0))
        # (ii) gaps across 1/2: Delta = u1 d + eta (1 + u) of the top member.
        for lo, hi, c0, c1, own in ((a, tb, m, n, True), (max(a, m), b, 0, m, False)):
            if lo >= hi or c0 >= c1:
                continue
            sub = d[lo - a:hi - a, c0:c1]
            et = eta[lo:hi, None] if own else eta[None, c0:c1]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = u1 + np.where(et > 0.0, et * (1 + _U) / sub, 0.0)
            if not np.all(ratio <= 0.25):
                return None, None
            y = 2.0 * E * ratio  # >= E |log(d / d^)|: |log(1 + s)| <= 2 |s| for |s| <= 1/2
            drift = np.where(y <= 0.5, y * (1.0 + y), np.expm1(y))
            e_sub = eps[lo - a:hi - a, c0:c1] if A > 0.0 else eps0
            extra = size[lo - a:hi - a, c0:c1] * ((drift - drift0) / (1.0 - e_sub))
            relsum[lo - a:hi - a] += extra.sum(axis=1)
        np.negative(t, out=t, where=cols < rows)
        g[a:b] = _pairwise_row_sums(t)
        err[a:b] = gamma_sum * size.sum(axis=1) + relsum
    err *= 1.0 + 4 * (n + 8) * _U
    return g, err


def _symmetric(rx, qx, top) -> bool:
    """Whether x is exactly symmetric, x_(n+1-k) = 1 - x_k (the fast path's points): the
    bottom rewards are the top complements reversed, the middle of odd n is 1/2, and the
    top (x_k >= 1/2) is exactly the first half."""
    n, m = rx.size, rx.size // 2
    return (int(top.sum()) == m + n % 2 and np.array_equal(qx[:m], rx[::-1][:m])
            and (n % 2 == 0 or rx[m] == qx[m] == 0.5))


def _fast_gradient_with_error(U: Utility, rx, qx, top, eta, E: float, A: float, chunk_elements: int,
                              spot_rows: int, seed: int):
    """Step 7: (g^, e, summation_error) of :func:`_gradient_with_error` by fast sums, for a
    symmetric x (:func:`_symmetric`); (None, None, reason) where no bound is proved.

    On the top half y = qx[:m], :class:`solvers.newton_cg.FastHalf` gives g and the forces
    sum_j |U'|; step 5's rounding terms are the same expressions, their sums over j done by
    fast sums (sum_j |U'| |log d| where A > 0; sum over the pairs across 1/2 of |U'| / d,
    with the largest eta, for the gaps across 1/2), FAST_TERMS_MARGIN times over. The fast
    sums' own error is measured: the top rows of :func:`solvers.newton_cg._spot_rows`
    are summed directly (:func:`_direct_top_rows`, the same float gaps), and the largest
    difference relative to the row's force sum_j |U'| (the fast sums' error is relative
    to the kernel's size) is added, SUMMATION_MARGIN times over and times the row's
    force, on every row. The
    bottom half and the middle follow exactly: at a symmetric x the exact gradient has
    g_(n+1-k) = -g_k and g_middle = 0."""
    from rcollapse.solvers.fastsum import PointSum
    from rcollapse.solvers.certify_fast import _spot_rows
    from rcollapse.solvers.fast_half import FastHalf

    n, m, odd = rx.size, rx.size // 2, rx.size % 2 == 1
    half = FastHalf(U, n)
    scale = half.c ** U.param if half.c != 1.0 else 1.0  # U(c t) = c^(-g) U(t): undone
    y = qx[:m]
    u1 = _U / (1 - _U)
    y0 = 2.0 * E * u1
    drift0 = y0 * (1.0 + y0)
    eta_max = float(eta.max(initial=0.0))
    m_top = m + odd
    d_across = (float(rx[m_top - 1] - rx[m_top]) * (1 - 2 * _U) - eta_max) if m_top < n else 1.0
    gaps = np.diff(np.concatenate((y, [0.5] if odd else [])))
    gaps = gaps[gaps > 0.0]
    d_min = min(float(gaps.min(initial=1.0)) * (1 - 2 * _U), d_across)
    if not d_across > 0.0 or not d_min > 0.0:
        return None, None, "a gap across 1/2 is below what float64 resolves"
    ratio_max = u1 + eta_max * (1 + _U) / d_across
    if ratio_max > 0.25:
        return None, None, "a gap across 1/2 is below what float64 resolves"
    y_max = 2.0 * E * ratio_max
    slope = max(1.0 + y_max + y0, math.exp(y_max))  # (drift - drift0) <= slope (y - y0)
    eps0 = float(eval_relative_error(1.0, E, 0.0))
    eps_max = float(eval_relative_error(d_min, E, A))

    def across_kernel(d):  # |U'(d)| / d on the pairs across 1/2 (never a tie)
        a = np.abs(d)
        return np.where(a > 0.0, half.k_force(d) / np.where(a > 0.0, a, 1.0), 0.0)

    def log_kernel(d):  # |U'(d)| |log d| (a tie has no log: eval_relative_error)
        a = np.abs(d)
        return np.where(a > 0.0, half.k_force(d) * np.abs(np.log(np.where(a > 0.0, a, 1.0))), 0.0)

    with np.errstate(all="ignore"):
        points = half.tree(y)
        q, force = half.gradient(points)
        g_top, force = q * scale, force * scale
        bottom = np.concatenate((np.zeros(m), np.ones(m)))
        across = PointSum(points, across_kernel)(bottom) * scale
        if A > 0.0:
            logsum = PointSum(points, log_kernel)(np.ones(2 * m)) * scale
            if odd:
                logsum += log_kernel(0.5 - y) * scale
            relsum = (EVAL_ULPS * _U * ((1.0 + E) * force + 0.5 * A * logsum)
                      + drift0 * force) / (1.0 - eps_max)
        else:
            relsum = force * ((eps0 + drift0) / (1.0 - eps0))
        extra = 2.0 * E * (1 + _U) * eta_max * slope / (1.0 - eps_max) * across
        depth = math.ceil(math.log2(n))
        e_top = FAST_TERMS_MARGIN * (depth * _U / (1 - depth * _U) * force + relsum + extra)
    if not (np.all(np.isfinite(g_top)) and np.all(np.isfinite(e_top))):
        return None, None, "the gradient at the rewards is not finite (by fast sums)"
    rows = _spot_rows(m, spot_rows, np.random.default_rng(seed))
    g_dir = _direct_top_rows(half, y, rows, chunk_elements) * scale
    if not (np.all(np.isfinite(g_dir)) and np.all(force[rows] > 0.0)):
        return None, None, "the gradient summed directly on the spot rows is not finite"
    relative = float(np.max(np.abs(g_top[rows] - g_dir) / force[rows]))
    if scale != 1.0:  # U'(c t) c, then times c^g: the argument's rounding and two products
        e_top += (E + 3.0) * _U * force + 2.0 * _U * np.abs(g_top)
    e_top = e_top * (1.0 + 4 * (n + 8) * _U) + SUMMATION_MARGIN * relative * force
    mid = [0.0] if odd else []
    g = np.concatenate((g_top, mid, -g_top[::-1]))
    e = np.concatenate((e_top, mid, e_top[::-1]))
    return g, e, relative


def _direct_top_rows(half, y, rows, chunk_elements: int) -> np.ndarray:
    """dS/dr_k (in the fast sums' scale) on the top-half ``rows``, summed directly and
    pairwise, with every gap formed as the fast sums form it (points y and fl(1 - y),
    the sign of a tie by the index order, the middle of odd n at 1/2): the difference
    from the fast sums is then their approximation alone, while the gaps' rounding is
    step 5's (the terms across 1/2 with the largest eta)."""
    m = y.size
    x = np.concatenate((y, 1.0 - y[::-1]))
    cols = np.arange(2 * m)
    out = np.empty(rows.size)
    step = max(1, chunk_elements // (2 * m + 1))
    for a in range(0, rows.size, step):
        k = rows[a:a + step]
        d = np.copysign(np.abs(x[k][:, None] - x[None, :]), (k[:, None] - cols).astype(float))
        same = k[:, None] == cols
        d[same] = 1.0
        t = half.k_grad(d)
        t[same] = 0.0
        if half.odd:  # the middle reward, above every top point in x: the gap y_k - 1/2
            t = np.concatenate((t, half.k_grad(y[k] - 0.5)[:, None]), axis=1)
        out[a:a + step] = -_pairwise_row_sums(t)
    return out


def _multipliers(g: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """lambda_1..lambda_{n-1} (index k-1 for the pair (k, k+1)) >= 0 on the tied pairs, by
    step 3 of the module docstring; 0 on the untied ones."""
    n = g.size
    lam = np.zeros(n - 1)
    k = 0
    while k < n - 1:
        if not ties[k]:
            k += 1
            continue
        a = k
        while k < n - 1 and ties[k]:
            k += 1
        b = k  # block of rewards a..b (0-based), ties a..b-1
        gb = g[a:b + 1]
        if a == 0:  # top block: cancel rho on a+1..b
            vals = np.cumsum(gb[::-1])[::-1][1:]  # lambda_j = g_{j+1} + ... + g_b
        elif b == n - 1:  # bottom block: cancel rho on a..b-1
            vals = -np.cumsum(gb)[:-1]
        else:  # interior: spread the block's net force evenly
            vals = -np.cumsum(gb - gb.mean())[:-1]
        lam[a:b] = np.maximum(vals, 0.0)
    return lam


def _positive_tridiagonal(c: np.ndarray, base: float):
    """For M = base I + (the grounded path Laplacian with edge weights c, c[0] and c[-1]
    to the ground), m = c.size - 1 nodes: (F, G) with the pivots f_j = F_j + c[j + 1] of
    Gaussian elimination from the top and diag(M^-1)_j = 1 / (F_j + G_j). Only sums,
    products and quotients of positive numbers: each result has relative error at most
    4 (m + 2) u (the maps F -> base + c F / (c + F) have relative sensitivity <= 1)."""
    m = c.size - 1
    cl, base = c.tolist(), float(base)  # Python floats: the same IEEE operations, faster loops
    F, G = [0.0] * m, [0.0] * m
    F[0] = f = base + cl[0]
    for j in range(1, m):
        F[j] = f = base + cl[j] * f / (cl[j] + f)
    H = base + cl[m]
    G[m - 1] = cl[m]
    for j in range(m - 2, -1, -1):
        G[j] = gj = cl[j + 1] * H / (cl[j + 1] + H)
        H = base + gj
    return np.array(F), np.array(G)


def _positive_solve(c: np.ndarray, F: np.ndarray, v: np.ndarray) -> np.ndarray:
    """M^-1 v for v >= 0 (M of :func:`_positive_tridiagonal`), by elimination with positive
    terms only: relative error at most 8 (m + 2) u."""
    m = v.size
    f = (F + c[1:]).tolist()
    cl, vl = c.tolist(), v.tolist()  # Python floats: the same IEEE operations, faster loops
    vp = [0.0] * m
    vp[0] = p = vl[0]
    for j in range(1, m):
        vp[j] = p = vl[j] + cl[j] * p / f[j - 1]
    z = [0.0] * m
    z[m - 1] = t = vp[m - 1] / f[m - 1]
    for j in range(m - 2, -1, -1):
        z[j] = t = (vp[j] + cl[j + 1] * t) / f[j]
    return np.array(z)


def _neighbour_gaps_up(rx, qx, top, eta) -> np.ndarray:
    """Upper bounds on the n - 1 gaps x_k - x_{k+1} of the point x."""
    d = np.where(top[:-1] & top[1:], qx[1:] - qx[:-1], rx[:-1] - rx[1:])
    across = top[:-1] & ~top[1:]
    slack = _U / (1 - _U) * d + np.where(across, eta[:-1] * (1 + _U), 0.0)
    return (d + slack) * (1 + 4 * _U)


def _weighted_bound(U: Utility, beta: float, gaps_up, rho_abs, rho_signed, e_signed,
                    mu_low: float, n: int) -> float:
    """Step 6 of the module docstring: the bound on max |x - r*| from the weights
    L_W >= sum_k c_k b_k b_k' + mu L_K (b_k = e_k - e_{k+1}), given max |x - r*| <= beta."""
    D = np.minimum(1.0, (gaps_up + 2.0 * beta) * (1 + 4 * _U))
    w = -U.d2(D) * (1.0 - CURVATURE_TOLERANCE)
    if not np.all(np.isfinite(w)):
        return math.inf
    c = np.maximum(0.0, (w - mu_low) * (1 - 2 * _U))
    base = n * mu_low
    F, G = _positive_tridiagonal(c, base)
    kappa = 1.0 + 16 * (n + 4) * _U
    y = _positive_solve(c, F, np.ones(n - 2))  # M^-1 1
    z = _positive_solve(c, F, rho_abs)  # M^-1 |rho|
    # 1 - mu 1' M^-1 1 = (2 + 1' M^-1 T 1) / n, T 1 = the two ground edges: no cancellation.
    denom = (2.0 + y[0] * c[0] + y[-1] * c[-1]) / kappa
    ytr = (abs(math.fsum(y * rho_signed)) * (1 + 2 * _U) + kappa * float(np.sum(y * e_signed))
           + (kappa - 1.0) * float(np.sum(y * np.abs(rho_signed))))
    quad = kappa * float(np.sum(rho_abs * z)) + mu_low * n * (kappa * ytr) ** 2 / denom
    diag = kappa / (F + G) + mu_low * n * (kappa * y) ** 2 / denom
    return float(np.sqrt(diag.max() * quad)) * kappa


def error_bound(U, rewards, *, complement=None, chunk_elements: int = CHUNK_ELEMENTS,
                sums: str = "auto", spot_rows: int = SPOT_ROWS, seed: int = 0) -> ErrorBound:
    """A proven upper bound on max_i |r_i - r*_i|, r = ``rewards`` (n,) sorted best first and
    r* the optimum of problem (5) for utility ``U`` (a Utility or a spec):

        value = max |r - x| + min( sqrt(3/2) N / (n mu),  the bound of step 6 ),
        N = sqrt(||rho_I||^2 + (sum_I rho)^2 / 2),   I = {2, ..., n - 1},

    x the rewards as ``complement`` carries them near 1, with x_1 = 1 and x_n = 0;
    mu = inf_{(0,1]} -U''; rho the gradient of S at x minus the nonnegative multipliers of
    the tied pairs, rounding error included (derivation: module docstring). ``complement``
    is 1 - rewards computed without cancellation (``Solution.complement``).

    ``value`` is None, with the ``reason``, when no bound is proved: U not strongly concave
    (linear), a tie where U'(0+) is infinite, or a gap the float64 data cannot resolve.
    Rewards out of order or outside [0, 1] are bounded through the nearest sorted, clipped
    point (the distance to it is part of ``offset``). ``value`` is at most
    max_k max(r_k, 1 - r_k).

    ``sums``: "dense" (one chunked pass over the n^2 pairs, about 3e-8 s a pair on one
    core: 13 s at n = 20,000), "fast" (step 7: O(n p) fast sums plus ``spot_rows`` + 8 rows
    summed directly, seeded by ``seed``; for an exactly symmetric x, as every solver returns
    it; ValueError otherwise) or "auto": fast above
    :data:`solvers.newton_cg.FAST_FROM` when x is symmetric, else dense (the numbers below
    FAST_FROM are the dense ones). Each nearly tied end block tried (log-sigmoid) costs
    one more such pass. ``seconds`` records the time taken.

    >>> eb = error_bound("power:0.5", [1.0, 0.5, 0.0])
    >>> eb.value < 1e-13, eb.mu
    (True, 0.25)
    """
    t0 = time.perf_counter()
    if sums not in ("auto", "dense", "fast"):
        raise ValueError(f"sums = {sums!r} is unknown; valid: 'auto', 'dense' or 'fast'")
    best = _error_bound(U, rewards, complement, chunk_elements, sums, spot_rows, seed)
    return dataclasses.replace(best, seconds=time.perf_counter() - t0)


def _error_bound(U, rewards, complement, chunk_elements, sums, spot_rows, seed) -> ErrorBound:
    """:func:`error_bound` without its argument check and clock."""
    U = parse_utility(U)
    r, q = rewards_and_complement(rewards, complement)
    n = r.size
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        return _none("rewards or complement are not finite", n)
    mu, mu_low, E, A, reason = _constants(U)
    if mu is None:
        return _none(reason, n)
    point = _feasible_point(r, q)
    if point is None:  # pragma: no cover - see _feasible_point
        return _none("no feasible point near the rewards was found", n, mu)
    symmetric = n > 2 and _symmetric(*point, point[0] >= 0.5)
    if sums == "fast" and not symmetric:
        raise ValueError("sums = 'fast' needs rewards symmetric to the last bit "
                         "(r_(n+1-k) = complement_k); valid: sums 'dense' or 'auto'")
    if sums == "auto":
        from rcollapse.solvers.newton_cg import FAST_FROM

        sums = "fast" if symmetric and n > FAST_FROM else "dense"
    fast = None if sums == "dense" else (spot_rows, seed)
    best = _certify(U, r, *point, mu, mu_low, E, A, chunk_elements, fast)
    if _finite_slope_at_zero(U):  # U'(0+) finite: end blocks of ties; try them made exact
        tried = set()
        for tau in SNAP:
            snapped = _snapped(*point, tau)
            if snapped is None or snapped[0].tobytes() in tried:
                continue
            tried.add(snapped[0].tobytes())
            other = _certify(U, r, *snapped, mu, mu_low, E, A, chunk_elements, fast)
            if other.value is not None and (best.value is None or other.value < best.value):
                best = other
    return best


def _certify(U: Utility, r, rx, qx, mu: float, mu_low: float, E: float, A: float,
             chunk_elements: int, fast=None):
    """The bound (*) at the feasible point x of (rx, qx), plus max |r - x|; the gradient
    by dense sums, or by fast sums (step 7) where ``fast`` = (spot_rows, seed)."""
    n = r.size
    top, eta, offset = _offsets(r, rx, qx)
    if n == 2:
        value = min(_trivial(r), offset)
        return ErrorBound(value=value, reason="", mu=mu, projected_gradient=0.0, n=n,
                          rounding=0.0, offset=offset)
    summation_error = None
    if fast is None:
        g, e = _gradient_with_error(U, rx, qx, top, eta, E, A, chunk_elements)
        why = "the gradient at the rewards is not finite or a gap is below what float64 resolves"
    else:
        g, e, summation_error = _fast_gradient_with_error(U, rx, qx, top, eta, E, A, chunk_elements,
                                                          *fast)
        why = summation_error
    if g is None:
        return _none(f"{U.spec}: {why} (a tie where U'(0+) is infinite?)", n, mu)
    ties = np.where(top[:-1] & top[1:], qx[:-1] == qx[1:],
                    ~top[:-1] & ~top[1:] & (rx[:-1] == rx[1:]))
    lam = _multipliers(g, ties)
    lam_lo = np.concatenate(([0.0], lam))  # lambda_{k-1}, k = 1..n (lambda_0 unused)
    lam_hi = np.concatenate((lam, [0.0]))  # lambda_k (lambda_n unused)
    rho = g + lam_hi - lam_lo
    e_rho = e + 2.1 * _U * (np.abs(g) + lam_hi + lam_lo)
    rho_i, e_i = rho[1:-1], e_rho[1:-1]
    # |sum_I rho|: directly, or by sum_k g_k = 0:
    # sum_I rho = -(g_1 + g_n) + lambda_{n-1} - lambda_1.
    direct = abs(math.fsum(rho_i)) * (1 + 2 * _U) + float(np.sum(e_i))
    ends_terms = (-g[0], -g[-1], lam[-1], -lam[0])
    via_ends = (abs(math.fsum(ends_terms)) + 4 * _U * math.fsum(map(abs, ends_terms))
                + e[0] + e[-1])
    total = min(direct, via_ends)
    total_err = min(float(np.sum(e_i)), e[0] + e[-1] + 4 * _U * math.fsum(map(abs, ends_terms)))
    inflate = 1.0 + 4 * (n + 8) * _U
    N = math.sqrt(float(np.sum((np.abs(rho_i) + e_i) ** 2)) + total**2 / 2) * inflate
    rounding = math.sqrt(float(np.sum(e_i**2)) + total_err**2 / 2) * inflate
    B = _MAXNORM * N / (n * mu_low) * inflate
    if curvature_decreasing(U):  # step 6: the local curvature, bootstrapped from B
        gaps_up = _neighbour_gaps_up(rx, qx, top, eta)
        rho_abs = np.abs(rho_i) + e_i
        B = min(B, 1.0)  # x and r* both lie in [0, 1]^n
        for _ in range(BOOTSTRAP_ROUNDS):
            better = _weighted_bound(U, B, gaps_up, rho_abs, rho_i, e_i, mu_low, n)
            if not better < B:
                break
            B, done = better, better > 0.99 * B
            if done:
                break
    value = min(_trivial(r), (offset + B) * (1 + 4 * _U))
    return ErrorBound(value=value, reason="", mu=mu, projected_gradient=N, n=n,
                      rounding=rounding, offset=offset, sums="dense" if fast is None else "fast",
                      summation_error=summation_error)
