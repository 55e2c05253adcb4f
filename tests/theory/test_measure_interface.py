"""One interface for every limiting measure, whether a theorem or the n = inf solver made it.

scipy.stats' habit (STYLE.md): the same identities run on every distribution. Here on
``theory.measures.LimitingMeasure`` (closed forms: Theorems 2 and 3, the linear limit;
Theorem 5's measure as theory wraps it) and on ``solvers.LimitSolution`` (the n = inf
solver's own result), with no branch on which one is held:

- the same public names, and the same signatures for the methods;
- cdf/ppf round trip: ppf is the generalized inverse, cdf_left(ppf(q)) <= q <= cdf(ppf(q));
- the mean and the variance equal the integrals of the cdf (E X = int_0^1 (1 - F),
  E X^2 = int_0^1 2 x (1 - F)), and integrated_cdf is G = int F;
- rvs draws from the cdf (KS distance within the 1% critical value 1.63 / sqrt(N));
- the solver's result and theory's wrapping of it are the same measure.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from rcollapse.solvers.limit import LimitSolution, solve_limit
from rcollapse.theory.distances import ks_distance
from rcollapse.theory.limits import limiting_measure, theorem5_numerical
from rcollapse.theory.measures import LimitingMeasure

#: The interface both classes offer (the names figures/compute.py and theory.distances use).
INTERFACE = ("spec", "atoms", "atoms_are_lower_bounds", "continuous", "continuous_mass",
             "continuous_info", "theorem", "statement", "note", "grid_error", "exact",
             "closed_form", "cdf", "cdf_left", "ppf", "density", "integrated_cdf", "rvs",
             "mean", "var", "std", "describe", "to_json")
METHODS = ("cdf", "cdf_left", "ppf", "density", "integrated_cdf", "rvs", "mean", "var", "std",
           "describe", "to_json")

GRID = 200
CLOSED = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "linear")
SOLVED = ("log-sigmoid:1", "log-sigmoid:0.25", "power:0.5", "log", "linear")


@pytest.fixture(scope="module")
def solved():
    return {spec: solve_limit(spec, grid=GRID) for spec in SOLVED}


def _measures(solved):
    out = {f"closed {s}": limiting_measure(s) for s in CLOSED}
    out.update({f"solver {s}": sol for s, sol in solved.items()})
    out.update({f"theory of solver {s}": theorem5_numerical(s, sol) for s, sol in solved.items()})
    return out


NAMES = [f"closed {s}" for s in CLOSED] + [f"solver {s}" for s in SOLVED] + [
    f"theory of solver {s}" for s in SOLVED]


@pytest.fixture(params=NAMES)
def measure(request, solved):
    return _measures(solved)[request.param]


def test_the_two_classes_offer_the_same_names_and_signatures():
    for name in INTERFACE:
        assert hasattr(LimitSolution, name) or name in LimitSolution.__dataclass_fields__, name
        assert hasattr(LimitingMeasure, name) or name in LimitingMeasure.__dataclass_fields__, name
    for name in METHODS:
        a = inspect.signature(getattr(LimitSolution, name))
        b = inspect.signature(getattr(LimitingMeasure, name))
        assert list(a.parameters) == list(b.parameters), name
        assert [p.kind for p in a.parameters.values()] == [p.kind for p in b.parameters.values()], name


def test_atoms_are_a_dict_of_position_to_mass(measure):
    assert isinstance(measure.atoms, dict)
    assert all(0.0 <= p <= 1.0 and m > 0.0 for p, m in measure.atoms.items())
    total = sum(measure.atoms.values()) + measure.continuous_mass
    assert total == pytest.approx(1.0, abs=1e-12)
    assert measure.exact and not measure.atoms_are_lower_bounds


def test_ppf_is_the_generalized_inverse_of_the_cdf(measure):
    q = np.linspace(0.0, 1.0, 2001)
    x = measure.ppf(q)
    assert x[0] == 0.0 and x[-1] == 1.0 and np.all(np.diff(x) >= 0.0)
    # Exact below 1/2; above, float64 holds x near 1 only to 1.1e-16, where Beta(1/4, 1/4)'s
    # cdf still moves: measured worst 7.6e-9 there, 2.8e-16 below 1/2.
    lower = q <= 0.5
    assert np.all((measure.cdf(x) >= q - 1e-12)[lower])
    assert np.all((measure.cdf_left(x) <= q + 1e-12)[lower])
    assert np.all(measure.cdf(x) >= q - 1e-7) and np.all(measure.cdf_left(x) <= q + 1e-7)
    with pytest.raises(ValueError):
        measure.ppf(1.5)


def _integral(f, x):
    return float(np.trapezoid(f, x))


def test_mean_and_variance_are_the_integrals_of_the_cdf(measure):
    """E X = int_0^1 (1 - F), E X^2 = int_0^1 2 x (1 - F), on a grid graded towards the
    ends (singular Beta densities). Measured worst gaps over these measures: 2.6e-15 (mean),
    6.9e-10 (var)."""
    t = np.geomspace(1e-14, 0.5, 200_001)
    x = np.unique(np.concatenate(([0.0], t, 1.0 - t, [1.0])))
    survival = 1.0 - measure.cdf_left(x)  # equal to 1 - F off the atoms; exact at x = 1
    mean = _integral(survival, x)
    second = _integral(2.0 * x * survival, x)
    assert measure.mean() == pytest.approx(0.5, abs=1e-12)  # symmetric (Theorem 5)
    assert measure.mean() == pytest.approx(mean, abs=1e-9)
    assert measure.var() == pytest.approx(second - mean**2, abs=1e-8)
    assert measure.std() == pytest.approx(np.sqrt(measure.var()), rel=1e-15)
    # G(1) = int_0^1 F = 1 - E X; G(x) = G(1) + x - 1 beyond 1.
    assert float(measure.integrated_cdf(1.0)) == pytest.approx(1.0 - measure.mean(), abs=1e-9)
    assert float(measure.integrated_cdf(1.5)) == pytest.approx(1.5 - measure.mean(), abs=1e-9)


def test_integrated_cdf_is_the_integral_of_the_cdf(measure):
    x = np.linspace(0.0, 1.0, 400_001)
    G = np.concatenate(([0.0], np.cumsum(0.5 * np.diff(x) * (measure.cdf(x)[1:] + measure.cdf(x)[:-1]))))
    at = np.array([0.1, 0.3, 0.5, 0.9])
    idx = np.searchsorted(x, at)
    np.testing.assert_allclose(measure.integrated_cdf(at), G[idx], atol=1e-6)


def test_rvs_draws_from_the_cdf(measure):
    """KS distance of 4000 draws within 1.63 / sqrt(4000) = 0.026 (the 1% critical value;
    measured worst 0.0081). Uniform draws instead are 0.045 to 0.5 off (all but the
    uniform limit of neg-power:2)."""
    sample = measure.rvs(4000, random_state=1)
    assert sample.shape == (4000,) and np.all((sample >= 0.0) & (sample <= 1.0))
    assert ks_distance(sample, measure) <= 1.63 / np.sqrt(4000)


def test_the_solver_result_and_theorys_wrapping_are_one_measure(solved):
    x = np.linspace(-0.1, 1.1, 1201)
    q = np.linspace(0.0, 1.0, 1001)
    for spec, sol in solved.items():
        mu = theorem5_numerical(spec, sol)
        assert sol.describe() == mu.describe(), spec
        assert sol.atoms == mu.atoms, spec
        np.testing.assert_allclose(sol.cdf(x), mu.cdf(x), atol=1e-12)
        np.testing.assert_allclose(sol.cdf_left(x), mu.cdf_left(x), atol=1e-12)
        np.testing.assert_allclose(sol.integrated_cdf(x), mu.integrated_cdf(x), atol=1e-12)
        np.testing.assert_allclose(sol.density(x[1:-1]), mu.density(x[1:-1]), rtol=1e-9, atol=1e-9)
        assert sol.mean() == pytest.approx(mu.mean(), abs=1e-12)
        assert sol.var() == pytest.approx(mu.var(), abs=1e-12)
        inside = (q > sol.atom_mass + 1e-9) & (q < 1.0 - sol.atom_mass - 1e-9)
        np.testing.assert_allclose(sol.ppf(q[inside]), mu.ppf(q[inside]), atol=1e-9)


def test_figures_take_either_kind_without_asking_which(solved):
    from rcollapse.figures.compute import atom_at, measure_curve

    sol = solved["log-sigmoid:1"]
    curve = measure_curve(sol)
    assert curve["describe"] == sol.describe() and curve["theorem"] == sol.theorem
    assert curve["atoms"] == [[0.0, sol.atom_mass], [1.0, sol.atom_mass]]
    assert atom_at(sol, 1.0) == sol.atom_mass and atom_at(limiting_measure("log"), 0.0) == 0.0
