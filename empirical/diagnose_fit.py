"""The inverse problem of ``rcollapse diagnose``: which U's optimum of (5) explains the
observed reward profiles?

Theorem 1 (Song et al. 2023): a reward model near the maximum of (1) gives every prompt
the optimum r* of (5) for its U at its n. Given each prompt's min-max normalized rewards
in the ranking's order, s (best first), the fit is

    argmin over candidate U of  (1 / P) sum_p mean_i |s_p,i - alpha_p - beta_p r*_i(U, n_p)|

with (alpha_p, beta_p) the least-squares line of s_p on r*: the W1 of the profile
aligned to r* by an affine map. Aligned rather than min-max: the min-max profile of noisy
rewards is biased where r* has (near-)ties at an end (its max picks the larger noise);
on synthetic optima plus noise 0.02, 100 prompts, 10 seeds, the bootstrap interval held
the true parameter of power:0.5 in 2/10 runs with the min-max W1 and 10/10 aligned
(log-sigmoid:0.25: 3/10 and 10/10). The reported residual ``w1`` is the plain W1 of the
min-max profiles to r* at the fitted U.

over two one-parameter families (MATH.md's table):

- the dial (Remark 3.1), coordinate a > 0: power:g is a = (1 - g) / 2 (0 < a < 1/2), log
  is a = 1/2, neg-power:g is a = (1 + g) / 2 (a > 1/2); the n = inf limit is
  Beta(a, a) for a <= 1 (Theorems 2, 3). Its three named pieces are the families power,
  log and neg-power;
- log-sigmoid:s (Theorem 4), coordinate log s.

Steps: a grid of each coordinate (``DIAL_GRID``, ``LOG_SIGMOID_GRID``), then a bounded 1-D
refinement (``scipy.optimize.minimize_scalar``) of the best family around its best grid
point; the bootstrap over prompts refits on resampled prompts on a fine local grid
(``LOCAL_POINTS`` points over the two coarse steps either side) with a parabola through
the best point and its neighbours; the percentile interval of those refits is shifted by
the refined fit minus the full sample's parabola fit, so that it is centred on the
refined fit (a kinked criterion, as for mixed prompt types, biases the parabola). Every
optimum comes from ``reference_optimum`` (``rcollapse.solvers.solve``), cached per
(spec, n) in an ``OptimumCache`` that lives for one diagnosis.

Which answers count as the same family: the optima of neighbouring points of the dial
coincide in the limit (power:g -> log as g -> 0, neg-power:g -> log as g -> 0), so a fit
is judged on its dial coordinate a, whatever name the point has.
"""

from __future__ import annotations

import math

import numpy as np

from rcollapse.empirical.losses import reference_optimum
from rcollapse.theory.utilities import parse_utility

__all__ = ["DIAL_GRID", "LOG_SIGMOID_GRID", "OptimumCache", "dial_a", "dial_spec",
           "family_of", "fit_utility", "group_by_n", "w1_matrix"]

#: The dial's coarse grid of a (a = 1/2, log, is on it; step 0.06 up to neg-power:1.92).
DIAL_GRID = np.round(0.02 + 0.06 * np.arange(25), 10)
#: log-sigmoid's coarse grid of s (geometric, 0.02 to 50).
LOG_SIGMOID_GRID = np.geomspace(0.02, 50.0, 25)
#: Points of the fine local grid the bootstrap refits on.
LOCAL_POINTS = 13
ALIGNED = True


def dial_spec(a: float) -> str:
    """The spec at dial coordinate a (g rounded to 4 decimals; g = 0 is log).

    >>> [dial_spec(a) for a in (0.25, 0.5, 1.0)]
    ['power:0.5', 'log', 'neg-power:1']
    """
    if not a > 0:
        raise ValueError(f"dial coordinate a = {a}: valid: a > 0")
    g = round(abs(1 - 2 * a), 4)
    if g == 0:
        return "log"
    return parse_utility(f"{'power' if a < 0.5 else 'neg-power'}:{g:g}").spec


def dial_a(spec: str) -> float | None:
    """The dial coordinate of a power, log or neg-power spec (None for other families).

    >>> dial_a("power:0.5"), dial_a("log"), dial_a("neg-power:1"), dial_a("log-sigmoid:1")
    (0.25, 0.5, 1.0, None)
    """
    name, _, value = parse_utility(spec).spec.partition(":")
    if name == "log":
        return 0.5
    if name == "power":
        return (1 - float(value)) / 2
    if name == "neg-power":
        return (1 + float(value)) / 2
    return None


