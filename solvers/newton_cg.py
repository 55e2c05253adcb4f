"""Matrix-free Newton-CG for problem (5) at n = 10^5 .. 10^6, by fast kernel sums.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. The method is that of :mod:`solvers.newton` (read its
docstring first): the symmetric half y_k = 1 - r_k (k = 1..m, m = n // 2) is the unknown,
phi(y) = -S(r(y)) / 2 is minimized, y_1 = 0 is fixed for U'(0+) infinite (power, log,
neg-power) and steps stop short of a tie (fraction to the boundary 0.9), while for U'(0+)
finite (log-sigmoid) the box 0 <= y <= 1/2 is the constraint and a projected Newton
method finds the runs of rewards at exactly 1 and 0. What changes:

- Every all-pairs sum (phi, its gradient, the Hessian's diagonal and Hessian-vector
  products) is a fast multipole sum (:mod:`solvers.fastsum`): O(n p) work and memory,
  never an n x n or m x m matrix.
- The Newton system B d = -q (B the Hessian of phi on the free variables) is solved by
  preconditioned conjugate gradients, to a relative residual chosen so that the step
  lands below the target (inexact Newton). B v = (L u)_top for u = (v, -reversed v),
  L = -Hessian of S, a graph Laplacian with weights w_kj = -U''(|r_k - r_j|):
  (L u)_k = D_k u_k - sum_j w_kj u_j, D_k = sum_j w_kj.
- Preconditioner (two-level, additive): the band of B plus a Galerkin coarse correction
  on the tree's nodes (:mod:`solvers.two_level`, which states it). CG iterations to 1e-10
  at the optimum against n are measured by ``python -m rcollapse.benchmarks.preconditioner``
  (the README gives the table).
- Multilevel start as in :mod:`solvers.newton`: the dense Newton solves a coarse n_0
  (at most ``dense_below``), and each level, twice as large, starts from the previous
  optimum carried over by :func:`solvers.starts.transfer`.
- The steps (active set, Armijo search with a noise allowance, stall test) are those of
  the dense solver, written once in :func:`solvers.projected_newton.minimize_level`; only
  the sums and the direction solve (:class:`_CGLevel`) are this module's.
- Certificate: the shared KKT residual of :mod:`solvers.kkt`, applied to the gradient that
  the fast sums give (the closed form over the free multiplier is
  :func:`solvers.kkt.residual_from_gradient`; :func:`solvers.certify_fast.certify_fast` is
  the same certificate for any vector, the one this solver applies to its own iterate). The
  summation error is measured, not assumed: the gradient is summed directly (O(n) each)
  on ``spot_rows`` random rows plus the first and last ones, and the largest difference,
  relative to the force scale s, is reported with the bound it puts on the residual (see
  :class:`FastOutcome`). A certificate whose error
  bound is not below tol / 100 is refused (ConvergenceError).

>>> out = solve_newton_cg(parse_utility("log"), 64, dense_below=16)
>>> out.kkt_residual < 1e-9, out.kkt_error_bound < 1e-12
(True, True)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rcollapse.solvers.certify_fast import SPOT_ROWS, certify_fast, half_certificate_numbers
from rcollapse.solvers.errors import ConvergenceError
from rcollapse.solvers.fast_half import FastHalf
from rcollapse.solvers.fastsum import DEFAULT_LEAF, DEFAULT_ORDER
from rcollapse.solvers import newton
from rcollapse.solvers.projected_newton import active_set, minimize_level, projected_direction
from rcollapse.solvers.starts import first_start, transfer
from rcollapse.solvers.two_level import COARSE_MAX, TwoLevelPreconditioner, pcg
from rcollapse.theory.utilities import parse_utility

__all__ = ["solve_newton_cg", "certify_fast", "FastOutcome", "FastHalf",
           "pcg", "TwoLevelPreconditioner", "memory_estimate", "FAST_FROM", "method_for_size"]

#: Levels up to this n are solved by the dense Newton method (solvers.newton).
DENSE_BELOW = 1024
#: A change of phi below this fraction of sum |U| over the pairs is summation noise.
NOISE = 1e-13


@dataclass(frozen=True)
class FastOutcome:
    rewards: np.ndarray  # (n,), best first
    complement: np.ndarray  # 1 - rewards, without cancellation
    objective: float  # S(rewards), by fast sums
    kkt_residual: float  # the shared certificate, on the fast gradient
    iterations: int  # Newton steps on the full n (last level)
    total_iterations: int  # over every fast level
    levels: tuple  # n of each level (the first one dense)
    cg_iterations: tuple  # CG iterations of each Newton step on the last level
    summation_error: float  # max over the spot rows of |g_fast - g_direct| / s
    kkt_error_bound: float  # 2 n summation_error max(slack): bound on the residual's error
    spot_rows: int  # rows checked directly
    seconds: dict = field(default_factory=dict)  # wall time by part


def memory_estimate(n: int, *, order: int = DEFAULT_ORDER, leaf: int = DEFAULT_LEAF) -> int:
    """Bytes at the peak, roughly: the points' bases (n p), the stored Hessian expansions
    (about 2 p^2 per leaf-sized group of points and 4 near blocks of leaf^2 per leaf),
    the coarse matrix and some forty vectors of n.

    >>> memory_estimate(10**6) // 2**20 < 4096
    True
    """
    leaves = max(1, n // leaf)
    return 8 * (3 * n * order + 2 * leaves * 2 * order * order + 5 * leaves * leaf * leaf
                + COARSE_MAX ** 2 * 3 + 40 * n)


class _CGLevel:
    """The fast level of :func:`solvers.projected_newton.minimize_level`: sums on
    :class:`FastHalf` (a tree of the iterate, rebuilt when it moves), the direction by
    preconditioned CG to a relative residual chosen so that the step lands below the
    target (inexact Newton), the certificate by :func:`solvers.certify_fast.half_certificate_numbers`.
    ``clock`` collects the wall time by part; ``cg_counts`` the CG iterations per step;
    ``cert`` the last certificate (residual, summation error, bound, rows checked)."""

    name = "newton-cg"
    sort_projection = True  # after the box projection (for log-sigmoid, putting two rewards
    # that are out of order back in order raises S: solvers.newton's docstring)

    def __init__(self, half: FastHalf, box: bool, *, spot_rows: int, rng, clock: dict):
        self.half, self.box, self.spot_rows, self.rng, self.clock = half, box, spot_rows, rng, clock
        self.U, self.n, self.odd = half.U, half.n, half.odd
        self.tree = self.trial = None
        self.cg_counts = []
        self.cert = (math.inf, math.nan, math.nan, 0)

    def _tick(self, part: str, t0: float):
        self.clock[part] = self.clock.get(part, 0.0) + time.perf_counter() - t0

    def gradient(self, y):
        t0 = time.perf_counter()
        if self.tree is None:
            self.tree = self.half.tree(y)
        out = self.half.gradient(self.tree)
        self._tick("gradient", t0)
        return out

    def objective(self, y):
        return self.half.objective(self.tree)

    def trial_objective(self, y_new):
        self.trial = self.half.tree(y_new)
        return self.half.objective(self.trial)

    def accept(self, evaluated: bool):
        self.tree = self.trial if evaluated else None

    @staticmethod
    def noise(mag):
        return NOISE * mag

    @staticmethod
    def nonfinite_hint() -> str:
        return ": two rewards tie"

    def certify(self, y, q, force) -> float:
        t0 = time.perf_counter()
        self.cert = half_certificate_numbers(self.half, y, q, force, self.spot_rows, self.rng)
        self._tick("certificate", t0)
        return self.cert[0]

    def direction(self, y, q, *, reduced, reduced_prev, alpha, steps, target):
        """The projected Newton step: Hessian pieces, active set, then CG on the free set."""
        t0 = time.perf_counter()
        KW, D = self.half.weights(self.tree)
        diag = D + self.half.k_weight(1.0 - 2.0 * y)
        active = active_set(y, q, diag, self.box)
        free = np.flatnonzero(~active)
        self._tick("hessian", t0)
        return projected_direction(q, diag, active, free, self.box,
                                   lambda: self._cg(KW, D, free, q, reduced, target))

    def _cg(self, KW, D, free, q, reduced: float, target: float):
        """-B_FF^{-1} q_F by PCG with :class:`TwoLevelPreconditioner`."""
        t0 = time.perf_counter()
        M = TwoLevelPreconditioner(self.half, self.tree, KW, D, free)
        self._tick("preconditioner", t0)
        t0 = time.perf_counter()
        m = self.half.m

        def matvec(v):
            full = np.zeros(m)
            full[free] = v
            return FastHalf.hessian_product(KW, D, full)[free]

        rtol = min(1e-2, max(1e-13, 0.01 * target / max(reduced, 1e-300)))
        d_free, its, _ = pcg(matvec, -q[free], M, rtol=rtol)
        self.cg_counts.append(its)
        self._tick("cg", t0)
        return d_free


def _fast_level(half: FastHalf, y, *, box: bool, tol: float, max_iter: int, final: bool,
                spot_rows: int, rng, clock: dict):
    """Newton-CG on one level (:func:`solvers.projected_newton.minimize_level`, directions
    by :class:`_CGLevel`). Returns (y, steps, residual, certified, cg counts, certificate
    details)."""
    level = _CGLevel(half, box, spot_rows=spot_rows, rng=rng, clock=clock)
    y, steps, res, ok = minimize_level(level, y, box=box, tol=tol, max_iter=max_iter, final=final,
                                       clock=clock)
    return y, steps, res, ok, level.cg_counts, level.cert


def solve_newton_cg(U, n: int, *, tol: float = 1e-9, max_iter: int = 50,
                    dense_below: int = DENSE_BELOW, spot_rows: int = SPOT_ROWS,
                    seed: int = 0, progress=False) -> FastOutcome:
    """The optimum of problem (5) by matrix-free Newton-CG on fast sums (module docstring).

    Raises :class:`ConvergenceError` when the certificate is above ``tol`` after
    ``max_iter`` Newton steps on the last level, or when its measured summation error
    bound is not below tol / 100. ``seed`` picks the spot-check rows. ``progress``: True
    shows a tqdm bar over the fast levels; a callable is called as
    ``progress(done, levels, n_level)`` after each (as :func:`solvers.newton.solve_newton`).

    >>> out = solve_newton_cg(parse_utility("log-sigmoid:1"), 40, dense_below=16)
    >>> out.rewards[:3].tolist(), out.kkt_residual < 1e-9
    ([1.0, 1.0, 1.0], True)
    """
    t_start = time.perf_counter()
    U = parse_utility(U)
    if U.is_linear:
        raise ValueError("newton-cg: linear U is an LP with a closed form; valid: use method 'newton'")
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n = {n!r} is out of range; valid: an integer n >= 2")
    n = int(n)
    box = U.dU0 is not None
    levels = [n]
    while levels[-1] > dense_below and levels[-1] >= 4:
        levels.append((levels[-1] + 1) // 2)
    if len(levels) == 1 and n >= 8:
        levels.append((n + 1) // 2)
    levels = levels[::-1]
    clock: dict = {}
    t0 = time.perf_counter()
    if len(levels) > 1:
        y = newton.solve_newton(U, levels[0], tol=min(tol, 1e-9)).complement[: levels[0] // 2]
    else:
        y = first_start(U, n, box)
    clock["dense start"] = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    total = 0
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=len(levels) - 1, desc=f"newton-cg {U.spec} n={n}", unit="level")
    fast_levels = levels[1:] if len(levels) > 1 else levels
    prev = levels[0]
    for done, nl in enumerate(fast_levels, start=1):
        if nl != prev:
            y = transfer(U, prev, y, nl, box)
        final = nl == n
        half = FastHalf(U, nl)
        if box:
            y = np.sort(y)
        y, steps, res, ok, cg_counts, cert = _fast_level(
            half, y, box=box, tol=tol, max_iter=max_iter if final else 30, final=final,
            spot_rows=spot_rows, rng=rng, clock=clock)
        total += steps
        prev = nl
        if bar is not None:
            bar.update(1)
            bar.set_postfix(n=nl, steps=steps, cg=sum(cg_counts))
        elif callable(progress):
            progress(done, len(fast_levels), nl)
    if bar is not None:
        bar.close()
    _, err, bound, nrows = cert
    if not ok:
        raise ConvergenceError(f"newton-cg: {U.spec} at n = {n}: KKT residual {res:.3g} > tol = {tol:g} "
                               f"after {steps} Newton steps (max_iter = {max_iter})")
    if not bound < 0.01 * tol:
        raise ConvergenceError(f"newton-cg: {U.spec} at n = {n}: the summation error bound "
                               f"{bound:.3g} of the certificate is not below tol / 100 = {0.01 * tol:g}")
    tree = half.tree(y)
    phi, _ = half.objective(tree)
    if half.c != 1.0:  # S of U(c t) is c^(-g) S for the homogeneous neg-power: undo it
        phi = phi * half.c ** U.param
    r, c = half.full(y)
    clock["total"] = time.perf_counter() - t_start
    return FastOutcome(r, c, -2.0 * phi, res, steps, total, tuple(levels), tuple(cg_counts),
                       err, bound, nrows, clock)


#: Above this n ``solve(method="auto")`` (the default, and every caller that picks the
#: method by size: the figures, ``rcollapse verify --full``) solves by ``method="fast"``,
#: certifies by :func:`certify_fast` and bounds the error by fast sums
#: (:func:`solvers.bound.error_bound`): the dense Newton's O(n^2) steps (and the dense
#: certificate's n^2 pairs) stop near n = 10^4.
FAST_FROM = 10_000


def method_for_size(n: int) -> str:
    """``"fast"`` above :data:`FAST_FROM`, else ``"newton"``: the one rule for choosing by n.

    >>> method_for_size(3000), method_for_size(100_000)
    ('newton', 'fast')
    """
    return "fast" if int(n) > FAST_FROM else "newton"
