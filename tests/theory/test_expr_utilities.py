"""User-written utilities (``expr:<sympy text>`` and sympy expressions): safe parsing, the
same derived forms and properties as the families, refusals naming a point, and every
method (newton, lbfgs, cvxpy, solve_limit) working for them.

The property tests draw U from a grammar of increasing, strictly concave utilities:
positive-weighted sums of terms (x^g, log(1 + a x), 1 - exp(-a x), atan(a x),
log sigmoid(x / s), x - x^2/2, and the singular log x, -x^(-g)) and compositions
phi(u) of a nonnegative increasing concave u with an increasing concave phi
(log(1 + b u), 1 - exp(-b u), u^h). On each they check Lemma 4.1's structure
(r_1 = 1, r_n = 0, r_i + r_{n+1-i} = 1) and that the methods agree.
"""

from __future__ import annotations

import json

import cvxpy as cp
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rcollapse.cli import main
from rcollapse.solvers import solve
from rcollapse.solvers.cvx import cvxpy_form_error, cvxpy_utility
from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.solvers.limit import limit_start, solve_limit
from rcollapse.theory.utilities import Utility, UtilityError, parse_expression, parse_utility, sigmoid, x


# --------------------------------------------------------------------------------------
# Safe parsing
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, piece",
    [
        ("x.__class__", "'.'"),
        ("__import__('os')", "__import__"),
        ("lambda: 1", "lambda"),
        ("(lambda y: y)(x)", "lambda"),
        ("x if x else 1", "'if'"),
        ("[x][0]", "'['"),
        ("'x'", "'x'"),
        ("eval('1')", "eval"),
        ("open('f')", "open"),
        ("exec", "exec"),
        ("Symbol('y')", "Symbol"),
        ("y + x", "'y'"),
        ("x; 1", "';'"),
        ("x\n1", ""),
        ("x := 1", "':='"),
        ("log", "must be called"),
        ("x(2)", "not a function"),
        ("9**9**9", "too large"),
        ("x**(10**200)", "exponent"),  # mpmath would not return
        ("x" + "+x" * 300, "longer than"),
        ("0x10 + x", "0x10"),
        ("1_0 * x", "1_0"),
        ("1j * x", "1j"),
        ("log(x", "parentheses"),
        ("", "empty"),
        ("x @ x", "'@'"),
        ("~x", "'~'"),
    ],
)
def test_unsafe_or_invalid_text_is_refused_in_one_line(text, piece):
    with pytest.raises(UtilityError) as info:
        parse_utility(f"expr:{text}")
    message = str(info.value)
    assert "\n" not in message and message
    assert piece in message, message


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "x.__class__.__mro__",
                                  "().__class__", "getattr(x, 'y')", "globals()"])
def test_refused_text_never_reaches_sympys_parser(text, monkeypatch):
    """The token check runs first: sympy's parse_expr (which evaluates) never sees it."""
    import sympy.parsing.sympy_parser as parser

    seen = []
    monkeypatch.setattr(parser, "parse_expr", lambda *a, **k: seen.append(a))
    with pytest.raises(UtilityError):
        parse_expression(text)
    assert seen == []


