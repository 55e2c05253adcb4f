"""Utility functions U of problem (5), each defined once as a sympy expression.

Song, Cai, Lee, Su (2023), section 3: a reward model trained on rankings maximizes
``sum_{i<j} U(r_i - r_j)`` per prompt. This module holds the families of the paper,

=================  =======================  ====================
spec               U(x)                     parameter
=================  =======================  ====================
``linear``         x                        --
``power:g``        x^g                      0 < g < 1
``neg-power:g``    -x^(-g)                  g > 0
``log``            log x                    --
``log-sigmoid:s``  log sigmoid(x / s)       s > 0
=================  =======================  ====================

Each family is written once, as a sympy expression in ``x``. Everything else -- U, U'
and U'' as numpy functions, the torch function, the CVXPY expression and the
properties (increasing, concave, U'(0+), U'(1)) -- is derived from that one
expression, never typed again.

A user-written utility goes through the same derivation: ``parse_utility`` also takes a
sympy expression in x, or the spec ``expr:<sympy text>`` (``expr:log(1 + 4*x)``,
``expr:x - x**2/2``). The text is parsed safely: only numbers, ``x``, the operators
``+ - * / ** ^ ( ) ,`` and the functions of :data:`EXPR_FUNCTIONS` are admitted, checked
token by token before sympy's ``parse_expr`` sees it (with no builtins), so nothing but
arithmetic can run. A user's U must be real, increasing and strictly concave on (0, 1];
each property is proved by sympy where its assumptions can (U' > 0 and U'' < 0 for
x > 0, or for x = 1 / (1 + t), t > 0), otherwise checked at the 999 points of
:data:`CHECK_POINTS` (geometric from 1e-9, then uniform to 1) in float64, and in 30-digit
mpmath wherever float64 cannot carry the sign (overflow, underflow, cancellation below
1e-9 of the terms), and reported as "checked, not proved" (:attr:`Utility.property_status`).
A U that fails is refused with one line naming the property and a point where it fails.
The strong concavity mu = inf -U'' of a user's U is the minimum over those points and
the limit at 0+ (checked, not proved); the families' mu is exact (sympy).

>>> V = parse_utility("expr:log(1 + 4*x)")
>>> V.spec, V.dU0, V.property_status["strictly_concave"]
('expr:log(4*x + 1)', 4.0, 'proved')
>>> parse_utility("expr:x**2")
Traceback (most recent call last):
...
rcollapse.theory.utilities.UtilityError: expr:x**2: not concave on (0, 1]: U''(1) = 2 > 0

>>> U = parse_utility("log-sigmoid:1")
>>> round(U.dU0, 6), round(U.dU1, 6)
(0.5, 0.268941)
>>> float(U.d1(np.array([0.0]))[0])
0.5
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from scipy import special

__all__ = [
    "EXPR_FUNCTIONS",
    "FAMILIES",
    "Family",
    "Utility",
    "UtilityError",
    "parse_utility",
    "x",
]

#: The argument of every utility: a reward gap r_i - r_j, positive on (0, 1].
x = sp.Symbol("x", positive=True)


class UtilityError(ValueError):
    """A utility spec that names no valid utility. The message is one line."""


# --------------------------------------------------------------------------------------
# Numerically stable building blocks, as sympy functions that know their derivatives.
# log sigmoid(z) = -softplus(-z); written with these, every derived form is stable.
# --------------------------------------------------------------------------------------
class sigmoid(sp.Function):
    """The logistic function 1 / (1 + exp(-z))."""

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.Rational(1, 2)
        if z is sp.oo:
            return sp.Integer(1)
        if z is sp.S.NegativeInfinity:
            return sp.Integer(0)

    def fdiff(self, argindex=1):
        (z,) = self.args
        return sigmoid(z) * sigmoid(-z)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _eval_is_positive(self):
        return self.args[0].is_extended_real

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _latex(self, printer):
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])

    def _torchcode(self, printer):
        return "torch.sigmoid(%s)" % printer._print(self.args[0])


class softplus(sp.Function):
    """softplus(z) = log(1 + exp(z)); its derivative is sigmoid(z)."""

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.log(2)

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    _eval_rewrite_as_log = _eval_rewrite_as_exp

    def _eval_is_positive(self):
        return self.args[0].is_extended_real

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _latex(self, printer):
        return r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])

    def _torchcode(self, printer):
        return "torch.nn.functional.softplus(%s)" % printer._print(self.args[0])


def _np_softplus(z):
    return np.logaddexp(0.0, z)


def _torch_modules():
    import torch

    return [{"torch": torch}, "torch"]


_NUMPY_MODULES = [{"sigmoid": special.expit, "softplus": _np_softplus, "erf": special.erf}, "numpy"]


# --------------------------------------------------------------------------------------
# Families: each declares its parameter domain once and its expression once.
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A family of utilities: a name, a parameter domain and the sympy expression."""

    name: str
    build: Callable[[sp.Expr | None], sp.Expr]
    param: str | None = None  # the parameter's name, None for a family without one
    lower: float = 0.0  # the open lower bound of the parameter
    upper: float = math.inf  # the open upper bound of the parameter
    latex_param: str = ""

    def domain(self) -> str:
        """The valid range of the parameter, as a person writes it."""
        if self.param is None:
            return "no parameter"
        if math.isinf(self.upper):
            return f"{self.param} > {self.lower:g}"
        return f"{self.lower:g} < {self.param} < {self.upper:g}"


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("linear", lambda p: x),
        Family("power", lambda g: x**g, "gamma", 0.0, 1.0, r"\gamma"),
        Family("neg-power", lambda g: -(x ** (-g)), "gamma", 0.0, math.inf, r"\gamma"),
        Family("log", lambda p: sp.log(x)),
        Family("log-sigmoid", lambda s: -softplus(-x / s), "sigma", 0.0, math.inf, r"\sigma"),
    )
}


