"""solve_limit(U, method="spectral"): Theorem 5's measure as atoms plus a Jacobi series.

Checked against what is known without it:
- the closed forms of Theorems 2 and 3 (Lemma 4.5's Beta(a, a)): density and W1 to 1e-12,
  the series' higher coefficients ~ 0;
- the grid solver's Richardson extrapolation for the log-sigmoid atom mass (Theorem 4's
  atoms), within the grid's own error estimate;
- its own claims: consecutive degrees agree to 1e-12, the potential is constant
  (Theorem 5's first-order condition, by an independent adaptive quadrature), symmetry,
  total mass 1, rho >= 0, the limiting-measure interface;
- bad input refused with one line; no convergence raises.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from scipy import stats

from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.solvers.limit import solve_limit, solve_limit_with_error
from rcollapse.solvers.limit_spectral import solve_at_degree
from rcollapse.theory.derivations import beta_parameter, theorem4_bound
from rcollapse.theory.distances import ks_distance
from rcollapse.theory.measures import LimitingMeasure

CLOSED = ("power:0.25", "power:0.9", "log", "neg-power:0.5", "neg-power:0.9")
LOG_SIGMOID = ("log-sigmoid:1", "log-sigmoid:0.25")


@pytest.fixture(scope="module")
def solved():
    return {spec: solve_limit(spec, method="spectral") for spec in CLOSED + LOG_SIGMOID + ("linear",)}


# --------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", CLOSED)
def test_closed_form_density_and_w1(solved, spec):
    """Theorems 2 and 3: Beta(a, a), a from Lemma 4.5. Measured worst: density 5.6e-13
    relative (power:0.9, from 1e-6 to 1 - 1e-6), W1 6.3e-15, c_k / c_0 2.2e-12 (k >= 1)."""
    sol = solved[spec]
    a = beta_parameter(spec)
    closed = stats.beta(a, a)
    x = np.concatenate((np.geomspace(1e-6, 0.5, 40), 1.0 - np.geomspace(1e-6, 0.5, 40)))
    np.testing.assert_allclose(sol.density(x), closed.pdf(x), rtol=1e-12, atol=0.0)
    assert sol.w1_to(closed) <= 1e-12
    assert sol.beta == pytest.approx(a - 1.0, abs=1e-15)
    assert np.max(np.abs(sol.coefficients[1:])) <= 1e-11 * sol.coefficients[0]
    assert sol.atoms == {}


def test_w1_sees_a_wrong_measure(solved):
    """The W1 of the check is not blind: Beta(1/4, 1/4) against the design card's
    Beta(7/8, 7/8) is far (measured 0.083)."""
    assert solved["power:0.25"].w1_to(stats.beta(0.375, 0.375)) < 1e-12
    assert solved["power:0.25"].w1_to(stats.beta(0.875, 0.875)) > 0.05


def test_linear_is_two_atoms_of_one_half(solved):
    sol = solved["linear"]
    assert sol.atoms == {0.0: 0.5, 1.0: 0.5} and sol.continuous_mass == 0.0


# --------------------------------------------------------------------------------------
# log-sigmoid against the grid
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", LOG_SIGMOID)
def test_atom_mass_agrees_with_the_grid_richardson_extrapolation(solved, spec):
    """Grid 800 with 400 and 200, Richardson (order 2): measured |spectral - extrapolated|
    5.7e-12 (s = 1), 1.0e-10 (s = 1/4) against grid errors 6.2e-9 and 8.1e-8 (9.2e-4 and
    1.3e-3 of them); the grid's finest value is 0.9991 and 0.9987 of its error estimate away."""
    mass = solved[spec].atom_mass
    est = solve_limit_with_error(spec, grid=800).grid_error["atom_mass"]
    assert est.order == pytest.approx(2.0, abs=0.05)
    low, high = est.values[-2:]
    extrapolated = high + (high - low) / (2.0**est.order - 1.0)
    assert abs(mass - extrapolated) <= 0.01 * est.error
    assert abs(mass - est.value) <= est.error
    assert mass >= theorem4_bound(spec)


