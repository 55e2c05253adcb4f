"""Newton's method for problem (5) at large n, on the symmetric half of the rewards.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. What the theory gives, and how it is used here:

- Lemmas 4.1, C.1, C.2: for U strictly increasing and strictly concave the optimum is
  unique and symmetric, r_i + r_{n+1-i} = 1, with r_1 = 1 and r_n = 0. So only the top
  half is unknown. It is stored as distances from the top, ``y_k = 1 - r_k``
  (k = 1..m, m = floor(n/2)); the bottom half is ``r_{n+1-k} = y_k`` and the middle
  reward of odd n is 1/2. Storing y keeps the tiny gaps near r = 1 (about 1e-15 for
  power:0.5 at n = 10,000) to full relative precision; the result carries them as
  ``complement`` (= y on the top half), since ``rewards = 1 - y`` rounds them (for
  power:0.9 at n = 1,000 the top 77 rewards round to 1.0; their y are distinct).
- The reduced objective is phi(y) = -S(r(y)) / 2,

      phi(y) = -sum_{i<j} U(y_j - y_i) - 1/2 sum_{i,j} U(1 - y_i - y_j) - [n odd] sum_i U(1/2 - y_i),

  whose gradient is the full gradient of S on the top half, ``dphi/dy_k = dS/dr_k``, and
  whose Hessian is, with W = -U''(within-half gap), V = -U''(cross gap 1 - y_k - y_l),
  M_k = -U''(1/2 - y_k),

      B_kl = V_kl - W_kl (k != l),   B_kk = sum_{j != k} (W_kj + V_kj) + 2 V_kk + M_k.

  The full Hessian of S is minus a weighted graph Laplacian (weights -U'' > 0); folded
  by symmetry it becomes B, for ordered y a strictly diagonally dominant M-matrix (W >= V
  since -U'' decreases; row sums 2 sum_j V_kj + M_k > 0), so B is positive definite and
  Cholesky applies. It is
  built densely in blocks of rows (n = 10,000: a 5,000 x 5,000 matrix, 200 MB).
- U'(0+) infinite (power, log, neg-power): the order is strict. y_1 = 0 is fixed and
  the rest is free; a step never goes past a tie (fraction to the boundary 0.9), then
  backtracks on phi (Armijo).
- U'(0+) finite (log-sigmoid): runs of rewards sit exactly at 1 and at 0 (Theorem 4),
  the run length unknown. Then the box 0 <= y <= 1/2 is the only constraint needed (for
  log sigmoid, swapping two rewards that are out of order raises S, since
  U(d) - U(-d) = d / sigma, so the box optimum is ordered) and a projected Newton method
  (Bertsekas 1982) finds the active run: an epsilon-active set takes a scaled gradient
  step, the rest a Newton step, and the projection puts the active rewards at exactly
  1.0 and 0.0.
- A good start comes from the limit (Theorems 2, 3): the Beta((1 - g)/2, (1 - g)/2)
  quantiles for power:g, Beta(1/2, 1/2) for log, Beta((1 + g)/2, (1 + g)/2) for
  neg-power:g < 1 and uniform for g >= 1; for log-sigmoid, Theorem 4's atom mass
  U'(1) / (U'(0) + U'(1)) at each end and uniform between. Newton runs first on
  n_0 <= 128 rewards, then on twice as many, and so on up to n, each level starting
  from the previous optimum carried over (see :func:`_transfer`: an index shift in the
  coordinate of the limit's CDF, which the edge of the optimum keeps from one n to the
  next), so that the last, costly level needs two to four steps.
- Chord steps: a Cholesky factor is reused while full steps keep shrinking the residual
  tenfold, so the n = 10,000 level factors its 5,000 x 5,000 Hessian once or twice.

Linear U is an LP, S = sum_k (n + 1 - 2k) r_k: r_k = 1 where the coefficient is
positive, 0 where negative, and the middle reward of odd n (coefficient 0) is free; it
is returned as 1/2.

The stopping test is the shared certificate :func:`solvers.kkt.kkt_residual` on the
full reward vector. Not reaching ``tol`` raises :class:`ConvergenceError`.

>>> out = solve_newton(parse_utility("log"), 4, tol=1e-12)
>>> [round(float(v), 12) for v in out.rewards]
[1.0, 0.72360679775, 0.27639320225, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats
from scipy.interpolate import PchipInterpolator

from rcollapse.solvers.errors import ConvergenceError
from rcollapse.solvers.kkt import certify, kkt_residual
from rcollapse.theory.objective import CHUNK_ELEMENTS
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["solve_newton", "NewtonOutcome", "limit_beta_parameter", "memory_estimate"]

def _nonfinite_hint(U: Utility, n: int) -> str:
    """Why a gradient or Hessian stopped being finite, for the error message."""
    if U.family == "power" and U.param > 0.9:
        a = (1.0 - U.param) / 2.0
        y2 = float(stats.beta(a, a).ppf(1.0 / (n - 1)))
        size = f"about {y2:.1e}" if y2 > 1e-300 else "below 1e-300"
        return (f": two rewards tie. For power:g with g near 1 the optimal gaps near the ends "
                f"(Beta({a:g}, {a:g}) quantile at 1/(n - 1): {size}) fall below float64, "
                f"so newton's strictly ordered iterate cannot hold them")
    return ": two rewards tie, or U' overflowed float64 at a tiny gap"
#: Weight of the default start blended into a given start that has ties.
BLEND = 1e-3
#: Coarsest level of the multilevel start.
COARSEST = 128
#: Fraction of the way to the nearest tie that one step may go (strict-order utilities).
TO_BOUNDARY = 0.9
#: Armijo constant.
ARMIJO = 1e-4
#: A change of phi below this many ulps of sum |terms| is rounding, not progress.
ROUNDING_ULPS = 64
#: Newton steps allowed on each coarse level (they only make a start).
COARSE_MAX_ITER = 60
#: Below this reduced residual a Cholesky factor may be reused for the next step.
CHORD_BELOW = 1e-3
#: Reduced residual at which a coarse level stops.
COARSE_TOL = 1e-8


@dataclass(frozen=True)
class NewtonOutcome:
    rewards: np.ndarray  # (n,), best first
    complement: np.ndarray  # 1 - rewards, without cancellation
    objective: float  # S(rewards)
    kkt_residual: float
    iterations: int  # Newton steps on the full problem (last level)
    total_iterations: int  # over every level
    levels: tuple  # the n of each level


def memory_estimate(n: int, *, chunk_elements: int = CHUNK_ELEMENTS) -> int:
    """Bytes the Newton solver needs at its peak: the dense m x m Hessian (m = n // 2),
    one copy of its free block for the Cholesky factor, and about twelve blocks of pairs.

    >>> memory_estimate(10_000) // 2**20
    573
    """
    m = n // 2
    return 2 * 8 * m * m + 12 * 8 * chunk_elements


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


def _argument_scale(U: Utility, n: int) -> float:
    """c such that the half problem evaluates U(c t), U'(c t), U''(c t) instead of U(t):
    n - 1 for neg-power:g with g >= 1, else 1. U = -t^(-g) is homogeneous,
    U(c t) = c^(-g) U(t), so the maximizer is the same and the Newton step (B^-1 q: both
    scale by c^(-g)) too; but the forces at the optimum's gaps (about 1/n, since the limit
    is uniform) are then about g instead of g n^(g + 1), which overflows float64 for
    neg-power:200 at n = 50."""
    if U.family == "neg-power" and U.param >= 1.0:
        return float(n - 1)
    return 1.0


# --------------------------------------------------------------------------------------
# The reduced (symmetric half) problem
# --------------------------------------------------------------------------------------
class _Half:
    """phi(y), its gradient and Hessian B on the symmetric half (module docstring)."""

    def __init__(self, U: Utility, n: int, chunk_elements: int):
        self.U, self.n = U, n
        self.m, self.odd = n // 2, n % 2 == 1
        self.rows = max(1, min(self.m, chunk_elements // max(self.m, 1)))
        self.c = _argument_scale(U, n)

    def _blocks(self, y):
        m = self.m
        j = np.arange(m)[None, :]
        for a in range(0, m, self.rows):
            R = slice(a, min(m, a + self.rows))
            k = np.arange(R.start, R.stop)[:, None]
            below = j < k  # column j ranked above row k: gap y_k - y_j
            E = y[R, None] - y[None, :]
            np.negative(E, out=E, where=~below)
            diag = j == k
            E[diag] = 0.5  # a harmless argument; masked out below
            C = (1.0 - y[R, None]) - y[None, :]
            yield R, below, diag, E, C

    def objective(self, y):
        """(phi(y), sum of |terms|): the second bounds the rounding error of the first."""
        U = self.U
        total = mag = 0.0
        for R, below, diag, E, C in self._blocks(y):
            uE, uC = U(self.c * E), U(self.c * C)
            uE[diag] = 0.0
            total += 0.5 * (uE.sum() + uC.sum())
            mag += 0.5 * (np.abs(uE).sum() + np.abs(uC).sum())
        if self.odd:
            uM = U(self.c * (0.5 - y))
            total += uM.sum()
            mag += np.abs(uM).sum()
        return -float(total), float(mag)

    def gradient(self, y):
        """(q, force): q = grad phi = dS/dr on the top half, force_k = sum |U'| over the
        pairs of reward k (the scale of the relative residual)."""
        with np.errstate(invalid="ignore", over="ignore"):  # ties: inf - inf, reported by the caller
            return self._gradient(y)

    def _gradient(self, y):
        U, m = self.U, self.m
        q = np.empty(m)
        force = np.empty(m)
        for R, below, diag, E, C in self._blocks(y):
            fE, fC = U.d1(self.c * E), U.d1(self.c * C)
            fE[diag] = 0.0
            force[R] = np.abs(fE).sum(axis=1) + np.abs(fC).sum(axis=1)
            np.negative(fE, out=fE, where=below)
            q[R] = fC.sum(axis=1) + fE.sum(axis=1)
        if self.odd:
            fM = U.d1(self.c * (0.5 - y))
            q += fM
            force += np.abs(fM)
        if self.c != 1.0:  # d/dy U(c t) = c U'(c t)
            q *= self.c
            force *= self.c
        return q, force

    def hessian(self, y):
        """B, the dense m x m Hessian of phi (module docstring), built by blocks of rows."""
        U, m = self.U, self.m
        B = np.empty((m, m))
        for R, below, diag, E, C in self._blocks(y):
            W, V = U.d2(self.c * E), U.d2(self.c * C)  # = -W, -V of the docstring
            W[diag] = 0.0
            rows = np.arange(R.start, R.stop)
            dsum = -(W.sum(axis=1) + V.sum(axis=1)) - V[rows - R.start, rows]
            np.subtract(W, V, out=B[R])  # V_kl - W_kl, with the signs of U''
            B[rows, rows] = dsum
        if self.odd:
            B[np.diag_indices(m)] -= U.d2(self.c * (0.5 - y))
        if self.c != 1.0:  # d^2/dy^2 U(c t) = c^2 U''(c t)
            B *= self.c * self.c
        return B

    def full(self, y):
        """(rewards, complement) of the whole problem from the half y."""
        mid = [0.5] if self.odd else []
        r = np.concatenate((1.0 - y, mid, y[::-1]))
        c = np.concatenate((y, mid, 1.0 - y[::-1]))
        return r, c


# --------------------------------------------------------------------------------------
# Starts and the multilevel transfer
# --------------------------------------------------------------------------------------
def _cdf_pair(U: Utility):
    a = limit_beta_parameter(U)
    if a is None:
        return (lambda y: np.asarray(y, dtype=float)), (lambda u: np.asarray(u, dtype=float))
    dist = stats.beta(a, a)
    return dist.cdf, dist.ppf


def _ranks(n: int) -> np.ndarray:
    """p_k = (k - 1) / (n - 1) of the top half k = 1..m: 0 at the top, 1/2 in the middle."""
    return np.arange(n // 2) / (n - 1)


def _first_start(U: Utility, n: int, box: bool) -> np.ndarray:
    m = n // 2
    if U.family == "expr":  # no closed-form limit: the quantiles of solve_limit's measure
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


def _start_from(U: Utility, start, n: int, box: bool, complement=None) -> np.ndarray:
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
            y = (1.0 - BLEND) * y + BLEND * _first_start(U, n, box)
            y[0] = 0.0
    return y


def _transfer(U: Utility, n_coarse: int, y_coarse: np.ndarray, n: int, box: bool) -> np.ndarray:
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
        return _first_start(U, n, box)
    p = _ranks(n_coarse)
    u = cdf(y_coarse)
    mid_p, mid_u = ([0.5], [0.5]) if n_coarse % 2 else ([], [])
    P = np.concatenate((p, mid_p, 1.0 - p[::-1]))
    Uu = np.concatenate((u, mid_u, 1.0 - u[::-1]))
    return np.clip(ppf(np.clip(PchipInterpolator(P, Uu)(_ranks(n)), 0.0, 0.5)), 0.0, 0.5)


# --------------------------------------------------------------------------------------
# One level of Newton's method
# --------------------------------------------------------------------------------------
def _max_step(y, d, odd: bool) -> float:
    """Largest alpha keeping 0 = y_1 < y_2 < ... < y_m < (middle), i.e. the strict order."""
    top = 0.5 if odd else None
    gaps = np.diff(y)
    dg = np.diff(d)
    last_gap = (0.5 - y[-1]) if top else (1.0 - 2.0 * y[-1])
    last_dg = -d[-1] if top else -2.0 * d[-1]
    gaps = np.append(gaps, last_gap)
    dg = np.append(dg, last_dg)
    shrinking = dg < 0.0
    if not shrinking.any():
        return math.inf
    return float(np.min(gaps[shrinking] / -dg[shrinking]))


def _reduced_residual(y, q, force, box: bool) -> float:
    """max violation of the half problem's KKT conditions, relative to max(force)."""
    s = float(force.max()) or 1.0
    if box:
        v = np.where(y <= 0.0, np.maximum(0.0, -q), np.where(y >= 0.5, np.maximum(0.0, q), np.abs(q)))
    else:
        v = np.abs(q[1:])
    return float(v.max(initial=0.0)) / s


