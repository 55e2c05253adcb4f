"""The symmetric half of problem (5) by fast kernel sums: phi, its gradient, the Hessian's
diagonal and products, in O(n p) (:mod:`solvers.fastsum`), never an n x n matrix.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. On the symmetric half y_k = 1 - r_k (k = 1..m, m = n // 2;
Lemmas 4.1, C.1, C.2) the reduced objective is phi(y) = -S(r(y)) / 2; its Hessian B acts
as B v = (L u)_top for u = (v, -reversed v), L = -Hessian of S, a graph Laplacian with
weights w_kj = -U''(|r_k - r_j|): (L u)_k = D_k u_k - sum_j w_kj u_j, D_k = sum_j w_kj.
Used by :mod:`solvers.newton_cg` (the solver), :mod:`solvers.certify_fast` (the
certificate) and :mod:`solvers.bound` (the error bound).

>>> half = FastHalf(parse_utility("log"), 8)
>>> r, c = half.full(np.array([0.0, 0.1, 0.2, 0.3]))
>>> r.tolist()
[1.0, 0.9, 0.8, 0.7, 0.3, 0.2, 0.1, 0.0]
"""

from __future__ import annotations

import numpy as np

from rcollapse.solvers.fastsum import DEFAULT_ETA, DEFAULT_LEAF, DEFAULT_ORDER, Points, PointSum, direct_row_sums
from rcollapse.solvers.starts import argument_scale
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["FastHalf"]


class FastHalf:
    """phi(y), its gradient, the Hessian's diagonal and products on the symmetric half,
    all by fast sums (module docstring). The kernels are U's own numpy forms
    (theory.utilities), of the signed gap d = x_k - x_j between points x = 1 - r."""

    def __init__(self, U: Utility, n: int, *, order=DEFAULT_ORDER, leaf=DEFAULT_LEAF, eta=DEFAULT_ETA):
        self.U, self.n, self.m, self.odd = U, n, n // 2, n % 2 == 1
        self.order, self.leaf, self.eta = order, leaf, eta
        # U evaluated at c t as solvers.newton does (c = n - 1 for neg-power:g, g >= 1, so
        # that the forces stay inside float64; the maximizer and the residual are the same)
        c = float(argument_scale(U, n))
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

