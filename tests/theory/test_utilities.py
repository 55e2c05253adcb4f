"""The utility families: one sympy definition, every derived form consistent with it."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.special import expit

from rcollapse.solvers.cvx import cvxpy_utility
from rcollapse.theory.utilities import FAMILIES, Utility, UtilityError, parse_utility, x

SPECS = [
    "linear",
    "log",
    "power:0.5",
    "power:0.05",
    "power:0.95",
    "neg-power:0.5",
    "neg-power:1",
    "neg-power:2.5",
    "log-sigmoid:1",
    "log-sigmoid:0.25",
    "log-sigmoid:4",
]


@pytest.fixture(params=SPECS)
def U(request) -> Utility:
    return parse_utility(request.param)


# ---- the numpy forms against central finite differences ----------------------------
def test_first_derivative_matches_finite_differences(U):
    t = np.linspace(0.05, 1.0, 40)
    h = 1e-6
    fd = (U(t + h) - U(t - h)) / (2 * h)
    np.testing.assert_allclose(U.d1(t), fd, rtol=1e-6, atol=1e-7)


def test_second_derivative_matches_finite_differences(U):
    t = np.linspace(0.05, 1.0, 40)
    h = 1e-5
    fd = (U.d1(t + h) - U.d1(t - h)) / (2 * h)
    np.testing.assert_allclose(U.d2(t), fd, rtol=1e-5, atol=1e-6)


def test_numpy_form_matches_the_sympy_definition(U):
    for t in (0.1, 0.37, 1.0):
        exact = float(U.expr.subs(x, sp.Rational(str(t))).evalf(30))
        assert U(t) == pytest.approx(exact, rel=1e-12, abs=1e-14), (U.spec, t)


def test_derivatives_keep_the_input_shape(U):
    t = np.full((3, 4), 0.5)
    assert U(t).shape == U.d1(t).shape == U.d2(t).shape == (3, 4)


# ---- the torch form against the numpy form ------------------------------------------
def test_torch_form_matches_numpy(U):
    t = np.linspace(0.01, 1.0, 50)
    got = U.torch(torch.tensor(t, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, U(t), rtol=1e-12, atol=1e-12)


def test_torch_autograd_gives_the_derived_first_derivative(U):
    t = torch.linspace(0.05, 1.0, 20, dtype=torch.float64, requires_grad=True)
    U.torch(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), U.d1(t.detach().numpy()), rtol=1e-10)


# ---- the CVXPY form: DCP-valid, and it solves a tiny concave problem ----------------
def test_cvxpy_form_is_concave_and_matches_numpy(U):
    r = cp.Variable(2)
    expr = cvxpy_utility(U, r[0] - r[1])
    assert expr.is_concave(), U.spec
    r.value = np.array([0.8, 0.3])
    assert float(expr.value) == pytest.approx(float(U(0.5)), rel=1e-9)


def test_cvxpy_form_solves_a_tiny_concave_problem(U):
    """max U(d) - c d over 0.01 <= d <= 1: the optimum solves U'(d) = c (or sits on a bound)."""
    d = cp.Variable()
    c = float(U.d1(0.5))
    problem = cp.Problem(cp.Maximize(cvxpy_utility(U, d) - c * d), [d >= 0.01, d <= 1])
    problem.solve(solver=cp.CLARABEL)
    assert problem.status == cp.OPTIMAL
    if U.strictly_concave:
        # The solver is accurate in the objective; d is then within ~sqrt(tol / |U''|).
        assert float(d.value) == pytest.approx(0.5, abs=1e-3), U.spec
    grid = np.linspace(0.01, 1, 2001)
    assert problem.value >= np.max(U(grid) - c * grid) - 1e-6


# ---- what kind of U: the properties callers ask instead of the family's name --------
KINDS = SPECS + ["expr:log(1 + 4*x)", "expr:sqrt(x) + log(x)", "expr:x - x**2/2"]


