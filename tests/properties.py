"""The paper's statements as plain checking functions, shared by the hypothesis tests and
by the tests that feed them deliberately broken solvers.

Each function takes the numbers to judge (never a solver), checks one statement and
raises ``AssertionError`` whose message starts with ``where`` -- the spec and n that
reproduce the case, e.g. ``"spec=power:0.5 n=40"``. None of them trusts a solver: the
objective, its gradient and the KKT multipliers of problem (5) are recomputed here from
U alone,

    (5)  maximize  S(r) = sum_{i<j} U(r_i - r_j)   s.t.  1 >= r_1 >= ... >= r_n >= 0.

Comparisons are written so that NaN fails them (``not (a <= b)``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "where",
    "objective",
    "gradient",
    "cut_fluxes",
    "kkt_multipliers",
    "check_feasible",
    "check_endpoints",
    "check_symmetric",
    "check_close",
    "check_kkt",
    "check_no_improving_perturbation",
    "check_linear_structure",
    "check_nondecreasing",
    "check_theorem_4",
    "check_falls",
    "folded_ks_distance",
    "check_below",
    "check_collapse",
    "check_distinct",
    "check_theorem_1",
    "atom_fraction",
    "population_variance",
]


def where(spec, n, **extra) -> str:
    """The reproducer printed with every failure: ``spec=... n=...`` plus extras."""
    parts = [f"spec={spec}", f"n={n}"] + [f"{k}={v}" for k, v in extra.items()]
    return " ".join(parts)


# --------------------------------------------------------------------------------------
# Problem (5), recomputed from U alone
# --------------------------------------------------------------------------------------
def _gap_rows(r, complement=None):
    """Yield (i, gaps r_i - r_j for j > i). With ``complement`` (1 - r carried to full
    precision, as ``Solution.complement``), gaps between two rewards above 1/2 are taken
    as c_j - c_i, which keeps the tiny gaps near r = 1 that float64 rewards round away."""
    r = np.asarray(r, dtype=float)
    c = None if complement is None else np.asarray(complement, dtype=float)
    for i in range(len(r) - 1):
        gaps = r[i] - r[i + 1 :]
        if c is not None and r[i] > 0.5:
            top = r[i + 1 :] > 0.5
            gaps = np.where(top, c[i + 1 :] - c[i], gaps)
        yield i, gaps


def objective(U, r, complement=None) -> float:
    """S(r) = sum_{i<j} U(r_i - r_j), summed exactly (math.fsum) row by row."""
    return math.fsum(math.fsum(U(gaps)) for _, gaps in _gap_rows(r, complement))


def _objective_scale(U, r, complement=None) -> float:
    """sum_{i<j} |U(r_i - r_j)|: the size of the terms the objective adds up, which
    bounds its rounding error."""
    return math.fsum(float(np.sum(np.abs(U(gaps)))) for _, gaps in _gap_rows(r, complement))


def gradient(U, r) -> np.ndarray:
    """dS/dr_k = sum_{j>k} U'(r_k - r_j) - sum_{i<k} U'(r_i - r_k), for r sorted best
    first (ties use the one-sided U'(0+))."""
    r = np.asarray(r, dtype=float)
    n = len(r)
    g = np.zeros(n)
    for k in range(n):
        below = U.d1(r[k] - r[k + 1 :]) if k + 1 < n else np.zeros(0)
        above = U.d1(r[:k] - r[k]) if k > 0 else np.zeros(0)
        g[k] = math.fsum(below) - math.fsum(above)
    return g


def cut_fluxes(U, r, complement=None) -> np.ndarray:
    """G_k = g_1 + ... + g_k = sum_{i <= k < j} U'(r_i - r_j), k = 1..n-1: the pull across
    the cut between the k-th and the (k+1)-th reward (the pairs inside the top k cancel
    in the sum of gradients). A sum of positive terms, so free of cancellation."""
    r = np.asarray(r, dtype=float)
    n = len(r)
    if n < 2:
        return np.zeros(0)
    M = np.zeros((n, n))
    for i, gaps in _gap_rows(r, complement):
        M[i, i + 1 :] = U.d1(gaps)
    A = np.cumsum(M, axis=0)  # A[k, j] = sum_{i <= k} U'(r_i - r_j)
    return np.array([math.fsum(A[k, k + 1 :]) for k in range(n - 1)])


def kkt_multipliers(U, r, complement=None):
    """The KKT multipliers of (5) at r, computed from U alone.

    With constraints 1 - r_1 >= 0 (multiplier lam), r_k - r_{k+1} >= 0 (mu_k) and
    r_n >= 0 (lam again: the gradient sums to 0), stationarity reads
    mu_k = lam - G_k with G_k = g_1 + ... + g_k (:func:`cut_fluxes`). The smallest lam
    that makes every mu_k >= 0 is lam = max(0, max_k G_k). Returns (G, lam, mu).
    """
    G = cut_fluxes(U, r, complement)
    lam = max(0.0, float(np.max(G))) if len(G) else 0.0
    with np.errstate(invalid="ignore"):  # inf - inf at a tie where U'(0+) = inf
        return G, lam, lam - G


# --------------------------------------------------------------------------------------
# Lemma 4.1: structure of the optimum
# --------------------------------------------------------------------------------------
def check_feasible(r, *, where: str, atol: float = 1e-12, complement=None) -> None:
    """r is feasible for (5): sorted best first, inside [0, 1]; a ``complement`` given
    with it is 1 - r up to rounding."""
    r = np.asarray(r, dtype=float)
    if complement is not None:
        c = np.asarray(complement, dtype=float)
        dev = float(np.max(np.abs(c - (1.0 - r)))) if len(r) else 0.0
        assert c.shape == r.shape and dev <= 4e-16, f"{where}: complement is not 1 - rewards (off by {dev:.3g})"
    assert r.ndim == 1 and np.all(np.isfinite(r)), f"{where}: rewards not finite: {r}"
    steps = np.diff(r)
    worst = int(np.argmax(steps)) if len(steps) else 0
    assert not len(steps) or steps[worst] <= atol, (
        f"{where}: not sorted best first: r[{worst}]={r[worst]!r} < r[{worst + 1}]={r[worst + 1]!r}"
    )
    assert r.min() >= -atol and r.max() <= 1 + atol, (
        f"{where}: outside [0, 1]: min={r.min()!r} max={r.max()!r}"
    )


def check_endpoints(r, *, where: str, atol: float) -> None:
    """Lemma 4.1: r_1 = 1 and r_n = 0."""
    r = np.asarray(r, dtype=float)
    assert abs(r[0] - 1.0) <= atol, f"{where}: r_1 = {r[0]!r}, expected 1 (atol {atol:g})"
    assert abs(r[-1]) <= atol, f"{where}: r_n = {r[-1]!r}, expected 0 (atol {atol:g})"


def check_symmetric(r, *, where: str, atol: float) -> None:
    """Lemma C.2: r_i + r_{n+1-i} = 1."""
    r = np.asarray(r, dtype=float)
    dev = np.abs(r + r[::-1] - 1.0)
    i = int(np.argmax(dev))
    assert dev[i] <= atol, (
        f"{where}: not symmetric: r_{i + 1} + r_{len(r) - i} - 1 = {dev[i]:.3g} > {atol:g}"
    )


def check_close(a, b, *, where: str, atol: float, what: str = "rewards") -> None:
    """Two reward vectors agree entrywise within atol."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape, f"{where}: {what}: shapes {a.shape} and {b.shape} differ"
    dev = np.abs(a - b)
    i = int(np.argmax(dev)) if dev.size else 0
    assert dev.size == 0 or dev[i] <= atol, (
        f"{where}: {what} differ at index {i}: {a[i]!r} vs {b[i]!r} (|diff| {dev[i]:.3g} > {atol:g})"
    )


def check_kkt(U, r, *, where: str, rtol: float, gap_floor: float = 1e-7, complement=None) -> None:
    """The KKT conditions of (5) at r, recomputed from U (never from a solver's report).

    Primal feasibility; dual feasibility holds by the choice lam = max(0, max G_k);
    what is left to check is

    - lam > 0 (U is increasing, so the top is pushed up);
    - complementary slackness, in total: the Frank-Wolfe gap
      sum_k mu_k (r_k - r_{k+1}) + lam (1 - r_1) + lam r_n = lam - g.r, which bounds
      S(r_opt) - S(r) from above since S is concave; it must be <= rtol * lam;
    - stationarity on every clearly open gap (r_k - r_{k+1} > gap_floor):
      mu_k <= rtol * lam.

    ``complement`` (1 - r to full precision) resolves the gaps near r = 1.
    """
    r = np.asarray(r, dtype=float)
    check_feasible(r, where=where, complement=complement)
    if len(r) < 2:
        return
    G, lam, mu = kkt_multipliers(U, r, complement)
    assert np.all(np.isfinite(G)), (
        f"{where}: KKT: a tie r_k = r_(k+1) where U'(0+) is infinite: not a KKT point"
    )
    assert lam > 0, f"{where}: lam = {lam!r}: no force on the endpoints, yet U is increasing"
    gaps = -np.diff(r)
    top = 1.0 - r[0]
    if complement is not None:
        c = np.asarray(complement, dtype=float)
        gaps = np.where(r[1:] > 0.5, np.diff(c), gaps)
        top = c[0]
    fw_gap = math.fsum(mu * gaps) + lam * top + lam * r[-1]
    assert fw_gap <= rtol * lam, (
        f"{where}: KKT: complementary slackness (Frank-Wolfe gap) {fw_gap / lam:.3g} * lam "
        f"> {rtol:g} * lam"
    )
    open_ = gaps > gap_floor
    if np.any(open_):
        k = int(np.argmax(np.where(open_, mu, -np.inf)))
        assert mu[k] <= rtol * lam, (
            f"{where}: KKT: stationarity fails on open gap {k + 1} "
            f"(r_{k + 1} - r_{k + 2} = {gaps[k]:.3g}): mu = {mu[k] / lam:.3g} * lam > {rtol:g} * lam"
        )


def check_no_improving_perturbation(
    U,
    r,
    *,
    where: str,
    rng: np.random.Generator,
    trials: int = 8,
    scales=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6),
    rtol: float = 1e-12,
) -> None:
    """No feasible point near r has a larger objective: a certificate of (local, hence,
    S being concave, global) optimality that does not trust the solver.

    Feasible perturbations: r' = sort(clip(r + delta z, 0, 1)), best first (sorting and
    clipping keep r' within delta |z|_inf of r). The directions z are random Gaussian,
    random moves of a single reward, the endpoints moved inwards, and the projected
    gradient (the steepest feasible ascent, the hardest test). S(r') <= S(r) + tol with
    tol = rtol * sum |U(r_i - r_j)|, the rounding of the U values (both sums are exact).
    """
    r = np.asarray(r, dtype=float)
    n = len(r)
    base = objective(U, r)
    tol = rtol * _objective_scale(U, r) + 1e-300
    g = gradient(U, r)
    directions = []
    if np.all(np.isfinite(g)) and np.any(g != 0):
        directions.append(("gradient", g / np.max(np.abs(g))))
    for t in range(trials):
        directions.append((f"gaussian#{t}", rng.standard_normal(n)))
        z = np.zeros(n)
        z[rng.integers(n)] = rng.choice([-1.0, 1.0])
        directions.append((f"single#{t}", z))
    ends = np.zeros(n)
    ends[0], ends[-1] = -1.0, 1.0
    directions.append(("endpoints-inwards", ends))
    for name, z in directions:
        for delta in scales:
            moved = np.sort(np.clip(r + delta * z, 0.0, 1.0))[::-1]
            value = objective(U, moved)
            assert not (value > base + tol), (
                f"{where}: a feasible perturbation raises S: direction {name}, delta {delta:g}: "
                f"S(r') - S(r) = {value - base:.3g} > tol {tol:.3g}"
            )


def check_linear_structure(r, *, where: str, atol: float) -> None:
    """U = x: the top floor(n/2) rewards are 1, the bottom floor(n/2) are 0 (for odd n
    the middle one is free in [0, 1])."""
    r = np.asarray(r, dtype=float)
    half = len(r) // 2
    check_close(r[:half], np.ones(half), where=where, atol=atol, what="top half (should be 1)")
    check_close(r[len(r) - half :], np.zeros(half), where=where, atol=atol, what="bottom half (should be 0)")
    if len(r) % 2:
        assert -atol <= r[half] <= 1 + atol, f"{where}: middle reward {r[half]!r} outside [0, 1]"


# --------------------------------------------------------------------------------------
# Monotonicity, Theorem 4, convergence, Theorem 1
# --------------------------------------------------------------------------------------
def population_variance(r) -> float:
    """Variance of the empirical reward distribution (1/n normalization)."""
    r = np.asarray(r, dtype=float)
    return float(np.mean((r - r.mean()) ** 2))


def atom_fraction(r, *, at: float, atol: float) -> float:
    """The fraction of rewards within atol of ``at``."""
    r = np.asarray(r, dtype=float)
    return float(np.mean(np.abs(r - at) <= atol))


def check_nondecreasing(params, values, *, where: str, what: str, strict_from: int | None = None,
                        atol: float = 0.0) -> None:
    """values[k] (at params[k], increasing) never decreases by more than atol; from index
    ``strict_from`` on (if given) each step must increase strictly (by more than atol)."""
    for k in range(1, len(values)):
        step = values[k] - values[k - 1]
        need_strict = strict_from is not None and k >= strict_from
        ok = step > atol if need_strict else step >= -atol
        assert ok, (
            f"{where}: {what} is not {'strictly ' if need_strict else ''}increasing: "
            f"{what}({params[k - 1]}) = {values[k - 1]!r}, {what}({params[k]}) = {values[k]!r}"
        )


def check_theorem_4(U, r, *, where: str, atol: float) -> None:
    """Theorem 4 at finite n: the fraction of rewards at 1 (and, by symmetry, at 0) is at
    least U'(1) / (U'(0) + U'(1)) - 1/n."""
    n = len(r)
    bound = U.dU1 / (U.dU0 + U.dU1)
    for end in (1.0, 0.0):
        frac = atom_fraction(r, at=end, atol=atol)
        assert frac >= bound - 1.0 / n, (
            f"{where}: fraction of rewards at {end:g} is {frac:.4f} < U'(1)/(U'(0)+U'(1)) - 1/n "
            f"= {bound:.4f} - {1 / n:.4f}"
        )


def folded_ks_distance(rewards, measure, *, atom_tol: float = 1e-9) -> float:
    """sup_x |F_n(x) - F(x)| for a sample and a measure both symmetric about 1/2, taken over
    x <= 1/2 only: an optimum's top rewards can lie within 1e-16 of 1 (power:g, g near 1),
    where float64 rounds them to 1.0; below 1/2 float64 keeps every digit. This is
    ``theory.distances.ks_distance(..., symmetric=True)``."""
    from rcollapse.theory.distances import ks_distance

    return ks_distance(rewards, measure, atom_tol=atom_tol, symmetric=True)


def check_falls(ns, distances, *, where: str, what: str) -> None:
    """distances[k] (at ns[k], increasing) falls strictly as n grows."""
    for k in range(1, len(ns)):
        assert distances[k] < distances[k - 1], (
            f"{where}: {what} does not fall as n grows: {what}(n={ns[k - 1]}) = {distances[k - 1]:.4g}, "
            f"{what}(n={ns[k]}) = {distances[k]:.4g}"
        )


def check_below(value, tol, *, where: str, what: str) -> None:
    """value <= tol (NaN fails)."""
    assert value <= tol, f"{where}: {what} = {value:.4g} > tolerance {tol:.4g}"


def check_collapse(rewards_by_prompt, r_star, *, where: str, eps: float) -> None:
    """Theorem 1: every prompt's sorted rewards (best first) are within eps of r*."""
    r_star = np.asarray(r_star, dtype=float)
    for p, rewards in enumerate(rewards_by_prompt):
        got = np.sort(np.asarray(rewards, dtype=float))[::-1]
        dev = float(np.max(np.abs(got - r_star)))
        assert dev <= eps, (
            f"{where}: prompt {p}: sorted rewards {np.round(got, 4).tolist()} are {dev:.3g} "
            f"from r* = {np.round(r_star, 4).tolist()} (eps {eps:g})"
        )


def check_theorem_1(U, rewards_by_prompt, r_star, *, where: str, eps: float) -> None:
    """Theorem 1 for a trained model, prompt by prompt, with S recomputed here: for the
    sorted rewards r of a prompt and delta = S(r*) - S(r),

    - delta >= 0 (up to rounding): no prompt beats the optimum r* of (5);
    - n |d - mean d|^2 <= 2 delta / mu, d = r - r*, mu = inf -U'' on (0, 1] (S is concave
      and r* a KKT point, so S(r) <= S(r*) - (mu/2) sum_{i<j} (d_i - d_j)^2, and that
      sum is n |d - mean d|^2): the strong-concavity bound behind C(eps) = O(sqrt(eps/mu));
    - max |r - r*| <= eps: the collapse itself.
    """
    r_star = np.asarray(r_star, dtype=float)
    n = len(r_star)
    s_star = objective(U, r_star)
    mu = U.strong_concavity
    assert mu > 0, f"{where}: Theorem 1 needs a strongly concave U"
    slack = 1e-9 * max(1.0, _objective_scale(U, r_star))
    for p, rewards in enumerate(rewards_by_prompt):
        r = np.sort(np.asarray(rewards, dtype=float))[::-1]
        delta = s_star - objective(U, r)
        assert delta >= -slack, (
            f"{where}: prompt {p} beats the optimum: S(r) - S(r*) = {-delta:.3g} > 0"
        )
        d = r - r_star
        spread = n * float(np.sum((d - d.mean()) ** 2))
        assert spread <= 2.0 * max(delta, 0.0) / mu + slack, (
            f"{where}: prompt {p}: n |d - mean d|^2 = {spread:.3g} > 2 delta / mu = {2 * delta / mu:.3g}"
        )
    check_collapse(rewards_by_prompt, r_star, where=where, eps=eps)


def check_distinct(a, b, *, where: str, min_dist: float) -> None:
    """Two reward profiles differ by at least min_dist in sup norm."""
    dev = float(np.max(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))))
    assert dev >= min_dist, f"{where}: profiles only {dev:.3g} apart (< {min_dist:g})"
