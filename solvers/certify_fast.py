"""The KKT certificate of :func:`solvers.kkt.certify` by fast sums, for n = 10^5 .. 10^6:
:func:`certify_fast`, and the same certificate of the fast solver's own iterate.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. The certificate is the shared relative KKT residual
(:func:`solvers.kkt.residual_from_gradient`), here applied to the gradient that the fast
sums give (:mod:`solvers.fastsum`). The summation error is measured, not assumed: the
gradient is summed directly (O(n) each) on ``spot_rows`` random rows plus the first and
last ones, and the largest difference, relative to the force scale s, is reported with
the bound 2 n err max_k c_k it puts on the residual.

>>> from rcollapse.theory.exact import gauss_lobatto_rewards
>>> certify_fast("log", gauss_lobatto_rewards(40)).residual < 1e-12
True
"""

from __future__ import annotations

import math

import numpy as np

from rcollapse.solvers.fast_half import FastHalf
from rcollapse.solvers.fastsum import PointSum
from rcollapse.solvers.kkt import (DIRECT_SCALE, Certificate, _primal_problem, constraint_slacks,
                                   residual_from_gradient, rewards_and_complement, rounding_floor)
from rcollapse.theory.objective import _signed_gaps
from rcollapse.theory.utilities import parse_utility

__all__ = ["certify_fast", "SPOT_ROWS"]

#: Random rows on which the fast gradient is checked against direct sums.
SPOT_ROWS = 64


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


def half_certificate_numbers(half: FastHalf, y, q, force, spot_rows, rng):
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
    r, q = rewards_and_complement(rewards, complement)
    if not (isinstance(spot_rows, (int, np.integer)) and spot_rows >= 0):
        raise ValueError(f"spot_rows = {spot_rows!r}; valid: an integer >= 0")
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