#: Derivatives with more operations than this are kept as sympy differentiates them:
#: simplify costs seconds on a composed user expression and changes no value.
SIMPLIFY_MAX_OPS = 15


def _tidy(expr: sp.Expr, *, simplify: bool = True) -> sp.Expr:
    """sp.simplify(expr) when expr is small (every family's derivatives are) and the
    simplified form has the same values at a few points of (0, 1], else expr: simplify
    can move a fractional power onto a negative base, where its principal value differs
    ((1 - exp(-x))**(2/3) gave (-1)**(2/3) / (1 - exp(x))**(1/3), complex)."""
    if not simplify or sp.count_ops(expr) > SIMPLIFY_MAX_OPS:
        return expr
    tidy = sp.simplify(expr)
    if tidy == expr or not expr.has(x):
        return tidy
    probe = [0.013, 0.37, 0.91]
    with np.errstate(all="ignore"):
        a = np.asarray(_np_function(expr)(np.array(probe)), dtype=complex)
        b = np.asarray(_np_function(tidy)(np.array(probe)), dtype=complex)
    same = np.allclose(np.broadcast_to(a, (3,)), np.broadcast_to(b, (3,)), rtol=1e-9, atol=1e-12,
                       equal_nan=False)
    return tidy if same else expr


def _fmt_number(value: float) -> str:
    """The shortest text that reads back as the same float: 0.5, 1, 0.001."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True, eq=False)
class Utility:
    """One utility U, defined by a sympy expression ``expr`` in the positive symbol ``x``.

    Build it with :func:`parse_utility`. Every other form is derived from ``expr``:

    - ``U(x)``, ``d1(x)``, ``d2(x)``: U, U', U'' as vectorized numpy functions;
    - ``torch(x)``: U on torch tensors (autograd-ready);
    - ``cvxpy(expr)``: a DCP-valid concave CVXPY expression of U;
    - ``increasing``, ``strictly_concave``, ``strongly_concave``, ``dU0``, ``dU1``.
    """

    family: str
    param: float | None
    expr: sp.Expr = field(repr=False)

    # ---- identity ------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The spec string; ``parse_utility(U.spec)`` gives U back."""
        if self.family == "expr":
            return f"expr:{sp.sstr(self.expr)}"
        if self.param is None:
            return self.family
        return f"{self.family}:{_fmt_number(self.param)}"

    def __eq__(self, other):
        return isinstance(other, Utility) and other.spec == self.spec

    def __hash__(self):
        return hash(self.spec)

    def __repr__(self):
        return f"Utility({self.spec!r})"

    def __str__(self):
        return self.spec

    @property
    def latex(self) -> str:
        """U(x) in LaTeX, with the log-sigmoid written as log sigma(x / s)."""
        if self.family == "log-sigmoid":
            return r"\log \sigma\left(\frac{x}{%s}\right)" % _fmt_number(self.param)
        return sp.latex(self.expr)

    # ---- symbolic derivatives --------------------------------------------------------
    @functools.cached_property
    def dexpr(self) -> sp.Expr:
        """U'(x), symbolically: sympy's derivative, simplified for the families (see
        :func:`_tidy`; a user's expression keeps sympy's form: simplify costs seconds on
        a composed expression and changes no value)."""
        return _tidy(sp.diff(self.expr, x), simplify=self.family != "expr")

    @functools.cached_property
    def d2expr(self) -> sp.Expr:
        """U''(x), symbolically."""
        return _tidy(sp.diff(self.dexpr, x), simplify=self.family != "expr")

    # ---- numpy forms -----------------------------------------------------------------
    @staticmethod
    def _lambdify(expr, modules):
        f = sp.lambdify(x, expr, modules=modules)
        if expr.free_symbols:
            return f
        # A constant derivative (linear): broadcast it to the input's shape.
        value = float(expr)
        return lambda t: np.full(np.shape(t), value)

    @functools.cached_property
    def _np(self):
        return tuple(self._lambdify(e, _NUMPY_MODULES) for e in (self.expr, self.dexpr, self.d2expr))

    def __call__(self, t):
        """U(t), elementwise, for a float or numpy array of gaps t."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return self._np[0](np.asarray(t, dtype=float))

    def d1(self, t):
        """U'(t), elementwise."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return self._np[1](np.asarray(t, dtype=float))

    def d2(self, t):
        """U''(t), elementwise."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return self._np[2](np.asarray(t, dtype=float))

    # ---- torch form ------------------------------------------------------------------
    @functools.cached_property
    def _torch(self):
        if not self.expr.free_symbols:  # pragma: no cover - every family depends on x
            raise UtilityError(f"{self.spec}: utility does not depend on x")
        return sp.lambdify(x, self.expr, modules=_torch_modules())

    def torch(self, t):
        """U(t) on a torch tensor, differentiable by autograd."""
        if self.family == "linear":
            return t * 1.0
        return self._torch(t)

    # ---- CVXPY form ------------------------------------------------------------------
    def cvxpy(self, t):
        """U(t) as a DCP-valid concave CVXPY expression of the affine expression t;
        :class:`UtilityError` (one line, naming the methods that can) when U has none."""
        try:
            return _to_cvxpy(self.expr, t)
        except UtilityError as err:
            raise UtilityError(f"{_one_line(self.spec, 80)}: {err}") from None
        except (ArithmeticError, TypeError, ValueError) as err:  # a constant CVXPY cannot hold
            raise UtilityError(f"{_one_line(self.spec, 80)}: no CVXPY form ({type(err).__name__}: "
                               f"{_one_line(str(err), 60)}); use method newton or lbfgs") from None

    # ---- properties: proved by sympy where it can, else checked on a grid ----------
    @functools.cached_property
    def _properties(self) -> dict:
        return _derive_properties(self)

    @property
    def property_status(self) -> dict:
        """How each property was established: "proved" (sympy) or "checked, not proved"
        (mpmath at :data:`CHECK_POINTS` points of (0, 1])."""
        return dict(self._properties["status"])

    @property
    def increasing(self) -> bool:
        """U' > 0 on (0, 1) and U'(1) >= 0: U strictly increasing on (0, 1]."""
        return self._properties["increasing"]

    @property
    def strictly_concave(self) -> bool:
        """U'' < 0 on (0, 1) (zeros only at isolated points) and U''(1) <= 0."""
        return self._properties["strictly_concave"]

    @functools.cached_property
    def _mu(self) -> sp.Expr:
        return _infimum_on_unit(-self.d2expr)

    @property
    def strongly_concave(self) -> bool:
        """sup over (0, 1] of U'' is negative: U is mu-strongly concave for some mu > 0."""
        return self._properties["strongly_concave"]

    @property
    def strong_concavity(self) -> float:
        """mu = inf over (0, 1] of -U'' (0 when U is not strongly concave)."""
        return self._properties["mu"]

    @functools.cached_property
    def dU0(self) -> float | None:
        """U'(0+), or None when it is infinite (``math.inf`` when finite but above the
        float64 range, as for log-sigmoid:1e-320)."""
        try:
            value = sp.limit(self.dexpr.rewrite(sp.exp), x, 0, "+")
        except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - sympy gave up
            value = None
        if value is not None and (value is sp.oo or value is sp.zoo):
            return None
        if value is not None and value.is_extended_real and value.is_finite:
            return _to_float(value)
        return _numeric_limit_at_zero(self.dexpr)

    @functools.cached_property
    def dU1(self) -> float:
        """U'(1)."""
        return _to_float(self.dexpr.subs(x, 1))

    @functools.cached_property
    def cvxpy_error(self) -> str | None:
        """None when U has a DCP-valid concave CVXPY form, else why not (one line)."""
        import cvxpy as cp

        try:
            self.cvxpy(cp.Variable())
        except UtilityError as err:
            return str(err)
        return None

    def describe(self) -> dict:
        """The JSON object of ``rcollapse utility SPEC --json`` (strict JSON: a finite value
        above the float64 range, such as U'(0+) of log-sigmoid:1e-320, is a string)."""
        return {
            "spec": self.spec,
            "latex": self.latex,
            "increasing": self.increasing,
            "strictly_concave": self.strictly_concave,
            "strongly_concave": self.strongly_concave,
            "strong_concavity": self.strong_concavity,
            "dU0": None if self.dU0 is None else _json_number(self.dU0, self.dexpr, at_one=False),
            "dU1": _json_number(self.dU1, self.dexpr, at_one=True),
            "property_status": self.property_status,
            "cvxpy": self.cvxpy_error is None,
        }


