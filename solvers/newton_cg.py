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
- Preconditioner (two-level, additive): the band of B (banded Cholesky; the band reaches
  across one coarse node, between ``BANDWIDTH`` and ``BAND_MAX`` diagonals each side)
  plus a Galerkin coarse correction P C^{-1} P^T, C = P^T B P, on the tree's nodes at one
  level (their number growing like 16 sqrt(n), at most ``COARSE_MAX``). P is piecewise
  linear: hat functions centred on the nodes' ends. C is assembled exactly (to the
  summation accuracy) from the fast sum's own expansions, three two-charge block sums
  (:meth:`solvers.fastsum.KernelSum.block_sums`). Piecewise-constant aggregates (``basis
  = "constant"``, the fallback where hats restricted to the free variables are dependent)
  are not enough for the most singular kernels: -U'' ~ |d|^(-2-g) for neg-power:g is an
  operator of order 1 + g, and a jump costs energy that grows as the nodes shrink.
  CG iterations to 1e-10 at the optimum against n, for both bases, are measured by
  ``python -m rcollapse.benchmarks.preconditioner`` (the README gives the table).
- Multilevel start as in :mod:`solvers.newton`: the dense Newton solves a coarse n_0
  (at most ``dense_below``), and each level, twice as large, starts from the previous
  optimum carried over by :func:`solvers.newton._transfer`.
- Certificate: the shared KKT residual of :mod:`solvers.kkt`, applied to the gradient that
  the fast sums give (the closed form over the free multiplier is
  :func:`solvers.kkt.residual_from_gradient`; :func:`certify_fast` is the same certificate
  for any vector, the one this solver applies to its own iterate). The
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
from scipy import linalg

from rcollapse.solvers import newton as _newton
from rcollapse.solvers.errors import ConvergenceError
from rcollapse.solvers.fastsum import (DEFAULT_ETA, DEFAULT_LEAF, DEFAULT_ORDER, Points, PointSum,
                                       direct_row_sums)
from rcollapse.solvers.kkt import (DIRECT_SCALE, Certificate, _primal_problem, constraint_slacks,
                                   residual_from_gradient, rounding_floor)
from rcollapse.theory.objective import _signed_gaps
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["solve_newton_cg", "solve_fast", "certify_fast", "FastOutcome", "FastHalf",
           "pcg", "TwoLevelPreconditioner", "memory_estimate", "FAST_FROM", "method_for_size"]

#: Levels up to this n are solved by the dense Newton method (solvers.newton).
DENSE_BELOW = 1024
#: Diagonals on each side of the band preconditioner: at least BANDWIDTH, at most
#: BAND_MAX, otherwise the coarse aggregates' size (so that the band reaches across one
#: aggregate and no scale between the two is left to CG).
BANDWIDTH = 8
BAND_MAX = 128
#: Coarse aggregates ~ COARSE_FACTOR * sqrt(m) tree nodes, at most COARSE_MAX.
COARSE_FACTOR = 16.0
COARSE_MAX = 2048
#: The coarse basis on the nodes: "hat" (piecewise linear) or "constant" (aggregates).
COARSE_BASIS = "hat"
#: Random rows on which the fast gradient is checked against direct sums.
SPOT_ROWS = 64
#: Reduced residual at which an intermediate level stops.
COARSE_TOL = 1e-8
#: A change of phi below this fraction of sum |U| over the pairs is summation noise.
NOISE = 1e-13
#: CG iterations allowed per Newton step.
CG_MAX_ITER = 500


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


