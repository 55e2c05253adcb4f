"""solvers.newton_cg.certify_fast: the KKT certificate of solvers.kkt.certify by fast sums.

It must give the dense certificate's residual (optimal and perturbed vectors, several
utilities and n), refuse what the dense one refuses with the same one-line reason, state
a summation error that a broken fast sum cannot hide, and be the certificate that the
fast solver and ``rcollapse verify`` (above FAST_FROM) apply."""

from __future__ import annotations

import dataclasses
import functools
from types import SimpleNamespace

import numpy as np
import pytest

from rcollapse import verify as V
from rcollapse.solvers import newton_cg as NCG
from rcollapse.solvers import solve
from rcollapse.solvers.kkt import Certificate, certify
from rcollapse.solvers.newton_cg import certify_fast, solve_newton_cg

SPECS = ("power:0.25", "power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")


@functools.lru_cache(maxsize=None)
def _optimum(spec: str, n: int):
    return solve(spec, n)


def _symmetric(y, odd: bool):
    """(rewards, complement) of the symmetric vector with half y = 1 - r_top."""
    mid = [0.5] if odd else []
    return np.concatenate((1.0 - y, mid, y[::-1])), np.concatenate((y, mid, 1.0 - y[::-1]))


def _perturbed(sol, eps: float):
    """The optimum's half moved by eps y (1 - 2 y): still sorted, in [0, 1/2], symmetric."""
    y = sol.complement[: sol.n // 2]
    return _symmetric(y + eps * y * (1.0 - 2.0 * y), sol.n % 2 == 1)


@pytest.mark.parametrize("spec, n", [(s, n) for s in SPECS for n in (50, 301, 3000)])
def test_fast_certificate_is_the_dense_one(spec, n):
    sol = _optimum(spec, n)
    for eps in (0.0, 1e-6, 1e-3):
        r, q = _perturbed(sol, eps)
        dense, fast = certify(spec, r, complement=q), certify_fast(spec, r, complement=q)
        assert isinstance(fast, Certificate) and fast.certified and dense.certified
        assert fast.rows_checked >= 8 and fast.summation_error < 1e-13
        assert fast.residual_error_bound < 1e-12
        # measured: the two residuals differ by at most 3e-16 here
        assert abs(fast.residual - dense.residual) <= 1e-12 * dense.residual + 1e-14
        assert fast.objective == pytest.approx(dense.objective, rel=1e-12)
        if eps == 0.0:
            assert fast.residual <= 1e-9
        if eps == 1e-3:  # measured: 6.9e-8 (power:0.5, n = 3000) to 6e-5
            assert fast.residual > 1e-8 and dense.residual > 1e-8


@pytest.mark.parametrize("spec", ["log", "power:0.5", "log-sigmoid:1"])
def test_infeasible_vectors_get_the_dense_one_line_reason(spec):
    r, q = _perturbed(_optimum(spec, 301), 0.0)
    bad = {
        "not finite": (np.where(np.arange(301) == 7, np.nan, r), None),
        "unsorted": (np.concatenate((r[:148], r[[149, 148]], r[150:])), None),  # off the atoms
        "outside": (np.concatenate(([1.0 + 1e-9], r[1:])), None),
        "wrong complement": (r, q + 1e-9),
    }
    for name, (rb, qb) in bad.items():
        dense, fast = certify(spec, rb, complement=qb), certify_fast(spec, rb, complement=qb)
        assert fast.residual == np.inf and not fast.certified, name
        assert fast.problem == dense.problem and "\n" not in fast.problem, name
        assert fast.problem.startswith("infeasible"), name


@pytest.mark.parametrize("spec", ["log", "power:0.5"])
def test_a_tie_where_the_force_is_infinite_is_not_certified(spec):
    r, q = _perturbed(_optimum(spec, 40), 0.0)
    r[5], q[5] = r[4], q[4]
    r[-6], q[-6] = r[-5], q[-5]  # keep it symmetric
    fast, dense = certify_fast(spec, r, complement=q), certify(spec, r, complement=q)
    assert fast.residual == np.inf and fast.problem == dense.problem


def _asymmetric_vectors(spec: str, n: int, rng):
    """Feasible vectors that are not symmetric: the optimum given without its complement
    (1 - r rounds), the optimum with its top third moved (gaps near 1 scaled by 1 + 1e-4),
    random sorted rewards with r_1 = 1, r_n = 0, and (log-sigmoid) atoms of unequal size
    with rewards tied at 1/2."""
    sol = _optimum(spec, n)
    out = {"no complement": (sol.rewards, None)}
    k = np.arange(n)
    q = np.where(k < n // 3, sol.complement * (1.0 + 1e-4), sol.complement)
    out["top moved"] = (np.where(k < n // 3, 1.0 - q, sol.rewards), q)
    u = np.sort(rng.uniform(0.0, 1.0, n))[::-1]
    u[0], u[-1] = 1.0, 0.0
    out["random"] = (u, None)
    if spec.startswith("log-sigmoid") and n >= 50:
        v = np.concatenate((np.ones(n // 3), np.linspace(0.9, 0.6, n // 6), np.full(5, 0.5),
                            np.linspace(0.4, 0.1, n // 6)))
        out["atoms"] = (np.concatenate((v, np.zeros(n - v.size))), None)
    return out


@pytest.mark.parametrize("spec, n", [(s, n) for s in SPECS + ("linear",) for n in (7, 50, 301, 2000)])
def test_asymmetric_vectors_are_summed_whole_and_match_the_dense_certificate(spec, n):
    rng = np.random.default_rng(n)
    for name, (r, q) in _asymmetric_vectors(spec, n, rng).items():
        dense, fast = certify(spec, r, complement=q), certify_fast(spec, r, complement=q)
        assert fast.problem == dense.problem, name
        if dense.problem is None:
            # measured: at most 3e-16 apart (160 vectors, n = 2..3000)
            assert abs(fast.residual - dense.residual) <= 1e-12 * dense.residual + 1e-14, name
            assert fast.objective == pytest.approx(dense.objective, rel=1e-12), name
            assert fast.summation_error < 1e-13 and fast.residual_error_bound < 1e-11, name
    r, q = _asymmetric_vectors(spec, n, rng)["random"]
    assert certify_fast(spec, r, complement=q).residual > 1e-3  # far from the optimum


def test_malformed_input_is_refused_with_one_line():
    r, q = _perturbed(_optimum("log", 300), 0.0)
    for bad, match in (((np.ones((3, 2)),), "1-D"), ((r, q[:-1]), "complement has shape")):
        with pytest.raises(ValueError, match=match) as err:
            certify_fast("log", bad[0], complement=bad[1] if len(bad) > 1 else None)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="spot_rows"):
        certify_fast("log", r, complement=q, spot_rows=-1)


def test_a_broken_fast_sum_shows_in_the_summation_error(monkeypatch):
    """Fast gradients off by 1e-9 of the force scale: the direct spot rows see it, and the
    bound it puts on the residual says the certificate is worth nothing at tol = 1e-9."""
    sol = _optimum("neg-power:0.5", 3000)
    good = certify_fast(sol.spec, sol.rewards, complement=sol.complement)
    original = NCG.FastHalf.gradient

    def off(self, tree):
        q, force = original(self, tree)
        return q + 1e-9 * float(force.max()), force

    monkeypatch.setattr(NCG.FastHalf, "gradient", off)
    bad = certify_fast(sol.spec, sol.rewards, complement=sol.complement)
    assert good.summation_error < 1e-14 and bad.summation_error > 0.5e-9
    assert bad.residual_error_bound > 1e-9 > 1e4 * good.residual_error_bound  # measured 2.4e-9, 1.6e-15


def test_the_solver_certifies_itself_by_the_same_certificate():
    out = solve_newton_cg("log-sigmoid:1", 2001, dense_below=500)
    again = certify_fast("log-sigmoid:1", out.rewards, complement=out.complement)
    assert again.residual == pytest.approx(out.kkt_residual, rel=1e-9, abs=1e-15)
    assert again.residual_error_bound < 1e-12 and out.kkt_error_bound < 1e-12


@pytest.fixture
def small_fast_from(monkeypatch):
    """FAST_FROM lowered to 100, so that verify's n = 200 goes the fast way."""
    monkeypatch.setattr(NCG, "FAST_FROM", 100)
    for cache in (V._solve, V._certificate, V._solve_limit):
        cache.cache_clear()
    yield
    for cache in (V._solve, V._certificate, V._solve_limit):
        cache.cache_clear()


LARGE = V.VerifyConfig(ns=(20, 40), grid=200, card_n=(40, 80), large_ns=(200,))


def test_verify_solves_and_certifies_large_n_by_the_fast_method(small_fast_from):
    (row,) = V.run_checks(LARGE, only=["limit:log"])
    assert row.status == "PASS", row.measured
    assert row.details["n"] == [20, 40, 200]
    fast = row.details["fast_certificates"]
    assert list(fast) == ["log n=200 fast"] and fast["log n=200 fast"]["rows_checked"] >= 8
    assert "by fast sums" in row.measured


def test_verify_fails_a_large_vector_off_the_optimum(monkeypatch, small_fast_from):
    """A fast solve whose vector is moved (symmetrically, still feasible) after the solver
    certified it: verify's own fast certificate turns the row to FAIL."""
    from rcollapse import solvers

    def moved_solve(spec, n, method="newton"):
        sol = solvers.solve(spec, n, method=method)
        if method != "fast":
            return sol
        r, q = _perturbed(sol, 1e-3)
        return dataclasses.replace(sol, rewards=r, complement=q)

    monkeypatch.setattr(V, "_solvers", lambda: SimpleNamespace(solve=moved_solve))
    (row,) = V.run_checks(LARGE, only=["limit:log"])
    assert row.status == "FAIL", row.measured
    assert row.details["kkt_recomputed"]["log n=200 fast"] > 1e-8
    assert row.details["kkt_recomputed"]["log n=40 newton"] <= 1e-9


def test_verify_certifies_an_asymmetric_large_vector_by_the_fast_sums(small_fast_from):
    r = _optimum("log", 300).rewards.copy()
    r[100] += 1e-6  # one reward moved: not symmetric, not optimal
    sol = SimpleNamespace(spec="log", rewards=r, complement=None, kkt_residual=0.0)
    dense = certify("log", r)
    assert V.certificate_problem(sol) is None
    assert V.recomputed_certificate(sol) == pytest.approx(dense.residual, rel=1e-9) and dense.residual > 1e-8


@pytest.mark.parametrize("rewards, complement, words", [
    ([1.0], None, "got shape (1,)"),
    ([[1.0, 0.0]], None, "got shape (1, 2)"),
    ([1.0, 0.0], [0.0], "complement has shape (1,), rewards (2,)"),
])
def test_the_three_certificates_share_one_input_check(rewards, complement, words):
    """certify, certify_fast and error_bound refuse a bad shape with the same one line
    (solvers.kkt.rewards_and_complement)."""
    from rcollapse.solvers.bound import error_bound

    messages = set()
    for check in (certify, certify_fast, error_bound):
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")) as err:
            check("log", rewards, complement=complement)
        messages.add(str(err.value))
    assert len(messages) == 1