# --------------------------------------------------------------------------------------
# Properties: one derivation for the families and for user-written expressions.
# --------------------------------------------------------------------------------------
#: Points of (0, 1] where a property sympy cannot prove is checked (geometric near 0).
CHECK_POINTS = np.unique(np.concatenate((np.geomspace(1e-9, 1e-2, 200), np.linspace(0.01, 1.0, 800))))
#: A value below this times its local scale (sum of |terms|) counts as zero in the grid
#: checks: the rounding of a 30-digit mpmath sum, with room to spare.
_ZERO = 1e-20


def _to_float(value) -> float:
    """float of a sympy number; inf (not OverflowError) beyond the float64 range."""
    value = sp.sympify(value)
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, float(sp.sign(value)))
    except TypeError:
        return float(value.evalf(30))


def _json_number(value: float, expr: sp.Expr, *, at_one: bool):
    """value, or (when it overflows float64) its exact value as text, e.g. '5.0e+319'."""
    if math.isfinite(value):
        return value
    import mpmath

    exact = expr.subs(x, 1) if at_one else sp.limit(expr.rewrite(sp.exp), x, 0, "+")
    return mpmath.nstr(mpmath.mpf(str(sp.N(exact, 20))), 6) if exact.is_finite else None


def _mp_function(expr: sp.Expr):
    import mpmath

    modules = [{"sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
                "softplus": lambda z: mpmath.log1p(mpmath.exp(z))}, "mpmath"]
    return sp.lambdify(x, expr, modules=modules)


