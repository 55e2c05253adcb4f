"""The overall utility S of problem (5) and its gradient, evaluated in memory-bounded chunks.

Song, Cai, Lee, Su (2023), problem (5):

    maximize  S(r) = sum_{1 <= i < j <= n} U(r_i - r_j)   s.t.  1 >= r_1 >= ... >= r_n >= 0.

``rewards`` are sorted best first, so every argument ``r_i - r_j`` (i < j) is a gap >= 0.
The n (n - 1) / 2 pairs are visited in blocks of rows, so no n x n temporary is ever
built beyond ``chunk_elements`` entries (default 2**21, 16 MB per float64 array).

Accurate gaps. Near r = 1 a float64 reward keeps only the absolute precision 1.1e-16, so
``r_i - r_j`` between two rewards both close to 1 loses its relative precision (for
``power:0.5`` at n = 10,000 the top gap is about 1e-15). Every function here therefore
accepts the optional ``complement`` ``q = 1 - r`` computed by the caller without
cancellation, and forms a gap between two rewards >= 1/2 as ``q_j - q_i``; other gaps are
``r_i - r_j``. Without ``complement``, ``q = 1 - r`` (the gaps are then as accurate as
``rewards`` allow).

>>> from rcollapse.theory.utilities import parse_utility
>>> U = parse_utility("linear")
>>> overall_utility([1.0, 0.5, 0.0], U)   # (1 - 0.5) + (1 - 0) + (0.5 - 0)
2.0
>>> g, force = utility_gradient([1.0, 0.5, 0.0], U)
>>> g.tolist(), force.tolist()
([2.0, 0.0, -2.0], [2.0, 2.0, 2.0])
"""

from __future__ import annotations

import numpy as np

__all__ = ["overall_utility", "utility_gradient", "CHUNK_ELEMENTS"]

#: Entries of one block of pairs (rows x columns) held in memory at once: 16 MB per array.
CHUNK_ELEMENTS = 2**21


def _as_rewards(rewards, complement):
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 1:
        raise ValueError(f"rewards must be a 1-D array, got shape {r.shape}")
    if complement is None:
        q = 1.0 - r
    else:
        q = np.asarray(complement, dtype=float)
        if q.shape != r.shape:
            raise ValueError(f"complement has shape {q.shape}, rewards {r.shape}; they must match")
    return r, q


def _rows_per_block(n_rows: int, n_cols: int, chunk_elements: int) -> int:
    return max(1, min(n_rows, chunk_elements // max(n_cols, 1)))


def _signed_gaps(r, q, rows: slice):
    """Block of ``d[k, j] = sign(j - k) * (r_k - r_j)``: the argument of U in the pair {k, j}
    (the earlier index minus the later one), for rows k in ``rows`` and every column j.
    Gaps between two rewards >= 1/2 are taken from the complements. The diagonal is 0."""
    rk, qk = r[rows, None], q[rows, None]
    d = rk - r[None, :]
    top = (rk >= 0.5) & (r[None, :] >= 0.5)
    np.copyto(d, q[None, :] - qk, where=top)
    k = np.arange(rows.start, rows.stop)[:, None]
    j = np.arange(r.size)[None, :]
    np.negative(d, out=d, where=j < k)
    return d, k == j


def overall_utility(rewards, U, *, complement=None, chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """S(r) = sum_{i<j} U(r_i - r_j), the objective of problem (5), for ``rewards`` (n,)
    sorted best first.

    ``U`` is a :class:`theory.utilities.Utility`. Rules: n = 0 or 1 gives 0.0 (no pair);
    a tie ``r_i = r_j`` contributes U(0) (-inf for log and neg-power); a pair out of order
    (r_i < r_j) contributes U of a negative number, which is nan where U is undefined there.
    Memory: O(chunk_elements) whatever n.

    >>> from rcollapse.theory.utilities import parse_utility
    >>> round(overall_utility([1.0, 0.0], parse_utility("power:0.5")), 12)
    1.0
    """
    r, q = _as_rewards(rewards, complement)
    n = r.size
    total = 0.0
    step = _rows_per_block(n, n, chunk_elements)
    for a in range(0, n, step):
        rows = slice(a, min(n, a + step))
        d, diag = _signed_gaps(r, q, rows)
        upper = np.arange(rows.start, rows.stop)[:, None] < np.arange(n)[None, :]
        d[~upper] = 1.0  # a harmless argument; these entries are not summed
        total += float(np.sum(U(d), where=upper))
    return total


def utility_gradient(rewards, U, *, complement=None, chunk_elements: int = CHUNK_ELEMENTS):
    """The gradient of S and the force on each reward: ``(g, force)``, two arrays (n,).

        g_k = dS/dr_k = sum_{j > k} U'(r_k - r_j) - sum_{j < k} U'(r_j - r_k),
        force_k = sum_{j != k} |U'(pair gap)|,

    so ``max(force)`` is the scale against which the cancellation in g happens (the
    relative KKT residual of :mod:`solvers` divides by it). An infinite U'(0+) at a tie
    gives inf or nan entries. Memory: O(chunk_elements).

    >>> from rcollapse.theory.utilities import parse_utility
    >>> g, force = utility_gradient([1.0, 0.0], parse_utility("log"))
    >>> g.tolist(), force.tolist()
    ([1.0, -1.0], [1.0, 1.0])
    """
    r, q = _as_rewards(rewards, complement)
    n = r.size
    g = np.zeros(n)
    force = np.zeros(n)
    step = _rows_per_block(n, n, chunk_elements)
    for a in range(0, n, step):
        rows = slice(a, min(n, a + step))
        d, diag = _signed_gaps(r, q, rows)
        d[diag] = 1.0
        f = U.d1(d)
        f[diag] = 0.0
        force[rows] = np.abs(f).sum(axis=1)
        k = np.arange(rows.start, rows.stop)[:, None]
        np.negative(f, out=f, where=np.arange(n)[None, :] < k)
        g[rows] = f.sum(axis=1)
    return g, force


def endpoint_gradients(U, rewards, *, step: float = 1e-6) -> tuple[float, float]:
    """(dS/dr_1, dS/dr_n) of S(r) = sum_{i<j} U(r_i - r_j) at ``rewards`` (sorted best first,
    distinct), by central differences of :func:`overall_utility`: from S itself, not from
    a formula for its gradient (Lemma 4.1's signs, checked by ``rcollapse verify``). ``U``
    is any vectorized callable.

    >>> d1, dn = endpoint_gradients(lambda t: t, [1.0, 0.5, 0.0])  # U = x: dS/dr_1 = n - 1
    >>> round(d1, 6), round(dn, 6)
    (2.0, -2.0)
    """
    r = np.asarray(rewards, dtype=float)
    out = []
    for k in (0, r.size - 1):
        e = np.zeros_like(r)
        e[k] = step
        out.append((overall_utility(r + e, U) - overall_utility(r - e, U)) / (2.0 * step))
    return out[0], out[1]


__all__ += ["endpoint_gradients"]
