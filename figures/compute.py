"""The numbers behind the figures, taken from the solvers and theory rooms.

Nothing here computes an optimum or a limit itself: the optimum of (5) comes from
``solvers.solve``, the limiting measure from ``rcollapse.limits.limiting_measure`` (the
one join of theory and solvers: ``solvers.solve_limit`` where no closed form is known,
so that the log-sigmoid atoms and continuous part are exact) and the distances from
``theory.distances``. This module only calls them,
memoizes the calls (several figures use the same optimum) and turns the results into
plain lists for the JSON cache.

The rooms are imported inside the functions: the registry, the styles and the tests of
the figures work without them.
"""

from __future__ import annotations

import functools

import numpy as np

from rcollapse.figures.progress import note

__all__ = [
    "atom_at",
    "atom_masses",
    "distances",
    "limit_measure",
    "measure_curve",
    "optimum",
    "unit_grid",
]

#: A reward within this distance of 0 (or 1) counts as sitting on the bound.
ON_BOUND = 1e-7


#: The solver's own KKT target, and the looser one a figure accepts when Newton stalls
#: just above it (1e-6 is far below what a pixel or a fitted rate can show).
SOLVER_TOL = 1e-9
FIGURE_TOL = 1e-6


@functools.lru_cache(maxsize=None)
def optimum(spec: str, n: int):
    """``solvers.solve(spec, n, method="newton")`` (``"fast"`` above
    ``solvers.newton_cg.FAST_FROM``: ``method_for_size``), memoized for the whole run.

    If Newton stops short of its default KKT target (``ConvergenceError``), the solve is
    repeated with ``tol=FIGURE_TOL`` and a note; the residual reached is in the
    Solution (``kkt_residual``) and the figure's JSON notes it (``meta.notes``).
    """
    from rcollapse.solvers import ConvergenceError, solve
    from rcollapse.solvers.newton_cg import method_for_size

    method = method_for_size(n)
    try:
        return solve(spec, int(n), method=method, tol=SOLVER_TOL)
    except ConvergenceError as err:
        sol = solve(spec, int(n), method=method, tol=FIGURE_TOL)
        note(f"{err}; accepted at tol = {FIGURE_TOL:g} (KKT residual {sol.kkt_residual:.2g})")
        return sol


@functools.lru_cache(maxsize=None)
def limit_measure(spec: str):
    """The limiting measure of ``spec`` (Theorems 2 to 5), memoized: the join of theory
    and solvers, ``rcollapse.limits.limiting_measure``. Where no closed form is known
    (log-sigmoid, ``expr:``) it is the n = inf solver's (exact atoms and continuous part,
    with grid error estimates).
    """
    from rcollapse.limits import limiting_measure

    return limiting_measure(spec)


def atom_at(measure, position: float) -> float:
    for pos, mass in _atoms(measure):
        if abs(pos - position) < 1e-12:
            return float(mass)
    return 0.0


def _atoms(measure) -> list[tuple[float, float]]:
    """The atoms with mass, sorted: ``measure.atoms`` is {position: mass} for a
    ``LimitingMeasure`` and a ``solvers.LimitSolution`` alike."""
    return sorted((float(p), float(m)) for p, m in measure.atoms.items() if float(m) > 0)


def unit_grid(points: int = 801) -> np.ndarray:
    """Points of (0, 1), denser near the ends, where Beta(a, a) with a < 1 blows up."""
    t = np.linspace(0.0, 1.0, points)
    x = 0.5 - 0.5 * np.cos(np.pi * t)
    return np.clip(x, 1e-6, 1 - 1e-6)


def _continuous_density(measure, x: np.ndarray) -> np.ndarray | None:
    """The density of the continuous part, times its mass (theory.limits'
    ``LimitingMeasure.density``); None when the part is absent or unknown (a bound)."""
    if not measure.exact or not measure.continuous_mass:
        return None
    return np.asarray(measure.density(x), dtype=float)


def measure_curve(measure, *, points: int = 801) -> dict:
    """A limiting measure as plain lists: its density on a grid and its atoms. Any
    object with the limiting-measure interface (``theory.measures.LimitingMeasure``,
    ``solvers.LimitSolution``).

    Keys: ``describe``, ``theorem``, ``atoms`` ([position, mass] pairs),
    ``atoms_are_lower_bounds``, ``x`` and ``density`` (the continuous part's density
    times its mass; absent when the measure has no continuous part).
    """
    x = unit_grid(points)
    density = _continuous_density(measure, x)
    curve = {
        "describe": measure.describe(),
        "theorem": measure.theorem,
        "atoms": [[p, m] for p, m in _atoms(measure)],
        "atoms_are_lower_bounds": bool(measure.atoms_are_lower_bounds),
    }
    if density is not None:
        curve["x"] = x
        curve["density"] = density
    return curve


def atom_masses(rewards, *, tol: float = ON_BOUND) -> tuple[float, float]:
    """Fractions of the rewards sitting at 0 and at 1: a finite n's atoms."""
    r = np.asarray(rewards, dtype=float)
    return float(np.mean(r <= tol)), float(np.mean(r >= 1.0 - tol))


def distances(rewards, measure) -> tuple[float, float]:
    """(KS, W1) from the empirical distribution of ``rewards`` to ``measure``."""
    from rcollapse.theory.distances import ks_distance, w1_distance

    # The optimum and the limit are symmetric: KS from the lower half, exact near r = 1.
    return float(ks_distance(rewards, measure, symmetric=True)), float(w1_distance(rewards, measure))


def loglog_rate(ns, values, *, n_min: int = 1) -> dict:
    """Least-squares fit of log(value) = log(c) - p log(n) over n >= n_min.

    Returns ``{"rate": p, "c": c, "n_min": n_min}``: the value falls like n^-p.

    >>> round(loglog_rate([10, 100, 1000], [0.1, 0.01, 0.001])["rate"], 6)
    1.0
    """
    ns = np.asarray(ns, dtype=float)
    v = np.asarray(values, dtype=float)
    keep = (ns >= n_min) & np.isfinite(v) & (v > 0)
    if keep.sum() < 2:
        return {"rate": None, "c": None, "n_min": n_min}
    slope, intercept = np.polyfit(np.log(ns[keep]), np.log(v[keep]), 1)
    return {"rate": float(-slope), "c": float(np.exp(intercept)), "n_min": n_min}