#: Examples for the slow property tests (each parses a new expression and solves): half
#: the profile's (10 under ``ci``, 250 under ``thorough``).
SLOW = settings(max_examples=max(5, settings.default.max_examples // 2),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
_TOKENS = list("x0123456789.+-*/^(),e_ ") + ["log(", "exp(", "sqrt(", "**", "x", "atan("]


@SLOW
@given(st.lists(st.sampled_from(_TOKENS), max_size=12).map("".join))
@example("x**(1/3)")
@example("-(-(-x))")
@example("log(1+x)^0.5")
@example("exp(-x)*0")
def test_parser_fuzz_either_parses_or_raises_utility_error(text):
    """Every text gives a valid expr utility that round-trips, or a one-line UtilityError."""
    try:
        U = parse_utility(f"expr:{text}")
    except UtilityError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert U.is_user_written and not U.is_linear and U.increasing and U.strictly_concave
    assert parse_utility(U.spec) == U


def test_decimals_become_exact_rationals_and_caret_is_power():
    U = parse_utility("expr:x^0.5 + 0.25*log(x)")
    assert U.expr == sp.sqrt(x) + sp.log(x) / 4
    assert U.spec == "expr:sqrt(x) + log(x)/4"


def test_python_api_takes_a_sympy_expression_in_a_users_own_x():
    y = sp.Symbol("x")  # not positive: the user's own symbol
    U = parse_utility(sp.log(1 + 4 * y))
    assert U == parse_utility("expr:log(1 + 4*x)")
    assert U.expr.has(x)
    with pytest.raises(UtilityError, match="other than x"):
        parse_utility(sp.log(1 + sp.Symbol("a") * y))
    with pytest.raises(UtilityError, match="does not depend on x"):
        parse_utility(sp.Integer(3))
    with pytest.raises(UtilityError, match="string or a sympy expression"):
        parse_utility(lambda t: t)


def test_spec_round_trips_and_equality_is_by_expression():
    U = parse_utility("expr:log(1 + 4*x)")
    assert U.spec == "expr:log(4*x + 1)"
    assert parse_utility(U.spec) == U and hash(parse_utility(U.spec)) == hash(U)
    assert parse_utility("expr:log(4*x+1)") == U


# --------------------------------------------------------------------------------------
# Refusals: one line, the property, a point
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, pieces",
    [
        ("x**2", ["not concave", "U''(", "> 0"]),
        ("exp(x)", ["not concave", "U''("]),
        ("x - (x - 0.5)**3", ["not concave", "U''(1e-09) = 3 > 0"]),  # convex on (0, 1/2)
        ("x**3 - 3*x", ["not increasing", "U'(", "< 0"]),
        ("sqrt(x) - x**2/3", ["not increasing", "U'(1) = -0.166667 < 0"]),
        ("-log(x)", ["not increasing"]),
        ("x", ["not strictly concave", "U'' = 0"]),
        ("2*x + 1", ["not strictly concave"]),
        ("-exp(-exp(7*x))", None),  # U''(1) ~ -1e-470 underflows float64: tiny, not zero
        ("log(x - 0.5)", ["not a finite real number", "U(1e-09)"]),
        ("sqrt(0.5 - x)", ["not a finite real number"]),
        ("1/(x - 0.5)", ["not increasing"]),
        ("1/0 + x", ["not finite"]),
        ("-Abs(x - 2)", ["cannot derive"]),  # sympy's U'' of Abs does not lambdify: said so
    ],
)
def test_not_increasing_or_not_concave_is_refused_naming_the_property_and_a_point(text, pieces):
    if pieces is None:  # a valid U whose values underflow float64: accepted, not refused
        U = parse_utility(f"expr:{text}")
        assert U.increasing and U.strictly_concave
        return
    with pytest.raises(UtilityError) as info:
        parse_utility(f"expr:{text}")
    message = str(info.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, message


# --------------------------------------------------------------------------------------
# Derived forms and properties, as for the families
# --------------------------------------------------------------------------------------
EXPRS = ["log(1 + 4*x)", "x - x**2/2", "sqrt(x) + 2*log(x)", "tanh(2*x) + x**0.5", "-exp(-3*x)",
         "log(sigmoid(x/0.5))", "atan(3*x) - x**2/10", "log(1 + x) + atan(x) - x**2/5"]


@pytest.fixture(scope="module", params=EXPRS)
def U(request) -> Utility:
    return parse_utility(f"expr:{request.param}")


def test_numpy_derivatives_match_finite_differences(U):
    t = np.linspace(0.05, 0.95, 37)
    h = 1e-6
    np.testing.assert_allclose(U.d1(t), (U(t + h) - U(t - h)) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(U.d2(t), (U.d1(t + h) - U.d1(t - h)) / (2 * h), rtol=1e-5, atol=1e-5)


def test_numpy_form_matches_the_sympy_expression(U):
    for t in ("0.1", "0.37", "1"):
        exact = float(U.expr.subs(x, sp.Rational(t)).evalf(30))
        assert float(U(float(t))) == pytest.approx(exact, rel=1e-12, abs=1e-14)


def test_torch_form_and_autograd_match_numpy(U):
    t = torch.linspace(0.05, 1.0, 20, dtype=torch.float64, requires_grad=True)
    values = U.torch(t)
    np.testing.assert_allclose(values.detach().numpy(), U(t.detach().numpy()), rtol=1e-12, atol=1e-12)
    values.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), U.d1(t.detach().numpy()), rtol=1e-10)


def test_cvxpy_form_where_representable_and_a_reason_where_not(U):
    if cvxpy_form_error(U) is not None:
        assert "newton or lbfgs" in cvxpy_form_error(U) and "\n" not in cvxpy_form_error(U)
        with pytest.raises(UtilityError):
            cvxpy_utility(U, cp.Variable())
        return
    r = cp.Variable(2)
    expr = cvxpy_utility(U, r[0] - r[1])
    assert expr.is_concave()
    r.value = np.array([0.8, 0.3])
    assert float(expr.value) == pytest.approx(float(U(0.5)), rel=1e-9)


def test_properties_and_how_they_were_established(U):
    info = json.loads(json.dumps(U.describe(), allow_nan=False))
    assert info["increasing"] and info["strictly_concave"]
    assert set(info["property_status"].values()) <= {"proved", "checked, not proved"}
    t = np.concatenate(([1e-12], np.linspace(1e-3, 1.0, 4001)))
    assert U.strong_concavity == pytest.approx(float(np.min(-U.d2(t))), rel=1e-3, abs=1e-9)
    assert U.dU1 == pytest.approx(float(U.d1(1.0)), rel=1e-12)
    if U.dU0 is not None:
        assert U.dU0 == pytest.approx(float(U.d1(1e-9)), rel=1e-6)
    else:
        assert U.d1(1e-12) > 1e4


def test_a_property_sympy_cannot_prove_is_reported_as_checked():
    U = parse_utility("expr:log(1 + x) + atan(x) - x**2/5")
    assert U.property_status["increasing"] == "checked, not proved"
    assert U.property_status["strictly_concave"] == "proved"
    assert parse_utility("expr:log(1 + 4*x)").property_status["increasing"] == "proved"


def test_the_families_written_as_expressions_give_the_same_forms():
    """One derivation path: expr:sqrt(x) and power:0.5 have the same U', U'' and properties."""
    for text, spec in (("sqrt(x)", "power:0.5"), ("log(x)", "log"), ("log(sigmoid(x))", "log-sigmoid:1"),
                       ("-1/sqrt(x)", "neg-power:0.5")):
        V, F = parse_utility(f"expr:{text}"), parse_utility(spec)
        t = np.linspace(0.01, 1.0, 50)
        np.testing.assert_allclose(V.d1(t), F.d1(t), rtol=1e-13)
        np.testing.assert_allclose(V.d2(t), F.d2(t), rtol=1e-13)
        assert (V.dU0 is None) == (F.dU0 is None) and V.dU1 == pytest.approx(F.dU1, rel=1e-14)
        assert V.strongly_concave == F.strongly_concave
        assert V.strong_concavity == pytest.approx(F.strong_concavity, rel=1e-9)


# --------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, spec", [("sqrt(x)", "power:0.5"), ("log(x)", "log"),
                                        ("log(sigmoid(x))", "log-sigmoid:1")])
