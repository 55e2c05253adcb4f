"""Symbolic derivations behind the closed forms of Song, Cai, Lee, Su (2023).

Nothing here is typed in from the paper: each closed form is *computed* by sympy (and
confirmed by mpmath where sympy cannot integrate), so that a wrong formula -- the design
card's "Beta(1-γ/2, 1-γ/2)", say -- cannot survive.

(a) :func:`derive_beta_parameter` -- the Beta parameter of Theorems 2 and 3 (Lemma 4.5).
    A measure mu is optimal for the kernel K(t) = |t|^p when its potential
    ``P(x) = int |x - y|^p mu(dy)`` is constant on [0, 1]. For mu = Beta(a, a), whose
    density is ~ y^(a-1) / B(a, a) near y = 0, Mellin asymptotics give, as x -> 0+,

        P(x) = (analytic in x) + x^(a+p) * M(a; p) / B(a, a) + o(x^(a+p)),

    where M(s; p) is the (analytically continued) Mellin transform of |1 - t|^p,
    ``int_0^inf |1 - t|^p t^(s-1) dt``. Splitting it at t = 1 and putting t = 1/u in the
    outer half turns both halves into Euler's Beta integral. As a + p is not an integer
    for -1 < p < 1, 0 < a < 1, a constant potential needs M(a; p) = 0: sympy reduces M
    with the reflection formula to a product of sines and solves it, giving
    a = (1 - p)/2. (The further non-analytic terms x^(a+p+k), from expanding
    (1-y)^(a-1), carry M(a+k; p), whose sine factor is (-1)^k times that of M(a; p): they
    vanish with it.) The log kernel is the derivative at p = 0. The endpoint condition is
    necessary; sufficiency is the Riesz identity (MATH.md, Lemma 4.5). :func:`potential`
    confirms with mpmath that the potential is constant at that a and not at the design
    card's a = 1 - g/2, and :func:`solve_beta_parameter_numerically`, given no formula,
    finds the same a.
(b) :func:`derive_limit_energy` -- the constant value of the potential, i.e. the limit of
    the normalized optimum (2 / (n (n - 1))) max S = pi / (B(a, a) cos(pi g / 2)).
(c) :func:`theorem4_bound` -- Theorem 4's atom bound U'(1) / (U'(0+) + U'(1)) for any U.
(d) :func:`lemma41_reflection_invariance`, :func:`lemma41_endpoint_gradients`,
    :func:`lemma41_symmetric_kkt`, :func:`lemma41_log_n4` -- Lemma 4.1 with a generic U.

>>> derive_beta_parameter("power").a
1/2 - gamma/2
>>> derive_beta_parameter("neg-power").a
gamma/2 + 1/2
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from sympy.simplify.fu import TR9

from rcollapse.theory.utilities import FAMILIES, Utility, parse_utility, x

__all__ = [
    "BetaDerivation",
    "OutsideHypotheses",
    "RIESZ_FAMILIES",
    "beta_parameter",
    "derive_beta_parameter",
    "derive_limit_energy",
    "euler_beta_integral",
    "kernel_exponent",
    "lemma41_endpoint_gradients",
    "lemma41_log_n4",
    "lemma41_reflection_invariance",
    "lemma41_symmetric_kkt",
    "limit_energy",
    "limit_energy_target",
    "mellin_kernel",
    "potential",
    "potential_spread",
    "solve_beta_parameter_numerically",
    "theorem4_bound",
    "theorem4_bound_expr",
]

#: The parameter of the power families, U = x^gamma and U = -x^(-gamma).
gamma = sp.Symbol("gamma", positive=True)
#: The kernel exponent: K(t) = |t|^p (p = gamma for power, p = -gamma for neg-power).
p = sp.Symbol("p", real=True)
#: The Beta parameter (and the Mellin variable).
s = sp.Symbol("s", real=True)


#: The families whose kernel U(|t|) is Riesz's, c |t|^p or log|t|: Lemma 4.5's potentials.
RIESZ_FAMILIES = ("power", "neg-power", "log")


class OutsideHypotheses(ValueError):
    """The utility is outside the hypotheses of the theorem asked for; one-line message."""


# --------------------------------------------------------------------------------------
# (a) The Beta parameter: Mellin asymptotics of the potential at the endpoint.
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def euler_beta_integral() -> sp.Expr:
    """Euler's integral int_0^1 t^(A-1) (1-t)^(B-1) dt, computed by sympy (A, B > 0).

    Slow (sympy integrates, about 5 s); :func:`mellin_kernel` uses the classical value
    Gamma(A) Gamma(B) / Gamma(A + B), which this function lets a test confirm.
    """
    A, B = sp.symbols("A B", positive=True)
    t = sp.Symbol("t", positive=True)
    value = sp.integrate(t ** (A - 1) * (1 - t) ** (B - 1), (t, 0, 1))
    return sp.gammasimp(sp.hyperexpand(value))


def _euler(A, B) -> sp.Expr:
    """Euler's Beta integral with (A, B), continued analytically: Gamma(A)Gamma(B)/Gamma(A+B)."""
    return sp.gamma(A) * sp.gamma(B) / sp.gamma(A + B)