@pytest.mark.parametrize("spec", KINDS)
def test_kind_properties_say_what_the_maths_says(spec):
    """is_linear: U'' = 0; finite_slope_at_zero: U' has a limit at 0+ (its values at 1e-8
    and 1e-12 agree: measured, they differ by at most 1.6e-7 (expr:log(1 + 4*x)) where
    U'(0+) is finite, by at least 1.4 (power:0.95) where not); is_user_written: the spec
    is an ``expr:``."""
    U = parse_utility(spec)
    assert U.is_linear == (U.d2expr == 0)
    near_zero = U.d1(np.array([1e-8, 1e-12]))
    settled = abs(near_zero[1] - near_zero[0]) <= 1e-6 * (1.0 + abs(near_zero[0]))
    assert U.finite_slope_at_zero == settled == (U.dU0 is not None)
    assert U.is_user_written == spec.startswith("expr:")


@pytest.mark.parametrize("spec", KINDS)
def test_hypersingular_exponent_is_the_family_whose_kernel_is_not_integrable(spec):
    """hypersingular_exponent: g for U = -x^(-g), g >= 1 -- exactly the families with
    x U(x) not -> 0 as x -> 0+ (int_0^1 U = -inf), and U(c t) = c^(-g) U(t) there."""
    U = parse_utility(spec)
    g = U.hypersingular_exponent
    assert (g is not None) == (not U.is_user_written and sp.limit(x * U.expr, x, 0, "+") != 0)
    if g is not None:
        t = np.array([1e-3, 0.2, 1.0])
        np.testing.assert_allclose(U(7.0 * t), 7.0 ** (-g) * U(t), rtol=1e-13)


# ---- stability ------------------------------------------------------------------------
@pytest.mark.parametrize("s", [1e-3, 0.01, 1.0, 1e3])
def test_log_sigmoid_is_finite_for_small_sigma_and_huge_gaps(s):
    U = parse_utility(f"log-sigmoid:{s}")
    t = np.array([-1e6, -1.0, 0.0, 1e-9, 1.0, 1e6])
    for f in (U, U.d1, U.d2):
        assert np.all(np.isfinite(f(t))), (U.spec, f)
    assert np.all(np.isfinite(U.torch(torch.tensor(t)).numpy()))
    np.testing.assert_allclose(U.d1(t), expit(-t / s) / s, rtol=1e-12)


# ---- properties computed symbolically -------------------------------------------------
@pytest.mark.parametrize(
    "spec, increasing, strictly, strongly, dU0, dU1",
    [
        ("linear", True, False, False, 1.0, 1.0),
        ("log", True, True, True, None, 1.0),
        ("power:0.5", True, True, True, None, 0.5),
        ("neg-power:1", True, True, True, None, 1.0),
        ("log-sigmoid:1", True, True, True, 0.5, 1 / (1 + math.e)),
        ("log-sigmoid:2", True, True, True, 0.25, expit(-0.5) / 2),
    ],
)
def test_symbolic_properties(spec, increasing, strictly, strongly, dU0, dU1):
    U = parse_utility(spec)
    assert U.increasing is increasing
    assert U.strictly_concave is strictly
    assert U.strongly_concave is strongly
    assert (U.dU0 is None) == (dU0 is None)
    if dU0 is not None:
        assert U.dU0 == pytest.approx(dU0, rel=1e-12)
    assert U.dU1 == pytest.approx(dU1, rel=1e-12)


def test_strong_concavity_constant_is_the_infimum_of_minus_U2(U):
    t = np.linspace(1e-3, 1.0, 5001)
    mu = float(np.min(-U.d2(t)))
    assert U.strong_concavity == pytest.approx(mu, rel=1e-6, abs=1e-12)


