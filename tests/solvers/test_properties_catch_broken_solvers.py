"""Every property of the suite fails on a deliberately broken solver.

A property that passes whatever the solver returns proves nothing. Each broken solver
below wraps the real ``solvers.solve`` and damages its answer in one way:

- ``unsorted``: swaps the two middle rewards;
- ``asymmetric``: r -> r + 1e-3 r (1 - r) (sorted, endpoints kept, symmetry lost);
- ``perturbed``: r -> r + 1e-4 sin(2 pi r) (sorted, endpoints and symmetry kept: only
  optimality is lost);
- ``no_endpoints``: r -> 1e-3 + (1 - 2e-3) r (the endpoints dropped, symmetric);
- ``mirrored``: answers for the parameter mirrored in its range (g -> 1 - g, ...);
- ``stale``: answers for n = 25 at every n >= 25, resized to n;
- ``ignores_U``: answers for log whatever U is;
- ``cvxpy_perturbed``: only method="cvxpy" (and any call given a start) is perturbed.

Two layers: (1) the plain checking functions of ``tests/properties.py`` raise on the
damaged optimum; (2) the hypothesis tests themselves, run with ``solve`` monkeypatched to
the broken solver in their module, fail (their ``@example`` corners fail first, so the
run is short).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import properties as P
import test_exactness
import test_lemma_4_1
import test_monotonicity
import test_theorem_1_collapse
import test_theorem_2_3_convergence
import test_theorem_4
import test_trust
from rcollapse.empirical.random_features import RandomFeatureConfig, train
from rcollapse.solvers import solve
from rcollapse.theory.exact import gauss_lobatto_rewards
from rcollapse.theory.utilities import parse_utility


# --------------------------------------------------------------------------------------
# Broken solvers
# --------------------------------------------------------------------------------------
def _unsorted(r, U, n):
    r = r.copy()
    k = n // 2 - 1  # the two middle rewards: distinct for every family (no atom there)
    r[k], r[k + 1] = r[k + 1], r[k]
    return r


def _asymmetric(r, U, n):
    return r + 1e-3 * r * (1 - r)


def _perturbed(r, U, n):
    return r + 1e-4 * np.sin(2 * np.pi * r)


def _no_endpoints(r, U, n):
    return 1e-3 + (1 - 2e-3) * r


BREAKERS = {
    "unsorted": _unsorted,
    "asymmetric": _asymmetric,
    "perturbed": _perturbed,
    "no_endpoints": _no_endpoints,
}

MIRROR = {"power": (0.0, 1.0), "neg-power": (0.05, 3.0), "log-sigmoid": (0.05, 5.0)}


def _with_rewards(sol, rewards):
    """The solution with its rewards (and their complement) replaced."""
    return dataclasses.replace(sol, rewards=rewards, complement=1.0 - rewards)


def broken_solver(kind: str):
    """``solve`` with its answer damaged as ``kind`` says (module docstring)."""

    def broken(U, n, *, method="newton", **options):
        U = parse_utility(U)
        started = any(k in options for k in test_lemma_4_1.START_NAMES)
        if kind == "mirrored" and U.family in MIRROR:
            lo, hi = MIRROR[U.family]
            sol = solve(f"{U.family}:{round(lo + hi - U.param, 6)}", n, method=method, **options)
        elif kind == "stale":
            sol = solve(U, min(n, 25), method=method, **options)
            rewards = np.sort(np.resize(sol.rewards, n))[::-1]
            return dataclasses.replace(sol, rewards=rewards, complement=1.0 - rewards, n=n)
        elif kind == "ignores_U":
            sol = solve("log", n, method=method, **options)
        else:
            sol = solve(U, n, method=method, **options)
        if kind in BREAKERS:
            return _with_rewards(sol, BREAKERS[kind](sol.rewards, U, n))
        if kind == "cvxpy_perturbed" and (method == "cvxpy" or started):
            return _with_rewards(sol, _perturbed(sol.rewards, U, n))
        return sol

    return broken


def _real(spec, n):
    return solve(spec, n).rewards


# --------------------------------------------------------------------------------------
# (1) The checking functions raise on damaged optima
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["power:0.5", "neg-power:2", "log", "log-sigmoid:1"])
def test_structure_checks_catch_damage(spec):
    U, n = parse_utility(spec), 40
    r = _real(spec, n)
    where = P.where(spec, n)
    with pytest.raises(AssertionError, match="not sorted"):
        P.check_feasible(_unsorted(r, U, n), where=where)
    with pytest.raises(AssertionError, match="r_1 = "):
        P.check_endpoints(_no_endpoints(r, U, n), where=where, atol=test_lemma_4_1.ENDPOINT_ATOL)
    with pytest.raises(AssertionError, match="not symmetric"):
        P.check_symmetric(_asymmetric(r, U, n), where=where, atol=2 * test_lemma_4_1.METHOD_ATOL["cvxpy"])
    with pytest.raises(AssertionError, match="differ"):
        P.check_close(_perturbed(r, U, n), r, where=where, atol=test_lemma_4_1.METHOD_ATOL["cvxpy"])


@pytest.mark.parametrize("spec", ["power:0.5", "neg-power:2", "log", "log-sigmoid:1"])
@pytest.mark.parametrize("kind", ["perturbed", "no_endpoints", "asymmetric"])
def test_certificate_catches_a_non_optimum(spec, kind):
    """Both halves of the certificate -- the KKT conditions and the perturbation search --
    reject an optimum damaged by 1e-4 (or by 1e-3 at the ends)."""
    U, n = parse_utility(spec), 40
    r = BREAKERS[kind](_real(spec, n), U, n)
    where = P.where(spec, n, broken=kind)
    with pytest.raises(AssertionError, match="KKT"):
        P.check_kkt(U, r, where=where, rtol=test_lemma_4_1.KKT_RTOL)
    with pytest.raises(AssertionError, match="raises S"):
        P.check_no_improving_perturbation(U, r, where=where, rng=np.random.default_rng(0))


def test_certificate_accepts_the_real_optimum():
    """The other side: the same checks pass on the real optimum (they are not just strict)."""
    for spec in ["power:0.5", "neg-power:2", "log", "log-sigmoid:1"]:
        U, n = parse_utility(spec), 40
        r = _real(spec, n)
        P.check_kkt(U, r, where=spec, rtol=test_lemma_4_1.KKT_RTOL)
        P.check_no_improving_perturbation(U, r, where=spec, rng=np.random.default_rng(0))


def test_theorem_4_catches_dropped_atoms():
    U, n = parse_utility("log-sigmoid:1"), 100
    with pytest.raises(AssertionError, match="fraction of rewards at 1"):
        P.check_theorem_4(U, _no_endpoints(_real(U, n), U, n), where="broken", atol=test_theorem_4.ATOM_ATOL)


def test_monotonicity_catches_a_mirrored_parameter():
    broken = broken_solver("mirrored")
    chain = [parse_utility(s) for s in ("power:0.2", "power:0.5", "power:0.8")]
    variances = [P.population_variance(broken(U, 30).rewards) for U in chain]
    with pytest.raises(AssertionError, match="not strictly increasing"):
        P.check_nondecreasing([0.2, 0.5, 0.8], variances, where="broken", what="variance", strict_from=1)
    chain = [parse_utility(s) for s in ("log-sigmoid:0.5", "log-sigmoid:4.5")]
    masses = [P.atom_fraction(broken(U, 60).rewards, at=1.0, atol=1e-7) for U in chain]
    with pytest.raises(AssertionError, match="not increasing"):
        P.check_nondecreasing([0.5, 4.5], masses, where="broken", what="mass at 1")


def test_gauss_lobatto_catches_a_perturbed_optimum():
    U, n = parse_utility("log"), 30
    with pytest.raises(AssertionError, match="differ"):
        P.check_close(_perturbed(_real(U, n), U, n), gauss_lobatto_rewards(n), where="broken",
                      atol=test_exactness.GL_ATOL)


def test_collapse_catches_the_wrong_optimum_and_a_weak_model():
    """Theorem 1's check rejects the right model against a wrong r* (the optimum of another
    U), and the right r* against a model with far fewer features than rewards."""
    U = parse_utility("log-sigmoid:1")
    good = train(RandomFeatureConfig(steps=1000), U).sorted_rewards()
    with pytest.raises(AssertionError):
        P.check_theorem_1(U, good, _real("log", 8), where="broken r*", eps=0.01)
    weak = train(RandomFeatureConfig(features=6, steps=1000), U).sorted_rewards()
    with pytest.raises(AssertionError, match="prompt"):
        P.check_theorem_1(U, weak, _real(U, 8), where="weak model", eps=0.01)


# --------------------------------------------------------------------------------------
# (2) The hypothesis tests fail when their module's ``solve`` is broken
# --------------------------------------------------------------------------------------
CASES = [  # (module, test, broken solver, the property's message that must appear)
    (test_lemma_4_1, "test_optimum_is_feasible_with_r1_one_and_rn_zero", "no_endpoints", "expected 1"),
    (test_lemma_4_1, "test_optimum_is_feasible_with_r1_one_and_rn_zero", "unsorted", "not sorted"),
    (test_lemma_4_1, "test_optimum_is_symmetric", "asymmetric", "not symmetric"),
    (test_lemma_4_1, "test_methods_and_starting_points_agree", "cvxpy_perturbed", "cvxpy vs newton"),
    (test_lemma_4_1, "test_certificate_without_trusting_the_solver", "perturbed", "KKT"),
    (test_lemma_4_1, "test_linear_polarizes_and_odd_n_is_not_unique", "no_endpoints", "should be 1"),
    (test_monotonicity, "test_variance_grows_with_power_gamma", "mirrored", "variance is not"),
    (test_monotonicity, "test_variance_falls_with_neg_power_gamma", "mirrored", "minus the variance is not"),
    (test_monotonicity, "test_atom_mass_grows_with_log_sigmoid_sigma", "mirrored", "mass at"),
    (test_theorem_4, "test_atoms_at_both_ends_reach_the_bound", "no_endpoints", "fraction of rewards at"),
    (test_theorem_2_3_convergence, "test_distances_fall_as_n_grows", "stale", "does not fall"),
    (test_theorem_2_3_convergence, "test_distances_at_n_1000_are_below_the_derived_tolerance", "stale",
     "ceiling"),
    (test_exactness, "test_log_optimum_is_gauss_lobatto", "perturbed", "Gauss-Lobatto"),
    (test_exactness, "test_power_energy_is_between_the_exact_bounds", "stale", "E_n = "),
    (test_exactness, "test_power_energy_approaches_the_limit", "stale", "does not fall"),
    (test_theorem_1_collapse, "test_every_prompt_collapses_to_the_optimum", "ignores_U", "prompt"),
    (test_theorem_1_collapse, "test_prompt_aware_kinds_end_at_their_own_optima", "ignores_U", "apart"),
    (test_trust, "test_converged_means_correct_or_the_error_names_a_method_that_can", "perturbed",
     "KKT residual recomputed"),
    (test_trust, "test_converged_means_correct_or_the_error_names_a_method_that_can", "unsorted",
     "not sorted"),
    (test_trust, "test_converged_means_correct_or_the_error_names_a_method_that_can", "ignores_U",
     "KKT residual recomputed"),
]


def _leaves(exc: BaseException):
    """The exceptions inside (nested) exception groups, or exc itself."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


@pytest.mark.parametrize(
    "module, name, kind, message", CASES,
    ids=[f"{m.__name__.removeprefix('test_')}.{n}[{k}]" for m, n, k, _ in CASES],
)
def test_hypothesis_property_fails_on_broken_solver(monkeypatch, module, name, kind, message):
    """The hypothesis test raises the AssertionError of its own property. (Hypothesis
    groups distinct failures of its explicit examples in an ExceptionGroup -- for example
    when the real solver also raises ConvergenceError on a corner -- so the property's
    AssertionError must be among them.)"""
    monkeypatch.setattr(module, "solve", broken_solver(kind))
    with pytest.raises(BaseException) as info:
        getattr(module, name)()
    leaves = list(_leaves(info.value))
    fired = [str(e) for e in leaves if isinstance(e, AssertionError)]
    assert any(message in text for text in fired), (
        f"{name} on the {kind!r} solver: no AssertionError saying {message!r}; raised "
        f"{[(type(e).__name__, str(e)[:120]) for e in leaves]}"
    )