def mellin_kernel(exponent=p, variable=s) -> sp.Expr:
    """M(s; p) = int_0^inf |1 - t|^p t^(s-1) dt, continued analytically in s.

    The inner half int_0^1 (1-t)^p t^(s-1) dt is B(s, p+1); the outer half, with t = 1/u,
    is int_0^1 (1-u)^p u^(-s-p-1) du = B(-s-p, p+1).

    >>> abs(sp.N(mellin_kernel(sp.Rational(1, 2), sp.Rational(1, 4)))) < 1e-15
    True
    """
    return _euler(variable, exponent + 1) + _euler(-variable - exponent, exponent + 1)


@dataclass(frozen=True)
class BetaDerivation:
    """The steps of (a): which Beta(a, a) has a constant potential for the kernel.

    ``steps`` lists (label, sympy expression) in order; ``a`` is the result, a sympy
    expression in ``gamma`` (or a number for log).
    """

    family: str
    kernel: str
    a: sp.Expr
    steps: tuple = field(repr=False)

    def as_text(self) -> list[str]:
        """One line per step, for a report."""
        return [f"{label}: {sp.sstr(expr)}" for label, expr in self.steps]


@functools.lru_cache(maxsize=None)
def _solve_power_kernel() -> tuple[tuple, sp.Expr]:
    """Solve M(a; p) = 0 for a in (0, 1), with -1 < p < 1 symbolic."""
    M = mellin_kernel(p, s)
    # Strip the nonzero factor Gamma(p+1) Gamma(s) Gamma(-s-p) (finite and nonzero for
    # 0 < s < 1, -1 < p < 1, s + p not an integer); the reflection formula leaves sines.
    reduced = sp.gammasimp(M / (sp.gamma(p + 1) * sp.gamma(s) * sp.gamma(-s - p)))
    product = sp.factor(TR9(sp.expand(reduced)))
    roots = sp.solve(product, s)
    chosen = _roots_in_unit_interval(roots, p, sp.Interval.open(-1, 1))
    steps = (
        ("Mellin coefficient M(a; p) of x^(a+p)", M.subs(s, sp.Symbol("a"))),
        ("divided by Gamma(p+1) Gamma(a) Gamma(-a-p)", reduced.subs(s, sp.Symbol("a"))),
        ("as a product", product.subs(s, sp.Symbol("a"))),
        ("roots in a", sp.FiniteSet(*roots)),
        ("the root in (0, 1) for every -1 < p < 1", chosen),
    )
    return steps, chosen


