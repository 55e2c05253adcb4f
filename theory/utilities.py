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

>>> U = parse_utility("log-sigmoid:1")
>>> round(U.dU0, 6), round(U.dU1, 6)
(0.5, 0.268941)
>>> float(U.d1(np.array([0.0]))[0])
0.5
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp
from scipy import special

__all__ = [
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


_NUMPY_MODULES = [{"sigmoid": special.expit, "softplus": _np_softplus}, "numpy"]


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
        """U'(x), symbolically."""
        return sp.simplify(sp.diff(self.expr, x))

    @functools.cached_property
    def d2expr(self) -> sp.Expr:
        """U''(x), symbolically."""
        return sp.simplify(sp.diff(self.expr, x, 2))

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
        """U(t) as a DCP-valid concave CVXPY expression of the affine expression t."""
        return _to_cvxpy(self.expr, t)

    # ---- properties, computed symbolically -----------------------------------------
    @functools.cached_property
    def increasing(self) -> bool:
        """U' > 0 on (0, 1]."""
        return bool(_is_positive_on_unit(self.dexpr))

    @functools.cached_property
    def strictly_concave(self) -> bool:
        """U'' < 0 on (0, 1]."""
        return bool(_is_positive_on_unit(-self.d2expr))

    @functools.cached_property
    def _mu(self) -> sp.Expr:
        return _infimum_on_unit(-self.d2expr)

    @functools.cached_property
    def strongly_concave(self) -> bool:
        """sup over (0, 1] of U'' is negative: U is mu-strongly concave for some mu > 0."""
        return bool(self._mu.is_positive)

    @functools.cached_property
    def strong_concavity(self) -> float:
        """mu = inf over (0, 1] of -U'' (0 when U is not strongly concave)."""
        return max(float(self._mu), 0.0)

    @functools.cached_property
    def dU0(self) -> float | None:
        """U'(0+), or None when it is infinite."""
        value = sp.limit(self.dexpr.rewrite(sp.exp), x, 0, "+")
        return float(value) if value.is_finite else None

    @functools.cached_property
    def dU1(self) -> float:
        """U'(1)."""
        return float(self.dexpr.subs(x, 1).evalf())

    def describe(self) -> dict:
        """The JSON object of ``rcollapse utility SPEC --json``."""
        return {
            "spec": self.spec,
            "latex": self.latex,
            "increasing": self.increasing,
            "strictly_concave": self.strictly_concave,
            "strongly_concave": self.strongly_concave,
            "dU0": self.dU0,
            "dU1": self.dU1,
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


def _is_positive_on_unit(expr: sp.Expr) -> bool:
    """Whether expr > 0 for every x in (0, 1], decided by sympy."""
    if expr.is_positive:
        return True
    lowest = _infimum_on_unit(expr)
    if lowest.is_positive:
        return True
    # An infimum of 0 may be approached but not attained (at the open end 0+).
    if lowest.is_zero:
        zeros = sp.solveset(expr.rewrite(sp.exp), x, sp.Interval.Lopen(0, 1))
        return zeros is sp.S.EmptySet
    return False


def _to_cvxpy(expr: sp.Expr, t):
    """Translate a sympy expression in x into a CVXPY expression of t, atom by atom."""
    import cvxpy as cp

    if expr == x:
        return t
    if expr.is_Number:
        return float(expr)
    if expr.is_Add:
        terms = [_to_cvxpy(a, t) for a in expr.args]
        return functools.reduce(lambda a, b: a + b, terms)
    if expr.is_Mul:
        const, rest = expr.as_coeff_Mul()
        return float(const) * _to_cvxpy(rest, t)
    if expr.is_Pow:
        base, exponent = expr.args
        if not exponent.is_Number:
            raise UtilityError(f"no CVXPY form for {expr}: exponent must be a number")
        # Exact power cones (approx=False): no rational approximation of the exponent.
        return cp.power(_to_cvxpy(base, t), float(exponent), approx=False)
    if isinstance(expr, sp.log):
        return cp.log(_to_cvxpy(expr.args[0], t))
    if isinstance(expr, sp.exp):
        return cp.exp(_to_cvxpy(expr.args[0], t))
    if isinstance(expr, softplus):
        return cp.logistic(_to_cvxpy(expr.args[0], t))
    raise UtilityError(f"no CVXPY form for {expr}")


def parse_utility(spec: str) -> Utility:
    """Parse a spec string such as ``power:0.5`` into a :class:`Utility`.

    Raises :class:`UtilityError`, a one-line message naming the value and the valid
    range, for anything else.

    >>> parse_utility("power:0.50").spec
    'power:0.5'
    >>> parse_utility("power:1.5")
    Traceback (most recent call last):
    ...
    rcollapse.theory.utilities.UtilityError: power:1.5: gamma = 1.5 is out of range; valid: 0 < gamma < 1
    """
    if isinstance(spec, Utility):
        return spec
    if not isinstance(spec, str):
        raise UtilityError(f"utility spec must be a string, got {type(spec).__name__}")
    shown = _one_line(spec)
    known = ", ".join(
        f"{f.name}" if f.param is None else f"{f.name}:{f.param[0]}" for f in FAMILIES.values()
    )
    name, sep, raw = spec.strip().partition(":")
    family = FAMILIES.get(name.strip())
    if family is None:
        raise UtilityError(f"unknown utility {shown!r}; valid: {known}")
    if family.param is None:
        if sep:
            raise UtilityError(f"{shown!r}: {family.name} takes no parameter; valid: {family.name}")
        return Utility(family.name, None, family.build(None))
    if not sep or not raw.strip():
        raise UtilityError(
            f"{shown!r}: {family.name} needs a parameter, as {family.name}:{family.param[0]} "
            f"with {family.domain()}"
        )
    try:
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
    # Exact rational parameter: 0.5 -> 1/2, so the symbolic forms stay exact.
    exact = sp.Rational(repr(value))
    return Utility(family.name, value, family.build(exact))


def _one_line(text: str, limit: int = 60) -> str:
    """Text safe to show inside a one-line message: no line breaks, bounded length."""
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
