"""The QP of Theorem 5's n = inf problem: maximize w' K w over symmetric w in the simplex.

The kernel is conditionally negative definite (|x - y|^g for 0 < g < 2, log|x - y|),
or ``-U(|t|)`` is positive definite (log-sigmoid, by Polya's criterion), so ``w' K w``
is strictly concave on the simplex and the QP has one maximizer. Optimality (KKT): the
potential ``(K w)_i`` equals ``lambda = w' K w`` on the support and is at most
``lambda`` off it. The QP is solved exactly by a primal active-set method on the
symmetric half of the units (unit i pairs with N - 1 - i).

>>> K = np.abs(np.subtract.outer(np.arange(4.0), np.arange(4.0)))  # U = x: all at the ends
>>> w, iterations = maximize_symmetric_energy(K, tol=1e-12, max_iter=50)
>>> [round(float(v), 12) for v in w], symmetric_kkt_residual(K, w) < 1e-12
([0.5, 0.0, 0.0, 0.5], True)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from rcollapse.solvers.errors import ConvergenceError

__all__ = ["maximize_symmetric_energy", "symmetric_kkt_residual"]


def _equality_qp(A: np.ndarray, F: np.ndarray, scale: float, it: int) -> np.ndarray:
    """y minimizing y' A_FF y over sum y = 1: [A_FF 1; 1' 0] [y; -mu] = [0; 1]."""
    nf = F.size
    M = np.empty((nf + 1, nf + 1))
    M[:nf, :nf] = A[np.ix_(F, F)] / scale
    M[:nf, nf] = 1.0
    M[nf, :nf] = 1.0
    M[nf, nf] = 0.0
    rhs = np.zeros(nf + 1)
    rhs[nf] = 1.0
    try:
        sol = linalg.solve(M, rhs, assume_a="sym", check_finite=False)
    except linalg.LinAlgError as exc:  # pragma: no cover - A strictly CPD
        raise ConvergenceError(f"active-set: singular KKT system at iteration {it} ({exc})")
    return sol[:nf]


def _active_set(B: np.ndarray, *, tol: float, max_iter: int):
    """Primal active-set method for min p' A p, A = -B, over {p >= 0, sum p = 1}.

    Each iteration solves the equality-constrained QP on the free set F, steps towards its
    solution y until a mass hits 0 (dropping it), or, when y >= 0, adds the index whose
    KKT condition (A p)_i >= mu fails most. Returns (p, iterations, residual).
    """
    A = -B
    n = A.shape[0]
    scale = max(1.0, float(np.max(np.abs(np.diag(A)))))
    free = np.ones(n, dtype=bool)
    p = np.full(n, 1.0 / n)
    it = 0
    residual = math.inf
    while it < max_iter:
        it += 1
        F = np.flatnonzero(free)
        y = _equality_qp(A, F, scale, it)
        if np.all(y >= 0.0):
            p = np.zeros(n)
            p[F] = y
            g = A @ p
            lam = float(p @ g)
            viol = lam - g  # > 0 off F means adding i decreases p'Ap
            viol[F] = 0.0
            j = int(np.argmax(viol))
            residual = _kkt_residual_half(A, p)
            if viol[j] <= tol * max(1.0, abs(lam)):
                return p, it, residual
            free[j] = True
            continue
        # Step from p towards y until the first free mass reaches 0.
        d = y - p[F]
        neg = d < 0.0
        ratios = np.where(neg, p[F] / np.where(neg, -d, 1.0), np.inf)
        alpha = float(np.min(ratios))
        pf = p[F] + alpha * d
        hit = ratios <= alpha * (1.0 + 1e-12) + 1e-300
        pf[hit] = 0.0
        pf = np.maximum(pf, 0.0)
        p = np.zeros(n)
        p[F] = pf
        p /= p.sum()
        free[F[hit]] = False
    return p, it, residual


def _kkt_residual_half(A: np.ndarray, p: np.ndarray) -> float:
    g = A @ p
    lam = float(p @ g)
    on = p > 0.0
    r_on = np.max(np.abs(g[on] - lam)) if np.any(on) else 0.0
    r_off = np.max(np.maximum(lam - g[~on], 0.0)) if np.any(~on) else 0.0
    return float(max(r_on, r_off) / max(1.0, abs(lam)))


def symmetric_kkt_residual(K: np.ndarray, w: np.ndarray) -> float:
    """max_i of |(K w)_i - lambda| on the support, (K w)_i - lambda off it, over max(1, |lambda|)."""
    g = K @ w
    lam = float(w @ g)
    on = w > 0.0
    r_on = np.max(np.abs(g[on] - lam)) if np.any(on) else 0.0
    r_off = np.max(np.maximum(g[~on] - lam, 0.0)) if np.any(~on) else 0.0
    return float(max(r_on, r_off) / max(1.0, abs(lam)))


def maximize_symmetric_energy(K: np.ndarray, *, tol: float, max_iter: int):
    """argmax of w' K w over {w >= 0, sum w = 1, w_i = w_{N-1-i}}; returns (w, iterations).

    Folded onto the symmetric half: p_k = total mass of the pair (k, N-1-k), and
    B = S' K S / (d d'), S the 0/1 unit-to-pair map, d = 2 per pair (1 for a middle unit).
    """
    N = K.shape[0]
    lo = np.arange((N + 1) // 2)
    hi = N - 1 - lo
    single = lo == hi
    d = np.where(single, 1.0, 2.0)
    C = K[:, lo] + np.where(single[None, :], 0.0, K[:, hi])
    B = (C[lo, :] + np.where(single[:, None], 0.0, C[hi, :])) / np.outer(d, d)
    p, iterations, _ = _active_set(B, tol=tol, max_iter=max_iter)
    w = np.empty(N)
    w[hi] = p / d
    w[lo] = p / d
    w = np.maximum(w, 0.0)
    w /= w.sum()
    return w, iterations
