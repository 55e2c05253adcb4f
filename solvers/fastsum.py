"""Fast all-pairs kernel sums on the symmetric point set of problem (5).

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. Newton's method on it needs, for every reward k, sums over all
the other rewards j of a function of the gap: the gradient sum_j U'(r_k - r_j), the
Hessian's weights w_kj = -U''(|r_k - r_j|) applied to a vector, and S itself. Directly,
each costs O(n^2). Here each costs O(n p) work and O(n p) memory, p the Chebyshev order.

Geometry. The optimum is symmetric, r_k + r_{n+1-k} = 1 (Lemma 4.1), so only the top half
is unknown, stored as y_k = 1 - r_k (k = 1..m, m = n // 2, ascending in [0, 1/2]). The
point set is ``x = (y_1, ..., y_m, 1 - y_m, ..., 1 - y_1)`` (2m points, ascending in
[0, 1]); the middle reward of odd n (1/2) is not a point of the tree and the caller adds
its pairs directly. Only the m targets of the top half are evaluated (the bottom half
follows by symmetry), so every gap that the near field forms between two top points is
y_k - y_j, exact to its own relative precision however close to 0 (power:0.5 at
n = 10^5 has gaps near 1e-20), and a gap between a top and a bottom point is
(1 - y_l) - y_k, as in the dense solver.

Method: a one-dimensional black-box fast multipole method (Fong and Darve 2009) with
Chebyshev interpolation of the kernel in both the target and the source variable.

- Tree: a balanced binary tree on the indices, mirrored between the two halves; level l
  has 2^l nodes, all leaves are at the same depth and hold at most ``leaf`` points.
  A node's box is the interval spanned by its points (the points are very unevenly
  spread: an index tree keeps every leaf the same size).
- Admissibility: boxes a and b interact through their Chebyshev expansions when their
  distance is at least ``eta`` times the larger width (and positive). A kernel analytic
  off the diagonal is then interpolated in each variable on a box whose nearest
  singularity is at least 1 + 2 eta half-widths from its centre: Bernstein ellipse
  rho = 3 + sqrt(8) for eta = 1, so the interpolation error decays like rho^(-p)
  (about 1e-15 of the kernel's size at p = 20).
- Upward pass (moments: sources anterpolated onto the leaf's Chebyshev nodes, then
  child to parent), interactions (M2L: one p x p kernel matrix per admissible pair of
  boxes, found level by level from the non-admissible pairs of the parents), downward
  pass (parent to child, then to the targets), near field (pairs of adjacent leaves,
  summed directly; the pair k = j is left out).

The summation error is not assumed: :func:`direct_row_sums` sums chosen rows directly
(O(n) each) for a spot check, and the solver states the error it measured.

>>> import numpy as np
>>> y = np.sort(np.random.default_rng(1).uniform(0.0, 0.5, 300)); y[0] = 0.0
>>> tree = Tree(y, leaf=16, order=16)
>>> f = KernelSum(tree, lambda d: 1.0 / np.abs(d))(np.ones(tree.size))
>>> exact = direct_row_sums(y, lambda d: 1.0 / np.abs(d), np.ones(tree.size), np.arange(300))
>>> bool(np.max(np.abs(f - exact) / exact) < 1e-11)
True
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Tree", "KernelSum", "Points", "PointSum", "direct_row_sums", "chebyshev_nodes", "lagrange_basis",
           "DEFAULT_ORDER", "DEFAULT_LEAF", "DEFAULT_ETA"]

#: Chebyshev points per box (interpolation order).
DEFAULT_ORDER = 20
#: Most points in one leaf.
DEFAULT_LEAF = 32
#: Admissibility: distance >= eta * (larger width).
DEFAULT_ETA = 1.0
#: Entries of one block of near-field pairs held at once (16 MB per float64 array).
_CHUNK = 2**21


def chebyshev_nodes(p: int):
    """(nodes, barycentric weights) of the p Chebyshev points of the first kind on [-1, 1],
    t_i = cos((2i + 1) pi / (2p)), weights (-1)^i sin((2i + 1) pi / (2p)).

    >>> t, w = chebyshev_nodes(2)
    >>> [round(float(v), 12) for v in t]
    [0.707106781187, -0.707106781187]
    """
    theta = (2 * np.arange(p) + 1) * np.pi / (2 * p)
    return np.cos(theta), (-1.0) ** np.arange(p) * np.sin(theta)


def lagrange_basis(xi, p: int) -> np.ndarray:
    """The p Lagrange polynomials of the Chebyshev points at xi (any shape): shape
    xi.shape + (p,), by the barycentric formula; a point on a node gives that row of the
    identity. Rows sum to 1.

    >>> B = lagrange_basis(np.array([0.3, -1.0]), 5)
    >>> B.shape, bool(np.allclose(B.sum(axis=-1), 1.0))
    ((2, 5), True)
    """
    t, w = chebyshev_nodes(p)
    xi = np.asarray(xi, dtype=float)
    diff = xi[..., None] - t
    hit = diff == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = w / diff
        out = terms / terms.sum(axis=-1, keepdims=True)
    rows = hit.any(axis=-1)
    if rows.any():
        out[rows] = hit[rows].astype(float)
    return out


class Tree:
    """The mirrored index tree on x = (y, 1 - reversed y) (module docstring).

    ``y``: (m,) ascending in [0, 1/2]. Attributes: ``size`` (2m), ``m``, ``depth`` (leaf
    level), ``order`` (p), ``start[l]`` (node boundaries at level l, 2^l + 1 indices),
    ``center[l]``, ``half[l]`` (box centre and half-width), ``lo[l]``, ``hi[l]`` (box
    ends), ``m2l[l]`` (admissible pairs (target, source) at level l, targets in the top
    half), ``near`` (pairs of leaves summed directly), ``basis`` ((2m, p): each point's
    Lagrange basis in its leaf), ``transfer[l]`` ((2^l, p, p): child l to parent's basis).
    """

    def __init__(self, y, *, leaf: int = DEFAULT_LEAF, order: int = DEFAULT_ORDER,
                 eta: float = DEFAULT_ETA):
        y = np.asarray(y, dtype=float)
        m = y.size
        if m < 1:
            raise ValueError(f"the half has {m} points; valid: at least 1")
        if leaf < 1 or order < 2 or not eta > 0:
            raise ValueError(f"leaf = {leaf}, order = {order}, eta = {eta}; valid: leaf >= 1, "
                             f"order >= 2, eta > 0")
        self.y, self.m, self.size, self.order, self.eta = y, m, 2 * m, order, eta
        self.x = np.concatenate((y, 1.0 - y[::-1]))
        depth = 1
        while m / 2 ** (depth - 1) > leaf and 2 ** depth <= m:
            depth += 1
        self.depth = depth
        self.start = []
        for lev in range(depth + 1):
            if lev == 0:
                self.start.append(np.array([0, 2 * m]))
                continue
            k = 2 ** (lev - 1)
            b = (np.arange(k + 1) * m) // k
            self.start.append(np.concatenate((b, 2 * m - b[::-1][1:])))
        self.lo, self.hi, self.center, self.half = [], [], [], []
        for s in self.start:
            lo, hi = self.x[s[:-1]], self.x[s[1:] - 1]
            self.lo.append(lo)
            self.hi.append(hi)
            self.center.append(0.5 * (lo + hi))
            self.half.append(np.maximum(0.5 * (hi - lo), 1e-300))
        self._interactions()
        self._bases()

    # ---- which boxes interact how ----------------------------------------------------
    def _admissible(self, lev, a, b):
        lo, hi = self.lo[lev], self.hi[lev]
        dist = np.maximum(lo[b] - hi[a], lo[a] - hi[b])
        width = np.maximum(hi[a] - lo[a], hi[b] - lo[b])
        return (a != b) & (dist > 0.0) & (dist >= self.eta * width)

    def _interactions(self):
        """Level by level: the children of a non-admissible pair are admissible (M2L at the
        children's level) or not (passed down); at the leaves the rest is the near field.
        Only pairs whose target is in the top half are kept."""
        self.m2l = [(np.zeros(0, int), np.zeros(0, int))]
        a, b = np.array([0]), np.array([0])
        for lev in range(1, self.depth + 1):
            ca = (2 * a[:, None] + np.array([0, 1, 0, 1])[None, :]).ravel()
            cb = (2 * b[:, None] + np.array([0, 0, 1, 1])[None, :]).ravel()
            top = ca < 2 ** (lev - 1)
            ca, cb = ca[top], cb[top]
            ok = self._admissible(lev, ca, cb)
            self.m2l.append((ca[ok], cb[ok]))
            a, b = ca[~ok], cb[~ok]
        self.near = (a, b)

    def _bases(self):
        p, D = self.order, self.depth
        s = self.start[D]
        leaf_of = np.repeat(np.arange(s.size - 1), np.diff(s))
        xi = (self.x - self.center[D][leaf_of]) / self.half[D][leaf_of]
        self.leaf_of = leaf_of
        self.basis = lagrange_basis(np.clip(xi, -1.0, 1.0), p)
        t, _ = chebyshev_nodes(p)
        self.nodes = t
        self.transfer = [None]
        for lev in range(1, D + 1):
            child = np.arange(2 ** lev)
            parent = child // 2
            pts = self.center[lev][:, None] + self.half[lev][:, None] * t[None, :]
            xi = (pts - self.center[lev - 1][parent][:, None]) / self.half[lev - 1][parent][:, None]
            self.transfer.append(lagrange_basis(np.clip(xi, -1.0, 1.0), p))  # (2^l, p_child, p_parent)

    # ---- helpers -----------------------------------------------------------------------
    def leaf_slices(self):
        """(start, stop) of each leaf."""
        s = self.start[self.depth]
        return s[:-1], s[1:]

    def node_gaps(self, lev, a, b):
        """(pairs, p, p) gaps t_a,i - s_b,j between the Chebyshev points of boxes a and b,
        formed as (c_a - c_b) + (h_a t_i - h_b t_j) to keep tiny boxes' precision."""
        t = self.nodes
        ca, cb = self.center[lev][a], self.center[lev][b]
        ha, hb = self.half[lev][a], self.half[lev][b]
        return ((ca - cb)[:, None, None] + ha[:, None, None] * t[None, :, None]
                - hb[:, None, None] * t[None, None, :])

    def moments(self, q) -> list:
        """Upward pass: for each level, (2^l, p) Chebyshev moments of the charges q (2m,)."""
        D = self.depth
        s0, _ = self.leaf_slices()
        M = [None] * (D + 1)
        M[D] = np.add.reduceat(self.basis * q[:, None], s0, axis=0)
        for lev in range(D, 0, -1):
            up = np.einsum("cij,ci->cj", self.transfer[lev], M[lev])
            M[lev - 1] = up[0::2] + up[1::2]
        return M


def _near_blocks(tree: Tree, pairs=None):
    """Yield (target leaves, source leaves, target index (k, s), source index (k, s),
    valid mask (k, s, s)) for the near pairs in chunks, leaves padded to a common size."""
    s0, s1 = tree.leaf_slices()
    size = int((s1 - s0).max())
    a_all, b_all = tree.near if pairs is None else pairs
    step = max(1, _CHUNK // (size * size))
    off = np.arange(size)
    for i in range(0, a_all.size, step):
        a, b = a_all[i:i + step], b_all[i:i + step]
        ia = s0[a][:, None] + off[None, :]
        ib = s0[b][:, None] + off[None, :]
        va = ia < s1[a][:, None]
        vb = ib < s1[b][:, None]
        valid = va[:, :, None] & vb[:, None, :] & (ia[:, :, None] != ib[:, None, :])
        # padding repeats the leaf's last point (its entries of the mask are False)
        yield a, b, np.minimum(ia, (s1[a] - 1)[:, None]), np.minimum(ib, (s1[b] - 1)[:, None]), valid


def _near_gaps(tree: Tree, ia, ib):
    """x_k - x_j, its sign taken from the index order (k > j: positive), so that a tie
    x_k = x_j gives +0.0 or -0.0 as the index order says (an odd kernel written with
    ``np.copysign`` then gives the one-sided value of problem (5))."""
    d = tree.x[ia][:, :, None] - tree.x[ib][:, None, :]
    return np.copysign(np.abs(d), (ia[:, :, None] - ib[:, None, :]).astype(float))


class KernelSum:
    """f_k = sum_{j != k} K(x_k - x_j) q_j for the m targets k of the top half and
    charges q on all 2m points of ``tree``, by the fast multipole method.

    ``kernel``: a vectorized function of the signed gap d = x_k - x_j (d != 0), analytic
    off d = 0. ``store=True`` keeps the M2L kernel matrices and the near-field blocks, so
    that repeated sums with the same tree and kernel (Hessian-vector products) cost only
    small matrix products; memory O(n (p + leaf)).
    """

    def __init__(self, tree: Tree, kernel, *, store: bool = False):
        self.tree, self.kernel, self.store = tree, kernel, store
        self._m2l = [None] * (tree.depth + 1)
        self._near = None
        if store:
            self._m2l = [self._m2l_matrices(lev) for lev in range(tree.depth + 1)]
            self._near = [(a, b, ia, ib, self._near_kernel(ia, ib, valid))
                          for a, b, ia, ib, valid in _near_blocks(tree)]

    def _m2l_matrices(self, lev):
        a, b = self.tree.m2l[lev]
        if a.size == 0:
            return np.zeros((0, self.tree.order, self.tree.order))
        return self.kernel(self.tree.node_gaps(lev, a, b))

    def _near_kernel(self, ia, ib, valid):
        d = _near_gaps(self.tree, ia, ib)
        d[~valid] = 1.0  # a harmless argument; zeroed below
        K = self.kernel(d)
        K[~valid] = 0.0
        return K

    def __call__(self, q) -> np.ndarray:
        tree = self.tree
        q = np.asarray(q, dtype=float)
        if q.shape != (tree.size,):
            raise ValueError(f"charges have shape {q.shape}; valid: ({tree.size},)")
        D, p = tree.depth, tree.order
        M = tree.moments(q)
        L = [np.zeros((2 ** lev, p)) for lev in range(D + 1)]
        for lev in range(1, D + 1):
            a, b = tree.m2l[lev]
            if a.size:
                K = self._m2l[lev] if self._m2l[lev] is not None else self._m2l_matrices(lev)
                np.add.at(L[lev], a, np.einsum("kij,kj->ki", K, M[lev][b]))
            if lev < D:
                parent = np.arange(2 ** (lev + 1)) // 2
                L[lev + 1] += np.einsum("cij,cj->ci", tree.transfer[lev + 1], L[lev][parent])
        m = tree.m
        f = np.einsum("kj,kj->k", tree.basis[:m], L[D][tree.leaf_of[:m]])
        for _, _, ia, ib, K in self._near_blocks():
            np.add.at(f, ia.ravel(), np.einsum("kij,kj->ki", K, q[ib]).ravel())
        return f

    def _near_blocks(self):
        if self._near is not None:
            return self._near
        return ((a, b, ia, ib, self._near_kernel(ia, ib, valid))
                for a, b, ia, ib, valid in _near_blocks(self.tree))

    def block_sums(self, q, level: int, q_col=None) -> np.ndarray:
        """A[I, J] = sum_{k in I, l in J, k != l} q_k K(x_k - x_l) q'_l for the nodes I of the
        top half and all nodes J at ``level`` (shape (2^(level-1), 2^level)), q' = ``q_col``
        (default q): the Galerkin coarse matrix of aggregates, or with two charges the
        blocks of one with linear (hat) basis functions. M2L pairs at or below ``level``
        use the nodes' moments; pairs above it use each level-``level`` descendant's
        moments carried up to the pair's basis; leaf pairs are summed directly."""
        tree = self.tree
        q = np.asarray(q, dtype=float)
        qc = q if q_col is None else np.asarray(q_col, dtype=float)
        D, p = tree.depth, tree.order
        if not 1 <= level <= D:
            raise ValueError(f"level = {level}; valid: 1..{D}")

        def carried(M):
            # descendants' moments in the basis of each node above `level`: T[lev] (2^lev, r, p)
            T = {level: M[level][:, None, :]}
            for lev in range(level - 1, 0, -1):
                up = np.matmul(T[lev + 1], tree.transfer[lev + 1])  # batched BLAS, not einsum
                r = up.shape[1]
                T[lev] = up.reshape(2 ** lev, 2 * r, p)
            return T

        M = tree.moments(q)
        Mc = M if q_col is None else tree.moments(qc)
        T = carried(M)
        Tc = T if q_col is None else carried(Mc)
        A = np.zeros((2 ** (level - 1), 2 ** level))
        for lev in range(1, D + 1):
            a, b = tree.m2l[lev]
            if a.size == 0:
                continue
            K = self._m2l[lev] if self._m2l[lev] is not None else self._m2l_matrices(lev)
            if lev >= level:
                vals = np.einsum("ki,ki->k", M[lev][a], np.matmul(K, Mc[lev][b][:, :, None])[:, :, 0])
                shift = lev - level
                np.add.at(A, (a >> shift, b >> shift), vals)
            else:
                blk = np.matmul(np.matmul(T[lev][a], K), Tc[lev][b].transpose(0, 2, 1))
                r = blk.shape[1]
                rows = a[:, None, None] * r + np.arange(r)[None, :, None]
                cols = b[:, None, None] * r + np.arange(r)[None, None, :]
                np.add.at(A, (np.broadcast_to(rows, blk.shape), np.broadcast_to(cols, blk.shape)), blk)
        shift = D - level
        for a, b, ia, ib, K in self._near_blocks():
            vals = np.einsum("ki,ki->k", q[ia], np.matmul(K, qc[ib][:, :, None])[:, :, 0])
            np.add.at(A, (a >> shift, b >> shift), vals)
        return A


def direct_row_sums(y, kernel, q, rows, *, middle_charge: float | None = None) -> np.ndarray:
    """f_k = sum_{j != k} K(x_k - x_j) q_j summed directly (O(n) per row) for the top-half
    targets ``rows``, on the same points x = (y, 1 - reversed y) as :class:`Tree`, gaps
    formed as in the tree's near field (y_k - y_j within the top half, signed by the index
    order, so ties give the one-sided value of :func:`_near_gaps`). ``middle_charge``
    adds a point at 1/2 with that charge (the middle reward of odd n).

    >>> direct_row_sums(np.array([0.0, 0.25]), lambda d: d, np.ones(4), np.array([0])).tolist()
    [-2.0]
    """
    y = np.asarray(y, dtype=float)
    m = y.size
    x = np.concatenate((y, 1.0 - y[::-1]))
    q = np.asarray(q, dtype=float)
    rows = np.asarray(rows)
    out = np.empty(rows.size)
    step = max(1, _CHUNK // (2 * m))
    for i in range(0, rows.size, step):
        k = rows[i:i + step]
        j = np.arange(2 * m)[None, :]
        d = np.copysign(np.abs(x[k][:, None] - x[None, :]), (k[:, None] - j).astype(float))
        same = k[:, None] == j
        d[same] = 1.0
        K = kernel(d)
        K[same] = 0.0
        out[i:i + step] = K @ q
        if middle_charge is not None:
            out[i:i + step] += kernel(-np.abs(y[k] - 0.5)) * middle_charge
    return out


class Points:
    """The half y (m,), ascending, possibly with runs of equal values (log-sigmoid's atoms
    at exactly 0): the tree is built on the distinct values and the sums expand back.

    A run of t equal points would make every pair of its leaves adjacent (distance 0),
    O(t^2) near-field work; instead each run is one point of the tree carrying the run's
    total charge, and the pairs inside a run, whose gap is +0 or -0 by the index order,
    are added by prefix sums."""

    def __init__(self, y, *, leaf: int = DEFAULT_LEAF, order: int = DEFAULT_ORDER,
                 eta: float = DEFAULT_ETA):
        y = np.asarray(y, dtype=float)
        if y.size > 1 and np.any(np.diff(y) < 0.0):
            raise ValueError("the half y must be sorted ascending")
        self.y, self.m = y, y.size
        yu, first, inv, counts = np.unique(y, return_index=True, return_inverse=True, return_counts=True)
        self.tree = Tree(yu, leaf=leaf, order=order, eta=eta)
        self.inv, self.first, self.counts = inv, first, counts
        mu = yu.size
        self.cls_full = np.concatenate((inv, 2 * mu - 1 - inv[::-1]))
        self.tied = bool(counts.max() > 1)

    def aggregate(self, q) -> np.ndarray:
        """Charges (2m,) summed over each run: (2 mu,)."""
        if not self.tied:
            return q
        return np.bincount(self.cls_full, weights=q, minlength=self.tree.size)

    def within_runs(self, kernel, q) -> np.ndarray:
        """(m,): sum over the other members j of k's run of K(+-0) q_j (top half)."""
        m = self.m
        kp, km = kernel(np.array([0.0, -0.0]))
        qt = q[:m]
        cs = np.concatenate(([0.0], np.cumsum(qt)))
        k = np.arange(m)
        s = self.first[self.inv]
        e = s + self.counts[self.inv]
        before = cs[k] - cs[s]
        after = cs[e] - cs[k + 1]
        return kp * before + km * after

    def node_of(self, level: int) -> np.ndarray:
        """(m,): the top-half node at ``level`` of the tree holding each point's value."""
        s = self.tree.start[level]
        nt = 2 ** (level - 1)
        return np.searchsorted(s[1:nt + 1], self.inv, side="right")


class PointSum:
    """:class:`KernelSum` on :class:`Points`: f_k = sum_{j != k} K(x_k - x_j) q_j for the
    m top-half points, runs of equal points included (gaps +-0 by the index order)."""

    def __init__(self, points: Points, kernel, *, store: bool = False):
        self.points, self.kernel = points, kernel
        self.sum = KernelSum(points.tree, kernel, store=store)

    def __call__(self, q) -> np.ndarray:
        P = self.points
        q = np.asarray(q, dtype=float)
        f = self.sum(P.aggregate(q))
        if not P.tied:
            return f
        f_u = f[P.inv]
        # the tree leaves a run's own (aggregated) charge out; its members' pairs are
        # added here, with the one-sided gaps +-0
        return f_u + P.within_runs(self.kernel, q)

    def block_sums(self, q, level: int, q_col=None) -> np.ndarray:
        """:meth:`KernelSum.block_sums` over the original points (pairs inside a run are
        added to their node's diagonal entry)."""
        P = self.points
        q = np.asarray(q, dtype=float)
        qc = q if q_col is None else np.asarray(q_col, dtype=float)
        A = self.sum.block_sums(P.aggregate(q), level, None if q_col is None else P.aggregate(qc))
        if P.tied:
            k0 = float(self.kernel(np.array([0.0]))[0])
            qt, qct = q[:P.m], qc[:P.m]
            tot = np.bincount(P.inv, weights=qt)
            totc = np.bincount(P.inv, weights=qct)
            sq = np.bincount(P.inv, weights=qt * qct)
            inner = k0 * (tot * totc - sq)
            nodes = np.searchsorted(P.tree.start[level][1:2 ** (level - 1) + 1], np.arange(tot.size),
                                    side="right")
            np.add.at(A, (nodes, nodes), inner)
        return A
