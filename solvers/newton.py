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
  from the previous optimum carried over (see :func:`solvers.starts.transfer`: an index shift in the
  coordinate of the limit's CDF, which the edge of the optimum keeps from one n to the
  next), so that the last, costly level needs two to four steps.
- Chord steps: a Cholesky factor is reused while full steps keep shrinking the residual
  tenfold, so the n = 10,000 level factors its 5,000 x 5,000 Hessian once or twice.
- The steps (epsilon-active set, Armijo search, stall test) are written once, in
  :func:`solvers.projected_newton.minimize_level`, shared with :mod:`solvers.newton_cg`;
  this module supplies the dense sums and the Cholesky direction (:class:`_CholeskyLevel`).
  The starts and the multilevel transfer are :mod:`solvers.starts`.

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

from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

from rcollapse.solvers.errors import ConvergenceError
from rcollapse.solvers.kkt import certify, kkt_residual
from rcollapse.solvers.projected_newton import active_set, minimize_level, projected_direction
from rcollapse.solvers.starts import argument_scale, first_start, limit_beta_parameter, start_from, transfer
from rcollapse.theory.objective import CHUNK_ELEMENTS
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["solve_newton", "NewtonOutcome", "limit_beta_parameter", "memory_estimate"]

#: Coarsest level of the multilevel start.
COARSEST = 128
#: A change of phi below this many ulps of sum |terms| is rounding, not progress.
ROUNDING_ULPS = 64
#: Newton steps allowed on each coarse level (they only make a start).
COARSE_MAX_ITER = 60
#: Below this reduced residual a Cholesky factor may be reused for the next step.
CHORD_BELOW = 1e-3
#: A Beta(a, a) limit (Theorem 2, power:g) with a below this, i.e. g > 0.9: the optimal
#: gaps near the ends fall below float64 (:func:`_nonfinite_hint`).
TINY_END_GAPS_BETA = (1.0 - 0.9) / 2.0


def end_gaps_below_float64(U: Utility) -> bool:
    """The limit is Beta(a, a) with a < :data:`TINY_END_GAPS_BETA` (Theorem 2: power:g,
    g > 0.9): the optimal gaps near the ends fall below float64 already at small n.

    >>> end_gaps_below_float64(parse_utility("power:0.99")), end_gaps_below_float64(parse_utility("power:0.9"))
    (True, False)
    """
    a = limit_beta_parameter(U)
    return a is not None and a < TINY_END_GAPS_BETA


def _nonfinite_hint(U: Utility, n: int) -> str:
    """Why a gradient or Hessian stopped being finite, for the error message."""
    if end_gaps_below_float64(U):
        a = limit_beta_parameter(U)
        y2 = float(stats.beta(a, a).ppf(1.0 / (n - 1)))
        size = f"about {y2:.1e}" if y2 > 1e-300 else "below 1e-300"
        return (f": two rewards tie. For power:g with g near 1 the optimal gaps near the ends "
                f"(Beta({a:g}, {a:g}) quantile at 1/(n - 1): {size}) fall below float64, "
                f"so newton's strictly ordered iterate cannot hold them")
    return ": two rewards tie, or U' overflowed float64 at a tiny gap"


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


# --------------------------------------------------------------------------------------
# The reduced (symmetric half) problem
# --------------------------------------------------------------------------------------
class _Half:
    """phi(y), its gradient and Hessian B on the symmetric half (module docstring)."""

    def __init__(self, U: Utility, n: int, chunk_elements: int):
        self.U, self.n = U, n
        self.m, self.odd = n // 2, n % 2 == 1
        self.rows = max(1, min(self.m, chunk_elements // max(self.m, 1)))
        self.c = argument_scale(U, n)

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
# One level of Newton's method
# --------------------------------------------------------------------------------------
def _factor(B, free):
    """Cholesky factor of B restricted to the free indices (B is consumed)."""
    if free.size == B.shape[0]:
        BF = B
    elif np.all(np.diff(free) == 1):
        BF = B[free[0]:free[-1] + 1, free[0]:free[-1] + 1]
    else:
        BF = B[np.ix_(free, free)]
    return linalg.cho_factor(BF, overwrite_a=True, check_finite=False)


class _CholeskyLevel:
    """The dense level of :func:`solvers.projected_newton.minimize_level`: sums on
    :class:`_Half`, the direction by Cholesky on the free block of B.

    A Cholesky factor is reused for the next step (a chord step) while the steps are full
    and each one shrinks the reduced residual at least tenfold; otherwise, and whenever
    the free set changes, the Hessian is rebuilt and factored again."""

    name = "newton"
    sort_projection = False

    def __init__(self, half: _Half, box: bool):
        self.half, self.box = half, box
        self.U, self.n, self.odd = half.U, half.n, half.odd
        self.factor = self.factor_free = self.diag = None

    def gradient(self, y):
        return self.half.gradient(y)

    def objective(self, y):
        return self.half.objective(y)

    trial_objective = objective

    def accept(self, evaluated: bool):
        pass

    @staticmethod
    def noise(mag):
        return ROUNDING_ULPS * np.finfo(float).eps * mag

    def nonfinite_hint(self) -> str:
        return _nonfinite_hint(self.U, self.n)

    def certify(self, y, q, force) -> float:
        r, c = self.half.full(y)
        return certify(self.U, r, complement=c, with_objective=False).residual

    def direction(self, y, q, *, reduced, reduced_prev, alpha, steps, target):
        """The projected Newton step, by a fresh Cholesky factor or the last one (a chord)."""
        fresh = (self.factor is None or alpha < 1.0 or reduced > CHORD_BELOW
                 or reduced > 0.1 * reduced_prev)
        for _ in range(2):
            if fresh:
                self.factor = None
                B = self.half.hessian(y)
                self.diag = B.diagonal().copy()
                if not np.all(np.isfinite(self.diag)):
                    raise ConvergenceError(f"newton: {self.U.spec} at n = {self.n}: non-finite "
                                           f"Hessian after {steps} steps{_nonfinite_hint(self.U, self.n)}")
            active = active_set(y, q, self.diag, self.box)
            free = np.flatnonzero(~active)
            if fresh or np.array_equal(free, self.factor_free):
                break
            fresh = True  # the free set changed: the old factor does not apply
        if fresh and free.size:
            try:
                self.factor, self.factor_free = _factor(B, free), free
            except linalg.LinAlgError:
                raise ConvergenceError(f"newton: Hessian not positive definite at n = {self.n} "
                                       f"after {steps} steps; reduced residual {reduced:.3g}") from None
        if fresh:
            del B
        return projected_direction(q, self.diag, active, free, self.box,
                                   lambda: -linalg.cho_solve(self.factor, q[free], check_finite=False))


def _newton_level(half: _Half, y, *, box: bool, tol: float, max_iter: int, final: bool):
    """Newton on one level (:func:`solvers.projected_newton.minimize_level`, directions by
    :class:`_CholeskyLevel`). Returns (y, steps, residual, certified) where residual is the
    shared KKT residual when ``final`` and the reduced one otherwise."""
    return minimize_level(_CholeskyLevel(half, box), y, box=box, tol=tol, max_iter=max_iter, final=final)


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
    if U.is_linear:
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
    y = (first_start(U, levels[0], box) if start is None
         else start_from(U, start, n, box, complement=start_complement))
    total = 0
    for i, nl in enumerate(levels):
        if i:
            y = transfer(U, levels[i - 1], y, nl, box)
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