class FastHalf:
    """phi(y), its gradient, the Hessian's diagonal and products on the symmetric half,
    all by fast sums (module docstring). The kernels are U's own numpy forms
    (theory.utilities), of the signed gap d = x_k - x_j between points x = 1 - r."""

    def __init__(self, U: Utility, n: int, *, order=DEFAULT_ORDER, leaf=DEFAULT_LEAF, eta=DEFAULT_ETA):
        self.U, self.n, self.m, self.odd = U, n, n // 2, n % 2 == 1
        self.order, self.leaf, self.eta = order, leaf, eta
        # U evaluated at c t as solvers.newton does (c = n - 1 for neg-power:g, g >= 1, so
        # that the forces stay inside float64; the maximizer and the residual are the same)
        c = float(getattr(_newton, "_argument_scale", lambda U, n: 1.0)(U, n))
        self.c = c
        self.k_value = lambda d: U(c * np.abs(d))  # U(|r_k - r_j|)
        self.k_force = lambda d: c * U.d1(c * np.abs(d))  # U'(|r_k - r_j|)
        self.k_grad = lambda d: np.copysign(c * U.d1(c * np.abs(d)), d)  # minus the gradient's term
        self.k_weight = lambda d: -(c * c) * U.d2(c * np.abs(d))  # w_kj = -U''(|r_k - r_j|)

    def tree(self, y) -> Points:
        return Points(y, leaf=self.leaf, order=self.order, eta=self.eta)

    def gradient(self, tree: Points):
        """(q, force) of :meth:`solvers.newton._Half.gradient`: q_k = dS/dr_k on the top
        half, force_k = sum_j |U'(gap)|."""
        ones = np.ones(2 * tree.m)
        q = -PointSum(tree, self.k_grad)(ones)
        force = PointSum(tree, self.k_force)(ones)
        if self.odd:
            fM = self.k_force(0.5 - tree.y)
            q += fM
            force += fM
        return q, force

    def objective(self, tree: Points, rows: int = 32):
        """(phi, mag): phi = -S / 2 and an estimate of sum |U| over the pairs (from ``rows``
        rows summed directly), the scale of the summation noise in phi."""
        y = tree.y
        T = float(PointSum(tree, self.k_value)(np.ones(2 * tree.m)).sum())
        S = T + (2.0 * float(self.k_value(0.5 - y).sum()) if self.odd else 0.0)
        pick = np.unique(np.linspace(0, self.m - 1, min(rows, self.m)).astype(int))
        absU = direct_row_sums(y, lambda d: np.abs(self.k_value(d)), np.ones(2 * tree.m), pick)
        mag = float(absU.mean()) * self.m + (2.0 * float(np.abs(self.k_value(0.5 - y)).sum()) if self.odd else 0.0)
        return -0.5 * S, 0.5 * mag

    def weights(self, tree: Points):
        """(KW, D): the stored fast sum of w = -U'' and the row sums D_k = sum_j w_kj."""
        KW = PointSum(tree, self.k_weight, store=True)
        D = KW(np.ones(2 * tree.m))
        if self.odd:
            D += self.k_weight(tree.y - 0.5)
        return KW, D

    @staticmethod
    def hessian_product(KW: PointSum, D, v) -> np.ndarray:
        """B v = (L u)_top, u = (v, -reversed v): D_k v_k - sum_j w_kj u_j."""
        return D * v - KW(np.concatenate((v, -v[::-1])))

    def full(self, y):
        mid = [0.5] if self.odd else []
        return (np.concatenate((1.0 - y, mid, y[::-1])), np.concatenate((y, mid, 1.0 - y[::-1])))

    def full_gradient(self, y, q, force):
        """(g, s): grad S on all n rewards (g_{n+1-k} = -g_k, the middle one 0) and
        s = max force."""
        mid_g = [0.0] if self.odd else []
        g = np.concatenate((q, mid_g, -q[::-1]))
        s = float(force.max()) if force.size else 0.0
        if self.odd:
            s = max(s, 2.0 * float(self.k_force(0.5 - y).sum()))
        return g, s

    def direct_gradient(self, y, rows):
        """q on ``rows`` by direct O(n) sums (the spot check)."""
        mid = 1.0 if self.odd else None
        return -direct_row_sums(y, self.k_grad, np.ones(2 * y.size), rows, middle_charge=mid)