# ---- parsing ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, names",
    [
        ("power:1.5", ["1.5", "0 < gamma < 1"]),
        ("power:-1", ["-1", "0 < gamma < 1"]),
        ("power:0", ["0", "0 < gamma < 1"]),
        ("log-sigmoid:0", ["0", "sigma > 0"]),
        ("neg-power:abc", ["abc", "gamma > 0"]),
        ("foo", ["foo", "linear"]),
        ("log:2", ["log:2", "no parameter"]),
        ("", ["''", "linear"]),
        ("nan", ["nan", "linear"]),
        ("power:nan", ["nan", "0 < gamma < 1"]),
        ("neg-power:inf", ["inf", "gamma > 0"]),
        ("power", ["power", "0 < gamma < 1"]),
        ("power:0_5", ["0_5", "0 < gamma < 1"]),  # float() reads "0_5" as 5 (issue 9)
        ("log-sigmoid:1_0", ["1_0", "sigma > 0"]),
        ("power:0x1", ["0x1", "0 < gamma < 1"]),
    ],
)
def test_bad_specs_get_a_one_line_error_naming_value_and_range(bad, names):
    with pytest.raises(UtilityError) as info:
        parse_utility(bad)
    message = str(info.value)
    assert "\n" not in message
    for piece in names:
        assert piece in message, (bad, message)


@pytest.mark.parametrize("spec", SPECS + ["log-sigmoid:1e-05", "power:0.123456789"])
def test_spec_round_trips(spec):
    U = parse_utility(spec)
    assert parse_utility(U.spec) == U
    assert parse_utility(U.spec).spec == U.spec


@given(st.text())
@example("power:1/0")
@example("power:1e400")
@example("log-sigmoid:-0.0")
@example("power:\x00")
@example(":")
def test_parser_fuzz_either_parses_or_raises_utility_error(text):
    """Every string parses to a valid utility or gets a one-line UtilityError; nothing else."""
    try:
        U = parse_utility(text)
    except UtilityError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert U.is_user_written == U.spec.startswith("expr:") != (U.family in FAMILIES)
    assert parse_utility(U.spec) == U
    if U.param is not None:
        family = FAMILIES[U.family]
        assert family.lower < U.param < family.upper


@given(
    st.sampled_from(["power", "neg-power", "log-sigmoid"]),
    st.floats(min_value=1e-3, max_value=0.999, allow_nan=False),
)
def test_generated_parameters_round_trip(family, value):
    U = parse_utility(f"{family}:{value!r}")
    assert U.param == value
    assert parse_utility(U.spec) == U


# ---- issue 9: strict JSON and no overflow for extreme sigma -------------------------------
@pytest.mark.parametrize("s, dU0", [("1e-309", "5.0e+308"), ("1e-320", "5.0e+319")])
def test_log_sigmoid_tiny_sigma_describes_in_strict_json(s, dU0):
    """U'(0+) = 1 / (2 s) is finite but above float64: a string, never Infinity or an
    OverflowError ("int too large to convert to float")."""
    import json

    U = parse_utility(f"log-sigmoid:{s}")
    info = json.loads(json.dumps(U.describe(), allow_nan=False))
    assert info["dU0"] == dU0 and info["dU1"] == 0.0
    assert U.dU0 == math.inf and U.increasing and U.strictly_concave


def test_every_family_reports_how_each_property_was_established(U):
    status = U.property_status
    assert set(status) == {"increasing", "strictly_concave", "strong_concavity"}
    assert status["increasing"] == "proved" and status["strictly_concave"] == "proved"


def test_cli_utility_json_is_strict_for_tiny_sigma(capsys):
    """issue 9: `utility log-sigmoid:1e-320 --json` printed Infinity (invalid JSON)."""
    import json

    from rcollapse.cli import main

    assert main(["utility", "log-sigmoid:1e-320", "--json"]) == 0
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    assert json.loads(out)["dU0"] == "5.0e+319"
    assert main(["utility", "log-sigmoid:1e-309", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dU0"] == "5.0e+308"