@functools.lru_cache(maxsize=None)
def _solve_log_kernel() -> tuple[tuple, sp.Expr]:
    """Solve for the log kernel, log|t| = d/dp |t|^p at p = 0."""
    M = mellin_kernel(p, s)
    at_zero = sp.simplify(M.subs(p, 0))  # |t|^0 = 1 has Mellin transform 0
    # M = Gamma(p+1) Gamma(s) Gamma(-s-p) * (sines), as in the power case; sympy does not
    # apply the digamma reflection formula to dM/dp directly, so differentiate this form
    # (and check it against the direct derivative at a sample point).
    prefactor = sp.gamma(p + 1) * sp.gamma(s) * sp.gamma(-s - p)
    reduced = sp.gammasimp(M / prefactor)
    derivative = sp.gammasimp(sp.diff(prefactor * reduced, p).subs(p, 0))
    direct = sp.diff(M, p).subs(p, 0)
    sample = sp.Rational(1, 3)
    if abs(sp.N((derivative - direct).subs(s, sample), 30)) > 1e-25:
        raise ArithmeticError("the two forms of dM/dp at p = 0 disagree")
    numerator, _ = sp.fraction(sp.together(derivative.rewrite(sp.cos)))
    roots = sp.solve(numerator, s)
    chosen = [r for r in roots if r.is_number and 0 < r < 1]
    if len(chosen) != 1:
        raise ArithmeticError(f"expected one root in (0, 1), got {roots}")
    steps = (
        ("M(a; 0) (the constant kernel)", at_zero),
        ("Mellin coefficient of log|1-t|: dM/dp at p = 0", derivative.subs(s, sp.Symbol("a"))),
        ("numerator", numerator.subs(s, sp.Symbol("a"))),
        ("roots in a", sp.FiniteSet(*roots)),
        ("the root in (0, 1)", chosen[0]),
    )
    return steps, chosen[0]


def _roots_in_unit_interval(roots, param, domain) -> sp.Expr:
    """The one root r(param) with r(domain) inside (0, 1)."""
    from sympy.calculus.util import function_range

    inside = []
    for r in roots:
        rng = function_range(r, param, domain) if r.has(param) else sp.FiniteSet(r)
        if rng.is_subset(sp.Interval.open(0, 1)):
            inside.append(r)
    if len(inside) != 1:
        raise ArithmeticError(f"expected one root in (0, 1), got {roots}")
    return inside[0]


def kernel_exponent(U: Utility | str) -> sp.Expr | None:
    """The exponent p with U = c x^p, c p > 0 (None for U = log x), read off U.expr.

    Raises :class:`OutsideHypotheses` when U is neither a power nor log.

    >>> kernel_exponent("neg-power:0.5")
    -1/2
    """
    U = parse_utility(U)
    if U.expr == sp.log(x):
        return None
    c, e = sp.Wild("c", exclude=[x]), sp.Wild("e", exclude=[x])
    match = U.expr.match(c * x**e)
    if not match or match[c] * match[e] <= 0:
        raise OutsideHypotheses(f"{U.spec}: U is not c x^p or log x; Lemma 4.5's potentials do not apply")
    return match[e]


@functools.lru_cache(maxsize=None)
def derive_beta_parameter(family: str) -> BetaDerivation:
    """(a) Lemma 4.5 (Song et al. 2023): Beta(a, a) has a constant potential for U iff a = (1 - p)/2.

    ``family`` is "power" (K = |t|^gamma), "neg-power" (K = -|t|^(-gamma)) or "log";
    the result's ``a`` is in the symbol ``gamma``. The family's own expression gives the
    exponent, so nothing per family is typed here.
    """
    if family == "log":
        steps, a = _solve_log_kernel()
        return BetaDerivation("log", "log|t|", a, steps)
    if family not in RIESZ_FAMILIES:
        raise OutsideHypotheses(f"{family}: no Riesz-kernel potential (Lemma 4.5 needs x^p or log x)")
    expr = FAMILIES[family].build(gamma)
    c, e = sp.Wild("c", exclude=[x]), sp.Wild("e", exclude=[x])
    exponent = expr.match(c * x**e)[e]
    steps, a_of_p = _solve_power_kernel()
    a = sp.expand(a_of_p.subs(p, exponent))
    steps = steps + ((f"with p = {exponent} ({family})", a),)
    return BetaDerivation(family, f"|t|^({exponent})", a, steps)


