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
   (tests/solvers/test_error_bound.py holds them to 1..10 times and 0.1%).

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

import numpy as np
import sympy as sp

from rcollapse.solvers.bound_sums import (EVAL_ULPS, FAST_TERMS_MARGIN, SPOT_ROWS, SUMMATION_MARGIN,  # noqa: F401
                                          _U, _fast_gradient_with_error, _gradient_with_error,
                                          _symmetric, eval_relative_error)
from rcollapse.solvers.bound_point import _feasible_point, _offsets, _snapped  # noqa: F401
from rcollapse.solvers.kkt import rewards_and_complement
from rcollapse.theory.utilities import Utility, parse_utility, x as _x

__all__ = ["ErrorBound", "error_bound", "eval_relative_error", "curvature_decreasing", "EVAL_ULPS"]

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


def _trivial(r: np.ndarray) -> float:
    """max_k max(r_k, 1 - r_k), rounded up: |r_k - r*_k| is never more, as r*_k is in [0, 1]."""
    return math.nextafter(max(float(r.max()), float(1.0 - r.min())), math.inf)


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
