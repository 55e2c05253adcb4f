"""U as a CVXPY expression, translated from its sympy expression atom by atom.

:meth:`rcollapse.theory.utilities.Utility.cvxpy` calls :func:`to_cvxpy`. Kept apart
from the theory proper: it is the CVXPY solver's translation (``solvers/cvx.py``), and
it imports cvxpy only when called.

>>> import cvxpy as cp
>>> from rcollapse.theory.sympy_functions import x
>>> to_cvxpy(sp.log(x), cp.Variable()).is_concave()
True
"""

from __future__ import annotations

import functools

import sympy as sp

from rcollapse.theory.sympy_functions import UtilityError, sigmoid, softplus, x

__all__ = ["to_cvxpy"]


def to_cvxpy(expr: sp.Expr, t):
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


