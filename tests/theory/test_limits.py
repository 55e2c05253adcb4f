"""theory.limits: the closed forms come from the derivation, and every limiting measure
obeys the identities of one interface (scipy.stats style), whatever theorem made it."""

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st

from rcollapse.theory import derivations as D
from rcollapse.theory.limits import (
    LimitingMeasure,
    NoClosedForm,
    OutsideHypotheses,
    design_card_measure,
    limiting_measure,
    theorem4_log_sigmoid,
)
from rcollapse.theory.utilities import parse_utility

EXACT_SPECS = ["power:0.25", "power:0.5", "power:0.9", "log", "neg-power:0.5", "neg-power:1",
               "neg-power:3", "linear"]


@pytest.fixture(scope="module", params=EXACT_SPECS)
def measure(request) -> LimitingMeasure:
    return limiting_measure(request.param)


# ---- identities for every measure -----------------------------------------------------
def test_mean_is_one_half_and_total_mass_one(measure):
    assert measure.mean() == pytest.approx(0.5, abs=1e-12)
    assert measure.cdf(1.0) == pytest.approx(1.0)
    assert measure.cdf(-1e-9) == 0.0
    total = sum(measure.atoms.values()) + (measure.continuous_mass or 0.0)
    assert total == pytest.approx(1.0, abs=1e-12)


def test_cdf_ppf_generalized_inverse(measure):
    q = np.linspace(0.0, 1.0, 101)
    x = measure.ppf(q)
    assert np.all(np.diff(x) >= -1e-15)
    assert np.all((x >= 0) & (x <= 1))
    # F(ppf(q)) >= q >= F(ppf(q)-): exact inverse of a continuous cdf, an atom owns its jump.
    # Rule: only on the lower half, where x carries full relative precision (Beta(0.05, 0.05)
    # puts q = 0.99 at 1 - 1e-40, which is 1.0 in floating point); the upper half is the
    # mirror image (test_symmetric_about_one_half).
    ok = ((x > 1e-12) & (q <= 0.5)) | np.isin(x, list(measure.atoms))
    assert np.all((measure.cdf(x) >= q - 1e-9)[ok])
    assert np.all((measure.cdf_left(x) <= q + 1e-9)[ok])
    if not measure.atoms:
        np.testing.assert_allclose(measure.cdf(x)[ok], q[ok], atol=1e-9)


def test_symmetric_about_one_half(measure):
    t = np.linspace(0.0, 1.0, 41)
    np.testing.assert_allclose(measure.cdf(t), 1.0 - measure.cdf_left(1.0 - t), atol=1e-12)


def test_integrated_cdf_matches_quadrature(measure):
    from scipy import integrate

    for t in (0.1, 0.37, 0.5, 0.9):
        expected = integrate.quad(lambda u: float(measure.cdf(u)), 0.0, t, limit=200)[0]
        assert float(measure.integrated_cdf(t)) == pytest.approx(expected, abs=1e-8)
    # int_0^1 F = 1 - mean
    assert float(measure.integrated_cdf(1.0)) == pytest.approx(1.0 - measure.mean(), abs=1e-12)


def test_density_integrates_to_continuous_mass(measure):
    from scipy import integrate

    mass = integrate.quad(lambda u: float(measure.density(u)), 0.0, 1.0, limit=200, points=[0.5])[0]
    assert mass == pytest.approx(measure.continuous_mass, abs=1e-6)


def test_json_keys(measure):
    info = measure.to_json()
    for key in ("spec", "distribution", "continuous", "atoms", "atoms_are_lower_bounds", "theorem"):
        assert key in info
    assert info["distribution"] == measure.describe()


# ---- the closed forms -------------------------------------------------------------------
@given(g=st.floats(0.01, 0.99))
@example(g=0.01)
@example(g=0.99)
def test_theorem2_beta_parameter_from_derivation(g):
    U = parse_utility(f"power:{g}")
    mu = limiting_measure(U)
    a = mu.continuous_info["a"]
    derived = float(D.derive_beta_parameter("power").a.subs(D.gamma, sp.Rational(repr(float(g)))))
    assert a == pytest.approx(derived, abs=1e-15)
    assert a == pytest.approx((1 - g) / 2, abs=1e-15)
    # Beta(a, a): variance 1 / (4 (2a + 1))
    assert mu.var() == pytest.approx(1.0 / (4.0 * (2.0 * a + 1.0)), rel=1e-12)
    assert mu.theorem == "Theorem 2"