class TwoLevelPreconditioner:
    """M^{-1} r = band(B)^{-1} r + P C^{-1} P^T r, C = P^T B P, on the free variables
    (module docstring).

    ``KW``, ``D``: the Hessian's fast sum and row sums; ``free``: indices of the free
    variables (ascending); ``level``: the tree level whose top-half nodes carry the coarse
    basis; ``basis``: "hat" (piecewise linear, the default) or "constant" (aggregates).
    ``slots`` holds P: for each free variable, its (coarse index, weight) pairs."""

    def __init__(self, half: FastHalf, points: Points, KW: PointSum, D, free, *,
                 bandwidth: int | None = None, level: int | None = None, basis: str = COARSE_BASIS):
        y, m = points.y, points.m
        tree = points.tree
        w = half.k_weight
        f = np.asarray(free)
        nf = f.size
        self.size = nf
        if level is None:
            want = min(COARSE_MAX, COARSE_FACTOR * math.sqrt(max(nf, 1)))
            level = int(round(math.log2(max(want, 1.0)))) + 1
        level = max(1, min(level, tree.depth))
        self.level = level
        if bandwidth is None:  # reach across one aggregate (module constants)
            bandwidth = min(BAND_MAX, max(BANDWIDTH, -(-nf // 2 ** (level - 1))))
        bw = max(0, min(bandwidth, nf - 1))
        ab = np.zeros((bw + 1, nf))
        ab[bw] = D[f] + w(1.0 - 2.0 * y[f])  # B_kk = D_k + w(1 - 2 y_k)
        for d in range(1, bw + 1):
            a, b = f[:-d], f[d:]
            ab[bw - d, d:] = -w(y[b] - y[a]) + w(1.0 - y[a] - y[b])
        self.band = linalg.cholesky_banded(ab, lower=False, check_finite=False)
        self.bw = bw
        # the coarse basis: on the level's top-half nodes a, piecewise constant (weight 1 on
        # node a) or hat functions centred on the nodes' ends (a point a fraction t into
        # node a has weight 1 - t on hat a and t on hat a + 1)
        node = points.node_of(level)
        nt = 2 ** (level - 1)
        if basis == "constant":
            slots = [np.ones(m)]
        elif basis == "hat":
            counts = np.bincount(node, minlength=nt)
            first = np.concatenate(([0], np.cumsum(counts)[:-1]))
            t = (np.arange(m) - first[node] + 0.5) / np.maximum(counts[node], 1)
            slots = [1.0 - t, t]
        else:
            raise ValueError(f"basis = {basis!r}; valid: 'hat' or 'constant'")
        nh = nt + len(slots) - 1
        mask = np.zeros(m)
        mask[f] = 1.0
        C = np.zeros((nh, nh))
        for x, wx in enumerate(slots):
            for z, wz in enumerate(slots[x:], start=x):
                cx, cz = wx * mask, wz * mask
                A = KW.block_sums(np.concatenate((cx, cx[::-1])), level,
                                  None if z == x else np.concatenate((cz, cz[::-1])))
                E = -A[:, :nt] + A[:, nt:][:, ::-1]  # C = P^T diag(D) P - W + mirror
                E[np.diag_indices(nt)] += np.bincount(node[f], weights=D[f] * wx[f] * wz[f],
                                                      minlength=nt)
                C[x:x + nt, z:z + nt] += E
                if z != x:
                    C[z:z + nt, x:x + nt] += E.T
        weight = sum(np.bincount(node[f] + x, weights=wx[f], minlength=nh) for x, wx in enumerate(slots))
        keep = weight > 0
        keep_index = -np.ones(nh, dtype=int)
        keep_index[keep] = np.arange(int(keep.sum()))
        self.nc = int(keep.sum())
        self.slots = [(np.maximum(keep_index[node[f] + x], 0), wx[f]) for x, wx in enumerate(slots)]
        C = 0.5 * (C + C.T)[np.ix_(keep, keep)]
        self.basis = basis
        try:
            self.coarse = linalg.cho_factor(C, check_finite=False) if self.nc else None
        except linalg.LinAlgError:
            if basis == "constant":
                raise
            # hats restricted to the free variables can be dependent (a node with one free
            # variable, next to the active set): the aggregates cannot
            self.__init__(half, points, KW, D, free, bandwidth=bandwidth, level=level,
                          basis="constant")

    def __call__(self, r):
        z = linalg.cho_solve_banded((self.band, False), r, check_finite=False)
        if self.coarse is not None:
            rc = sum(np.bincount(idx, weights=w * r, minlength=self.nc) for idx, w in self.slots)
            zc = linalg.cho_solve(self.coarse, rc, check_finite=False)
            for idx, w in self.slots:
                z = z + w * zc[idx]
        return z


def pcg(matvec, b, precond, *, rtol: float, max_iter: int = CG_MAX_ITER):
    """Preconditioned conjugate gradients for A x = b from x = 0, stopping when
    ||b - A x||_2 <= rtol ||b||_2. Returns (x, iterations, relative residual). Every
    iterate is a descent direction for the quadratic, so a stopped run is still usable.

    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> x, it, res = pcg(lambda v: A @ v, np.array([1.0, 2.0]), lambda r: r, rtol=1e-12)
    >>> bool(np.allclose(A @ x, [1.0, 2.0])), it
    (True, 2)
    """
    x = np.zeros_like(b)
    r = b.copy()
    nb = float(np.linalg.norm(b))
    if nb == 0.0:
        return x, 0, 0.0
    z = precond(r)
    p = z.copy()
    rz = float(r @ z)
    for it in range(1, max_iter + 1):
        Ap = matvec(p)
        pAp = float(p @ Ap)
        if not pAp > 0.0:
            return x, it, float(np.linalg.norm(r)) / nb
        alpha = rz / pAp
        x += alpha * p
        r -= alpha * Ap
        res = float(np.linalg.norm(r)) / nb
        if res <= rtol:
            return x, it, res
        z = precond(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter, res


def _spot_rows(m: int, spot_rows: int, rng) -> np.ndarray:
    """The rows of the top half summed directly: the first and last four, and ``spot_rows``
    drawn at random."""
    return np.unique(np.concatenate((np.arange(min(4, m)), np.arange(max(0, m - 4), m),
                                     rng.choice(m, size=min(spot_rows, m), replace=False))))


def _certificate_from_sums(U, r, q, g, s: float, fast_rows, direct_rows, *, objective: float,
                           note: str | None) -> Certificate:
    """The fast certificate from a fast gradient g (n,) and force scale s of the vector
    (r, q): the residual of :func:`solvers.kkt.residual_from_gradient`, the summation error
    max |fast_rows - direct_rows| / s measured on the rows summed directly, and the bound
    2 n err max_k c_k it puts on the residual. The one definition behind
    :func:`certify_fast` and the solver's own stopping test."""
    slack = constraint_slacks(r, complement=q)
    if not (np.all(np.isfinite(g)) and math.isfinite(s) and DIRECT_SCALE[0] <= s <= DIRECT_SCALE[1]):
        return Certificate(math.inf, objective, f"cannot certify by fast sums: the force scale max_k sum_j |U'| "
                                                f"is {s!r}, or a force is not finite; valid: a scale in "
                                                f"[{DIRECT_SCALE[0]:g}, {DIRECT_SCALE[1]:g}] (solvers.kkt.certify "
                                                f"rescales by log U')", note=note)
    res = residual_from_gradient(r, q, g, s)
    err = float(np.max(np.abs(np.asarray(fast_rows) - direct_rows), initial=0.0)) / s
    bound = 2.0 * r.size * err * float(slack.max(initial=0.0))
    rows = int(np.size(direct_rows))
    if not math.isfinite(err):
        return Certificate(math.inf, objective, "cannot certify by fast sums: the direct spot sums are not finite",
                           note=note, summation_error=err, residual_error_bound=bound, rows_checked=rows)
    return Certificate(res, objective, None, False, note, rounding_floor(U, r, q, slack),
                       summation_error=err, residual_error_bound=bound, rows_checked=rows)


def _half_certificate(half: FastHalf, y, q, force, rows, *, objective: float = math.nan,
                      note: str | None = None) -> Certificate:
    """:func:`_certificate_from_sums` for the symmetric vector with half ``y``, from the
    fast sums (q, force) of :meth:`FastHalf.gradient`; ``rows`` of the top half are summed
    directly (:meth:`FastHalf.direct_gradient`)."""
    r, c = half.full(y)
    g, s = half.full_gradient(y, q, force)
    if not (np.all(np.isfinite(g)) and math.isfinite(s) and s > 0.0):
        return _certificate_from_sums(half.U, r, c, g, s, [], [], objective=objective, note=note)
    return _certificate_from_sums(half.U, r, c, g, s, q[rows], half.direct_gradient(y, rows),
                                  objective=objective, note=note)


def _certify(half: FastHalf, y, q, force, spot_rows, rng):
    """(residual, summation_error, error_bound, rows checked) of the fast certificate
    (:func:`_half_certificate`, the one behind :func:`certify_fast`), for the solver's loop."""
    cert = _half_certificate(half, y, q, force, _spot_rows(half.m, spot_rows, rng))
    err = math.nan if cert.summation_error is None else cert.summation_error
    bound = math.inf if cert.residual_error_bound is None else cert.residual_error_bound
    return cert.residual, err, bound, cert.rows_checked


def _direct_rows(half: FastHalf, r, q, rows):
    """(g, force, value) on ``rows`` of any vector by direct O(n) sums, gaps formed as the
    dense certificate forms them (:func:`theory.objective._signed_gaps`: from the complement
    between two rewards >= 1/2), with :class:`FastHalf`'s kernels (U at c t)."""
    out = np.zeros((3, len(rows)))
    n = r.size
    for i, k in enumerate(rows):
        d, diag = _signed_gaps(r, q, slice(int(k), int(k) + 1))
        d[diag] = 1.0
        f, v = half.k_force(d), half.k_value(d)
        f[diag], v[diag] = 0.0, 0.0
        later = np.arange(n)[None, :] > k
        out[0, i] = float(np.sum(np.where(later, f, -f)))
        out[1, i], out[2, i] = float(f.sum()), float(v.sum())
    return out


def _general_sums(half: FastHalf, r, q, *, with_objective: bool):
    """(g, force, S) of any feasible vector (n,), by fast sums (O(n p)).

    :mod:`solvers.fastsum` sums over a mirrored point set x = (y, 1 - reversed y) and
    evaluates its half y. The points x_k = 1 - r_k are placed in it with their mirror
    images 1 - x_k: a reward above 1/2 as y = q_k, one below as 1 - y with y = r_k (its
    mirror is then y), one point per value where a reward and a mirror image coincide
    (a symmetric pair). The rewards carry charge 1, the mirror images 0. One pass gives
    the sums at the rewards above 1/2; the rewards below are the half of the mirrored set
    with the reversed charges and the kernel K(-d). Rewards at exactly 1/2 are summed
    directly (O(n) each)."""
    U, n = half.U, r.size
    it, ib, im = np.flatnonzero(r > 0.5), np.flatnonzero(r < 0.5), np.flatnonzero(r == 0.5)
    A, B = q[it], r[ib][::-1]  # ascending; B in the reversed order of ib
    g, force, value = np.zeros(n), np.zeros(n), np.zeros(n)
    if it.size + ib.size:
        uv, inv = np.unique(np.concatenate((A, B)), return_inverse=True)
        inv = inv.ravel()
        a = np.bincount(inv[:A.size], minlength=uv.size)
        b = np.bincount(inv[A.size:], minlength=uv.size)
        mult = np.maximum(a, b)
        first = np.concatenate(([0], np.cumsum(mult)[:-1]))
        m = int(mult.sum())
        pa = first[inv[:A.size]] + np.arange(A.size) - np.searchsorted(A, A, side="left")
        pb = first[inv[A.size:]] + np.arange(B.size) - np.searchsorted(B, B, side="left")
        charges = np.zeros(2 * m)
        charges[pa] = 1.0
        charges[2 * m - 1 - pb] = 1.0
        points = half.tree(np.repeat(uv, mult))
        mirrored = charges[::-1]
        g[it] = -PointSum(points, half.k_grad)(charges)[pa]
        g[ib[::-1]] = PointSum(points, half.k_grad)(mirrored)[pb]  # kernel K(-d) = -K(d): odd
        force[it] = PointSum(points, half.k_force)(charges)[pa]
        force[ib[::-1]] = PointSum(points, half.k_force)(mirrored)[pb]
        if with_objective:
            value[it] = PointSum(points, half.k_value)(charges)[pa]
            value[ib[::-1]] = PointSum(points, half.k_value)(mirrored)[pb]
        if im.size:  # the pairs with the rewards at 1/2, at the others: x_k - 1/2
            for idx, d in ((it, q[it] - 0.5), (ib, 0.5 - r[ib])):
                g[idx] -= im.size * half.k_grad(d)
                force[idx] += im.size * half.k_force(d)
                if with_objective:
                    value[idx] += im.size * half.k_value(d)
    if im.size:
        g[im], force[im], value[im] = _direct_rows(half, r, q, im)
    S = 0.5 * float(value.sum()) if with_objective else math.nan
    if with_objective and half.c != 1.0:  # S of U(c t) is c^(-g) S (the homogeneous neg-power)
        S = S * half.c ** U.param
    return g, force, S


def certify_fast(U, rewards, *, complement=None, spot_rows: int = SPOT_ROWS, seed: int = 0,
                 with_objective: bool = True) -> Certificate:
    """The certificate of :func:`solvers.kkt.certify` (the same :class:`solvers.kkt.Certificate`,
    the same residual, the same feasibility checks) with every all-pairs sum done by fast
    sums: O(n p) instead of O(n^2), for n = 10^5 .. 10^6. Any vector sorted best first.

    A symmetric vector (r_(n+1-k) = 1 - r_k exactly, with ``complement``: as the optimum
    is, Lemma 4.1, and as the solvers return it) is summed on its half, exactly as the fast
    solver certifies its own iterate; any other by :func:`_general_sums` (the points and
    their mirror images, about four times the work). The certificate states the summation
    error measured against direct sums on the first and last four rows and ``spot_rows``
    random ones (``seed``), and the bound ``residual_error_bound`` = 2 n err max_k c_k it
    puts on the residual. ``with_objective`` computes S(r) by fast sums too (else objective
    nan). An infeasible vector (not finite, outside [0, 1], out of order, a tie where
    U'(0+) is infinite) gets residual inf and the one-line ``problem`` of
    :func:`solvers.kkt.certify`.

    >>> from rcollapse.solvers.kkt import certify
    >>> from rcollapse.theory.exact import gauss_lobatto_rewards
    >>> r = gauss_lobatto_rewards(300)
    >>> fast, dense = certify_fast("log", r), certify("log", r)
    >>> fast.residual < 1e-12, abs(fast.residual - dense.residual) < 1e-13, fast.residual_error_bound < 1e-12
    (True, True, True)
    >>> r[10] += 1e-6                                           # off the optimum
    >>> fast, dense = certify_fast("log", r), certify("log", r)
    >>> fast.residual > 1e-8, abs(fast.residual / dense.residual - 1) < 1e-9
    (True, True)
    """
    U = parse_utility(U)
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"rewards must be a 1-D array of n >= 2 values, got shape {r.shape}")
    if not (isinstance(spot_rows, (int, np.integer)) and spot_rows >= 0):
        raise ValueError(f"spot_rows = {spot_rows!r}; valid: an integer >= 0")
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    if q.shape != r.shape:
        raise ValueError(f"complement has shape {q.shape}, rewards {r.shape}; they must match")
    n, m = r.size, r.size // 2
    with np.errstate(all="ignore"):
        c = constraint_slacks(r, complement=q)
    problem = _primal_problem(r, q, c, U, 0.0)
    if problem is not None:
        return Certificate(math.inf, math.nan, "infeasible: " + problem)
    if U.dU0 is None and np.any(c[1:-1] == 0.0):
        if not np.isfinite(U(np.array([0.0]))[0]):
            return Certificate(math.inf, -math.inf, "infeasible: S(r) = -inf: two rewards tie where U(0) = -inf")
        return Certificate(math.inf, math.nan, "not a KKT point: two rewards tie where U'(0+) is infinite")
    symmetric = np.array_equal(q[:m], r[::-1][:m]) and (n % 2 == 0 or r[m] == q[m] == 0.5)
    half = FastHalf(U, n)
    rng = np.random.default_rng(seed)
    objective = math.nan
    with np.errstate(all="ignore"):
        if symmetric:
            y = q[:m].copy()
            tree = half.tree(y)
            qg, force = half.gradient(tree)
            if with_objective:
                phi, _ = half.objective(tree)
                if half.c != 1.0:  # S of U(c t) is c^(-g) S for the homogeneous neg-power
                    phi = phi * half.c ** U.param
                objective = -2.0 * float(phi)
        else:
            g, force, objective = _general_sums(half, r, q, with_objective=with_objective)
    if math.isnan(objective) and with_objective:
        return Certificate(math.inf, objective, "infeasible: S(r) is not defined (nan)")
    note = "S(r) overflows float64 (U is below -1.8e308 at the smallest gaps)" if objective == -math.inf else None
    with np.errstate(all="ignore"):
        if symmetric:
            return _half_certificate(half, y, qg, force, _spot_rows(m, spot_rows, rng), objective=objective,
                                     note=note)
        s = float(force.max())
        if not (np.all(np.isfinite(g)) and math.isfinite(s) and s > 0.0):
            return _certificate_from_sums(U, r, q, g, s, [], [], objective=objective, note=note)
        middle = np.arange(max(0, m - 2), min(n, m + 2))  # the pairs across 1/2 are formed apart
        rows = np.unique(np.concatenate((_spot_rows(n, spot_rows, rng), middle)))
        return _certificate_from_sums(U, r, q, g, s, g[rows], _direct_rows(half, r, q, rows)[0],
                                      objective=objective, note=note)


def _fast_level(half: FastHalf, y, *, box: bool, tol: float, max_iter: int, final: bool,
                spot_rows: int, rng, clock: dict):
    """Newton-CG on one level (the step logic of solvers.newton._newton_level). Returns
    (y, steps, residual, certified, cg counts, certificate details)."""
    m = half.m
    steps, cg_counts = 0, []
    phi = mag = None
    at_noise, accepted_noise = 0, False
    reduced_prev = math.inf
    target = tol if final else COARSE_TOL
    cert = (math.inf, math.nan, math.nan, 0)
    tree = None
    while True:
        t0 = time.perf_counter()
        if tree is None:
            tree = half.tree(y)
        q, force = half.gradient(tree)
        clock["gradient"] = clock.get("gradient", 0.0) + time.perf_counter() - t0
        if not np.all(np.isfinite(q)):
            raise ConvergenceError(f"newton-cg: {half.U.spec} at n = {half.n}: non-finite gradient "
                                   f"after {steps} steps: two rewards tie")
        reduced = _newton._reduced_residual(y, q, force, box)
        if not accepted_noise:
            at_noise = 0
        elif reduced > 0.99 * reduced_prev:
            at_noise += 1
        done = at_noise >= 3 or steps >= max_iter
        if not final:
            if reduced <= target or done:
                return y, steps, reduced, reduced <= target, cg_counts, cert
        elif reduced <= 0.1 * tol or done:
            t0 = time.perf_counter()
            cert = _certify(half, y, q, force, spot_rows, rng)
            clock["certificate"] = clock.get("certificate", 0.0) + time.perf_counter() - t0
            if cert[0] <= tol or done:
                return y, steps, cert[0], cert[0] <= tol, cg_counts, cert
        # --- Hessian pieces, active set, preconditioner
        t0 = time.perf_counter()
        KW, D = half.weights(tree)
        diag = D + half.k_weight(1.0 - 2.0 * y)
        if box:
            wdist = np.abs(y - np.clip(y - q / diag, 0.0, 0.5)).max()
            eps = min(1e-3, wdist)
            active = ((y <= eps) & (q > 0.0)) | ((y >= 0.5 - eps) & (q < 0.0))
        else:
            active = np.zeros(m, dtype=bool)
            active[0] = True
        free = np.flatnonzero(~active)
        d = np.zeros(m)
        if box:
            d[active] = -q[active] / diag[active]
        clock["hessian"] = clock.get("hessian", 0.0) + time.perf_counter() - t0
        if free.size:
            t0 = time.perf_counter()
            M = TwoLevelPreconditioner(half, tree, KW, D, free)
            clock["preconditioner"] = clock.get("preconditioner", 0.0) + time.perf_counter() - t0
            t0 = time.perf_counter()

            def matvec(v):
                full = np.zeros(m)
                full[free] = v
                return FastHalf.hessian_product(KW, D, full)[free]

            rtol = min(1e-2, max(1e-13, 0.01 * target / max(reduced, 1e-300)))
            d[free], its, _ = pcg(matvec, -q[free], M, rtol=rtol)
            cg_counts.append(its)
            clock["cg"] = clock.get("cg", 0.0) + time.perf_counter() - t0
        del KW
        # --- the step
        t0 = time.perf_counter()
        alpha = 1.0 if box else min(1.0, _newton.TO_BOUNDARY * _newton._max_step(y, d, half.odd))
        if phi is None:
            phi, mag = half.objective(tree)
        noise = NOISE * mag
        accepted = False
        new_tree = None
        for _ in range(60):
            # box: sorted after the projection (for log-sigmoid, putting two rewards that
            # are out of order back in order raises S: solvers.newton's docstring)
            y_new = np.clip(y + alpha * d, 0.0, 0.5) if box else y + alpha * d
            if not box:
                y_new[0] = 0.0
            slope = float(q @ (y_new - y))
            if box:
                y_new = np.sort(y_new)
            if -slope <= noise and alpha == 1.0:
                phi_new, mag_new, new_tree = phi, mag, None
                accepted = True
                break
            new_tree = half.tree(y_new)
            phi_new, mag_new = half.objective(new_tree)
            if phi_new <= phi + _newton.ARMIJO * slope + noise:
                accepted = True
                break
            alpha *= 0.5
        clock["line search"] = clock.get("line search", 0.0) + time.perf_counter() - t0
        steps += 1
        reduced_prev = reduced
        if not accepted:
            at_noise, accepted_noise = 3, False
            continue
        accepted_noise = -slope <= noise
        y, phi, mag, tree = y_new, phi_new, mag_new, new_tree


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
    if U.family == "linear":
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
        y = _newton.solve_newton(U, levels[0], tol=min(tol, 1e-9)).complement[: levels[0] // 2]
    else:
        y = _newton._first_start(U, n, box)
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
            y = _newton._transfer(U, prev, y, nl, box)
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


def solve_fast(U, n: int, *, tol: float = 1e-9, max_iter: int | None = None, start=None,
               check_memory: bool = True, progress=False):
    """``solve(U, n, method="fast")``: :func:`solve_newton_cg` wrapped in the one result
    type, :class:`solvers.result.Solution`, certified by the fast certificate (the dense
    O(n^2) :func:`solvers.kkt.certify` is what this method exists to avoid). The status
    states the measured summation error and its bound on the residual; ``iterations``
    counts the Newton-CG steps over every fast level (the status's count). ``start`` is not
    taken (the multilevel start is what keeps the last level to a few steps).

    >>> sol = solve_fast("log", 40)
    >>> sol.method, sol.kkt_residual < 1e-9, "summation error" in sol.status
    ('fast', True, True)
    """
    from rcollapse.solvers.api import available_memory
    from rcollapse.solvers.errors import SolverInputError
    from rcollapse.solvers.result import Solution

    t0 = time.perf_counter()
    U = parse_utility(U)
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 2:
        raise SolverInputError(f"n = {n!r} is out of range; valid: an integer n >= 2")
    if (isinstance(tol, (bool, np.bool_)) or not isinstance(tol, (int, float, np.floating, np.integer))
            or not 0.0 < tol < 1.0):
        raise SolverInputError(f"tol = {tol!r} is out of range; valid: 0 < tol < 1")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer))
                                 or max_iter < 1):
        raise SolverInputError(f"max_iter = {max_iter!r} is not valid; valid: an integer >= 1")
    if start is not None:
        raise SolverInputError("start is not taken by method 'fast'; valid: method newton or lbfgs")
    if U.family == "linear":
        raise SolverInputError("method 'fast' does not take linear U (an LP with a closed form); "
                               "valid: method newton")
    if check_memory:
        need, free = memory_estimate(int(n)), available_memory()
        if free is not None and need > free:
            from rcollapse.solvers.api import memory_refusal

            raise SolverInputError(memory_refusal(U, int(n), "fast", need, free))
    out = solve_newton_cg(U, int(n), tol=float(tol), max_iter=max_iter or 50, progress=progress)
    status = (f"converged (levels n = {', '.join(map(str, out.levels))}, the first dense; "
              f"{out.total_iterations} Newton-CG steps in all, {out.iterations} on n = {n}; "
              f"CG iterations on the last level "
              f"{list(out.cg_iterations)}; fast certificate: summation error {out.summation_error:.2g} "
              f"of the force scale on {out.spot_rows} rows checked directly, bound on the "
              f"residual's error {out.kkt_error_bound:.2g})")
    return Solution(spec=U.spec, n=int(n), method="fast", rewards=out.rewards,
                    objective=float(out.objective), kkt_residual=float(out.kkt_residual),
                    iterations=int(out.total_iterations), seconds=time.perf_counter() - t0,
                    unique=True, status=status, complement=out.complement)