def beta_parameter(U: Utility | str, *, exact: bool = False):
    """The Beta(a, a) limit's parameter a for U, from the derivation (a).

    Valid where the potential exists: U = x^g (0 < g < 1), log x, -x^(-g) (0 < g < 1).
    Raises :class:`OutsideHypotheses` otherwise (linear, log-sigmoid, neg-power g >= 1,
    where the Riesz kernel |t|^(-g) is not integrable).

    >>> beta_parameter("power:0.25")
    0.375
    >>> beta_parameter("log", exact=True)
    1/2
    """
    U = parse_utility(U)
    p_value = kernel_exponent(U) if U.family in RIESZ_FAMILIES else sp.oo
    if p_value is not None and not (-1 < p_value < 1):
        raise OutsideHypotheses(
            f"{U.spec}: no Beta limit from Lemma 4.5 (needs U = x^p with -1 < p < 1, or log x)"
        )
    derivation = derive_beta_parameter(U.family)
    a = derivation.a if U.param is None else derivation.a.subs(gamma, sp.Rational(repr(U.param)))
    a = sp.nsimplify(a)
    return a if exact else float(a)


# --------------------------------------------------------------------------------------
# (a), numerically: the potential with mpmath.
# --------------------------------------------------------------------------------------
def potential(exponent, a, at, *, dps: int = 20) -> mpmath.mpf:
    """P(x) = int_0^1 K(x - y) Beta(a, a)(dy), K(t) = |t|^p, or log|t| if exponent is None.

    mpmath's tanh-sinh quadrature on four pieces, [0, x/2], [x/2, x], [x, (1+x)/2],
    [(1+x)/2, 1], each with its singularity moved to an end and removed by a power
    substitution (y = s^(1/a) at the ends of [0, 1], |x - y| = s^(1/(p+1)) at y = x), so
    the integrands are smooth and the result is accurate to about 10^(-dps+3).

    >>> round(float(potential(0.5, 0.25, 0.3)), 9)  # constant: pi / (B(1/4, 1/4) cos(pi/4))
    0.599070...
    """
    with mpmath.workdps(dps + 5):
        a, at = mpmath.mpf(a), mpmath.mpf(at)
        if exponent is None:
            kernel = mpmath.log
            near = lambda s: (s, mpmath.log(s))  # noqa: E731  (log is integrable as it is)
            near_end = lambda m: m  # noqa: E731
        else:
            q = mpmath.mpf(exponent)
            kernel = lambda t: t**q  # noqa: E731
            # u = s^(1/(q+1)): u^q du = ds / (q + 1)
            near = lambda s: (s ** (1 / (q + 1)), 1 / (q + 1))  # noqa: E731
            near_end = lambda m: m ** (q + 1)  # noqa: E731

        def weight(y, one_minus_y):  # y^(a-1) (1-y)^(a-1), both factors given exactly
            return y ** (a - 1) * one_minus_y ** (a - 1)

        total = mpmath.mpf(0)
        # y = s^(1/a) near an end: y^(a-1) dy = ds / a
        if at > 0:
            m = at / 2
            total += mpmath.quad(
                lambda s: kernel(at - s ** (1 / a)) * (1 - s ** (1 / a)) ** (a - 1) / a, [0, m**a])
            total += mpmath.quad(
                lambda s: (lambda u, f: f * weight(at - u, 1 - at + u))(*near(s)), [0, near_end(m)])
        if at < 1:
            m = (1 - at) / 2
            total += mpmath.quad(
                lambda s: (lambda u, f: f * weight(at + u, 1 - at - u))(*near(s)), [0, near_end(m)])
            total += mpmath.quad(
                lambda s: kernel(1 - at - s ** (1 / a)) * (1 - s ** (1 / a)) ** (a - 1) / a, [0, m**a])
        return +(total / mpmath.beta(a, a))


def potential_spread(exponent, a, *, points=(0.0, 0.1, 0.25, 0.4, 0.5), dps: int = 20) -> float:
    """max - min of the potential over ``points`` (symmetric about 1/2, so [0, 1/2] suffices)."""
    values = [potential(exponent, a, t, dps=dps) for t in points]
    return float(max(values) - min(values))


