"""The ground every utility stands on: the symbol x, the error, the stable functions.

- :data:`x`, the argument of every utility (a reward gap, positive on (0, 1]);
- :class:`UtilityError`, the one-line error of a spec that names no valid utility (its
  public home is :mod:`rcollapse.theory.utilities`, which re-exports it);
- :class:`sigmoid` and :class:`softplus`, sympy functions that know their derivatives,
  so that log sigmoid(z) = -softplus(-z) and every form derived from it stay stable;
- the module tables that turn a sympy expression into numpy, torch and mpmath code
  (:data:`NUMPY_MODULES`, :func:`torch_modules`, :func:`mpmath_modules`), and
  :func:`np_function`, a cached numpy lambdify;
- :func:`tidy`: sympy's simplify, kept only where it changes no value.

>>> sp.diff(-softplus(-x), x)
sigmoid(-x)
>>> float(np_function(sigmoid(x))(np.array([0.0]))[0])
0.5
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from scipy import special

__all__ = [
    "NUMPY_MODULES",
    "SIMPLIFY_MAX_OPS",
    "UtilityError",
    "mpmath_modules",
    "np_function",
    "one_line",
    "sigmoid",
    "softplus",
    "tidy",
    "torch_modules",
    "x",
]

#: The argument of every utility: a reward gap r_i - r_j, positive on (0, 1].
x = sp.Symbol("x", positive=True)


class UtilityError(ValueError):
    """A utility spec that names no valid utility. The message is one line."""


# Its public name: error messages and doctests show rcollapse.theory.utilities.UtilityError.
UtilityError.__module__ = "rcollapse.theory.utilities"


def one_line(text: str, limit: int = 60) -> str:
    """Text safe to show inside a one-line message: no line breaks, bounded length.

    >>> one_line("a\\nb")
    'a\\\\nb'
    """
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


# --------------------------------------------------------------------------------------
# Module tables: sympy -> numpy, torch, mpmath.
# --------------------------------------------------------------------------------------
def _np_softplus(z):
    return np.logaddexp(0.0, z)


#: lambdify's modules for numpy: the stable functions by their numpy forms.
NUMPY_MODULES = [{"sigmoid": special.expit, "softplus": _np_softplus, "erf": special.erf}, "numpy"]


def torch_modules():
    """lambdify's modules for torch (imported only when asked for)."""
    import torch

    return [{"torch": torch}, "torch"]


def mpmath_modules():
    """lambdify's modules for mpmath, with the stable functions in mpmath."""
    import mpmath

    return [{"sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
             "softplus": lambda z: mpmath.log1p(mpmath.exp(z))}, "mpmath"]


@functools.lru_cache(maxsize=256)
def np_function(expr: sp.Expr):
    """expr as a numpy function of x; a constant expr gives a constant array (NaN where
    the constant is not real)."""
    f = sp.lambdify(x, expr, modules=NUMPY_MODULES)
    if expr.has(x):
        return f
    value = complex(expr)
    return lambda t: np.full(np.shape(t), value.real if value.imag == 0 else np.nan)


#: Derivatives with more operations than this are kept as sympy differentiates them:
#: simplify costs seconds on a composed user expression and changes no value.
SIMPLIFY_MAX_OPS = 15


def tidy(expr: sp.Expr, *, simplify: bool = True) -> sp.Expr:
    """sp.simplify(expr) when expr is small (every family's derivatives are) and the
    simplified form has the same values at a few points of (0, 1], else expr: simplify
    can move a fractional power onto a negative base, where its principal value differs
    ((1 - exp(-x))**(2/3) gave (-1)**(2/3) / (1 - exp(x))**(1/3), complex)."""
    if not simplify or sp.count_ops(expr) > SIMPLIFY_MAX_OPS:
        return expr
    simple = sp.simplify(expr)
    if simple == expr or not expr.has(x):
        return simple
    probe = [0.013, 0.37, 0.91]
    with np.errstate(all="ignore"):
        a = np.asarray(np_function(expr)(np.array(probe)), dtype=complex)
        b = np.asarray(np_function(simple)(np.array(probe)), dtype=complex)
    same = np.allclose(np.broadcast_to(a, (3,)), np.broadcast_to(b, (3,)), rtol=1e-9, atol=1e-12,
                       equal_nan=False)
    return simple if same else expr
