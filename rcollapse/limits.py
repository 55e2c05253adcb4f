"""The join of theory and solvers for the limits: theory never imports solvers.

Theorem 4 gives only a lower bound on the log-sigmoid atoms and no closed form for the
rest of the measure; for a user-written ``expr:`` utility nothing is known in closed
form. The n = inf solver of Theorem 5 (``solvers.solve_limit``) gives both; every number
it gives is reported with a grid error estimate (``solvers.limit.solve_limit_with_error``:
Richardson from the grids m/4, m/2, m). :func:`limiting_measure` passes it to
:func:`theory.limits.limiting_measure`.

This is the one place that joins the two: the command line (``rcollapse limit``), the
``verify`` report and the figures (``figures/compute.py``) all ask it. It imports
``theory`` and, lazily, ``solvers``, and nothing of ``figures``, ``empirical``,
``benchmarks`` or the face (``rcollapse.cli``, ``rcollapse.commands``,
``rcollapse.verify``), so the rooms above may import it without an arrow running back
(``tests/face/test_import_direction.py`` checks).
"""

from __future__ import annotations

from rcollapse.theory.limits import LimitingMeasure, has_closed_form
from rcollapse.theory.limits import limiting_measure as _theory_limiting_measure
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["LIMIT_METHODS", "has_theorem4_bound", "limit_solver", "limit_solver_with_error", "limiting_measure",
           "needs_solver", "resolved_method", "spectral_measure"]


def limit_solver():
    """``solvers.solve_limit``, or None when the solvers room does not provide it."""
    try:
        from rcollapse.solvers.limit import solve_limit
    except ImportError:
        return None
    return solve_limit


def limit_solver_with_error():
    """``solvers.limit.solve_limit_with_error`` (the n = inf solver, with grid error
    estimates of the numbers it reports), or None when the solvers room lacks it."""
    try:
        from rcollapse.solvers.limit import solve_limit_with_error
    except ImportError:
        return None
    return solve_limit_with_error


def needs_solver(U: Utility) -> bool:
    """Whether U's limit has no closed form, so that the n = inf solver computes it."""
    return not has_closed_form(U)


def has_theorem4_bound(U: Utility) -> bool:
    """Whether Theorem 4's atom bound applies (U'(0+) finite, U'(1) > 0) and is not the
    whole answer (it is for linear)."""
    return needs_solver(U) and U.finite_slope_at_zero and U.dU1 > 0


#: What ``method`` may be: the n = inf solver's two methods, or "auto" (spectral when it
#: applies and no grid is asked for, else the grid).
LIMIT_METHODS = ("grid", "spectral", "auto")


def resolved_method(U: Utility, method: str, grid: int | None) -> str:
    """"grid" or "spectral" for ``method`` ("auto": spectral when
    ``solvers.limit_spectral.spectral_applies(U)`` and ``grid`` is None); ValueError, one
    line, for an unknown method or a grid given to the spectral method."""
    if method not in LIMIT_METHODS:
        raise ValueError(f"method {method!r} is not known; valid: {', '.join(LIMIT_METHODS)}")
    if method == "spectral" and grid is not None:
        raise ValueError(f"{U.spec}: --grid {grid} is for --method grid, not spectral; valid: one of them")
    if method != "auto":
        return method
    if grid is not None:
        return "grid"
    try:
        from rcollapse.solvers.limit_spectral import spectral_applies
    except ImportError:
        return "grid"
    return "spectral" if spectral_applies(U) else "grid"


def spectral_measure(U: Utility, solution, *, theorem4: float | None = None) -> LimitingMeasure:
    """Theorem 5's measure from the spectral solver (``solvers.SpectralLimitSolution``) as
    a ``LimitingMeasure``: its atoms, its continuous part (a scipy distribution), its
    degree-change estimates as ``grid_error`` (``grids`` are the two degrees)."""
    note = solution.note + (f"; Theorem 4's bound {theorem4:.6g} <= atom mass" if theorem4 is not None else "")
    return LimitingMeasure(
        spec=U.spec, atoms=dict(solution.atoms), continuous=solution.continuous,
        continuous_mass=solution.continuous_mass, theorem=solution.theorem,
        statement=solution.statement, note=note,
        continuous_info=dict(solution.continuous_info, theorem4_bound=theorem4),
        grid_error={k: v.to_json() for k, v in solution.grid_error.items()})


def limiting_measure(U: Utility | str, *, bound_only: bool = False, grid: int | None = None,
                     method: str = "grid") -> LimitingMeasure:
    """The limit for U; where no closed form is known (log-sigmoid, ``expr:``) it is the
    n = inf solver's, with error estimates, unless ``bound_only`` (Theorem 4's bound).

    ``grid``: cells of the n = inf solver (its default when None). ``method``: "grid"
    (error estimates by Richardson over grids), "spectral" (``solve_limit(method=
    "spectral")``: estimates are the change from half the degree) or "auto"
    (:func:`resolved_method`; when the spectral series does not converge, the grid).
    Options that would be ignored are refused (ValueError, one line): ``bound_only``
    where Theorem 4's bound is not what is asked for, ``grid`` where the limit is a
    closed form or the method spectral. Raises RuntimeError when the
    solver is needed but missing: a bound is never passed off as the answer.
    """
    U = parse_utility(U)
    asked, method = method, resolved_method(U, method, grid)
    if bound_only and not has_theorem4_bound(U):
        raise ValueError(
            f"{U.spec}: --bound applies only where the limit has no closed form and Theorem 4 "
            "bounds its atoms (U'(0+) finite, U'(1) > 0): log-sigmoid:s or such an expr: utility")
    if grid is not None and (bound_only or not needs_solver(U)):
        why = "Theorem 4's bound needs no grid" if bound_only else "its limit is a closed form"
        raise ValueError(f"{U.spec}: --grid is not used ({why}); valid: --grid with log-sigmoid:s "
                         "or expr: utilities, without --bound")
    if not needs_solver(U) or bound_only:
        return _theory_limiting_measure(U)
    solve = limit_solver_with_error()
    if solve is None:
        raise RuntimeError(
            f"{U.spec}: the limit needs solvers.solve_limit, which is not available; "
            "use --bound for Theorem 4's bound")
    if method == "spectral":
        from rcollapse.solvers.errors import ConvergenceError
        from rcollapse.solvers.limit import solve_limit
        from rcollapse.theory.derivations import theorem4_bound

        bound = theorem4_bound(U) if has_theorem4_bound(U) else None
        try:
            return spectral_measure(U, solve_limit(U, method="spectral"), theorem4=bound)
        except ConvergenceError:
            if asked != "auto":
                raise
            # "auto": the series did not converge by its highest degree (log-sigmoid:0.01, a
            # U'' singular at 0); the grid takes every U, with its own error estimates.
    solver = solve if grid is None else (lambda V: solve(V, grid=grid))
    return _theory_limiting_measure(U, limit_solver=solver)