def solve_beta_parameter_numerically(exponent, *, start=(0.2, 0.6), dps: int = 20) -> float:
    """The a with P(1/2) = P(0) for Beta(a, a), by mpmath's secant method (no formula used).

    >>> round(solve_beta_parameter_numerically(0.25), 8)
    0.375
    """
    with mpmath.workdps(dps):
        root = mpmath.findroot(
            lambda a: potential(exponent, a, 0.5, dps=dps) - potential(exponent, a, 0, dps=dps),
            start,
            solver="secant",
        )
    return float(root)


# --------------------------------------------------------------------------------------
# (b) The limit energy.
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def derive_limit_energy(family: str) -> sp.Expr:
    """(b) Lemma 4.5 (Song et al. 2023): (2/(n(n-1))) max S -> pi / (B(a, a) cos(pi g / 2)), a = (1-g)/2.

    The potential's constant value, evaluated at x = 0 where it is a Beta integral:
    P(0) = c int y^p Beta(a, a)(dy) = c B(a + p, a) / B(a, a) (c = the sign of U), or its
    p-derivative at p = 0 for log. A sympy expression in ``gamma`` (a number for log).

    >>> derive_limit_energy("log")
    -log(4)
    """
    a_sym = sp.Symbol("a", positive=True)
    moment = _euler(a_sym + p, a_sym) / _euler(a_sym, a_sym)  # int y^p Beta(a, a)(dy)
    derivation = derive_beta_parameter(family)
    if family == "log":
        value = sp.diff(moment, p).subs(p, 0).subs(a_sym, derivation.a)
        return sp.simplify(sp.expand_func(value))
    expr = FAMILIES[family].build(gamma)
    c, e = sp.Wild("c", exclude=[x]), sp.Wild("e", exclude=[x])
    match = expr.match(c * x**e)
    value = match[c] * moment.subs(p, match[e]).subs(a_sym, derivation.a)
    return sp.gammasimp(value)


def limit_energy(U: Utility | str) -> float:
    """The limit of (2 / (n (n - 1))) max S for U, from (b); OutsideHypotheses if none.

    >>> round(limit_energy("power:0.5"), 6)
    0.59907
    """
    U = parse_utility(U)
    beta_parameter(U)  # raises OutsideHypotheses outside Lemma 4.5
    expr = derive_limit_energy(U.family)
    if U.param is not None:
        expr = expr.subs(gamma, sp.Rational(repr(U.param)))
    return float(sp.N(expr, 30))


def limit_energy_target(g) -> sp.Expr:
    """The paper's form pi / (B(a, a) cos(pi g / 2)), a = (1 - g)/2, for comparison with (b)."""
    a = (1 - g) / 2
    return sp.pi / (sp.beta(a, a) * sp.cos(sp.pi * g / 2))


# --------------------------------------------------------------------------------------
# (c) Theorem 4's bound.
# --------------------------------------------------------------------------------------
def theorem4_bound_expr(expr: sp.Expr) -> sp.Expr:
    """Theorem 4 (Song et al. 2023): U'(0) < inf, U'(1) > 0 => mu({0}) = mu({1}) >= U'(1)/(U'(0)+U'(1)).

    ``expr`` is U(x) as a sympy expression in ``theory.utilities.x`` (other symbols, such
    as sigma, stay symbolic). Raises :class:`OutsideHypotheses` when U'(0+) is infinite.

    >>> theorem4_bound_expr(x)
    1/2
    """
    d = sp.diff(expr, x)
    d0 = sp.limit(d.rewrite(sp.exp), x, 0, "+")
    d1 = sp.simplify(d.subs(x, 1))
    if d0.is_infinite or d0 is sp.zoo or d0 is sp.nan:
        raise OutsideHypotheses(f"U = {expr}: U'(0+) = {d0} is not finite; Theorem 4 does not apply")
    return sp.simplify(d1 / (d0 + d1))


def theorem4_bound(U: Utility | str) -> float:
    """Theorem 4's lower bound on each end atom, as a float, from ``U.expr``.

    >>> round(theorem4_bound("log-sigmoid:1"), 6)
    0.349755
    """
    U = parse_utility(U)
    return float(sp.N(theorem4_bound_expr(U.expr), 30))


# --------------------------------------------------------------------------------------
# (d) Lemma 4.1 with a generic utility.
# --------------------------------------------------------------------------------------
_U = sp.Function("U")


