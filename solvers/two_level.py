"""The Newton system of :mod:`solvers.newton_cg`, B d = -q on the free variables, solved by
preconditioned conjugate gradients (:func:`pcg`) with a two-level additive preconditioner
(:class:`TwoLevelPreconditioner`).

Problem (5) (Song et al. 2023): B is the Hessian of phi(y) = -S(r(y)) / 2 on the symmetric
half (:mod:`solvers.fast_half`). The preconditioner is the band of B (banded Cholesky; the
band reaches across one coarse node, between ``BANDWIDTH`` and ``BAND_MAX`` diagonals each
side) plus a Galerkin coarse correction P C^{-1} P^T, C = P^T B P, on the tree's nodes at
one level (their number growing like 16 sqrt(n), at most ``COARSE_MAX``). P is piecewise
linear: hat functions centred on the nodes' ends. C is assembled exactly (to the
summation accuracy) from the fast sum's own expansions, three two-charge block sums
(:meth:`solvers.fastsum.KernelSum.block_sums`). Piecewise-constant aggregates (``basis =
"constant"``, the fallback where hats restricted to the free variables are dependent) are
not enough for the most singular kernels: -U'' ~ |d|^(-2-g) for neg-power:g is an operator
of order 1 + g, and a jump costs energy that grows as the nodes shrink.

>>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> x, it, res = pcg(lambda v: A @ v, np.array([1.0, 2.0]), lambda r: r, rtol=1e-12)
>>> it
2
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from rcollapse.solvers.fast_half import FastHalf
from rcollapse.solvers.fastsum import Points, PointSum

__all__ = ["TwoLevelPreconditioner", "pcg", "BANDWIDTH", "BAND_MAX", "COARSE_FACTOR", "COARSE_MAX",
           "COARSE_BASIS", "CG_MAX_ITER"]

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
#: CG iterations allowed per Newton step.
CG_MAX_ITER = 500


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