def _factor(B, free):
    """Cholesky factor of B restricted to the free indices (B is consumed)."""
    if free.size == B.shape[0]:
        BF = B
    elif np.all(np.diff(free) == 1):
        BF = B[free[0]:free[-1] + 1, free[0]:free[-1] + 1]
    else:
        BF = B[np.ix_(free, free)]
    return linalg.cho_factor(BF, overwrite_a=True, check_finite=False)


def _newton_level(half: _Half, y, *, box: bool, tol: float, max_iter: int, final: bool):
    """Newton on one level. Returns (y, steps, residual, certified) where residual is the
    shared KKT residual when ``final`` and the reduced one otherwise.

    A Cholesky factor is reused for the next step (a chord step) while the steps are full
    and each one shrinks the reduced residual at least tenfold; otherwise, and whenever
    the free set changes, the Hessian is rebuilt and factored again."""
    m = half.m
    steps = 0
    phi = mag = None
    at_noise = 0  # consecutive steps taken below rounding that did not halve the residual
    accepted_noise = False  # the last step was taken without an objective test
    factor = factor_free = diag = None
    reduced_prev, alpha = math.inf, 1.0
    while True:
        q, force = half.gradient(y)
        if not np.all(np.isfinite(q)):
            raise ConvergenceError(f"newton: {half.U.spec} at n = {half.n}: non-finite gradient "
                                   f"after {steps} steps{_nonfinite_hint(half.U, half.n)}")
        reduced = _reduced_residual(y, q, force, box)
        if not accepted_noise:
            at_noise = 0
        elif reduced > 0.99 * reduced_prev:
            at_noise += 1
        done = at_noise >= 3 or steps >= max_iter
        if not final:
            if reduced <= COARSE_TOL or done:
                return y, steps, reduced, reduced <= COARSE_TOL
        elif reduced <= 0.1 * tol or done:
            r, c = half.full(y)
            res = certify(half.U, r, complement=c, with_objective=False).residual
            if res <= tol or done:
                return y, steps, res, res <= tol
        # --- a fresh Hessian, or the last factor again?
        fresh = (factor is None or alpha < 1.0 or reduced > CHORD_BELOW
                 or reduced > 0.1 * reduced_prev)
        for attempt in range(2):
            if fresh:
                factor = None
                B = half.hessian(y)
                diag = B.diagonal().copy()
                if not np.all(np.isfinite(diag)):
                    raise ConvergenceError(f"newton: {half.U.spec} at n = {half.n}: non-finite "
                                           f"Hessian after {steps} steps{_nonfinite_hint(half.U, half.n)}")
            if box:
                with np.errstate(divide="ignore", invalid="ignore"):  # diag 0 where U'' underflows
                    w = np.abs(y - np.clip(y - q / diag, 0.0, 0.5)).max()
                eps = min(1e-3, w)
                active = ((y <= eps) & (q > 0.0)) | ((y >= 0.5 - eps) & (q < 0.0))
            else:
                active = np.zeros(m, dtype=bool)
                active[0] = True  # y_1 = 0: r_1 = 1 (Lemma 4.1)
            free = np.flatnonzero(~active)
            if fresh or np.array_equal(free, factor_free):
                break
            fresh = True  # the free set changed: the old factor does not apply
        if fresh and free.size:
            try:
                factor, factor_free = _factor(B, free), free
            except linalg.LinAlgError:
                raise ConvergenceError(f"newton: Hessian not positive definite at n = {half.n} "
                                       f"after {steps} steps; reduced residual {reduced:.3g}") from None
        if fresh:
            del B
        d = np.zeros(m)
        if box:
            d[active] = -q[active] / diag[active]
        if free.size:
            d[free] = -linalg.cho_solve(factor, q[free], check_finite=False)
        # --- the step: fraction to the boundary (strict order) or projection (box)
        alpha = 1.0 if box else min(1.0, TO_BOUNDARY * _max_step(y, d, half.odd))
        if phi is None:
            phi, mag = half.objective(y)
        noise = ROUNDING_ULPS * np.finfo(float).eps * mag
        accepted = False
        for _ in range(60):
            y_new = np.clip(y + alpha * d, 0.0, 0.5) if box else y + alpha * d
            if not box:
                y_new[0] = 0.0
            slope = float(q @ (y_new - y))
            if -slope <= noise and alpha == 1.0:  # the gain is below rounding: take the step
                phi_new, mag_new = phi, mag
                accepted = True
                break
            phi_new, mag_new = half.objective(y_new)
            if phi_new <= phi + ARMIJO * slope + noise:
                accepted = True
                break
            alpha *= 0.5
        steps += 1
        reduced_prev = reduced
        if not accepted:
            at_noise, accepted_noise = 3, False  # no progress possible: certify what we have
            continue
        accepted_noise = -slope <= noise
        y, phi, mag = y_new, phi_new, mag_new


