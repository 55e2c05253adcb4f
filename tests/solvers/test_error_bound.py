"""solvers.bound.error_bound: a proven bound on max_i |r_i - r*_i| for problem (5).

The bound (module docstring of :mod:`solvers.bound`) is
``max|r - x| + sqrt(3/2) N / (n mu)``, N the projected gradient. These tests check that
it is never below the true error, measured against an independent 40-digit mpmath
optimum (Newton on the free rewards with the tied end blocks of log-sigmoid found by an
active-set loop and verified by their KKT multipliers), that it sees a 1e-8 move of any
one reward, and that its rounding model holds (U' against mpmath).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from rcollapse.solvers import solve
from rcollapse.solvers.bound import ErrorBound, error_bound, eval_relative_error
from rcollapse.theory.utilities import parse_utility, x as X

from strategies import examples, utilities

FOUR = ("power:0.5", "log", "neg-power:1", "log-sigmoid:1")
DPS = 40


# ------------------------------------------------------------------------------------
# An independent reference optimum in mpmath
# ------------------------------------------------------------------------------------
def _mp(expr):
    modules = [{"sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
                "softplus": lambda z: mpmath.log1p(mpmath.exp(z))}, "mpmath"]
    f = sp.lambdify(X, expr, modules=modules)
    if not expr.has(X):
        value = mpmath.mpf(sp.Rational(expr).p) / sp.Rational(expr).q
        return lambda t: value
    return f


def _grad_hess(d1, d2, xs, free):
    """Gradient of S on all rewards and the Hessian on the free ones."""
    n = len(xs)
    g = [mpmath.mpf(0)] * n
    for i in range(n):
        for j in range(i + 1, n):
            t = d1(xs[i] - xs[j])
            g[i] += t
            g[j] -= t
    m = len(free)
    H = mpmath.zeros(m, m)
    for a, i in enumerate(free):
        for j in range(n):
            if j != i:
                w = d2(abs(xs[i] - xs[j]))
                H[a, a] += w
        for b, j in enumerate(free):
            if j != i:
                H[a, b] = -d2(abs(xs[i] - xs[j]))
    return g, H


def digits_needed(rewards, complement=None) -> int:
    """DPS plus the decimal exponent of the smallest positive gap the start carries (as a
    distance from 1 or 0, or between neighbours), so that no gap rounds away."""
    r = np.asarray(rewards, dtype=float)
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    dist = np.where(r >= 0.5, q, r)
    cand = np.concatenate((dist, np.abs(np.diff(dist))))
    cand = cand[cand > 0]
    small = cand.min() if cand.size else 1.0
    return DPS + max(0, math.ceil(-math.log10(small)))


def reference_optimum(U, n: int, rewards, complement=None) -> list:
    """The optimum of (5) at DPS digits, from the start ``rewards`` (best first; where
    r >= 1/2 the start is 1 - ``complement``, which keeps the gaps near 1).

    Active set: the top block (rewards at 1) and bottom block (at 0) start from the
    exact ties of ``start``; Newton runs on the free rewards (steps kept inside the
    order); a free reward blocked at an end joins that block; a block whose KKT
    multiplier is negative gives up its innermost reward. Returned only when the
    free gradient is below 1e-30 and every multiplier is >= 0."""
    d1, d2 = _mp(U.dexpr), _mp(U.d2expr)
    with mpmath.workdps(digits_needed(rewards, complement)):
        comp = 1.0 - np.asarray(rewards) if complement is None else complement
        xs = [1 - mpmath.mpf(float(c)) if v >= 0.5 else mpmath.mpf(float(v))
              for v, c in zip(rewards, comp)]
        top = max(1, sum(1 for v in xs if v == 1))
        bot = max(1, sum(1 for v in xs if v == 0))
        for _ in range(4 * n):
            for i in range(top):
                xs[i] = mpmath.mpf(1)
            for i in range(n - bot, n):
                xs[i] = mpmath.mpf(0)
            free = list(range(top, n - bot))
            moved = None
            for _it in range(200):
                if not free:
                    break
                g, H = _grad_hess(d1, d2, xs, free)
                gf = mpmath.matrix([g[i] for i in free])
                if mpmath.norm(gf, mpmath.inf) < mpmath.mpf(10) ** (-DPS + 6):
                    break
                step = mpmath.lu_solve(H, -gf)
                alpha, blocker = mpmath.mpf(1), None
                # Keep the order (gaps > 0) with the full vector after the step.
                new = list(xs)
                for a, i in enumerate(free):
                    new[i] = xs[i] + step[a]
                for k in range(n - 1):
                    dk = (new[k] - new[k + 1]) - (xs[k] - xs[k + 1])
                    if new[k] - new[k + 1] <= 0 and dk < 0:
                        frac = (xs[k] - xs[k + 1]) / (-dk)
                        if 0.9 * frac < alpha:
                            alpha, blocker = 0.9 * frac, k
                for a, i in enumerate(free):
                    xs[i] = xs[i] + alpha * step[a]
                if blocker is not None and alpha < mpmath.mpf(10) ** (-DPS + 10):
                    moved = blocker
                    break
            else:
                raise AssertionError(f"reference Newton did not converge for {U.spec} at n = {n}")
            if moved is not None:  # a free reward runs into a block: it joins it
                if moved < n // 2:
                    top += 1
                else:
                    bot += 1
                continue
            g, _ = _grad_hess(d1, d2, xs, [])
            # Multipliers: top constraint above reward i, lambda = g_i + ... + g_{top-1};
            # bottom constraint below reward i, lambda = -(g_{n-bot} + ... + g_i).
            top_lam = [mpmath.fsum(g[i:top]) for i in range(top)]
            bot_lam = [-mpmath.fsum(g[n - bot:i + 1]) for i in range(n - bot, n)]
            tiny = -mpmath.mpf(10) ** (-DPS + 8)
            if top > 1 and min(top_lam) < tiny:
                top -= 1
                continue
            if bot > 1 and min(bot_lam) < tiny:
                bot -= 1
                continue
            assert all(xs[k] > xs[k + 1] for k in range(top - 1, n - bot)), "free rewards tie"
            return xs, mpmath.mp.dps
    raise AssertionError(f"reference active set did not settle for {U.spec} at n = {n}")


def true_error(rewards, ref, dps: int) -> float:
    with mpmath.workdps(dps):
        return float(max(abs(mpmath.mpf(float(v)) - w) for v, w in zip(rewards, ref)))


def _perturbed(ref, dps: int, scale: int, rng):
    """x* + 10^scale z, z uniform in [-1, 1] (pushing r_1 down and r_n up), kept in
    [0, 1], sorted, and rounded to (rewards, complement) by :func:`_point_from_mp`."""
    n = len(ref)
    z = rng.uniform(-1.0, 1.0, n)
    z[0], z[-1] = -abs(z[0]), abs(z[-1])
    with mpmath.workdps(dps):
        h = mpmath.mpf(10) ** scale
        xs = sorted((min(mpmath.mpf(1), max(mpmath.mpf(0), v + h * float(zk)))
                     for v, zk in zip(ref, z)), reverse=True)
    return _point_from_mp(xs, dps)


def _point_from_mp(xs, dps: int):
    """(rewards, complement) in float64 for the mp point xs: both rounded from xs."""
    with mpmath.workdps(dps):
        r = np.array([float(v) for v in xs])
        q = np.array([float(1 - v) for v in xs])
    return r, q


# ------------------------------------------------------------------------------------
# The bound is never below the true error
# ------------------------------------------------------------------------------------
@settings(max_examples=examples(20), deadline=None)
@given(U=utilities(), n=st.integers(min_value=2, max_value=12),
       scale=st.integers(min_value=-13, max_value=-2), seed=st.integers(0, 2**32 - 1))
@example(U=parse_utility("power:0.5"), n=12, scale=-9, seed=1)
@example(U=parse_utility("log-sigmoid:1"), n=12, scale=-9, seed=2)
@example(U=parse_utility("log-sigmoid:0.05"), n=10, scale=-6, seed=3)
@example(U=parse_utility("power:0.99"), n=8, scale=-12, seed=4)
@example(U=parse_utility("neg-power:3"), n=12, scale=-4, seed=5)
def test_bound_is_never_below_the_true_error(U, n, scale, seed):
    """On drawn (U, n): the bound at the solver's answer, and at a random feasible
    perturbation of the optimum of size 10^scale, is >= the error against a 40-digit
    mpmath optimum."""
    sol = solve(U, n, tol=1e-12)
    ref, dps = reference_optimum(U, n, sol.rewards, sol.complement)
    eb = error_bound(U, sol.rewards, complement=sol.complement)
    assert eb.value is not None, eb.reason
    assert eb.value >= true_error(sol.rewards, ref, dps)
    # A perturbed point: x* + 10^scale z, z uniform in [-1, 1], kept in [0, 1] and sorted.
    r, q = _perturbed(ref, dps, scale, np.random.default_rng(seed))
    eb = error_bound(U, r, complement=q)
    assume(eb.value is not None)  # a perturbation that rounds two rewards into a tie
    assert eb.value >= true_error(r, ref, dps)


@pytest.mark.parametrize("spec", FOUR)
def test_bound_at_the_reference_itself_is_rounding_only(spec):
    """At the 40-digit optimum rounded to float64 the bound is rounding-sized, and still
    not below the (rounding) error."""
    U, n = parse_utility(spec), 12
    sol = solve(U, n, tol=1e-12)
    ref, dps = reference_optimum(U, n, sol.rewards, sol.complement)
    r, q = _point_from_mp(ref, dps)
    eb = error_bound(U, r, complement=q)
    assert true_error(r, ref, dps) <= eb.value < 1e-12


# ------------------------------------------------------------------------------------
# The bound sees a 1e-8 move
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", FOUR)
def test_a_1e8_move_of_any_interior_reward_is_seen(spec):
    """n = 50: moving any one interior reward of the solver's optimum by 1e-8 (up or
    down, complement moved with it) makes the bound >= 1e-8 / 10."""
    n, h, U = 50, 1e-8, parse_utility(spec)
    sol = solve(U, n, tol=1e-12)
    base = error_bound(U, sol.rewards, complement=sol.complement)
    assert base.value is not None and base.value < 1e-8 / 10
    for k in range(1, n - 1):
        for sign in (1.0, -1.0):
            r, q = sol.rewards.copy(), sol.complement.copy()
            r[k] += sign * h
            q[k] -= sign * h
            eb = error_bound(U, r, complement=q)
            assert eb.value is not None, (k, sign, eb.reason)
            assert eb.value >= h / 10, (k, sign, eb)


def test_bound_at_n_2000_certifies_1e9():
    """newton at n = 2000 (tol 1e-11): the bound certifies max |r - r*| <= 1e-9."""
    sol = solve("log", 2000, tol=1e-11)
    eb = error_bound("log", sol.rewards, complement=sol.complement)
    assert eb.value is not None and eb.value <= 1e-9, eb


# ------------------------------------------------------------------------------------
# The constant, the cases with no bound, the inputs
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 4, 7, 20])
def test_grounded_laplacian_max_norm_constant(n):
    """max |delta_i|^2 / Q(delta) over delta with delta_1 = delta_n = 0 is 3 / (2n) (the
    diagonal of the inverse grounded Laplacian (I + 11'/2) / n), attained by a spike."""
    m = n - 2
    Lg = n * np.eye(m) - np.ones((m, m))
    inv = np.linalg.inv(Lg)
    assert np.allclose(inv, (np.eye(m) + np.ones((m, m)) / 2) / n)
    assert np.isclose(inv.diagonal().max(), 1.5 / n)
    assert np.isclose(np.linalg.eigvalsh(Lg).min(), 2.0)
    spike = np.full(n, 1 / 3)
    spike[0] = spike[-1] = 0.0
    spike[1] = 1.0
    Q = sum((spike[i] - spike[j]) ** 2 for i in range(n) for j in range(i + 1, n))
    assert np.isclose(Q, 2 * n / 3)


def test_linear_has_no_bound():
    eb = error_bound("linear", [1.0, 1.0, 0.0, 0.0])
    assert eb.value is None and "linear is not strongly concave" in eb.reason


def test_mu_is_derived_from_U():
    """mu = inf -U'' on (0, 1]: g(1 - g), 1, g(g + 1), sigma(1/s) sigma(-1/s) / s^2."""
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    for spec, mu in [("power:0.3", 0.3 * 0.7), ("log", 1.0), ("neg-power:1.5", 1.5 * 2.5),
                     ("log-sigmoid:2", sig(0.5) * sig(-0.5) / 4)]:
        eb = error_bound(spec, [1.0, 0.5, 0.0])
        assert math.isclose(eb.mu, mu, rel_tol=1e-14)


def test_a_tie_with_infinite_slope_has_no_bound_and_bad_shapes_raise():
    eb = error_bound("log", [1.0, 0.5, 0.5, 0.0])
    assert eb.value is None and "not finite" in eb.reason
    with pytest.raises(ValueError, match="1-D array"):
        error_bound("log", [1.0])
    with pytest.raises(ValueError, match="complement"):
        error_bound("log", [1.0, 0.0], complement=[0.0])


def test_infeasible_rewards_are_bounded_through_a_repair():
    """Two rewards swapped by 1e-3: the bound includes the distance to the sorted point."""
    sol = solve("log", 20, tol=1e-12)
    r = sol.rewards.copy()
    r[5], r[6] = r[6], r[5]
    eb = error_bound("log", r)
    assert eb.value >= abs(r[5] - sol.rewards[5])
    assert eb.value <= abs(r[5] - sol.rewards[5]) + 1e-9


def test_error_bound_json():
    eb = error_bound("log", [1.0, 0.5, 0.0])
    assert isinstance(eb, ErrorBound)
    assert set(eb.to_json()) == {"value", "reason", "mu", "projected_gradient", "n", "rounding",
                                 "offset", "sums", "summation_error", "seconds"}
    assert eb.sums == "dense" and eb.seconds >= 0.0 and eb.summation_error is None
    with pytest.raises(ValueError, match="sums = 'quick' is unknown; valid"):
        error_bound("log", [1.0, 0.5, 0.0], sums="quick")


# ------------------------------------------------------------------------------------
# Step 7: the bound by fast sums, against the dense one
# ------------------------------------------------------------------------------------
def _symmetric_point(y, odd: bool):
    mid = [0.5] if odd else []
    return np.concatenate((1.0 - y, mid, y[::-1])), np.concatenate((y, mid, 1.0 - y[::-1]))


@pytest.mark.parametrize("spec, n", [("power:0.5", 2400), ("log", 2001), ("neg-power:1", 2400),
                                     ("log-sigmoid:1", 2001), ("power:0.3", 2400)])
def test_fast_bound_is_a_bound_and_near_the_dense_one(spec, n):
    """At the fast solver's answer and at a symmetric move of it by about 1e-8: the fast
    bound is >= the true error (against newton at tol 1e-12, less that reference's own
    dense bound) and near the dense bound on the same point (measured at n = 3000..4000:
    1.0 to 5.2 times at the optimum, equal to 4 digits at the moved point)."""
    sol = solve(spec, n, method="fast")
    ref = solve(spec, n, method="newton", tol=1e-12)
    ref_bound = error_bound(spec, ref.rewards, complement=ref.complement, sums="dense").value
    y = sol.complement[: n // 2]
    moved = _symmetric_point(y + 1e-7 * y * (1.0 - 2.0 * y), n % 2 == 1)
    for (r, q), near in (((sol.rewards, sol.complement), (1.0, 10.0)), (moved, (0.999, 1.001))):
        dense = error_bound(spec, r, complement=q, sums="dense")
        fast = error_bound(spec, r, complement=q, sums="fast")
        assert fast.sums == "fast" and dense.sums == "dense"
        assert 0.0 <= fast.summation_error < 1e-12, fast
        assert fast.value >= float(np.max(np.abs(q - ref.complement))) - ref_bound
        assert near[0] * dense.value <= fast.value <= near[1] * dense.value, (fast, dense)


def test_fast_rounding_terms_cover_the_dense_ones():
    """Step 7's per-row error e (fast sums) is at least step 5's (dense) on every row and
    at most 40 times it (power:0.3, A > 0: the |log d| terms; n = 1001, odd)."""
    from rcollapse.solvers import bound as B

    U, n = parse_utility("power:0.3"), 1001
    sol = solve(U, n, method="fast")
    _, _, E, A, _ = B._constants(U)
    rx, qx = B._feasible_point(sol.rewards, sol.complement)
    top, eta, _ = B._offsets(sol.rewards, rx, qx)
    g_d, e_d = B._gradient_with_error(U, rx, qx, top, eta, E, A, B.CHUNK_ELEMENTS)
    g_f, e_f, rel = B._fast_gradient_with_error(U, rx, qx, top, eta, E, A, B.CHUNK_ELEMENTS,
                                                B.SPOT_ROWS, 0)
    inner = np.arange(n) != n // 2  # the middle: g = 0 exactly by symmetry, e = 0
    assert A > 0 and np.all(np.abs(g_f - g_d) <= e_f + e_d)
    assert np.all(e_f[inner] >= e_d[inner]) and np.all(e_f[inner] <= 40 * e_d[inner])


def test_a_broken_fast_sum_shows_in_the_fast_bound(monkeypatch):
    """A gradient off by 1e-9 of its force on every row: the spot rows see it, and the
    bound grows to cover it (it stays >= the dense bound of the true gradient)."""
    from rcollapse.solvers import newton_cg as NCG

    spec, n = "log", 2000
    sol = solve(spec, n, method="fast")
    dense = error_bound(spec, sol.rewards, complement=sol.complement, sums="dense")
    right = NCG.FastHalf.gradient

    def broken(self, tree):
        q, force = right(self, tree)
        return q + 1e-9 * force, force

    monkeypatch.setattr(NCG.FastHalf, "gradient", broken)
    fast = error_bound(spec, sol.rewards, complement=sol.complement, sums="fast")
    assert fast.summation_error >= 0.9e-9 and fast.value >= 10 * dense.value, (fast, dense)


def test_auto_sums_are_fast_above_fast_from_for_symmetric_points(monkeypatch):
    from rcollapse.solvers import newton_cg as NCG

    sol = solve("log", 600)
    assert error_bound("log", sol.rewards, complement=sol.complement).sums == "dense"
    monkeypatch.setattr(NCG, "FAST_FROM", 500)
    assert error_bound("log", sol.rewards, complement=sol.complement).sums == "fast"
    r = sol.rewards.copy()
    r[100] += 1e-9  # not symmetric: dense, or refused when fast is asked for
    assert error_bound("log", r).sums == "dense"
    with pytest.raises(ValueError, match="symmetric"):
        error_bound("log", r, sums="fast")


# ------------------------------------------------------------------------------------
# The rounding model of the gradient, against mpmath at the same point
# ------------------------------------------------------------------------------------
def _mp_gradient(U, rx, qx, top):
    """grad S at the point x (x_k = 1 - qx_k where top, else rx_k), gaps formed exactly."""
    d1 = _mp(U.dexpr)
    n = len(rx)
    with mpmath.workdps(DPS):
        R = [mpmath.mpf(float(v)) for v in rx]
        Qc = [mpmath.mpf(float(v)) for v in qx]
        g = [mpmath.mpf(0)] * n
        for i in range(n):
            for j in range(i + 1, n):
                if top[i] and top[j]:
                    gap = Qc[j] - Qc[i]
                elif top[i]:
                    gap = (1 - Qc[i]) - R[j]
                else:
                    gap = R[i] - R[j]
                t = d1(gap)
                g[i] += t
                g[j] -= t
        return g


def _check_gradient_error(U, r, q):
    from rcollapse.solvers.bound import (CHUNK_ELEMENTS, _constants, _feasible_point,
                                         _gradient_with_error, _offsets)

    _, _, E, A, _ = _constants(U)
    rx, qx = _feasible_point(np.asarray(r, float), np.asarray(q, float))
    top, eta, _ = _offsets(np.asarray(r, float), rx, qx)
    g, e = _gradient_with_error(U, rx, qx, top, eta, E, A, CHUNK_ELEMENTS)
    if g is None:  # a tie where U'(0+) is infinite: no gradient to check
        return None
    exact = _mp_gradient(U, rx, qx, top)
    with mpmath.workdps(DPS):
        worst = max(float(abs(mpmath.mpf(float(gk)) - xk) / ek) for gk, xk, ek in zip(g, exact, e))
    assert worst <= 1.0, (U.spec, len(r), worst)
    return worst


@settings(max_examples=examples(10), deadline=None)
@given(U=utilities(), n=st.integers(min_value=3, max_value=40), scale=st.integers(-12, -3),
       seed=st.integers(0, 2**32 - 1))
@example(U=parse_utility("power:0.99"), n=20, scale=-12, seed=0)
@example(U=parse_utility("log-sigmoid:0.05"), n=30, scale=-6, seed=0)
def test_gradient_rounding_bound_holds(U, n, scale, seed):
    """|g^_k - grad_k S(x)| <= e_k for every k, the computed gradient against a 40-digit
    one at the same point: at the solver's answer and at a perturbed point."""
    sol = solve(U, n, tol=1e-12)
    assert _check_gradient_error(U, sol.rewards, sol.complement) is not None
    rng = np.random.default_rng(seed)
    r = np.sort(np.clip(sol.rewards + 10.0**scale * rng.uniform(-1, 1, n), 0, 1))[::-1]
    assume(_check_gradient_error(U, r, 1.0 - r) is not None)  # clipping can tie two rewards


@pytest.mark.parametrize("spec", FOUR)
def test_gradient_rounding_bound_holds_at_n_150(spec):
    sol = solve(spec, 150, tol=1e-12)
    assert _check_gradient_error(parse_utility(spec), sol.rewards, sol.complement) is not None


# ------------------------------------------------------------------------------------
# The rounding model: U' evaluated within EVAL_ULPS (1 + E |log d|) ulps, with margin 4
# ------------------------------------------------------------------------------------
@settings(max_examples=examples(10), deadline=None)
@given(U=utilities(), seed=st.integers(0, 2**32 - 1))
@example(U=parse_utility("log-sigmoid:0.01"), seed=0)
@example(U=parse_utility("power:0.5"), seed=0)
@example(U=parse_utility("neg-power:1"), seed=0)
@example(U=parse_utility("log"), seed=0)
@example(U=parse_utility("neg-power:2.987"), seed=0)
@example(U=parse_utility("power:0.333"), seed=0)
@example(U=parse_utility("log-sigmoid:0.05"), seed=0)
def test_derivative_evaluation_is_within_the_assumed_ulps(U, seed):
    """U.d1 (numpy, from the sympy form) is within a quarter of the relative error the
    bound allows for it (eval_relative_error), against 40-digit mpmath, on gaps from
    1e-300 to 1."""
    from rcollapse.solvers.bound import _constants

    _, _, E, A, _ = _constants(U)
    rng = np.random.default_rng(seed)
    d = np.concatenate((10.0 ** rng.uniform(-300, 0, 200), rng.uniform(0, 1, 100), [1.0]))
    t = U.d1(d)
    f = _mp(U.dexpr)
    with mpmath.workdps(DPS):
        for di, ti in zip(d, t):
            exact = f(mpmath.mpf(float(di)))
            if not mpmath.isfinite(exact) or exact > 1e300:
                continue
            rel = float(abs(mpmath.mpf(float(ti)) - exact) / exact)
            allowed = float(eval_relative_error(di, E, A))
            assert rel <= allowed / 4, (U.spec, di, rel, allowed)


@settings(max_examples=examples(10), deadline=None)
@given(U=utilities(), seed=st.integers(0, 2**32 - 1))
@example(U=parse_utility("neg-power:2.987"), seed=0)
@example(U=parse_utility("power:0.01"), seed=0)
@example(U=parse_utility("log-sigmoid:0.05"), seed=0)
def test_curvature_evaluation_is_within_the_assumed_tolerance(U, seed):
    """U.d2 (numpy) is within CURVATURE_TOLERANCE / 10 of 40-digit mpmath on (0, 1], and
    -U'' is proved nonincreasing for every family (step 6 of the bound uses both)."""
    from rcollapse.solvers.bound import CURVATURE_TOLERANCE, curvature_decreasing

    assert curvature_decreasing(U)
    rng = np.random.default_rng(seed)
    d = np.concatenate((10.0 ** rng.uniform(-300, 0, 200), rng.uniform(0, 1, 100), [1.0]))
    w = U.d2(d)
    f = _mp(U.d2expr)
    with mpmath.workdps(DPS):
        for di, wi in zip(d, w):
            exact = f(mpmath.mpf(float(di)))
            if not mpmath.isfinite(exact) or abs(exact) > 1e300:
                continue
            rel = float(abs(mpmath.mpf(float(wi)) - exact) / abs(exact))
            assert rel <= CURVATURE_TOLERANCE / 10, (U.spec, di, rel)


@pytest.mark.parametrize("m", [1, 2, 5, 40])
def test_positive_tridiagonal_matches_an_exact_inverse(m):
    """diag(M^-1) and M^-1 v of the positive-only recurrences against a 50-digit inverse,
    M = base I + grounded path Laplacian, edge weights from 1e-3 to 1e12: within the
    relative error 16 (m + 4) u that the bound allows for them."""
    from rcollapse.solvers.bound import _positive_solve, _positive_tridiagonal

    rng = np.random.default_rng(m)
    c = 10.0 ** rng.uniform(-3, 12, m + 1)
    base = 7.5
    v = rng.uniform(0, 1, m)
    F, G = _positive_tridiagonal(c, base)
    z = _positive_solve(c, F, v)
    allowed = 16 * (m + 4) * 2.0**-53
    with mpmath.workdps(50):
        cm = [mpmath.mpf(float(t)) for t in c]
        M = mpmath.zeros(m, m)
        for j in range(m):
            M[j, j] = base + cm[j] + cm[j + 1]
            if j + 1 < m:
                M[j, j + 1] = M[j + 1, j] = -cm[j + 1]
        inv = M**-1
        zx = inv * mpmath.matrix([mpmath.mpf(float(t)) for t in v])
        for j in range(m):
            assert abs(1 / (F[j] + G[j]) / inv[j, j] - 1) <= allowed
            assert abs(z[j] / zx[j] - 1) <= allowed


@pytest.mark.parametrize("spec", FOUR)
def test_bound_is_never_below_the_true_error_at_n_40(spec):
    """n = 40 (where the local-curvature step matters more): the solver's answer and
    perturbations of size 1e-10, 1e-7 and 1e-4 of the 40-digit optimum."""
    U, n = parse_utility(spec), 40
    sol = solve(U, n, tol=1e-12)
    ref, dps = reference_optimum(U, n, sol.rewards, sol.complement)
    eb = error_bound(U, sol.rewards, complement=sol.complement)
    assert true_error(sol.rewards, ref, dps) <= eb.value
    rng = np.random.default_rng(40)
    for scale in (-10, -7, -4):
        r, q = _perturbed(ref, dps, scale, rng)
        eb = error_bound(U, r, complement=q)
        assert eb.value is not None, eb.reason
        assert true_error(r, ref, dps) <= eb.value, (scale, eb)