def _mp_values(expr: sp.Expr, points) -> list:
    """expr at the points, in 30-digit mpmath; None where it is not a finite real number."""
    import mpmath

    f = _mp_function(expr)
    out = []
    with mpmath.workdps(30):
        for p in points:
            try:
                v = f(mpmath.mpf(float(p))) if expr.has(x) else mpmath.mpmathify(complex(expr))
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                out.append(None)
                continue
            if isinstance(v, mpmath.mpc):
                v = v.real if abs(v.imag) <= _ZERO * max(1, abs(v.real)) else None
            out.append(v if v is not None and mpmath.isfinite(v) else None)
    return out


@functools.lru_cache(maxsize=256)
def _np_function(expr: sp.Expr):
    f = sp.lambdify(x, expr, modules=_NUMPY_MODULES)
    if expr.has(x):
        return f
    value = complex(expr)
    return lambda t: np.full(np.shape(t), value.real if value.imag == 0 else np.nan)


def _grid_values(expr: sp.Expr, points, *, with_scale: bool = False):
    """expr at the points: float64 (numpy, vectorized) where that is trustworthy, else
    30-digit mpmath (:func:`_mp_values`): where float64 is not finite (overflow, or not
    real) or too small to carry its sign (underflow; below 1e-9 of the largest value).
    None where expr is not a finite real number. ``with_scale``: also the local scale of
    each value, sum |term| over the terms of expr (in the same arithmetic), against which
    a value counts as zero."""
    pts = np.asarray(points, dtype=float)

    def evaluate(e):
        with np.errstate(all="ignore"):
            try:
                v = np.asarray(_np_function(e)(pts), dtype=complex)
            except (TypeError, ValueError, ZeroDivisionError, OverflowError):  # pragma: no cover
                v = np.full(pts.shape, np.nan, dtype=complex)
        v = np.broadcast_to(v, pts.shape)
        return np.where(np.abs(v.imag) == 0, v.real, np.nan)

    real = evaluate(expr)
    # The rounding error of a sum is relative to its terms: the local scale is sum |term|.
    terms = sp.Add.make_args(expr)
    scale = np.abs(real) if len(terms) == 1 else sum(np.abs(evaluate(t)) for t in terms)
    with np.errstate(invalid="ignore"):
        doubtful = ~np.isfinite(real) | ~np.isfinite(scale) | (np.abs(real) <= 1e-9 * scale) | (scale < 1e-280)
    out = [float(r) for r in real]
    idx = np.flatnonzero(doubtful)
    if idx.size:
        for i, value in zip(idx, _mp_values(expr, pts[idx])):
            out[i] = value
    if with_scale:
        scales = [float(c) for c in scale]
        if idx.size:
            parts = [_mp_values(t, pts[idx]) for t in terms]
            for k, i in enumerate(idx):
                vals = [p[k] for p in parts]
                scales[i] = None if any(v is None for v in vals) else sum(abs(v) for v in vals)
        return out, scales
    return out


def _numeric_limit_at_zero(expr: sp.Expr) -> float | None:
    """lim_{x -> 0+} expr from its values at 1e-30, 1e-60, 1e-90 (None: it grows without
    bound); used only when sympy's limit gives no answer."""
    vals = _mp_values(expr, [1e-30, 1e-60, 1e-90])
    if any(v is None for v in vals) or abs(vals[2]) > 1e15 or abs(vals[2] - vals[1]) > 1e-8 * (1 + abs(vals[2])):
        return None
    return float(vals[2])


def _proved_positive(expr: sp.Expr) -> bool:
    """Whether sympy's assumptions prove expr > 0 for every x in (0, 1): directly (x > 0),
    or after x = 1 / (1 + t) with t > 0."""
    if expr.is_positive:
        return True
    t = sp.Dummy("t", positive=True)
    moved = expr.subs(x, 1 / (1 + t))
    return bool(moved.is_positive or sp.together(moved).is_positive)