@pytest.mark.parametrize("spec", CLOSED + LOG_SIGMOID)
def test_consecutive_degrees_agree(solved, spec):
    """The answer's degree and half of it agree to 1e-12 (atom mass and density; measured
    worst 1.8e-13, power:0.9)."""
    sol = solved[spec]
    assert sol.error_estimate <= 1e-12
    degree, mass, change, _ = sol.history[-1]
    assert degree == sol.degree and change == sol.error_estimate
    half = solve_at_degree(spec, sol.degree // 2, certify=False)
    x = np.linspace(0.05, 0.95, 19)
    assert abs(half.atom_mass - sol.atom_mass) <= 1e-12
    assert np.max(np.abs(half.density(x) - sol.density(x))) <= 1e-12


def test_a_low_degree_is_visibly_worse():
    """The degree matters where the density is not a polynomial: log-sigmoid:0.25 at
    degree 8 is 1.9e-8 off in the atom and its potential 1.1e-7 from constant."""
    low = solve_at_degree("log-sigmoid:0.25", 8)
    assert low.certificate > 1e-9
    assert abs(low.atom_mass - solve_limit("log-sigmoid:0.25", method="spectral").atom_mass) > 1e-10


# --------------------------------------------------------------------------------------
# The measure's own properties
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", CLOSED + LOG_SIGMOID)
def test_potential_is_constant(solved, spec):
    """Theorem 5's first-order condition, by QUADPACK on 33 points of [0, 1/2]: measured
    worst 2.5e-13 (neg-power:0.9, potential -18), else <= 6.8e-15."""
    sol = solved[spec]
    assert sol.certificate <= 1e-12 * max(1.0, abs(sol.objective))


@pytest.mark.parametrize("spec", CLOSED + LOG_SIGMOID)
def test_symmetric_mass_one_and_positive(solved, spec):
    """rho(x) = rho(1 - x) up to the rounding of 1 - x (measured 1.05e-13 relative, at
    x = 2.5e-4 for power:0.9, whose density falls like x^(-0.95))."""
    sol = solved[spec]
    x = np.linspace(0.0, 1.0, 4001)[1:-1]
    rho = sol.density(x)
    assert np.all(rho > 0.0)
    np.testing.assert_allclose(rho, rho[::-1], rtol=1e-12)
    assert 2.0 * sol.atom_mass + sol.continuous_mass == pytest.approx(1.0, abs=1e-13)
    assert float(sol.cdf(1.0)) == 1.0 and float(sol.cdf_left(0.0)) == 0.0
    y = np.linspace(0.01, 0.99, 99)
    np.testing.assert_allclose(sol.cdf(y) + sol.cdf_left(1.0 - y), 1.0, atol=1e-13)
    assert sol.mean() == pytest.approx(0.5, abs=1e-13)


def test_the_interface_of_a_limiting_measure():
    """The same public names and signatures as theory's LimitingMeasure."""
    from rcollapse.solvers.limit_spectral import SpectralLimitSolution

    for name in ("cdf", "cdf_left", "ppf", "density", "integrated_cdf", "rvs", "mean", "var", "std",
                 "describe", "to_json"):
        a = inspect.signature(getattr(SpectralLimitSolution, name))
        b = inspect.signature(getattr(LimitingMeasure, name))
        assert list(a.parameters) == list(b.parameters), name


@pytest.mark.parametrize("spec", ["log-sigmoid:0.25", "power:0.25"])
def test_cdf_ppf_moments_and_samples(solved, spec):
    """ppf is the generalized inverse of the cdf; var and integrated_cdf are the integrals
    of the cdf; rvs draws from it (KS within the 1% value 1.63 / sqrt(4000))."""
    sol = solved[spec]
    q = np.linspace(0.0, 1.0, 1001)
    x = sol.ppf(q)
    assert x[0] == 0.0 and x[-1] == 1.0 and np.all(np.diff(x) >= 0.0)
    assert np.all(sol.cdf(x) >= q - 1e-12) and np.all(sol.cdf_left(x) <= q + 1e-12)
    t = np.geomspace(1e-14, 0.5, 20_001)
    grid = np.unique(np.concatenate(([0.0], t, 1.0 - t, [1.0])))
    survival = 1.0 - sol.cdf_left(grid)
    mean, second = np.trapezoid(survival, grid), np.trapezoid(2.0 * grid * survival, grid)
    assert sol.var() == pytest.approx(second - mean**2, abs=1e-7)
    G = np.concatenate(([0.0], np.cumsum(0.5 * np.diff(grid) * (sol.cdf(grid)[1:] + sol.cdf(grid)[:-1]))))
    at = np.array([0.1, 0.3, 0.5, 0.9])
    np.testing.assert_allclose(sol.integrated_cdf(at), np.interp(at, grid, G), atol=1e-7)
    assert ks_distance(sol.rvs(4000, random_state=1), sol) <= 1.63 / np.sqrt(4000)
    with pytest.raises(ValueError):
        sol.ppf(1.5)


def test_json_and_describe(solved):
    sol = solved["log-sigmoid:1"]
    info = sol.to_json()
    assert info["method"] == "spectral" and info["degree"] == sol.degree
    assert info["atoms"][0][1] == sol.atom_mass and len(info["quantiles"]) == 1001
    assert sol.describe().startswith("0.383394 delta_0 + 0.383394 delta_1 + 0.233212 spectral density")


# --------------------------------------------------------------------------------------
# Bad input, no convergence
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, piece", [
    ("neg-power:2", "-inf"),
    ("expr:sqrt(x) + log(x)", "endpoint exponent"),
])
def test_refuses_what_only_the_grid_handles(spec, piece):
    with pytest.raises(SolverInputError, match=piece) as info:
        solve_limit(spec, method="spectral")
    message = str(info.value)
    assert 'method="grid"' in message and "\n" not in message and spec.split(":")[0] in message