@given(g=st.floats(0.01, 0.99))
def test_theorem3_neg_power_beta(g):
    mu = limiting_measure(f"neg-power:{g}")
    assert mu.continuous_info == {"name": "beta", "a": pytest.approx((1 + g) / 2), "b": pytest.approx((1 + g) / 2)}
    assert mu.var() == pytest.approx(1.0 / (4.0 * (2.0 * (1 + g) / 2 + 1.0)), rel=1e-12)


@pytest.mark.parametrize("g", [1.0, 1.5, 4.0])
def test_theorem3_gamma_at_least_one_is_uniform_with_a_note(g):
    mu = limiting_measure(f"neg-power:{g}")
    assert mu.continuous_info == {"name": "uniform"}
    assert mu.theorem == "Theorem 3 (gamma >= 1)"
    assert "outside the Beta formula" in mu.note
    assert mu.var() == pytest.approx(1 / 12)
    with pytest.raises(OutsideHypotheses):
        D.beta_parameter(f"neg-power:{g}")


def test_log_is_arcsine():
    mu = limiting_measure("log")
    assert mu.describe() == "Beta(0.5, 0.5)"
    t = np.linspace(0.0, 1.0, 11)
    np.testing.assert_allclose(mu.cdf(t), 2 / np.pi * np.arcsin(np.sqrt(t)), atol=1e-12)


def test_linear_two_atoms():
    mu = limiting_measure("linear")
    assert mu.atoms == {0.0: 0.5, 1.0: 0.5}
    assert mu.continuous is None and mu.continuous_mass == 0.0
    assert mu.var() == 0.25
    assert mu.cdf(0.0) == 0.5 and mu.cdf_left(0.0) == 0.0 and mu.cdf(0.999) == 0.5
    np.testing.assert_array_equal(mu.ppf([0.0, 0.25, 0.5, 0.5000001, 1.0]), [0, 0, 0, 1, 1])


def test_log_sigmoid_without_solver_is_a_bound():
    mu = limiting_measure("log-sigmoid:1")
    assert mu.atoms_are_lower_bounds and not mu.exact
    assert mu.continuous is None and mu.continuous_mass is None
    assert mu.atoms[0.0] == mu.atoms[1.0] == pytest.approx(0.349755, abs=1e-6)
    assert mu.mean() == 0.5  # symmetry holds whatever the unknown part
    for method in (mu.cdf, mu.ppf, mu.cdf_left):
        with pytest.raises(NoClosedForm):
            method(0.5)
    with pytest.raises(NoClosedForm):
        mu.var()
    info = mu.to_json()
    assert info["continuous"] is None and info["atoms_are_lower_bounds"] is True
    assert "no closed form" in info["distribution"]


class _FakeLimit:
    """A stand-in for solvers.LimitSolution: atoms 0.4 + uniform mass 0.2."""

    grid, kkt_residual = 4, 0.0
    atoms = {0.0: 0.4, 1.0: 0.4}
    edges = np.linspace(0, 1, 5)
    cell_mass = np.full(4, 0.05)


def test_log_sigmoid_with_solver_is_exact():
    mu = theorem4_log_sigmoid("log-sigmoid:1", limit_solver=lambda U: _FakeLimit())
    assert mu.exact and not mu.atoms_are_lower_bounds
    assert mu.continuous_info["name"] == "numerical"
    assert mu.continuous_mass == pytest.approx(0.2)
    assert float(mu.cdf(0.5)) == pytest.approx(0.5)
    assert float(mu.cdf_left(1.0)) == pytest.approx(0.6)
    assert mu.var() == pytest.approx(0.8 * 0.25 + 0.2 / 12, rel=1e-9)
    assert float(mu.ppf(0.45)) == pytest.approx(0.25)
    # G(t) = int_0^t F: 0.4 t + 0.2 t^2 / 2 below 1
    assert float(mu.integrated_cdf(0.5)) == pytest.approx(0.4 * 0.5 + 0.1 * 0.25)
    from rcollapse.theory.distances import ks_distance, w1_distance

    sample = mu.ppf((np.arange(1000) + 0.5) / 1000)
    assert w1_distance(sample, mu) < 1e-3 and ks_distance(sample, mu) <= 1e-3 + 1e-12


