"""Properties of a utility, one derivation for the families and for user-written ones.

Increasing (U' > 0), strictly concave (U'' < 0) and mu-strongly concave (mu = inf -U'')
on (0, 1]: each is proved by sympy's assumptions where they can (for x > 0, or for
x = 1 / (1 + t), t > 0), otherwise checked at the 999 points of :data:`CHECK_POINTS`
(geometric from 1e-9, then uniform to 1) in float64, and in 30-digit mpmath wherever
float64 cannot carry the sign (overflow, underflow, cancellation below 1e-9 of the
terms). :func:`derive_properties` says which ("proved" or "checked, not proved"). The
families' mu is exact (:func:`infimum_on_unit`, Lemma C.2's strong concavity for
Theorem 1); a user-written U's mu is the minimum over the check points and the limit at
0+.

>>> from rcollapse.theory.sympy_functions import x
>>> sign_on_unit(1 / x, 1, "U'", strict=True)[:2]
(True, 'proved')
>>> infimum_on_unit(1 / x**2)
1
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from rcollapse.theory.sympy_functions import UtilityError, mpmath_modules, np_function, x

__all__ = [
    "CHECK_POINTS",
    "derive_properties",
    "grid_values",
    "infimum_on_unit",
    "json_number",
    "numeric_limit_at_zero",
    "sign_on_unit",
    "to_float",
]

#: Points of (0, 1] where a property sympy cannot prove is checked (geometric near 0).
CHECK_POINTS = np.unique(np.concatenate((np.geomspace(1e-9, 1e-2, 200), np.linspace(0.01, 1.0, 800))))
#: A value below this times its local scale (sum of |terms|) counts as zero in the grid
#: checks: the rounding of a 30-digit mpmath sum, with room to spare.
_ZERO = 1e-20


def to_float(value) -> float:
    """float of a sympy number; inf (not OverflowError) beyond the float64 range."""
    value = sp.sympify(value)
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, float(sp.sign(value)))
    except TypeError:
        return float(value.evalf(30))


def json_number(value: float, expr: sp.Expr, *, at_one: bool):
    """value, or (when it overflows float64) its exact value as text, e.g. '5.0e+319'."""
    if math.isfinite(value):
        return value
    import mpmath

    exact = expr.subs(x, 1) if at_one else sp.limit(expr.rewrite(sp.exp), x, 0, "+")
    return mpmath.nstr(mpmath.mpf(str(sp.N(exact, 20))), 6) if exact.is_finite else None


def _mp_values(expr: sp.Expr, points) -> list:
    """expr at the points, in 30-digit mpmath; None where it is not a finite real number."""
    import mpmath

    f = sp.lambdify(x, expr, modules=mpmath_modules())
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


def grid_values(expr: sp.Expr, points, *, with_scale: bool = False):
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
                v = np.asarray(np_function(e)(pts), dtype=complex)
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


def numeric_limit_at_zero(expr: sp.Expr) -> float | None:
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


def sign_on_unit(expr: sp.Expr, sign: int, what: str, *, strict: bool):
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
    (at_one,), (scale_one,) = grid_values(e, [1.0], with_scale=True)
    if at_one is not None and at_one < -_ZERO * (scale_one or 0.0):
        return False, "proved", f"{what}(1) = {sign * float(at_one):.6g} {wrong}", "sign"
    if at_one is not None and _proved_positive(e):
        return True, "proved", None, None
    values, scales = grid_values(e, CHECK_POINTS, with_scale=True)
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


def derive_properties(dexpr: sp.Expr, d2expr: sp.Expr, *, exact_mu: bool) -> dict:
    """increasing, strictly concave, strongly concave and mu for the U whose U' and U'' are
    ``dexpr`` and ``d2expr``, with how each was established. ``exact_mu`` (the families):
    mu is exact, sympy finds the critical points of U''; otherwise (a user expression) mu
    is the minimum of -U'' over the check points and 0+."""
    inc, inc_status, inc_fail, inc_kind = sign_on_unit(dexpr, 1, "U'", strict=True)
    conc, conc_status, conc_fail, conc_kind = sign_on_unit(d2expr, -1, "U''", strict=True)
    if exact_mu:
        mu_expr = infimum_on_unit(-d2expr)
        strongly = bool(mu_expr.is_positive)
        mu = max(to_float(mu_expr), 0.0) if strongly else 0.0
        mu_status = "proved"
    else:
        values = [v for v in grid_values(-d2expr, CHECK_POINTS) if v is not None]
        try:
            at_zero = sp.limit(-d2expr.rewrite(sp.exp), x, 0, "+")
            at_zero = None if at_zero.is_infinite else (at_zero if at_zero.is_real else numeric_limit_at_zero(-d2expr))
        except (NotImplementedError, ValueError, TypeError):  # pragma: no cover - sympy gave up
            at_zero = numeric_limit_at_zero(-d2expr)
        lowest = min(values + ([at_zero] if at_zero is not None else [])) if values and conc else 0
        strongly = bool(lowest > 0)
        mu = max(to_float(sp.sympify(str(lowest)) if not isinstance(lowest, sp.Basic) else lowest), 0.0)
        mu_status = "checked, not proved"
    return {
        "increasing": inc, "strictly_concave": conc, "strongly_concave": strongly, "mu": mu,
        "failures": {"increasing": (inc_fail, inc_kind), "strictly_concave": (conc_fail, conc_kind)},
        "status": {"increasing": inc_status, "strictly_concave": conc_status,
                   "strong_concavity": mu_status},
    }


def infimum_on_unit(expr: sp.Expr) -> sp.Expr:
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