def _sign_on_unit(expr: sp.Expr, sign: int, what: str, *, strict: bool):
    """Establish sign * expr > 0 on (0, 1) (zeros only at isolated points) and
    sign * expr(1) >= 0.

    Returns (holds, status, failure, kind): ``failure`` is a one-line reason naming a
    point (None when it holds) and ``kind`` is "sign" (a value of the wrong sign, or not
    real) or "zero" (zero on an interval). Tried in turn: an exact zero (U'' = 0: linear),
    sympy's assumptions, then the grid :data:`CHECK_POINTS` in 30-digit mpmath.
    """
    e = sign * expr
    wrong = "< 0" if sign > 0 else "> 0"
    if e == 0:
        return False, "proved", f"{what} = 0 on (0, 1]", "zero"
    (at_one,), (scale_one,) = _grid_values(e, [1.0], with_scale=True)
    if at_one is not None and at_one < -_ZERO * (scale_one or 0.0):
        return False, "proved", f"{what}(1) = {sign * float(at_one):.6g} {wrong}", "sign"
    if at_one is not None and _proved_positive(e):
        return True, "proved", None, None
    values, scales = _grid_values(e, CHECK_POINTS, with_scale=True)
    zero_run = False
    for p, v, sc in zip(CHECK_POINTS, values, scales):
        if v is None or sc is None:
            return False, "checked, not proved", f"{what}({p:.6g}) is not a finite real number", "sign"
        if v < -_ZERO * sc:
            return False, "checked, not proved", f"{what}({p:.6g}) = {sign * float(v):.6g} {wrong}", "sign"
        if strict and abs(v) <= _ZERO * sc and p < 1.0:
            if zero_run:
                return False, "checked, not proved", f"{what} = 0 on an interval near x = {p:.6g}", "zero"
            zero_run = True
        else:
            zero_run = False
    return True, "checked, not proved", None, None


def _derive_properties(U: "Utility") -> dict:
    """increasing, strictly concave, strongly concave and mu for U, with how each was
    established. The families' mu is exact (sympy finds the critical points of U'');
    a user expression's mu is the minimum of -U'' over the check points and 0+."""
    inc, inc_status, inc_fail, inc_kind = _sign_on_unit(U.dexpr, 1, "U'", strict=True)
    conc, conc_status, conc_fail, conc_kind = _sign_on_unit(U.d2expr, -1, "U''", strict=True)
    if U.family != "expr":
        mu_expr = U._mu
        strongly = bool(mu_expr.is_positive)
        mu = max(_to_float(mu_expr), 0.0) if strongly else 0.0
        mu_status = "proved"
    else:
        values = [v for v in _grid_values(-U.d2expr, CHECK_POINTS) if v is not None]
        try:
            at_zero = sp.limit(-U.d2expr.rewrite(sp.exp), x, 0, "+")
            at_zero = None if at_zero.is_infinite else (at_zero if at_zero.is_real else _numeric_limit_at_zero(-U.d2expr))
        except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - sympy gave up
            at_zero = _numeric_limit_at_zero(-U.d2expr)
        lowest = min(values + ([at_zero] if at_zero is not None else [])) if values and conc else 0
        strongly = bool(lowest > 0)
        mu = max(_to_float(sp.sympify(str(lowest)) if not isinstance(lowest, sp.Basic) else lowest), 0.0)
        mu_status = "checked, not proved"
    return {
        "increasing": inc, "strictly_concave": conc, "strongly_concave": strongly, "mu": mu,
        "failures": {"increasing": (inc_fail, inc_kind), "strictly_concave": (conc_fail, conc_kind)},
        "status": {"increasing": inc_status, "strictly_concave": conc_status,
                   "strong_concavity": mu_status},
    }


def _infimum_on_unit(expr: sp.Expr) -> sp.Expr:
    """inf over x in (0, 1] of expr, exactly: the smallest of the limit at 0+, the value
    at 1 and the values at the critical points inside (0, 1)."""
    smooth = expr.rewrite(sp.exp)
    candidates = [sp.limit(smooth, x, 0, "+"), smooth.subs(x, 1)]
    if smooth.has(x):
        # Rescale x = y / a when U involves exp(a x): solveset would otherwise expand
        # exp(1000 x) into a polynomial of degree 1000 in exp(x).
        rates = {e.args[0].coeff(x) for e in smooth.atoms(sp.exp)} - {0}
        a = abs(next(iter(rates))) if len(rates) >= 1 else sp.Integer(1)
        y = sp.Symbol("y", positive=True)
        critical = sp.solveset(sp.diff(smooth.subs(x, y / a), y), y, sp.Interval.open(0, a))
        if not (critical is sp.S.EmptySet or isinstance(critical, sp.FiniteSet)):
            raise UtilityError(f"cannot locate the critical points of {expr} on (0, 1)")
        candidates += [smooth.subs(x, c / a) for c in critical]
    return sp.Min(*[sp.simplify(c) for c in candidates])


