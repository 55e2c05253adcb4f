"""The join of theory and solvers for the limits: theory never imports solvers.

Theorem 4 gives only a lower bound on the log-sigmoid atoms and no closed form for the
rest of the measure; the n = inf solver of Theorem 5 (``solvers.solve_limit``) gives
both. :func:`limiting_measure` passes it to :func:`theory.limits.limiting_measure`.
"""

from __future__ import annotations

from rcollapse.theory.limits import LimitingMeasure
from rcollapse.theory.limits import limiting_measure as _theory_limiting_measure
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["limit_solver", "limiting_measure"]


def limit_solver():
    """``solvers.solve_limit``, or None when the solvers room does not provide it yet."""
    try:
        from rcollapse.solvers import solve_limit
    except ImportError:
        try:
            from rcollapse.solvers.limit import solve_limit
        except ImportError:
            return None
    return solve_limit


def limiting_measure(U: Utility | str, *, bound_only: bool = False, grid: int | None = None) -> LimitingMeasure:
    """The limit for U, exact where a solver is needed (log-sigmoid) unless ``bound_only``.

    ``grid``: cells of the n = inf solver (its default when None). Raises RuntimeError
    when the solver is needed but missing: a bound is never passed off as the answer.
    """
    U = parse_utility(U)
    if U.family != "log-sigmoid" or bound_only:
        return _theory_limiting_measure(U)
    solve_limit = limit_solver()
    if solve_limit is None:
        raise RuntimeError(
            f"{U.spec}: the exact limit needs solvers.solve_limit, which is not available; "
            "use --bound for Theorem 4's bound"
        )
    solver = solve_limit if grid is None else (lambda V: solve_limit(V, grid=grid))
    return _theory_limiting_measure(U, limit_solver=solver)
