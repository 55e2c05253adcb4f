"""The computed gradient of S at a feasible point and a proved bound on its error, per
reward: steps 5 (dense sums) and 7 (fast sums) of :mod:`solvers.bound` (read its docstring
for the steps and Lemma 4.1's setting).

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0; g_k = dS/dr_k = sum_j +-U'(|r_k - r_j|). Every term's error
is bounded (evaluation of U', the rounding of the gap, pairwise summation); the fast path
sums the same bounds by fast sums and measures its own summation error on spot rows.

>>> float(eval_relative_error(1.0, 0.0, 0.0)) == EVAL_ULPS * 2.0**-53
True
"""

from __future__ import annotations

import math

import numpy as np

from rcollapse.theory.utilities import Utility

__all__ = ["eval_relative_error", "EVAL_ULPS", "SPOT_ROWS", "SUMMATION_MARGIN", "FAST_TERMS_MARGIN"]

#: Unit roundoff of float64 (round to nearest).
_U = 2.0**-53
#: Relative error allowed for one evaluation of U' (numpy, from the sympy form), in units
#: of the roundoff, times 1 + E + A |log gap| / 2 (:func:`eval_relative_error`). The tests
#: check U.d1 against 40-digit mpmath with a margin of 4.
EVAL_ULPS = 16
#: Fast sums (step 7): rows of the top half whose gradient is also summed directly
#: (plus the first and last four), as the fast certificate checks its own.
SPOT_ROWS = 64
#: Step 7: the largest |fast - direct| / sum_j |U'| measured on the spot rows counts this
#: many times over on every row, times that row's sum_j |U'| (the spot rows are a sample).
SUMMATION_MARGIN = 10.0
#: Step 7: the rounding terms of step 5, themselves summed by fast sums (relative error
#: about 1e-13, measured by the tests), count this many times over.
FAST_TERMS_MARGIN = 2.0


def _pairwise_row_sums(F: np.ndarray) -> np.ndarray:
    """Row sums by explicit pairwise summation: error <= gamma_{ceil(log2 w)} sum |F_kj|."""
    while F.shape[1] > 1:
        w = F.shape[1]
        h = w // 2
        S = F[:, :h] + F[:, h:2 * h]
        F = np.concatenate((S, F[:, 2 * h:]), axis=1) if w % 2 else S
    return F[:, 0]


def eval_relative_error(d, E: float, A: float):
    """The relative error allowed for one numpy evaluation of U' at the gap d (elementwise):

        EVAL_ULPS u (1 + E + A |log d| / 2).

    E (the elasticity bound) scales the error of a rounded argument (x / s in log-sigmoid:
    relative error about E u); A is the largest |a| over the exponents a of U' that float64
    does not hold exactly (x^(-7/10) for power:0.3; 0 for power:0.5, log, neg-power:1),
    whose rounding costs a relative |a| u |log d| (then allowed 8 times over). An exact tie
    (d = 0) has no log."""
    d = np.asarray(d, dtype=float)
    with np.errstate(divide="ignore"):
        logd = np.where(d > 0.0, np.abs(np.log(np.where(d > 0.0, d, 1.0))), 0.0)
    return EVAL_ULPS * _U * (1.0 + E + 0.5 * A * logd)


