"""solvers.solve: problem (5) by newton, cvxpy and lbfgs, certified by one KKT residual.

Problem (5) (Song et al. 2023): maximize sum_{i<j} U(r_i - r_j) s.t. 1 >= r_1 >= ... >= r_n >= 0.
Large-n timings live in the benchmark (``rcollapse bench solvers``), not here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rcollapse.solvers import ConvergenceError, Solution, SolverInputError, kkt_residual, solve
from rcollapse.solvers.cvx import pair_difference_matrix
from rcollapse.theory.exact import gauss_lobatto_rewards
from rcollapse.theory.utilities import parse_utility

TARGETS = ["power:0.5", "log", "neg-power:0.5", "neg-power:1", "log-sigmoid:1", "log-sigmoid:0.25"]
HARD = ["neg-power:2", "power:0.1", "power:0.9", "log-sigmoid:0.05", "log-sigmoid:10"]


def check_optimum(sol: Solution, *, tol: float = 1e-9):
    r = sol.rewards
    assert r.shape == (sol.n,) and r.dtype == np.float64
    assert np.all(np.diff(r) <= 0.0), "sorted best first"
    assert r[0] == 1.0 and r[-1] == 0.0, "Lemma 4.1: r_1 = 1, r_n = 0"
    assert np.max(np.abs(r + r[::-1] - 1.0)) <= 1e-12, "Lemma C.2: symmetric"
    assert sol.kkt_residual <= tol


# --------------------------------------------------------------------------------------
# newton: the theory's properties, and the certificate
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", TARGETS + HARD)
@pytest.mark.parametrize("n", [2, 3, 8, 51, 300])
def test_newton_symmetric_endpoints_certified(spec, n):
    sol = solve(spec, n)
    check_optimum(sol)
    assert sol.method == "newton" and sol.unique
    assert sol.status.startswith("exact (n = 2" if n == 2 else "converged")
    U = parse_utility(spec)
    # the certificate is the shared function, on the solver's accurate complement
    assert sol.kkt_residual == kkt_residual(U, sol.rewards, complement=sol.complement)
    np.testing.assert_allclose(sol.complement, 1.0 - sol.rewards, atol=2e-16)


@st.composite
def utilities(draw, *, min_param: float = 0.05):
    family = draw(st.sampled_from(["power", "neg-power", "log", "log-sigmoid"]))
    if family == "log":
        return "log"
    hi = {"power": 0.9, "neg-power": 3.0, "log-sigmoid": 10.0}[family]
    return f"{family}:{draw(st.floats(min_param, hi)):.3g}"


@given(spec=utilities(), n=st.integers(2, 40))
@example(spec="power:0.9", n=2).via("corner: gamma near 1, n = 2")
@example(spec="power:0.05", n=3).via("corner: gamma near 0, n odd")
def test_newton_property(spec, n):
    check_optimum(solve(spec, n))


def test_strict_order_when_the_slope_at_zero_is_infinite():
    for spec in ["log", "power:0.5", "neg-power:1"]:
        sol = solve(spec, 200)
        assert np.all(np.diff(sol.complement[: sol.n // 2]) > 0.0)  # y = 1 - r, top half


def test_log_sigmoid_has_exact_runs_at_both_ends():
    sol = solve("log-sigmoid:1", 200)
    check_optimum(sol)
    k = int(np.sum(sol.rewards == 1.0))
    assert k == int(np.sum(sol.rewards == 0.0)) >= 2
    assert np.all(sol.rewards[:k] == 1.0) and np.all(sol.rewards[-k:] == 0.0)
    assert 0.0 < sol.rewards[k] < 1.0
    # Theorem 4: the end mass is at least U'(1) / (U'(0) + U'(1)) (in the limit; 0.385 at n = 200)
    U = parse_utility("log-sigmoid:1")
    assert k / 200 >= U.dU1 / (U.dU0 + U.dU1)


def test_linear_closed_form_and_uniqueness():
    even = solve("linear", 6)
    assert even.rewards.tolist() == [1.0] * 3 + [0.0] * 3 and even.unique
    odd = solve("linear", 7)
    assert odd.rewards.tolist() == [1.0] * 3 + [0.5] + [0.0] * 3
    assert odd.unique is False and odd.kkt_residual == 0.0
    assert odd.objective == pytest.approx(sum((7 + 1 - 2 * k) * r for k, r in enumerate(odd.rewards, 1)))


# --------------------------------------------------------------------------------------
# Exact check: U = log is solved by the Gauss-Lobatto-Legendre nodes (Stieltjes)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [8, 100, 1000])
def test_newton_matches_gauss_lobatto(n):
    sol = solve("log", n)
    assert np.max(np.abs(sol.rewards - gauss_lobatto_rewards(n))) <= 1e-10


@pytest.mark.parametrize("n", [8, 50])
def test_cvxpy_matches_gauss_lobatto(n):
    sol = solve("log", n, method="cvxpy")
    assert np.max(np.abs(sol.rewards - gauss_lobatto_rewards(n))) <= 1e-6
    assert sol.kkt_residual <= 1e-4


def test_kkt_residual_is_zero_at_the_optimum_and_positive_elsewhere():
    U = parse_utility("log")
    r = gauss_lobatto_rewards(30)
    assert kkt_residual(U, r) <= 1e-12
    bumped = r.copy()
    bumped[10] += 1e-4
    assert kkt_residual(U, bumped) > 1e-7
    assert kkt_residual(U, np.linspace(0.9, 0.1, 30)) > 1e-3  # bounds not reached
    assert kkt_residual(U, [1.0, 0.5, 0.5, 0.0]) == np.inf  # a tie where U'(0+) = inf


# --------------------------------------------------------------------------------------
# The methods agree
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["power:0.5", "log-sigmoid:1", "neg-power:0.5", "linear"])
@pytest.mark.parametrize("n", [6, 20])
def test_methods_agree(spec, n):
    ref = solve(spec, n)
    cv = solve(spec, n, method="cvxpy")
    lb = solve(spec, n, method="lbfgs")
    if ref.unique:
        np.testing.assert_allclose(cv.rewards, ref.rewards, atol=1e-6)
        np.testing.assert_allclose(lb.rewards, ref.rewards, atol=2e-3)
    assert cv.objective == pytest.approx(ref.objective, rel=1e-8, abs=1e-8)
    assert lb.objective <= ref.objective + 1e-9 * abs(ref.objective)
    assert lb.objective == pytest.approx(ref.objective, rel=1e-5)
    assert cv.kkt_residual == kkt_residual(parse_utility(spec), cv.rewards, complement=cv.complement)
    assert lb.kkt_residual == kkt_residual(parse_utility(spec), lb.rewards)
    assert cv.kkt_residual <= 1e-9 and lb.kkt_residual <= 1e-9
    assert lb.status == "converged" or lb.status.startswith("converged by the certificate (scipy:")


def test_pair_difference_matrix():
    D = pair_difference_matrix(4)
    assert D.shape == (6, 4) and D.nnz == 12
    r = np.array([4.0, 3.0, 1.0, 0.0])
    assert sorted(D @ r) == [1.0, 1.0, 2.0, 3.0, 3.0, 4.0]


# --------------------------------------------------------------------------------------
# The result type
# --------------------------------------------------------------------------------------
def test_solution_is_frozen_and_serializes():
    sol = solve("power:0.5", 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol.n = 6
    info = sol.to_json()
    assert set(info) >= {"spec", "n", "method", "rewards", "objective", "kkt_residual",
                         "iterations", "seconds", "unique", "status"}
    assert info["spec"] == "power:0.5" and len(info["rewards"]) == 5
    assert isinstance(info["unique"], bool) and info["seconds"] >= 0.0
    assert solve(parse_utility("power:0.5"), np.int64(5)).rewards.tolist() == info["rewards"]


# --------------------------------------------------------------------------------------
# Bad input: a one-line SolverInputError (a ValueError) naming the value and the range
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, shown", [(1, "n = 1"), (0, "n = 0"), (-3, "n = -3"), (3.5, "n = 3.5"),
                                      (3.0, "n = 3.0"), (True, "n = True"), ("5", "n = '5'"),
                                      (None, "n = None")])
def test_bad_n(n, shown):
    with pytest.raises(SolverInputError) as info:
        solve("log", n)
    message = str(info.value)
    assert "\n" not in message and shown in message and "n >= 2" in message
    assert isinstance(info.value, ValueError)


def test_bad_method_and_tol():
    with pytest.raises(SolverInputError, match=r"method = 'simplex' is unknown; valid: auto, newton, cvxpy, lbfgs, fast"):
        solve("log", 5, method="simplex")
    with pytest.raises(SolverInputError, match="tol = 0"):
        solve("log", 5, tol=0)


def test_memory_estimate_is_checked_and_stated():
    with pytest.raises(SolverInputError) as info:
        solve("log", 10**7)
    message = str(info.value)
    assert "\n" not in message and "n = 10000000" in message and "GiB" in message
    with pytest.raises(SolverInputError, match="method 'cvxpy'"):
        solve("log", 200_000, method="cvxpy")


def test_no_silent_wrong_answer():
    with pytest.raises(ConvergenceError, match="KKT residual") as info:
        solve("power:0.5", 9, max_iter=1)
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(ConvergenceError, match="tie"):
        solve("power:0.99", 100)  # its optimal top gaps underflow float64


# ---- starting points and the baseline's honesty ------------------------------------------
@pytest.mark.parametrize("spec", ["power:0.5", "log", "neg-power:1", "log-sigmoid:0.25", "power:0.97"])
def test_newton_from_a_random_start_finds_the_same_optimum(spec):
    rng = np.random.default_rng(1)
    start = np.sort(rng.uniform(0.01, 0.99, 24))[::-1]
    reference = solve(spec, 24).rewards
    sol = solve(spec, 24, start=start)
    assert sol.kkt_residual <= 1e-9
    np.testing.assert_allclose(sol.rewards, reference, atol=1e-9)


@pytest.mark.parametrize(
    "start, method, words",
    [
        (np.linspace(1, 0, 5), "cvxpy", ["cvxpy", "newton or lbfgs"]),
        (np.linspace(1, 0, 4), "newton", ["(4,)", "5 finite rewards"]),
        (np.linspace(0, 1, 5), "lbfgs", ["not feasible", "1 >= r_1"]),
        (np.array([1.2, 0.8, 0.5, 0.2, 0.0]), "newton", ["not feasible"]),
    ],
)
def test_a_bad_start_gets_a_one_line_error(start, method, words):
    with pytest.raises(SolverInputError) as info:
        solve("log", 5, method=method, start=start)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_lbfgs_refuses_a_loose_answer_and_carries_the_point_reached():
    """L-BFGS-B stalls on log-sigmoid:3.065 at n = 25 (KKT 3e-4, although scipy reports
    success): it must raise, never return that point as the answer."""
    with pytest.raises(ConvergenceError) as info:
        solve("log-sigmoid:3.065", 25, method="lbfgs")
    assert "KKT residual" in str(info.value)
    assert info.value.solution.kkt_residual > 1e-5


def test_cvxpy_meets_tol_by_polishing_an_answer_clarabel_calls_inaccurate():
    """log-sigmoid:4.5 at n = 22: Clarabel stops at optimal_inaccurate with KKT 2.4e-6,
    2e-4 away from the optimum in rewards (found by hypothesis). tol is met by Newton
    steps from that answer, and the status says so."""
    sol = solve("log-sigmoid:4.5", 22, method="cvxpy")
    assert sol.kkt_residual <= 1e-9 and "polished by" in sol.status
    np.testing.assert_allclose(sol.rewards, solve("log-sigmoid:4.5", 22).rewards, atol=1e-9)


def test_newton_reports_progress_level_by_level():
    seen = []
    sol = solve("log", 300, progress=lambda done, levels, n_level: seen.append((done, levels, n_level)))
    levels = len(seen)
    assert [(d, L) for d, L, _ in seen] == [(d, levels) for d in range(1, levels + 1)]
    sizes = [m for _, _, m in seen]
    assert sizes[-1] == 300 and sizes == sorted(sizes) and sol.kkt_residual <= 1e-9


class _QuadraticLevel:
    """A level of solvers.projected_newton.minimize_level for phi(y) = (y - t)^T A (y - t) / 2
    on the box 0 <= y <= 1/2, A a tridiagonal, strictly diagonally dominant M-matrix (the
    shape of the folded Hessian B): the bounds that bind depend on the coupling."""

    name, sort_projection, odd = "quadratic", False, False

    def __init__(self, A, t):
        self.A, self.t, self.n = A, t, 2 * t.size
        self.U = parse_utility("log-sigmoid:1")

    def gradient(self, y):
        return self.A @ (y - self.t), np.abs(self.A) @ (1.0 + np.abs(self.t))

    def objective(self, y):
        e = y - self.t
        return float(0.5 * e @ self.A @ e), float(np.abs(self.t) @ np.abs(self.A) @ np.abs(self.t))

    trial_objective = objective

    def accept(self, evaluated):
        pass

    @staticmethod
    def noise(mag):
        return 1e-15 * mag

    @staticmethod
    def nonfinite_hint():
        return ""

    def certify(self, y, q, force):
        from rcollapse.solvers.projected_newton import reduced_residual

        return reduced_residual(y, q, force, True)

    def direction(self, y, q, *, reduced, reduced_prev, alpha, steps, target):
        from rcollapse.solvers.projected_newton import active_set, projected_direction

        diag = self.A.diagonal()
        active = active_set(y, q, diag, True)
        free = np.flatnonzero(~active)
        return projected_direction(q, diag, active, free, True,
                                   lambda: -np.linalg.solve(self.A[np.ix_(free, free)], q[free]))


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_projected_newton_core_finds_the_box_minimizer(seed):
    """The one level loop (solvers.projected_newton) on a coupled quadratic over the box:
    it certifies (reduced residual <= tol), puts the bound variables exactly at 0 and 1/2,
    and agrees with scipy's bounded least squares (lsq_linear on the Cholesky factor)."""
    from scipy.optimize import lsq_linear

    from rcollapse.solvers.projected_newton import minimize_level

    rng = np.random.default_rng(seed)
    m = 30
    off = -0.9 * rng.uniform(0.0, 1.0, m - 1)
    A = np.diag(2.0 + rng.uniform(0.0, 1.0, m)) + np.diag(off, 1) + np.diag(off, -1)
    t = rng.uniform(-0.5, 1.0, m)
    y, steps, res, ok = minimize_level(_QuadraticLevel(A, t), np.full(m, 0.25), box=True, tol=1e-12,
                                       max_iter=50, final=True)
    L = np.linalg.cholesky(A).T  # A = L^T L
    ref = lsq_linear(L, L @ t, bounds=(0.0, 0.5), tol=1e-14, method="bvls").x
    assert ok and res <= 1e-12
    assert np.all(y[ref <= 1e-10] == 0.0) and np.all(y[ref >= 0.5 - 1e-10] == 0.5)
    assert np.max(np.abs(y - ref)) <= 1e-9