def family_of(spec: str) -> str:
    """'power', 'log', 'neg-power', 'log-sigmoid', ...: the spec's family name."""
    return parse_utility(spec).spec.partition(":")[0]


class OptimumCache(dict):
    """(spec, n) -> r*, the optimum of (5), solved once per diagnosis."""

    def rewards(self, spec: str, n: int) -> np.ndarray:
        key = (spec, int(n))
        if key not in self:
            self[key] = np.asarray(reference_optimum(spec, int(n)).rewards, dtype=float)
        return self[key]


def group_by_n(profiles) -> dict:
    """n -> (indices, profiles stacked as an (m, n) array)."""
    groups: dict = {}
    for i, s in enumerate(profiles):
        groups.setdefault(len(s), []).append(i)
    return {n: (np.asarray(idx), np.stack([profiles[i] for i in idx])) for n, idx in groups.items()}


def w1_matrix(groups: dict, specs, cache: OptimumCache, n_prompts: int, *,
              aligned: bool = False) -> np.ndarray:
    """W[p, k] = mean_i |s_p,i - r*_i(spec_k, n_p)|, shape (P, K)."""
    out = np.empty((n_prompts, len(specs)))
    for n, (idx, S) in groups.items():
        for k, spec in enumerate(specs):
            r = cache.rewards(spec, n)
            if aligned:
                rc = r - r.mean()
                beta = (S - S.mean(axis=1, keepdims=True)) @ rc / (rc @ rc)
                fitted = S.mean(axis=1, keepdims=True) + np.outer(beta, rc)
                out[idx, k] = np.abs(S - fitted).mean(axis=1)
            else:
                out[idx, k] = np.abs(S - r).mean(axis=1)
    return out


def _family_specs(family: str):
    """(coordinate values, specs, coordinate -> spec) of a family's coarse grid."""
    if family == "dial":
        return DIAL_GRID, [dial_spec(a) for a in DIAL_GRID], dial_spec
    to_spec = lambda u: parse_utility(f"log-sigmoid:{math.exp(u):.6g}").spec  # noqa: E731
    u = np.log(LOG_SIGMOID_GRID)
    return u, [to_spec(x) for x in u], to_spec


def _parabola_min(x, y) -> float:
    """The coordinate of the least y, refined by the parabola through it and its
    neighbours (clipped to them); an end point is returned as it is."""
    k = int(np.argmin(y))
    if k == 0 or k == len(y) - 1:
        return float(x[k])
    x0, x1, x2 = x[k - 1:k + 2]
    y0, y1, y2 = y[k - 1:k + 2]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    A = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    B = (x2 ** 2 * (y0 - y1) + x1 ** 2 * (y2 - y0) + x0 ** 2 * (y1 - y2)) / den
    if A <= 0:
        return float(x1)
    return float(np.clip(-B / (2 * A), x0, x2))


def _refine(family, coords, mean_w, groups, cache, n_prompts):
    """Bounded minimize_scalar of the mean W1 around the best grid point: (coord, w1)."""
    from scipy.optimize import minimize_scalar

    _, _, to_spec = _family_specs(family)
    k = int(np.argmin(mean_w))
    lo, hi = coords[max(k - 1, 0)], coords[min(k + 1, len(coords) - 1)]

    def objective(x):
        return float(w1_matrix(groups, [to_spec(x)], cache, n_prompts, aligned=ALIGNED).mean())

    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-3})
    if not res.success:
        raise RuntimeError(f"the fit's refinement of {family} did not converge: {res.message}")
    best_x, best_w = (float(res.x), float(res.fun))
    if mean_w[k] <= best_w:  # the grid point itself (log, a = 1/2, for instance)
        best_x, best_w = float(coords[k]), float(mean_w[k])
    return best_x, best_w