def _gradient_with_error(U: Utility, rx, qx, top, eta, E: float, A: float, chunk_elements: int):
    """(g^, e): the computed gradient of S at x and a bound on its error, per reward;
    None, None when a term is not finite or a gap across 1/2 is not resolved.

    x is sorted, so the rewards with x_k = 1 - q_k (``top``) are the first m. A gap inside
    the top is q_j - q_k, one inside the bottom r_k - r_j (both one rounding, relative u);
    a gap across 1/2 is rx_k - rx_j, off by eta_k more (rx_k = fl(1 - q_k))."""
    n = rx.size
    m = int(top.sum())
    if not top[:m].all():  # pragma: no cover - _ordered makes top a prefix
        raise AssertionError("top rewards must come first")
    depth = math.ceil(math.log2(n))
    gamma_sum = depth * _U / (1 - depth * _U)
    u1 = _U / (1 - _U)
    y0 = 2.0 * E * u1  # the drift bound E |log(d / d^)| of a one-rounding gap
    drift0 = y0 * (1.0 + y0)
    g = np.zeros(n)
    err = np.zeros(n)
    cols = np.arange(n)[None, :]
    step = max(1, min(n, chunk_elements // n))
    for a in range(0, n, step):
        b = min(n, a + step)
        rows = np.arange(a, b)[:, None]
        # d[k, j] = x_k - x_j, then the sign flipped where j < k: the pair's gap, >= 0.
        d = rx[a:b, None] - rx[None, :]
        tb = min(b, m)  # rows a..tb-1 are top rows
        if a < tb:
            d[:tb - a, :m] = qx[None, :m] - qx[a:tb, None]
        np.negative(d, out=d, where=cols < rows)
        diag = cols == rows
        d[diag] = 1.0
        t = U.d1(d)
        if not np.all(np.isfinite(t)):
            return None, None
        t[diag] = 0.0
        size = np.abs(t)
        # rel = (eps + drift) / (1 - eps)
        #     = (eps + drift0) / (1 - eps) + (drift - drift0) / (1 - eps)
        if A > 0.0:
            eps = eval_relative_error(d, E, A)  # (i) evaluation of U'
            relsum = (size * ((eps + drift0) / (1.0 - eps))).sum(axis=1)
        else:
            eps0 = float(eval_relative_error(1.0, E, 0.0))
            relsum = size.sum(axis=1) * ((eps0 + drift0) / (1.0 - eps0))
        # (ii) gaps across 1/2: Delta = u1 d + eta (1 + u) of the top member.
        for lo, hi, c0, c1, own in ((a, tb, m, n, True), (max(a, m), b, 0, m, False)):
            if lo >= hi or c0 >= c1:
                continue
            sub = d[lo - a:hi - a, c0:c1]
            et = eta[lo:hi, None] if own else eta[None, c0:c1]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = u1 + np.where(et > 0.0, et * (1 + _U) / sub, 0.0)
            if not np.all(ratio <= 0.25):
                return None, None
            y = 2.0 * E * ratio  # >= E |log(d / d^)|: |log(1 + s)| <= 2 |s| for |s| <= 1/2
            drift = np.where(y <= 0.5, y * (1.0 + y), np.expm1(y))
            e_sub = eps[lo - a:hi - a, c0:c1] if A > 0.0 else eps0
            extra = size[lo - a:hi - a, c0:c1] * ((drift - drift0) / (1.0 - e_sub))
            relsum[lo - a:hi - a] += extra.sum(axis=1)
        np.negative(t, out=t, where=cols < rows)
        g[a:b] = _pairwise_row_sums(t)
        err[a:b] = gamma_sum * size.sum(axis=1) + relsum
    err *= 1.0 + 4 * (n + 8) * _U
    return g, err


def _symmetric(rx, qx, top) -> bool:
    """Whether x is exactly symmetric, x_(n+1-k) = 1 - x_k (the fast path's points): the
    bottom rewards are the top complements reversed, the middle of odd n is 1/2, and the
    top (x_k >= 1/2) is exactly the first half."""
    n, m = rx.size, rx.size // 2
    return (int(top.sum()) == m + n % 2 and np.array_equal(qx[:m], rx[::-1][:m])
            and (n % 2 == 0 or rx[m] == qx[m] == 0.5))


def _across_1_2(rx, qx, eta, E: float, A: float, odd: bool):
    """Step 7's bounds from the geometry of a symmetric x: (eta_max, slope, eps0, eps_max,
    drift0), or a str saying why no bound is proved. eta_max is the largest offset of a
    gap across 1/2, slope bounds (drift - drift0) / (y - y0) up to the largest ratio,
    eps0 and eps_max the evaluation error at gap 1 and at the smallest gap."""
    n, m = rx.size, rx.size // 2
    y = qx[:m]
    u1 = _U / (1 - _U)
    y0 = 2.0 * E * u1
    drift0 = y0 * (1.0 + y0)
    eta_max = float(eta.max(initial=0.0))
    m_top = m + odd
    d_across = (float(rx[m_top - 1] - rx[m_top]) * (1 - 2 * _U) - eta_max) if m_top < n else 1.0
    gaps = np.diff(np.concatenate((y, [0.5] if odd else [])))
    gaps = gaps[gaps > 0.0]
    d_min = min(float(gaps.min(initial=1.0)) * (1 - 2 * _U), d_across)
    if not d_across > 0.0 or not d_min > 0.0:
        return "a gap across 1/2 is below what float64 resolves"
    ratio_max = u1 + eta_max * (1 + _U) / d_across
    if ratio_max > 0.25:
        return "a gap across 1/2 is below what float64 resolves"
    y_max = 2.0 * E * ratio_max
    slope = max(1.0 + y_max + y0, math.exp(y_max))  # (drift - drift0) <= slope (y - y0)
    return (eta_max, slope, float(eval_relative_error(1.0, E, 0.0)),
            float(eval_relative_error(d_min, E, A)), drift0)


def _fast_gradient_with_error(U: Utility, rx, qx, top, eta, E: float, A: float, chunk_elements: int,
                              spot_rows: int, seed: int):
    """Step 7: (g^, e, summation_error) of :func:`_gradient_with_error` by fast sums, for a
    symmetric x (:func:`_symmetric`); (None, None, reason) where no bound is proved.

    On the top half y = qx[:m], :class:`solvers.fast_half.FastHalf` gives g and the forces
    sum_j |U'|; step 5's rounding terms are the same expressions, their sums over j done by
    fast sums (sum_j |U'| |log d| where A > 0; sum over the pairs across 1/2 of |U'| / d,
    with the largest eta, for the gaps across 1/2: :func:`_across_1_2`), FAST_TERMS_MARGIN
    times over. The fast sums' own error is measured: the top rows of
    :func:`solvers.certify_fast._spot_rows` are summed directly (:func:`_direct_top_rows`,
    the same float gaps), and the largest difference relative to the row's force
    sum_j |U'| (the fast sums' error is relative to the kernel's size) is added,
    SUMMATION_MARGIN times over and times the row's force, on every row. The bottom half
    and the middle follow exactly: at a symmetric x the exact gradient has
    g_(n+1-k) = -g_k and g_middle = 0."""
    from rcollapse.solvers.certify_fast import _spot_rows
    from rcollapse.solvers.fast_half import FastHalf
    from rcollapse.solvers.fastsum import PointSum

    n, m, odd = rx.size, rx.size // 2, rx.size % 2 == 1
    geometry = _across_1_2(rx, qx, eta, E, A, odd)
    if isinstance(geometry, str):
        return None, None, geometry
    eta_max, slope, eps0, eps_max, drift0 = geometry
    half = FastHalf(U, n)
    scale = half.c ** U.param if half.c != 1.0 else 1.0  # U(c t) = c^(-g) U(t): undone
    y = qx[:m]

    def across_kernel(d):  # |U'(d)| / d on the pairs across 1/2 (never a tie)
        a = np.abs(d)
        return np.where(a > 0.0, half.k_force(d) / np.where(a > 0.0, a, 1.0), 0.0)

    def log_kernel(d):  # |U'(d)| |log d| (a tie has no log: eval_relative_error)
        a = np.abs(d)
        return np.where(a > 0.0, half.k_force(d) * np.abs(np.log(np.where(a > 0.0, a, 1.0))), 0.0)

    with np.errstate(all="ignore"):
        points = half.tree(y)
        q, force = half.gradient(points)
        g_top, force = q * scale, force * scale
        bottom = np.concatenate((np.zeros(m), np.ones(m)))
        across = PointSum(points, across_kernel)(bottom) * scale
        if A > 0.0:
            logsum = PointSum(points, log_kernel)(np.ones(2 * m)) * scale
            if odd:
                logsum += log_kernel(0.5 - y) * scale
            relsum = (EVAL_ULPS * _U * ((1.0 + E) * force + 0.5 * A * logsum)
                      + drift0 * force) / (1.0 - eps_max)
        else:
            relsum = force * ((eps0 + drift0) / (1.0 - eps0))
        extra = 2.0 * E * (1 + _U) * eta_max * slope / (1.0 - eps_max) * across
        depth = math.ceil(math.log2(n))
        e_top = FAST_TERMS_MARGIN * (depth * _U / (1 - depth * _U) * force + relsum + extra)
    if not (np.all(np.isfinite(g_top)) and np.all(np.isfinite(e_top))):
        return None, None, "the gradient at the rewards is not finite (by fast sums)"
    rows = _spot_rows(m, spot_rows, np.random.default_rng(seed))
    g_dir = _direct_top_rows(half, y, rows, chunk_elements) * scale
    if not (np.all(np.isfinite(g_dir)) and np.all(force[rows] > 0.0)):
        return None, None, "the gradient summed directly on the spot rows is not finite"
    relative = float(np.max(np.abs(g_top[rows] - g_dir) / force[rows]))
    if scale != 1.0:  # U'(c t) c, then times c^g: the argument's rounding and two products
        e_top += (E + 3.0) * _U * force + 2.0 * _U * np.abs(g_top)
    e_top = e_top * (1.0 + 4 * (n + 8) * _U) + SUMMATION_MARGIN * relative * force
    mid = [0.0] if odd else []
    g = np.concatenate((g_top, mid, -g_top[::-1]))
    e = np.concatenate((e_top, mid, e_top[::-1]))
    return g, e, relative


def _direct_top_rows(half, y, rows, chunk_elements: int) -> np.ndarray:
    """dS/dr_k (in the fast sums' scale) on the top-half ``rows``, summed directly and
    pairwise, with every gap formed as the fast sums form it (points y and fl(1 - y),
    the sign of a tie by the index order, the middle of odd n at 1/2): the difference
    from the fast sums is then their approximation alone, while the gaps' rounding is
    step 5's (the terms across 1/2 with the largest eta)."""
    m = y.size
    x = np.concatenate((y, 1.0 - y[::-1]))
    cols = np.arange(2 * m)
    out = np.empty(rows.size)
    step = max(1, chunk_elements // (2 * m + 1))
    for a in range(0, rows.size, step):
        k = rows[a:a + step]
        d = np.copysign(np.abs(x[k][:, None] - x[None, :]), (k[:, None] - cols).astype(float))
        same = k[:, None] == cols
        d[same] = 1.0
        t = half.k_grad(d)
        t[same] = 0.0
        if half.odd:  # the middle reward, above every top point in x: the gap y_k - 1/2
            t = np.concatenate((t, half.k_grad(y[k] - 0.5)[:, None]), axis=1)
        out[a:a + step] = -_pairwise_row_sums(t)
    return out