def _to_cvxpy(expr: sp.Expr, t):
    """Translate a sympy expression in x into a CVXPY expression of t, atom by atom.

    Raises :class:`UtilityError` (one line) for an atom with no CVXPY counterpart, and
    for a translation that is not DCP-concave."""
    out = _to_cvxpy_atoms(expr, t)
    if not isinstance(out, (int, float)) and not out.is_concave():
        raise UtilityError(f"no DCP-concave CVXPY form for {expr} (the translation is not "
                           "provably concave); use method newton or lbfgs")
    return out


def _to_cvxpy_atoms(expr: sp.Expr, t):
    import cvxpy as cp

    if expr == x:
        return t
    if expr.is_Number or (expr.is_number and expr.is_real):
        return float(expr)
    if expr.is_Add:
        terms = [_to_cvxpy_atoms(a, t) for a in expr.args]
        return functools.reduce(lambda a, b: a + b, terms)
    if expr.is_Mul:
        numbers = [a for a in expr.args if a.is_number]
        rest = [a for a in expr.args if not a.is_number]
        if len(rest) != 1:  # a product of two non-constant factors: not DCP
            raise UtilityError(f"no CVXPY form for {expr}: a product of functions of x; "
                               "use method newton or lbfgs")
        return float(sp.Mul(*numbers)) * _to_cvxpy_atoms(rest[0], t)
    if expr.is_Pow:
        base, exponent = expr.args
        if not exponent.is_Number:
            raise UtilityError(f"no CVXPY form for {expr}: exponent must be a number; "
                               "use method newton or lbfgs")
        # Exact power cones (approx=False): no rational approximation of the exponent.
        return cp.power(_to_cvxpy_atoms(base, t), float(exponent), approx=False)
    if isinstance(expr, sp.log):
        (arg,) = expr.args
        if isinstance(arg, sigmoid):  # log sigmoid(z) = -softplus(-z)
            return -cp.logistic(-_to_cvxpy_atoms(arg.args[0], t))
        return cp.log(_to_cvxpy_atoms(arg, t))
    if isinstance(expr, sp.exp):
        return cp.exp(_to_cvxpy_atoms(expr.args[0], t))
    if isinstance(expr, softplus):
        return cp.logistic(_to_cvxpy_atoms(expr.args[0], t))
    raise UtilityError(f"no CVXPY form for {expr} ({type(expr).__name__} has no CVXPY atom); "
                       "use method newton or lbfgs")


# --------------------------------------------------------------------------------------
# User-written utilities: expr:<sympy text>, parsed safely.
# --------------------------------------------------------------------------------------
#: The functions a user expression may call, by the name it uses.
EXPR_FUNCTIONS = {
    "log": sp.log, "exp": sp.exp, "sqrt": sp.sqrt, "Abs": sp.Abs, "atan": sp.atan,
    "tanh": sp.tanh, "asinh": sp.asinh, "erf": sp.erf, "sigmoid": sigmoid, "softplus": softplus,
}
#: The constants it may use.
EXPR_CONSTANTS = {"pi": sp.pi, "E": sp.E}
#: Longest accepted expression text.
MAX_EXPR_CHARS = 400
#: Largest |p| in u**p for a function u of x (mpmath's x**(10**200) would not return).
MAX_EXPONENT = 1000
#: A number power a**b is evaluated only while |b| log10|a| stays below this.
MAX_NUMBER_DIGITS = 300
_OPERATORS = {"+", "-", "*", "/", "**", "^", "(", ")", ","}
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _check_tokens(text: str, shown: str) -> None:
    """Refuse, with one line, any token that is not a number, x, an allowed function or
    constant, or an arithmetic operator: no attribute access, no dunder names, no lambda,
    no strings, no indexing, no keywords."""
    import io
    import tokenize

    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                                    tokenize.DEDENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        raise UtilityError(f"{shown}: unbalanced parentheses or unreadable text") from None
    allowed = ", ".join(sorted(EXPR_FUNCTIONS))
    depth = 0
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if tok.type == tokenize.NAME:
            if tok.string in EXPR_FUNCTIONS:
                if nxt != "(":
                    raise UtilityError(f"{shown}: function {tok.string!r} must be called, as {tok.string}(x)")
            elif tok.string == "x" or tok.string in EXPR_CONSTANTS:
                if nxt == "(":
                    raise UtilityError(f"{shown}: {tok.string!r} is not a function; valid functions: {allowed}")
            else:
                raise UtilityError(f"{shown}: name {_one_line(tok.string, 30)!r} is not allowed; valid: "
                                   f"x, pi, E and the functions {allowed}")
        elif tok.type == tokenize.NUMBER:
            if not _NUMBER.fullmatch(tok.string):
                raise UtilityError(f"{shown}: number {tok.string!r} is not a decimal number")
        elif tok.type == tokenize.OP and tok.string in _OPERATORS:
            depth += {"(": 1, ")": -1}.get(tok.string, 0)
            if depth > 30:
                raise UtilityError(f"{shown}: parentheses nested deeper than 30")
        else:
            raise UtilityError(f"{shown}: {_one_line(tok.string, 30)!r} is not allowed; valid: numbers, x, "
                               "+ - * / ** ^ ( ) , and the functions " + allowed)