@pytest.mark.parametrize("kwargs, piece", [
    ({"method": "chebyshev"}, "method"),
    ({"method": "spectral", "grid": 64}, "grid"),
    ({"method": "spectral", "regularization": 1e-9}, "regularization"),
    ({"method": "grid", "max_degree": 64}, "max_degree"),
    ({"method": "spectral", "max_degree": 4}, "max_degree"),
    ({"method": "spectral", "tol": 0.5}, "tol"),
])
def test_bad_options_are_one_line(kwargs, piece):
    with pytest.raises(SolverInputError, match=piece) as info:
        solve_limit("log-sigmoid:1", **kwargs)
    assert "\n" not in str(info.value) and "valid" in str(info.value)


def test_no_convergence_raises():
    """log-sigmoid:0.01: U'' has poles 0.03 from [0, 1]; degree 16 is far from enough."""
    with pytest.raises(ConvergenceError, match="consecutive spectral degrees"):
        solve_limit("log-sigmoid:0.01", method="spectral", max_degree=16)


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------
def test_cli_prints_twelve_digits(capsys):
    from rcollapse.cli import main

    assert main(["limit", "log-sigmoid:1"]) == 0
    out = capsys.readouterr().out
    mass = solve_limit("log-sigmoid:1", method="spectral").atom_mass
    assert f"atoms (n = inf solver): {mass:.12g} ± " in out and "spectral, degree" in out
    assert main(["limit", "log-sigmoid:1", "--json", "--method", "spectral"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "spectral" and info["atoms"][0][1] == mass


def test_auto_falls_back_to_the_grid_when_the_series_does_not_converge():
    """U = x - x^1.5 / 2: U'' ~ x^(-1/2) at 0, so the density is not smooth at the ends
    (consecutive degrees still 0.012 apart at 256): "auto" gives the grid's measure,
    "spectral" raises."""
    from rcollapse.limits import limiting_measure

    spec = "expr:x - x**1.5/2"
    assert limiting_measure(spec, method="auto").continuous_info["name"] == "numerical"
    assert limiting_measure("log-sigmoid:1", method="auto").continuous_info["name"] == "spectral"
    with pytest.raises(ConvergenceError):
        limiting_measure(spec, method="spectral")


@pytest.mark.parametrize("argv, piece", [
    (["limit", "log-sigmoid:1", "--method", "spectral", "--grid", "64"], "--grid"),
    (["limit", "expr:sqrt(x) + log(x)", "--method", "spectral"], 'method="grid"'),
    (["limit", "power:0.5", "--method", "spectral"], "closed form"),
    (["limit", "log-sigmoid:1", "--bound", "--method", "grid"], "--bound"),
])
def test_cli_refusals_exit_2_one_line(argv, piece, capsys):
    from rcollapse.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and piece in err[0]


def test_bench_spectral_table(tmp_path, capsys):
    """``rcollapse bench spectral``'s table: each row's change is the atom mass's change
    from the row before; the full solve sits within the grid's error estimate."""
    from rcollapse.benchmarks.limit_spectral import markdown_table, run_spectral_benchmark
    from rcollapse.cli import main

    data = run_spectral_benchmark(utilities=("log-sigmoid:1",), degrees=(8, 16, 32), grid=256, progress=False)
    rows = data["tables"]["log-sigmoid:1"]
    assert [r["degree"] for r in rows] == [8, 16, 32] and rows[0]["change"] is None
    for before, row in zip(rows, rows[1:]):
        assert row["change"] == abs(row["atom_mass"] - before["atom_mass"])
    (solve,) = data["solves"]
    assert abs(solve["atom_mass"] - solve["grid_atom_mass"]) <= solve["grid_error"]
    assert markdown_table(data).count("| log-sigmoid:1 |") == 4
    assert main(["bench", "spectral", "--max-n", "100", "--out", str(tmp_path)]) == 2
