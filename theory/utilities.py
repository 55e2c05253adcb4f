"""Utility functions U of problem (5), each defined once as a sympy expression.

Song, Cai, Lee, Su (2023), section 3: a reward model trained on rankings maximizes
``sum_{i<j} U(r_i - r_j)`` per prompt. The families of the paper (linear, power:g,
neg-power:g, log, log-sigmoid:s), with their parameter domains, are the table of
:mod:`~rcollapse.theory.families`; ``expr:`` takes any other U.

Each family is written once, as a sympy expression in ``x``. Everything else -- U, U'
and U'' as numpy functions, the torch function and the
properties (increasing, concave, U'(0+), U'(1)) -- is derived from that one
expression, never typed again. This module holds :class:`Utility` and
:func:`parse_utility`; the parts live beside it, and every public name is re-exported
here:

- :mod:`~rcollapse.theory.sympy_functions`: ``x``, :class:`UtilityError`, the stable
  ``sigmoid`` and ``softplus``, the numpy/torch/mpmath module tables;
- :mod:`~rcollapse.theory.families`: :class:`Family` and the table :data:`FAMILIES`;
- :mod:`~rcollapse.theory.properties`: the proofs and checks of the properties;
- :mod:`~rcollapse.theory.expressions`: the safe parser of ``expr:`` text.

U's CVXPY form is the CVXPY solver's translation of ``expr``
(:func:`rcollapse.solvers.cvx.cvxpy_utility`): theory imports no solver.

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

import numpy as np
import sympy as sp

from rcollapse.theory.expressions import EXPR_FUNCTIONS, canonical_expression, parse_expression
from rcollapse.theory.families import FAMILIES, Family, format_parameter
from rcollapse.theory.properties import (
    CHECK_POINTS,
    derive_properties,
    grid_values,
    json_number,
    numeric_limit_at_zero,
    to_float,
)
from rcollapse.theory.sympy_functions import (
    NUMPY_MODULES,
    UtilityError,
    one_line,
    sigmoid,
    softplus,
    tidy,
    torch_modules,
    x,
)

__all__ = [
    "CHECK_POINTS",
    "EXPR_FUNCTIONS",
    "FAMILIES",
    "Family",
    "Utility",
    "UtilityError",
    "parse_expression",
    "parse_utility",
    "sigmoid",
    "softplus",
    "x",
]


@dataclass(frozen=True, eq=False)
class Utility:
    """One utility U, defined by a sympy expression ``expr`` in the positive symbol ``x``.

    Build it with :func:`parse_utility`. Every other form is derived from ``expr``:

    - ``U(x)``, ``d1(x)``, ``d2(x)``: U, U', U'' as vectorized numpy functions;
    - ``torch(x)``: U on torch tensors (autograd-ready);
    - ``increasing``, ``strictly_concave``, ``strongly_concave``, ``dU0``, ``dU1``;
    - what kind of U it is: ``is_user_written``, ``is_linear``, ``finite_slope_at_zero``,
      ``hypersingular_exponent`` (callers ask these, not the family's name).
    """

    family: str
    param: float | None
    expr: sp.Expr = field(repr=False)

    # ---- identity ------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The spec string; ``parse_utility(U.spec)`` gives U back."""
        if self.is_user_written:
            return f"expr:{sp.sstr(self.expr)}"
        if self.param is None:
            return self.family
        return f"{self.family}:{format_parameter(self.param)}"

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
        """U(x) in LaTeX: the family's own form where it has one (log sigma(x / s) for the
        log-sigmoid), else sympy's."""
        family = FAMILIES.get(self.family)
        if family is not None and family.latex_form is not None:
            return family.latex_form(format_parameter(self.param))
        return sp.latex(self.expr)

    # ---- what kind of U: the questions callers ask, instead of the family's name -----
    @property
    def is_user_written(self) -> bool:
        """U is a user's expression (``expr:``), not a family of the paper: no theorem
        gives its limit in closed form, and a property sympy cannot prove is checked."""
        return self.family == "expr"

    @property
    def is_linear(self) -> bool:
        """U(x) = x, so U'' = 0: concave but not strictly (for n odd the optimum of (5) is
        not unique; the limit is two atoms). Only the family ``linear``: a user-written U
        must be strictly concave."""
        return self.family == "linear"

    @property
    def finite_slope_at_zero(self) -> bool:
        """U'(0+) is finite (:attr:`dU0` is not None): Theorem 4's first hypothesis; with
        U'(1) > 0 the limit has atoms at 0 and 1 (linear, log-sigmoid)."""
        return self.dU0 is not None

    @property
    def hypersingular_exponent(self) -> float | None:
        """g when U(x) = -x^(-g) with g >= 1 (neg-power:g), else None. Then the kernel
        U(|t|) is not integrable at 0: E U(|X - X'|) = -inf for every measure, so Theorem 5
        names none and Theorem 3 gives Uniform(0, 1); and U(c t) = c^(-g) U(t)."""
        if self.family == "neg-power" and self.param >= 1.0:
            return float(self.param)
        return None

    # ---- symbolic derivatives --------------------------------------------------------
    @functools.cached_property
    def dexpr(self) -> sp.Expr:
        """U'(x), symbolically: sympy's derivative, simplified for the families (see
        :func:`tidy`; a user's expression keeps sympy's form: simplify costs seconds on
        a composed expression and changes no value)."""
        return tidy(sp.diff(self.expr, x), simplify=not self.is_user_written)

    @functools.cached_property
    def d2expr(self) -> sp.Expr:
        """U''(x), symbolically."""
        return tidy(sp.diff(self.dexpr, x), simplify=not self.is_user_written)

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
        return tuple(self._lambdify(e, NUMPY_MODULES) for e in (self.expr, self.dexpr, self.d2expr))

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
        return sp.lambdify(x, self.expr, modules=torch_modules())

    def torch(self, t):
        """U(t) on a torch tensor, differentiable by autograd."""
        if self.is_linear:  # lambdify would return t itself, not a new tensor
            return t * 1.0
        return self._torch(t)

    # ---- properties: proved by sympy where it can, else checked on a grid ----------
    @functools.cached_property
    def _properties(self) -> dict:
        return derive_properties(self.dexpr, self.d2expr, exact_mu=not self.is_user_written)

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
            return to_float(value)
        return numeric_limit_at_zero(self.dexpr)

    @functools.cached_property
    def dU1(self) -> float:
        """U'(1)."""
        return to_float(self.dexpr.subs(x, 1))

    def describe(self) -> dict:
        """The JSON object of ``rcollapse utility SPEC --json`` but its ``"cvxpy"`` key,
        which the face adds from :func:`rcollapse.solvers.cvx.cvxpy_form_error` (strict
        JSON: a finite value above the float64 range, such as U'(0+) of log-sigmoid:1e-320,
        is a string)."""
        return {
            "spec": self.spec,
            "latex": self.latex,
            "increasing": self.increasing,
            "strictly_concave": self.strictly_concave,
            "strongly_concave": self.strongly_concave,
            "strong_concavity": self.strong_concavity,
            "dU0": None if self.dU0 is None else json_number(self.dU0, self.dexpr, at_one=False),
            "dU1": json_number(self.dU1, self.dexpr, at_one=True),
            "property_status": self.property_status,
        }


# --------------------------------------------------------------------------------------
# Building a Utility: a user's expression (checked) or a family at a parameter.
# --------------------------------------------------------------------------------------
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
        raise UtilityError(f"{shown}: U = {one_line(str(expr))} is not finite")
    if not expr.has(x):
        raise UtilityError(f"{shown}: U = {expr} does not depend on x")
    return _checked_expression_utility(canonical_expression(expr, shown))



@functools.lru_cache(maxsize=512)
def _checked_expression_utility(expr: sp.Expr) -> "Utility":
    try:
        return _check_expression_utility(expr)
    except UtilityError:
        raise
    except Exception as err:  # sympy or lambdify cannot handle a form of this U: say so
        spec = one_line(f"expr:{sp.sstr(expr)}", 80)
        raise UtilityError(f"{spec}: cannot derive U', U'' and their numeric forms "
                           f"({type(err).__name__}: {one_line(str(err), 60)})") from None


def _check_expression_utility(expr: sp.Expr) -> "Utility":
    U = Utility("expr", None, expr)
    shown_spec = one_line(U.spec, 80)
    values = grid_values(expr, CHECK_POINTS)
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
        return _expression_utility(sp.sympify(spec), one_line(sp.sstr(spec)))
    if not isinstance(spec, str):
        raise UtilityError(f"utility spec must be a string or a sympy expression in x, got {type(spec).__name__}")
    shown = one_line(spec)
    if spec.strip().startswith("expr:"):
        text = spec.strip()[len("expr:"):]
        return _expression_utility(parse_expression(text), f"expr:{one_line(text)}")
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
            f"{shown!r}: {family.param} = {one_line(raw)!r} is not a number; valid: {family.domain()}"
        ) from None
    if not (family.lower < value < family.upper):
        raise UtilityError(
            f"{shown}: {family.param} = {format_parameter(value) if math.isfinite(value) else value} "
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