def _evaluate_bounded(expr: sp.Expr, shown: str) -> sp.Expr:
    """Evaluate an unevaluated parse tree bottom-up, refusing number powers (9**9**9)
    whose exact value would have more than MAX_NUMBER_DIGITS digits."""
    if expr.is_Atom:
        return expr
    args = [_evaluate_bounded(a, shown) for a in expr.args]
    if expr.is_Pow and args[1].is_Number and not args[0].is_Number and abs(args[1]) > MAX_EXPONENT:
        raise UtilityError(f"{shown}: exponent {_one_line(str(args[1]), 24)} is too large; "
                           f"valid: |exponent| <= {MAX_EXPONENT}")
    if expr.is_Pow and args[0].is_Number and args[1].is_Number and args[0] != 0:
        size = abs(float(args[1])) * abs(math.log10(abs(float(args[0])) or 1e-300))
        if not size <= MAX_NUMBER_DIGITS:
            raise UtilityError(f"{shown}: number {args[0]}**{args[1]} is too large; valid: "
                               f"powers of numbers below 10**{MAX_NUMBER_DIGITS}")
    return expr.func(*args)


def parse_expression(text: str) -> sp.Expr:
    """A sympy expression in x from user text, parsed safely (module docstring); decimals
    become exact rationals (0.5 -> 1/2) and ``^`` means power.

    >>> parse_expression("log(1 + 4*x) + x^0.5")
    sqrt(x) + log(4*x + 1)
    >>> parse_expression("x.__class__")
    Traceback (most recent call last):
    ...
    rcollapse.theory.utilities.UtilityError: 'x.__class__': '.' is not allowed; valid: numbers, x, + - * / ** ^ ( ) , and the functions Abs, asinh, atan, erf, exp, log, sigmoid, softplus, sqrt, tanh
    """
    from sympy.parsing.sympy_parser import auto_number, convert_xor, parse_expr, rationalize

    shown = repr(_one_line(text))
    if not isinstance(text, str) or not text.strip():
        raise UtilityError(f"{shown}: empty expression; valid: a sympy expression in x, as log(1 + 4*x)")
    if len(text) > MAX_EXPR_CHARS:
        raise UtilityError(f"{shown}: expression longer than {MAX_EXPR_CHARS} characters")
    _check_tokens(text, shown)
    names = {"x": x, **EXPR_FUNCTIONS, **EXPR_CONSTANTS}
    builders = {"__builtins__": {}, "Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational,
                "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow}
    try:
        tree = parse_expr(text.strip(), local_dict=names, global_dict=builders,
                          transformations=(auto_number, rationalize, convert_xor), evaluate=False)
    except (SyntaxError, TypeError, ValueError, NameError, AttributeError) as err:
        raise UtilityError(f"{shown}: not a valid expression ({_one_line(str(err), 60)})") from None
    if not isinstance(tree, sp.Expr):
        raise UtilityError(f"{shown}: not a single expression in x")
    return _evaluate_bounded(tree, shown)


def _expression_utility(expr: sp.Expr, shown: str) -> "Utility":
    """A Utility from a user's sympy expression: x only, real, increasing and strictly
    concave on (0, 1] (refused with one line naming the property and a point otherwise).
    Cached by expression: establishing the properties costs sympy and mpmath time."""
    other = {s for s in expr.free_symbols if s.name != "x"}
    if other:
        names = ", ".join(sorted(s.name for s in other))
        raise UtilityError(f"{shown}: symbols other than x ({names}); valid: an expression in x only")
    expr = expr.subs({s: x for s in expr.free_symbols})  # the user's Symbol("x") -> ours
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise UtilityError(f"{shown}: U = {_one_line(str(expr))} is not finite")
    if not expr.has(x):
        raise UtilityError(f"{shown}: U = {expr} does not depend on x")
    return _checked_expression_utility(_canonical(expr, shown))


def _canonical(expr: sp.Expr, shown: str) -> sp.Expr:
    """The expression that its own spec text parses back to, so that
    ``parse_utility(U.spec) == U`` (sympy distributes 2*(x + 1) into 2*x + 2 on parsing).
    The text passes the same safety check as a typed spec: only the functions of
    :data:`EXPR_FUNCTIONS`, also for an expression built in Python."""
    for _ in range(4):
        again = parse_expression(sp.sstr(expr))
        if again == expr:
            return expr
        expr = again
    raise UtilityError(f"{shown}: its printed form does not parse back to itself; write it more simply")


@functools.lru_cache(maxsize=512)
def _checked_expression_utility(expr: sp.Expr) -> "Utility":
    try:
        return _check_expression_utility(expr)
    except UtilityError:
        raise
    except Exception as err:  # sympy or lambdify cannot handle a form of this U: say so
        spec = _one_line(f"expr:{sp.sstr(expr)}", 80)
        raise UtilityError(f"{spec}: cannot derive U', U'' and their numeric forms "
                           f"({type(err).__name__}: {_one_line(str(err), 60)})") from None


def _check_expression_utility(expr: sp.Expr) -> "Utility":
    U = Utility("expr", None, expr)
    shown_spec = _one_line(U.spec, 80)
    values = _grid_values(expr, CHECK_POINTS)
    bad = next((p for p, v in zip(CHECK_POINTS, values) if v is None), None)
    if bad is not None:
        raise UtilityError(f"{shown_spec}: U({bad:.6g}) is not a finite real number; valid: U real on (0, 1]")
    props = U._properties
    labels = {("increasing", "sign"): "not increasing", ("increasing", "zero"): "not strictly increasing",
              ("strictly_concave", "sign"): "not concave",
              ("strictly_concave", "zero"): "not strictly concave (the optimum of (5) is not unique)"}
    for name in ("increasing", "strictly_concave"):
        if not props[name]:
            failure, kind = props["failures"][name]
            raise UtilityError(f"{shown_spec}: {labels[name, kind]} on (0, 1]: {failure}")
    return U


_PARAMETER = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


def parse_utility(spec) -> Utility:
    """Parse a spec string such as ``power:0.5`` into a :class:`Utility`.

    ``spec`` may also be ``expr:<sympy text>`` (a user-written U, parsed safely by
    :func:`parse_expression`), a sympy expression in x, or a Utility (returned as is).
    Raises :class:`UtilityError`, a one-line message naming the value and the valid
    range, for anything else.

    >>> parse_utility(x - x**2 / 2).spec
    'expr:-x**2/2 + x'

    >>> parse_utility("power:0.50").spec
    'power:0.5'
    >>> parse_utility("power:1.5")
    Traceback (most recent call last):
    ...
    rcollapse.theory.utilities.UtilityError: power:1.5: gamma = 1.5 is out of range; valid: 0 < gamma < 1
    """
    if isinstance(spec, Utility):
        return spec
    if isinstance(spec, sp.Basic):
        if not isinstance(spec, sp.Expr):
            raise UtilityError(f"utility must be a sympy expression in x, got {type(spec).__name__}")
        return _expression_utility(sp.sympify(spec), _one_line(sp.sstr(spec)))
    if not isinstance(spec, str):
        raise UtilityError(f"utility spec must be a string or a sympy expression in x, got {type(spec).__name__}")
    shown = _one_line(spec)
    if spec.strip().startswith("expr:"):
        text = spec.strip()[len("expr:"):]
        return _expression_utility(parse_expression(text), f"expr:{_one_line(text)}")
    known = ", ".join(
        f"{f.name}" if f.param is None else f"{f.name}:{f.param[0]}" for f in FAMILIES.values()
    ) + ", expr:<sympy expression in x>"
    name, sep, raw = spec.strip().partition(":")
    family = FAMILIES.get(name.strip())
    if family is None:
        raise UtilityError(f"unknown utility {shown!r}; valid: {known}")
    if family.param is None:
        if sep:
            raise UtilityError(f"{shown!r}: {family.name} takes no parameter; valid: {family.name}")
        return _family_utility(family.name, None)
    if not sep or not raw.strip():
        raise UtilityError(
            f"{shown!r}: {family.name} needs a parameter, as {family.name}:{family.param[0]} "
            f"with {family.domain()}"
        )
    try:
        if not _PARAMETER.fullmatch(raw.strip()):  # float() would read "0_5" as 5
            raise ValueError(raw)
        value = float(raw)
    except ValueError:
        raise UtilityError(
            f"{shown!r}: {family.param} = {_one_line(raw)!r} is not a number; valid: {family.domain()}"
        ) from None
    if not (family.lower < value < family.upper):
        raise UtilityError(
            f"{shown}: {family.param} = {_fmt_number(value) if math.isfinite(value) else value} "
            f"is out of range; valid: {family.domain()}"
        )
    return _family_utility(family.name, value)


@functools.lru_cache(maxsize=512)
def _family_utility(name: str, value: float | None) -> Utility:
    """The family's Utility, one instance per (family, parameter): its derived forms and
    properties are computed once. The parameter is made an exact rational (0.5 -> 1/2),
    so the symbolic forms stay exact."""
    family = FAMILIES[name]
    if value is None:
        return Utility(name, None, family.build(None))
    return Utility(name, value, family.build(sp.Rational(repr(value))))


def _one_line(text: str, limit: int = 60) -> str:
    """Text safe to show inside a one-line message: no line breaks, bounded length."""
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