def _bootstrap(family, x_best, coords, groups, cache, n_prompts, *, B, seed):
    """Percentile 95% interval of the refitted coordinate over B resamples of prompts,
    and the fine local grid's (coordinates, mean W1)."""
    _, _, to_spec = _family_specs(family)
    step = float(coords[1] - coords[0])
    lo = max(x_best - 2 * step, coords[0] if family == "dial" else -np.inf)
    xs = np.linspace(lo, x_best + 2 * step, LOCAL_POINTS)
    W = w1_matrix(groups, [to_spec(x) for x in xs], cache, n_prompts, aligned=ALIGNED)
    if B <= 0:
        return None, xs, W.mean(axis=0)
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n_prompts, n_prompts), minlength=n_prompts)
                       for _ in range(B)])
    means = counts @ W / n_prompts
    # centred on the refined fit: the parabola's own bias (a kinked criterion) cancels
    picks = np.array([_parabola_min(xs, m) for m in means]) + x_best - _parabola_min(xs, W.mean(axis=0))
    return [float(np.percentile(picks, 2.5)), float(np.percentile(picks, 97.5))], xs, W.mean(axis=0)


def fit_utility(profiles, *, bootstrap: int = 200, seed: int = 0,
                cache: OptimumCache | None = None) -> dict:
    """The U whose optimum of (5) best explains the normalized profiles (best first).

    Returns ``spec``, ``family``, ``coordinate`` ('a' on the dial, 's' for
    log-sigmoid), ``parameter`` (the coordinate's value), ``interval`` (its bootstrap 95%
    interval, None when ``bootstrap`` = 0), ``interval_specs``, ``aligned_w1`` (the
    criterion at the best U), ``w1`` (the fit's residual: the mean W1 of the min-max
    profiles to r* of the best U), ``runner_up`` (the best grid point of the other
    family, dial or log-sigmoid, with its aligned W1), ``per_family`` (each named
    family's best grid point), ``curve`` (the criterion at every grid point),
    ``local`` (the bootstrap's fine grid) and ``identifiable`` (False when no prompt has
    n >= 4: every U's optimum is then the same).
    """
    cache = OptimumCache() if cache is None else cache
    profiles = [np.asarray(s, dtype=float) for s in profiles]
    if not profiles:
        raise ValueError("no prompts to fit; valid: at least 1 prompt with n >= 2")
    P, groups = len(profiles), group_by_n(profiles)
    curves, per_family = {}, {}
    for fam in ("dial", "log-sigmoid"):
        coords, specs, _ = _family_specs(fam)
        mean_w = w1_matrix(groups, specs, cache, P, aligned=ALIGNED).mean(axis=0)
        curves[fam] = {"coordinate": coords.tolist(), "specs": specs, "w1": mean_w.tolist()}
        for spec, w in zip(specs, mean_w):
            name = family_of(spec)
            if name not in per_family or w < per_family[name]["w1"]:
                per_family[name] = {"spec": spec, "w1": float(w)}
    best_fam = min(curves, key=lambda f: min(curves[f]["w1"]))
    coords = np.asarray(curves[best_fam]["coordinate"])
    x, w = _refine(best_fam, coords, np.asarray(curves[best_fam]["w1"]), groups, cache, P)
    spec = _family_specs(best_fam)[2](x)
    interval, xs, local = _bootstrap(best_fam, x, coords, groups, cache, P, B=bootstrap, seed=seed)
    other = "log-sigmoid" if best_fam == "dial" else "dial"  # the runner-up: the other family
    k = int(np.argmin(curves[other]["w1"]))
    runner_up = {"spec": curves[other]["specs"][k], "aligned_w1": curves[other]["w1"][k]}
    to_spec = _family_specs(best_fam)[2]
    shown = (lambda v: v) if best_fam == "dial" else math.exp  # log-sigmoid: s itself
    return {"spec": spec, "family": family_of(spec),
            "coordinate": "a" if best_fam == "dial" else "s", "parameter": shown(x),
            "interval": None if interval is None else [shown(v) for v in interval],
            "interval_specs": None if interval is None else [to_spec(v) for v in interval],
            "aligned_w1": w,
            "w1": float(w1_matrix(groups, [spec], cache, P).mean()), "runner_up": runner_up,
            "per_family": per_family, "curve": curves,
            "local": {"coordinate": xs.tolist(), "w1": local.tolist()},
            "bootstrap": bootstrap, "prompts": P,
            # at n <= 3 every strictly concave U has the same optimum (Lemma 4.1: r_1 = 1,
            # r_n = 0, symmetric): only prompts with n >= 4 tell utilities apart
            "identifiable": max(groups) >= 4}