def _objective(r) -> sp.Expr:
    n = len(r)
    return sp.Add(*[_U(r[i] - r[j]) for i in range(n) for j in range(i + 1, n)])


def lemma41_reflection_invariance(n: int) -> sp.Expr:
    """Lemma 4.1 (Song et al. 2023): S(r) = S(R r), R r_i = 1 - r_(n+1-i), for every U; returns S(Rr) - S(r).

    The feasible set is mapped onto itself by R, so R maps maximizers to maximizers; with a
    unique maximizer (strictly concave U) it is symmetric, r_i + r_(n+1-i) = 1.

    >>> lemma41_reflection_invariance(5)
    0
    """
    r = sp.symbols(f"r1:{n + 1}", real=True)
    reflected = [1 - r[n - 1 - i] for i in range(n)]
    return sp.expand(_objective(reflected) - _objective(r))


def lemma41_endpoint_gradients(n: int) -> tuple[sp.Expr, sp.Expr]:
    """Lemma 4.1: dS/dr_1 = sum_j U'(r_1 - r_j) > 0 and dS/dr_n = -sum_i U'(r_i - r_n) < 0.

    Returns the two differences (dS/dr_1 - sum U', dS/dr_n + sum U'), both 0; with U
    increasing, r_1 rises to its bound 1 and r_n falls to 0 at the optimum.

    >>> lemma41_endpoint_gradients(4)
    (0, 0)
    """
    r = sp.symbols(f"r1:{n + 1}", real=True)
    S = _objective(r)
    xi = sp.Symbol("xi")
    dU = lambda gap: sp.diff(_U(xi), xi).subs(xi, gap)  # noqa: E731
    top = sp.diff(S, r[0]) - sp.Add(*[dU(r[0] - r[j]) for j in range(1, n)])
    bottom = sp.diff(S, r[-1]) + sp.Add(*[dU(r[i] - r[-1]) for i in range(n - 1)])
    return sp.simplify(top.doit()), sp.simplify(bottom.doit())


def lemma41_symmetric_kkt(n: int) -> sp.Expr:
    """Lemma 4.1: at a symmetric r (r_i + r_(n+1-i) = 1), grad_i S = -grad_(n+1-i) S, for every U.

    So the KKT system at a symmetric point is half as large (for odd n the middle
    reward 1/2 is stationary). Returns sum_i |grad_i + grad_(n+1-i)| as a sympy
    expression, which is 0.

    >>> lemma41_symmetric_kkt(5)
    0
    """
    r = sp.symbols(f"r1:{n + 1}", real=True)
    half = n // 2
    symmetric = {r[n - 1 - i]: 1 - r[i] for i in range(half)}
    if n % 2:
        symmetric[r[half]] = sp.Rational(1, 2)
    S = _objective(r)
    grad = [sp.diff(S, ri).subs(symmetric).doit() for ri in r]
    return sp.simplify(sp.Add(*[abs(sp.simplify(grad[i] + grad[n - 1 - i])) for i in range(n)]))


def lemma41_log_n4() -> tuple[sp.Expr, sp.Expr]:
    """Lemma 4.1 + Stieltjes at n = 4, U = log: the symmetric optimum (1, 1-v, v, 0).

    Solves dS/dv = 0 for v in (0, 1/2) and returns (v, (1 + t)/2) with t the smaller
    zero of P_3', the Gauss-Lobatto node; they agree: (1 - 1/sqrt(5))/2.

    >>> v, node = lemma41_log_n4(); sp.simplify(v - node)
    0
    """
    v = sp.Symbol("v", positive=True)
    r = (1, 1 - v, v, 0)
    S = sp.Add(*[sp.log(r[i] - r[j]) for i in range(4) for j in range(i + 1, 4)])
    roots = [c for c in sp.solve(sp.together(sp.diff(S, v)), v) if 0 < c < sp.Rational(1, 2)]
    t = sp.Symbol("t", real=True)
    nodes = sorted(sp.solve(sp.diff(sp.legendre(3, t), t), t), key=float)
    return sp.radsimp(roots[0]), sp.radsimp((1 + nodes[0]) / 2)