def test_outside_hypotheses_is_a_value_error():
    with pytest.raises(ValueError):
        D.beta_parameter("linear")
    with pytest.raises(ValueError):
        D.beta_parameter("log-sigmoid:1")
    with pytest.raises(OutsideHypotheses):
        design_card_measure("log")


def test_design_card_differs_from_theorem2():
    for g in (0.25, 0.5):
        card, right = design_card_measure(f"power:{g}"), limiting_measure(f"power:{g}")
        assert card.continuous_info["a"] == pytest.approx(1 - g / 2)
        assert right.continuous_info["a"] == pytest.approx((1 - g) / 2)
        assert not math.isclose(card.var(), right.var())


# ---- user-written utilities and the face's join (rcollapse.limits) ---------------------
def test_expr_utility_needs_the_solver_or_gives_theorem_4s_bound():
    with pytest.raises(NoClosedForm, match="no closed form"):
        limiting_measure("expr:sqrt(x) + log(x)")  # U'(0+) = inf: no bound either
    mu = limiting_measure("expr:log(1 + 4*x)")  # U'(0) = 4, U'(1) = 0.8: bound 1/6
    assert mu.atoms_are_lower_bounds and mu.atoms[0.0] == pytest.approx(1 / 6, rel=1e-12)
    computed = limiting_measure("expr:log(1 + 4*x)", limit_solver=lambda U: _FakeLimit())
    assert computed.exact and not computed.closed_form
    assert computed.note.startswith("no closed form; Theorem 5 measure computed")
    info = computed.to_json()
    assert info["exact"] is False and info["complete"] is True


def test_closed_forms_are_exact_and_grid_measures_are_not():
    assert limiting_measure("power:0.5").to_json()["exact"] is True
    mu = theorem4_log_sigmoid("log-sigmoid:1", limit_solver=lambda U: _FakeLimit())
    assert mu.to_json()["exact"] is False and mu.grid_error is None


def test_the_face_reports_grid_errors_and_refuses_ignored_options():
    from rcollapse.limits import limiting_measure as face

    mu = face("expr:log(1 + 4*x)", grid=64)
    est = mu.grid_error["atom_mass"]
    assert est["grids"] == [16, 32, 64] and est["value"] == pytest.approx(mu.atoms[0.0])
    assert 0 < est["error"] < 1e-4
    with pytest.raises(ValueError, match="--bound"):
        face("power:0.5", bound_only=True)  # issue 9: silently ignored before
    with pytest.raises(ValueError, match="--grid"):
        face("log", grid=100)
    with pytest.raises(ValueError, match="--grid"):
        face("log-sigmoid:1", bound_only=True, grid=100)


@pytest.mark.parametrize("spec", ["power:0.5", "log", "neg-power:0.5", "neg-power:2", "linear",
                                  "log-sigmoid:1", "log-sigmoid:1e-320", "expr:log(1 + 4*x)",
                                  "expr:sqrt(x) + log(x)"])
def test_has_closed_form_is_what_the_measure_says(spec):
    """has_closed_form (what rcollapse.limits asks to decide on the solver) agrees with the
    measure that limiting_measure returns when a solver is offered: a closed form never
    calls the solver, everything else is the solver's Theorem 5 measure."""
    from rcollapse.theory.limits import has_closed_form

    calls = []
    mu = limiting_measure(spec, limit_solver=lambda U: calls.append(U) or _FakeLimit())
    assert has_closed_form(spec) == mu.closed_form == (not calls)


def test_figures_take_the_limit_from_the_one_join():
    """figures/compute.py asks rcollapse.limits (grid error estimates included), not
    theory and solvers separately."""
    from rcollapse.figures.compute import limit_measure
    from rcollapse.limits import limiting_measure as face

    mu = limit_measure("log-sigmoid:1")
    assert mu.grid_error is not None and mu.atoms == face("log-sigmoid:1").atoms
    assert limit_measure("power:0.5").describe() == "Beta(0.25, 0.25)"