def test_every_method_gives_the_familys_optimum(text, spec):
    V = parse_utility(f"expr:{text}")
    want = solve(spec, 12).rewards
    for method in ("newton", "lbfgs", "cvxpy"):
        got = solve(V, 12, method=method, tol=1e-8).rewards
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=f"{V.spec} {method}")


@pytest.mark.parametrize("text, spec", [("sqrt(x)", "power:0.5"), ("log(x)", "log"),
                                        ("log(sigmoid(x))", "log-sigmoid:1")])
def test_solve_limit_gives_the_familys_measure(text, spec):
    a, b = solve_limit(f"expr:{text}", grid=64), solve_limit(spec, grid=64)
    np.testing.assert_allclose(a.weights, b.weights, atol=1e-12)


def test_newton_starts_from_the_limit_measure_quantiles():
    """No closed-form limit: newton's first start is solve_limit's quantiles, already close
    to the optimum (the default start would be uniform)."""
    from rcollapse.solvers.starts import first_start

    V = parse_utility("expr:sqrt(x) + 2*log(x)")
    n = 64
    start = first_start(V, n, False)
    np.testing.assert_array_equal(start, limit_start(V, n, box=False))
    optimum = solve(V, n).complement[: n // 2]
    assert np.max(np.abs(start - optimum)) < 0.02
    uniform = np.arange(n // 2) / (n - 1)
    assert np.max(np.abs(start - optimum)) < 0.5 * np.max(np.abs(uniform - optimum))
    box = limit_start(parse_utility("expr:log(1 + 4*x)"), n, box=True)
    assert box[0] == 0.0 and np.all(np.diff(box) >= 0.0) and np.sum(box == 0.0) > 1  # the run at 0


@pytest.mark.parametrize("text", ["log(1 + 4*x)", "sqrt(x) + 2*log(x)"])
def test_theorem_5_measure_is_the_limit_of_newtons_optima(text):
    """Theorem 5 (Song et al. 2023): the reward distribution converges to the computed
    measure: W1 falls with n (about 1/n), and the share of rewards at exactly 1 tends to
    the atom (measured: W1 2.5e-3 / 6.2e-4 at n = 100 / 400 for log(1 + 4x), atom 0.2545
    against 0.25 / 0.255 of the rewards)."""
    from rcollapse.limits import limiting_measure
    from rcollapse.theory.distances import w1_distance

    mu = limiting_measure(f"expr:{text}", grid=256)
    w1 = {n: w1_distance(solve(f"expr:{text}", n).rewards, mu) for n in (100, 400)}
    assert w1[400] < 0.5 * w1[100] and w1[400] < 2e-3
    top = np.mean(solve(f"expr:{text}", 400).rewards == 1.0)
    assert abs(top - mu.atoms.get(1.0, 0.0)) <= 2 / 400


def test_solve_limit_refuses_a_non_integrable_singularity():
    for text in ("-1/x", "log(x) - x**(-2)"):
        with pytest.raises(SolverInputError, match="not integrable at 0"):
            solve_limit(f"expr:{text}", grid=32)


def test_cvxpy_form_takes_symbolic_constant_coefficients():
    U = parse_utility("expr:sqrt(x) + pi*log(1 + E*x)")
    assert cvxpy_form_error(U) is None
    t = cp.Variable()
    t.value = 0.3
    assert float(cvxpy_utility(U, t).value) == pytest.approx(float(U(0.3)), rel=1e-12)
    assert "product of functions" in cvxpy_form_error(parse_utility("expr:x*exp(-x)"))


def test_cvxpy_says_which_methods_can_when_there_is_no_form():
    with pytest.raises(UtilityError, match="newton or lbfgs"):
        solve("expr:tanh(2*x) + sqrt(x)", 5, method="cvxpy")


# --------------------------------------------------------------------------------------
# The grammar of increasing, strictly concave utilities, and the property tests
# --------------------------------------------------------------------------------------
_HALF = sp.Rational(1, 2)


@st.composite
def nonnegative_terms(draw) -> sp.Expr:
    """An increasing concave u on (0, 1] with u >= 0 (so it can be composed)."""
    a = sp.Rational(draw(st.sampled_from([1, 2, 4, 10])))
    g = draw(st.sampled_from([sp.Rational(1, 4), sp.Rational(1, 3), _HALF, sp.Rational(3, 4)]))
    return draw(st.sampled_from([x**g, sp.log(1 + a * x), 1 - sp.exp(-a * x), sp.atan(a * x),
                                 x - x**2 / 2]))


@st.composite
def terms(draw) -> sp.Expr:
    """An increasing concave term; the singular ones (log x, -x^(-g)) only in sums."""
    s = draw(st.sampled_from([sp.Rational(1, 4), _HALF, sp.Integer(1), sp.Integer(2)]))
    g = draw(st.sampled_from([sp.Rational(1, 4), _HALF]))
    return draw(st.one_of(nonnegative_terms(), compositions(),
                          st.sampled_from([sp.log(x), -x**(-g), sp.log(sigmoid(x / s))])))


@st.composite
def compositions(draw) -> sp.Expr:
    """phi(u): an increasing concave phi of a nonnegative increasing concave u."""
    u = draw(nonnegative_terms())
    b = sp.Rational(draw(st.sampled_from([1, 3])))
    h = draw(st.sampled_from([_HALF, sp.Rational(2, 3)]))
    return draw(st.sampled_from([sp.log(1 + b * u), 1 - sp.exp(-b * u), u**h]))


@st.composite
def concave_utilities(draw, *, max_terms: int = 3) -> Utility:
    """sum_k w_k t_k with w_k > 0: increasing and strictly concave by construction."""
    parts = draw(st.lists(terms(), min_size=1, max_size=max_terms))
    weights = [sp.Rational(draw(st.sampled_from([1, 2, 3])), draw(st.sampled_from([1, 2, 4])))
               for _ in parts]
    expr = sp.Add(*[w * t for w, t in zip(weights, parts)])
    assume(expr.has(x))
    return parse_utility(expr)  # must not refuse: a refusal here is a bug


@SLOW
@given(U=concave_utilities())
@example(U=parse_utility(x**sp.Rational(1, 4) + sp.log(x) + _HALF - 1 / (2 * (x + 1))))  # spec round trip
def test_the_grammar_only_makes_valid_utilities(U):
    assert U.is_user_written and not U.is_linear and U.increasing and U.strictly_concave
    t = np.linspace(0.01, 1.0, 200)
    assert np.all(U.d1(t) >= 0) and np.all(U.d2(t) < 0)
    assert parse_utility(U.spec) == U


@SLOW
@given(U=concave_utilities(max_terms=2), n=st.integers(3, 9))
@example(U=parse_utility("expr:log(1 + 4*x)"), n=5)
@example(U=parse_utility("expr:x - x**2/2"), n=4)
@example(U=parse_utility("expr:sqrt(x) + 2*log(x)"), n=7)
@example(U=parse_utility("expr:x**(1/4) + 3*log(2*x + 1)/2"), n=9)  # found by the thorough profile
def test_lemma_4_1_structure_and_the_methods_agree(U, n):
    """Lemma 4.1 (Song et al. 2023): U strictly increasing and strictly concave => the
    optimum is unique, r_1 = 1, r_n = 0 and r_i + r_{n+1-i} = 1; newton, cvxpy (when U
    has a CVXPY form) and lbfgs (when U'(0+) = inf: no ties) find the same one."""
    sol = solve(U, n)
    r = sol.rewards
    assert r[0] == 1.0 and r[-1] == 0.0
    np.testing.assert_allclose(r + r[::-1], 1.0, atol=1e-12)
    assert np.all(np.diff(r) <= 0.0)
    others = []
    if cvxpy_form_error(U) is None:
        others.append("cvxpy")
    if U.dU0 is None:
        others.append("lbfgs")
    for method in others:
        # lbfgs is a first-order baseline: certified to its documented 1e-6 (at 1e-8 it
        # stops at 1.6e-8 for x**(1/4) + 3 log(2x + 1)/2, n = 9); cvxpy is polished to 1e-8.
        tol = 1e-6 if method == "lbfgs" else 1e-8
        try:
            got = solve(U, n, method=method, tol=tol).rewards
        except ConvergenceError as err:  # a refusal is a failure here, never skipped
            pytest.fail(f"{method} refused {U.spec} at n = {n}: {err}")
        np.testing.assert_allclose(got, r, atol=1e-4 if method == "lbfgs" else 1e-5,
                                   err_msg=f"{U.spec} {method}")


@SLOW
@given(U=concave_utilities(max_terms=2))
def test_solve_limit_gives_a_symmetric_certified_measure(U):
    """Theorem 5's measure for a random U: symmetric about 1/2, KKT-certified, atoms exactly
    when U'(0+) is finite (then at least Theorem 4's bound)."""
    try:
        sol = solve_limit(U, grid=48)
    except SolverInputError as err:  # a singular term that is not integrable: said so
        assert "not integrable" in str(err)
        return
    w = sol.weights
    np.testing.assert_allclose(w, w[::-1], atol=1e-15)
    assert sol.kkt_residual <= 1e-9
    if U.dU0 is None:
        assert sol.atoms == {}
    elif U.dU1 > 0:
        bound = U.dU1 / (U.dU0 + U.dU1)
        assert sol.atom_mass >= bound - 1e-6


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------
def test_cli_limit_says_no_closed_form_and_gives_atoms_and_quantiles_with_errors(capsys):
    assert main(["limit", "expr:log(1 + 4*x)", "--grid", "128"]) == 0
    out = capsys.readouterr().out
    assert "no closed form; Theorem 5 measure computed" in out
    assert "atoms (n = inf solver):" in out and "±" in out
    assert "quantiles:" in out and "F^-1(0.25)" in out
    assert "exact" not in out


def test_cli_limit_json_is_strict_and_carries_grid_errors(capsys):
    assert main(["limit", "expr:sqrt(x) + 2*log(x)", "--grid", "64", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["atoms"] == [] and info["exact"] is False and info["complete"] is True
    est = info["grid_error"]["quantile:0.25"]
    assert est["grids"] == [16, 32, 64] and est["value"] > 0


def test_cli_utility_reports_how_properties_were_established(capsys):
    assert main(["utility", "expr:log(1 + x) + atan(x) - x**2/5"]) == 0
    out = capsys.readouterr().out
    assert "checked, not proved" in out and "cvxpy form        no" in out
    assert main(["utility", "expr:log(1 + 4*x)", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dU0"] == 4.0 and info["cvxpy"] is True


@pytest.mark.parametrize("argv, piece", [
    (["utility", "expr:x**2"], "not concave"),
    (["limit", "expr:x.real"], "not allowed"),
    (["limit", "log", "--bound"], "--bound"),
    (["limit", "power:0.5", "--grid", "64"], "--grid"),
    (["limit", "expr:-1/x"], "not integrable"),
])
def test_cli_refusals_are_one_line_exit_2(argv, piece, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and piece in err[0]
