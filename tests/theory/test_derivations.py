"""theory.derivations: the closed forms are computed, not typed, and they check out."""

import mpmath
import pytest
import sympy as sp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rcollapse.theory import derivations as D
from rcollapse.theory.utilities import FAMILIES, x


# ---- (a) the Beta parameter ---------------------------------------------------------------
def test_euler_integral_is_what_the_derivation_uses():
    A, B = sp.symbols("A B", positive=True)
    assert sp.simplify(D.euler_beta_integral() - D._euler(A, B)) == 0


def test_derived_parameters():
    assert sp.simplify(D.derive_beta_parameter("power").a - (1 - D.gamma) / 2) == 0
    assert sp.simplify(D.derive_beta_parameter("neg-power").a - (1 + D.gamma) / 2) == 0
    assert D.derive_beta_parameter("log").a == sp.Rational(1, 2)


def test_derivation_steps_are_recorded():
    steps = D.derive_beta_parameter("power").as_text()
    assert any("sin" in s or "cos" in s for s in steps)
    assert steps[-1].endswith("1/2 - gamma/2")


def test_mellin_coefficient_vanishes_only_at_derived_a():
    for g in (sp.Rational(1, 4), sp.Rational(1, 2), sp.Rational(-1, 3)):
        assert abs(sp.N(D.mellin_kernel(g, (1 - g) / 2), 30)) < 1e-25
        assert abs(sp.N(D.mellin_kernel(g, 1 - g / 2), 30)) > 1e-3  # the card's a


def test_outside_families_raise():
    for spec in ("linear", "log-sigmoid:1", "neg-power:1", "neg-power:2.5"):
        with pytest.raises(D.OutsideHypotheses):
            D.beta_parameter(spec)
    with pytest.raises(D.OutsideHypotheses):
        D.derive_beta_parameter("linear")


@settings(max_examples=5)
@given(g=st.sampled_from([0.1, 0.3, 0.6, 0.9]))
def test_potential_constant_at_derived_a_power(g):
    a = D.beta_parameter(f"power:{g}")
    assert D.potential_spread(g, a, dps=15) < 1e-10
    assert D.potential_spread(g, 1 - g / 2, dps=15) > 1e-2  # the card's a


@pytest.mark.parametrize("spec", ["neg-power:0.3", "neg-power:0.8", "log"])
def test_potential_constant_other_families(spec):
    exponent = D.kernel_exponent(spec)
    exponent = None if exponent is None else float(exponent)
    a = D.beta_parameter(spec)
    assert D.potential_spread(exponent, a, dps=15) < 1e-10
    assert D.potential_spread(exponent, a + 0.2, dps=15) > 1e-3


def test_numerical_root_matches_symbolic():
    assert D.solve_beta_parameter_numerically(0.5, dps=15) == pytest.approx(0.25, abs=1e-10)
    assert D.solve_beta_parameter_numerically(-0.5, dps=15) == pytest.approx(0.75, abs=1e-10)


def test_potential_at_zero_is_a_beta_moment():
    a, p = 0.3, 0.4
    expected = mpmath.beta(a + p, a) / mpmath.beta(a, a)
    assert float(D.potential(p, a, 0.0)) == pytest.approx(float(expected), rel=1e-12)


# ---- (b) the limit energy -----------------------------------------------------------------
def test_energy_equals_paper_form():
    E = D.derive_limit_energy("power")
    assert sp.simplify((E / D.limit_energy_target(D.gamma)).rewrite(sp.gamma)) == 1
    assert sp.limit(E, D.gamma, 0, "+") == 1
    assert sp.limit(E, D.gamma, 1, "-") == sp.Rational(1, 2)
    assert D.derive_limit_energy("log") == -sp.log(4)


@given(g=st.floats(0.05, 0.95))
@example(g=0.5)
def test_energy_is_the_potential(g):
    a = (1 - g) / 2
    assert D.limit_energy(f"power:{g}") == pytest.approx(float(D.potential(g, a, 0.37, dps=15)), rel=1e-10)


def test_neg_power_energy_sign():
    g = 0.5
    a = (1 + g) / 2
    assert D.limit_energy("neg-power:0.5") == pytest.approx(-float(D.potential(-g, a, 0.2, dps=15)), rel=1e-10)
    assert D.limit_energy("neg-power:0.5") < 0


# ---- (c) Theorem 4 ------------------------------------------------------------------------
def test_theorem4_bound_log_sigmoid_symbolic():
    s = sp.Symbol("sigma", positive=True)
    bound = D.theorem4_bound_expr(FAMILIES["log-sigmoid"].build(s))
    sig = 1 / (1 + sp.exp(1 / s))  # sigmoid(-1/s)
    target = (sig / s) / (1 / (2 * s) + sig / s)
    for value in (sp.Rational(1, 4), 1, 3):
        assert sp.N((bound - target).subs(s, value).rewrite(sp.exp), 30) == pytest.approx(0, abs=1e-25)
    assert D.theorem4_bound("log-sigmoid:1") == pytest.approx(0.349755, abs=1e-6)


def test_theorem4_bound_linear_is_one_half_and_infinite_slope_raises():
    assert D.theorem4_bound_expr(x) == sp.Rational(1, 2)
    for spec in ("power:0.5", "log", "neg-power:0.5"):
        with pytest.raises(D.OutsideHypotheses):
            D.theorem4_bound(spec)


# ---- (d) Lemma 4.1 ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_lemma41_generic_identities(n):
    assert D.lemma41_reflection_invariance(n) == 0
    assert D.lemma41_endpoint_gradients(n) == (0, 0)
    assert D.lemma41_symmetric_kkt(n) == 0


def test_lemma41_log_n4_is_gauss_lobatto():
    v, node = D.lemma41_log_n4()
    assert sp.simplify(v - node) == 0
    assert sp.simplify(v - (1 - 1 / sp.sqrt(5)) / 2) == 0