def solve_newton(U, n: int, *, tol: float = 1e-9, max_iter: int = 100, start=None,
                 chunk_elements: int = CHUNK_ELEMENTS, progress=None,
                 start_complement=None) -> NewtonOutcome:
    """The optimum of problem (5) by Newton's method (algorithm: module docstring).

    ``start``: a feasible point (n,), sorted best first, to start from instead of the
    multilevel start; it is symmetrized, (r + 1 - reversed r) / 2, and pinned at r_1 = 1.
    ``start_complement``: 1 - start without cancellation (a Solution's ``complement``),
    so that a start's tiny gaps near r = 1 are kept.
    ``progress``: called as ``progress(done, levels, n_level)`` after each level.

    Returns a :class:`NewtonOutcome`; raises :class:`ConvergenceError` (with the residual
    reached) when the shared KKT residual is still above ``tol`` after ``max_iter`` Newton
    steps on the full problem (coarse levels, which only make the start, do not count).

    >>> out = solve_newton(parse_utility("log-sigmoid:1"), 8)
    >>> out.rewards.tolist()[:3], out.kkt_residual < 1e-9
    ([1.0, 1.0, 1.0], True)
    """
    U = parse_utility(U)
    if U.family == "linear":
        k = np.arange(1, n + 1)
        coef = n + 1 - 2 * k
        r = np.where(coef > 0, 1.0, np.where(coef < 0, 0.0, 0.5))
        c = 1.0 - r
        res = kkt_residual(U, r, complement=c)
        return NewtonOutcome(r, c, float(coef @ r), res, 0, 0, (n,))
    box = U.dU0 is not None
    levels = [n]
    while start is None and levels[-1] > COARSEST:
        levels.append((levels[-1] + 1) // 2)
    levels = levels[::-1]
    y = (_first_start(U, levels[0], box) if start is None
         else _start_from(U, start, n, box, complement=start_complement))
    total = 0
    for i, nl in enumerate(levels):
        if i:
            y = _transfer(U, levels[i - 1], y, nl, box)
        final = nl == n
        half = _Half(U, nl, chunk_elements)
        y, steps, res, ok = _newton_level(half, y, box=box, tol=tol,
                                          max_iter=max_iter if final else COARSE_MAX_ITER,
                                          final=final)
        total += steps
        if progress is not None:
            progress(i + 1, len(levels), nl)
    if not ok:
        raise ConvergenceError(
            f"newton: {U.spec} at n = {n}: KKT residual {res:.3g} > tol = {tol:g} "
            f"after {steps} Newton steps (max_iter = {max_iter})")
    phi, _ = half.objective(y)
    r, c = half.full(y)
    return NewtonOutcome(r, c, -2.0 * phi, res, steps, total, tuple(levels))
