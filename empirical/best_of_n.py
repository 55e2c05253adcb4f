"""Best-of-N without sampling noise: the unbiased estimator, and Gao et al.'s curve.

Best-of-N keeps, of N completions drawn for a prompt, the one a proxy reward model scores
highest. From a pool of P >= N scored completions, the expected value of that pick, over
all C(P, N) subsets of N drawn without replacement, is exact (Coste et al., ICLR 2024,
"Reward model ensembles help mitigate overoptimization", eq. for the unbiased best-of-N
estimator): with the pool sorted by proxy score in increasing order, value_(1..P),

    E[value of the proxy's pick among N] = sum_{i=N}^{P} C(i - 1, N - 1) / C(P, N) value_(i),

since the i-th smallest is the subset's maximum exactly when the subset holds it and
N - 1 of the i - 1 below it. Ties in the proxy are broken uniformly at random: within a
group of tied scores each rank carries the group's mean value.

Gao, Schulman and Hilton (2023, "Scaling laws for reward model overoptimization") fit the
gold reward of best-of-N as R(d) = d (alpha - beta d), d = sqrt(KL_bon), with
KL_bon = log N - (N - 1) / N, R the gain over N = 1 (d = 0).

>>> best_of_n_expectation([[0.1, 0.9, 0.5]], [[1.0, 3.0, 2.0]], [1, 2, 3]).round(4).tolist()
[2.0, 2.6667, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

__all__ = ["best_of_n_curves", "best_of_n_expectation", "best_of_n_weights", "bon_kl",
           "fit_gao"]


def best_of_n_weights(pool: int, n: int) -> np.ndarray:
    """w_i = C(i - 1, N - 1) / C(P, N), i = 1..P: the probability that the i-th smallest
    of P is the largest of N drawn without replacement (zero for i < N; sum 1).

    >>> best_of_n_weights(3, 2).round(4).tolist()
    [0.0, 0.3333, 0.6667]
    """
    pool, n = int(pool), int(n)
    if not 1 <= n <= pool:
        raise ValueError(f"best-of-N with N = {n}: valid: 1 <= N <= pool size {pool}")
    i = np.arange(1, pool + 1, dtype=float)
    w = np.zeros(pool)
    ok = i >= n
    log_c = gammaln(pool + 1) - gammaln(n + 1) - gammaln(pool - n + 1)
    log_w = (gammaln(i[ok]) - gammaln(n) - gammaln(i[ok] - n + 1)) - log_c
    w[ok] = np.exp(log_w)
    return w


def _sorted_values(proxy: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Each row of ``value`` in increasing order of ``proxy``, tied ranks replaced by
    their group's mean (random tie-breaking in expectation)."""
    order = np.argsort(proxy, axis=1, kind="stable")
    p = np.take_along_axis(proxy, order, axis=1)
    v = np.take_along_axis(value, order, axis=1).copy()
    for row in range(p.shape[0]):
        starts = np.flatnonzero(np.r_[True, p[row, 1:] != p[row, :-1]])
        ends = np.r_[starts[1:], p.shape[1]]
        for a, b in zip(starts, ends):
            if b - a > 1:
                v[row, a:b] = v[row, a:b].mean()
    return v


def best_of_n_expectation(proxy, value, ns: Sequence[int]) -> np.ndarray:
    """The unbiased best-of-N estimate (module docstring), averaged over prompts.

    ``proxy`` and ``value``: (prompts, P), the proxy's scores of each prompt's pool and
    the value to average (the true reward, or the proxy itself). Returns one number per N
    of ``ns``: the mean over prompts of E[value of the highest-proxy of N drawn].
    """
    proxy = np.asarray(proxy, dtype=float)
    value = np.asarray(value, dtype=float)
    if proxy.shape != value.shape or proxy.ndim != 2:
        raise ValueError(f"best-of-N: proxy {proxy.shape} and values {value.shape} must both "
                         "be (prompts, pool)")
    if not (np.all(np.isfinite(proxy)) and np.all(np.isfinite(value))):
        raise ValueError("best-of-N: non-finite proxy scores or values")
    v = _sorted_values(proxy, value)
    return np.array([float((v @ best_of_n_weights(v.shape[1], n)).mean()) for n in ns])


def bon_kl(n) -> np.ndarray:
    """KL(best-of-N || base) = log N - (N - 1) / N (Gao et al. 2023; Stiennon et al.).

    >>> float(bon_kl(1))
    0.0
    """
    n = np.asarray(n, dtype=float)
    return np.log(n) - (n - 1.0) / n


def fit_gao(ns: Sequence[int], values: Sequence[float]) -> dict:
    """Least squares of R(d) = d (alpha - beta d) = alpha d - beta d^2 through the gains
    R = value(N) - value(1), d = sqrt(log N - (N - 1) / N) (Gao et al. 2023).

    ``ns`` must hold N = 1 (the d = 0 point) and two other N. Returns ``alpha``, ``beta``
    and ``rmse`` (root mean square residual of the gains).
    """
    ns = [int(n) for n in ns]
    if 1 not in ns or len(set(ns)) < 3:
        raise ValueError(f"Gao fit: N = {ns}; valid: N = 1 and at least two other N")
    values = np.asarray(values, dtype=float)
    gain = values - values[ns.index(1)]
    d = np.sqrt(bon_kl(ns))
    design = np.column_stack([d, -d * d])
    (alpha, beta), *_ = np.linalg.lstsq(design, gain, rcond=None)
    rmse = float(np.sqrt(np.mean((design @ np.array([alpha, beta]) - gain) ** 2)))
    return {"alpha": float(alpha), "beta": float(beta), "rmse": rmse}


def best_of_n_curves(proxy, true, ns: Sequence[int]) -> dict:
    """One model's best-of-N: per N, the expected true reward (``true``) and proxy score
    (``proxy``) of its pick, with Gao fits of both (when N = 1 and two more are given)."""
    out = {"true": best_of_n_expectation(proxy, true, ns).tolist(),
           "proxy": best_of_n_expectation(proxy, proxy, ns).tolist()}
    if 1 in ns and len(set(ns)) >= 3:
        out["gao_true"] = fit_gao(ns, out["true"])
        out["gao_proxy"] = fit_gao(ns, out["proxy"])
    return out
