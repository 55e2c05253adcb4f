"""The n = inf reward distribution of Theorem 5, computed directly as a concave QP.

Theorem 5 (Song et al. 2023): for U bounded, strongly concave and increasing, the reward
distribution of problem (5) converges, as n -> inf, to the unique probability measure mu
on [0, 1], symmetric about 1/2, that maximizes ``E_{X, X' ~ mu iid} U(|X - X'|)``.

Discretization. Split [0, 1] into ``m`` cells of width ``h = 1/m`` and look for

    mu = a_0 delta_0 + sum_{i=1}^{m} c_i Uniform(cell_i) + a_1 delta_1,

with masses ``w = (a_0, c_1, ..., c_m, a_1) >= 0`` summing to 1 and symmetric
(``c_i = c_{m+1-i}``, ``a_0 = a_1``). Then ``E U(|X - X'|) = w' K w`` *exactly*, where K
holds the cell averages of U(|x - y|) (:mod:`~rcollapse.solvers.limit_kernel`). The QP
is concave with one maximizer, solved exactly by an active-set method
(:mod:`~rcollapse.solvers.limit_qp`); the result, :class:`LimitSolution`, has a limiting
measure's interface (:mod:`~rcollapse.solvers.limit_measure`). Atoms are candidates
only when U'(0+) is finite (Theorem 4's setting: linear, log-sigmoid); when U'(0+) = inf
a mass at an end would gain an infinite amount by moving inward, so the measure has none.

neg-power with gamma >= 1: ``E U(|X - X'|) = -inf`` for every measure, so Theorem 5 is
void; Theorem 3 says the finite-n optima tend to Uniform(0, 1), the maximizer of the
leading (local) term of the energy. Here the kernel is regularized,
``U_delta(t) = -(t + delta)^(-gamma)`` (delta = ``regularization``, by default
``1e-30 h``; computed as the positive multiple ``-10^250 (1 + t/delta)^(-gamma)``, which
has the same maximizer and stays in floating range), a concave QP (Polya); its
maximizer tends to uniform as delta -> 0, fast for gamma > 1 (W1 5e-9 at gamma = 2,
delta = 1e-6 h) but only like 1 / log(1 / delta) for gamma = 1 (as the finite-n optima
do in log n): W1 to Uniform(0, 1) is 2.8e-3 at delta = 1e-6 h, 6.6e-4 at the default.

Accuracy at grid 800 (its seconds: ``rcollapse bench limit``): W1 to the closed form 2.1e-4
(power:0.5, Beta(1/4, 1/4)), 9.2e-5 (log, arcsine), 2.8e-5 (neg-power:0.5,
Beta(3/4, 3/4)); first order in h (the densities are singular at the ends). The
log-sigmoid:s atom mass, converged in the grid to 1e-8 (second order in h):
0.204017 (s = 1/4), 0.298731 (1/2), 0.383394 (1), 0.438693 (2), against Theorem 4's
bounds 0.0347, 0.1925, 0.3498, 0.4302; the continuous part has full support on (0, 1),
a smooth density, smallest at the ends and largest at 1/2, satisfying
``rho(x) = -(1 / (2 U'(0))) int U''(|x - y|) dmu(y)`` (the potential is constant).

Spectral method (``solve_limit(U, method="spectral")``, :mod:`~rcollapse.solvers.limit_spectral`):
atoms plus a Jacobi series for the density, the first-order condition collocated (a
Fredholm equation of the second kind when U'(0+) is finite), the degree doubled until two
consecutive degrees agree to 1e-12. log-sigmoid:s atom masses 0.204017158235 (s = 1/4,
degree 64), 0.298730746425 (1/2, 32), 0.383393788181 (1, 32), 0.438692940573 (2, 16),
potential constant to 1.1e-16; the grid's Richardson extrapolation at grid 3200 agrees to
1.6e-12 (``rcollapse bench spectral``). Closed forms (power, log, neg-power): density to
6e-13 relative, W1 below 1e-14 (``tests/solvers/test_limit_spectral.py``). It refuses
neg-power:g >= 1 and an ``expr:`` U with U'(0+) = inf, which the grid handles.

>>> sol = solve_limit("linear", grid=16)
>>> [(x, round(m, 6)) for x, m in sol.atoms.items()]
[(0.0, 0.5), (1.0, 0.5)]
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import numpy as np

from rcollapse.solvers.atom_mass import ATOM_TIE, atom_mass_at_one
from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.solvers.limit_kernel import _cell_kernel, regularized_utility, unit_kernel, unscale_energy
from rcollapse.solvers.limit_measure import GridEstimate, LimitSolution
from rcollapse.solvers.limit_qp import maximize_symmetric_energy, symmetric_kkt_residual
from rcollapse.solvers.limit_spectral import MAX_DEGREE, SpectralLimitSolution, solve_limit_spectral
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "ATOM_TIE",
    "DEFAULT_GRID",
    "GridEstimate",
    "LimitSolution",
    "MAX_GRID",
    "METHODS",
    "MIN_GRID",
    "REPORTED_QUANTILES",
    "SpectralLimitSolution",
    "atom_mass_at_one",
    "limit_start",
    "richardson_estimate",
    "solve_limit",
    "solve_limit_spectral",
    "solve_limit_with_error",
]

#: Default number of cells: W1 to the closed-form Betas well below 1e-3 in about a second.
DEFAULT_GRID = 800
#: Fewer cells cannot resolve the ends of the measure.
MIN_GRID = 16
#: More cells than this make the dense QP (half-grid squared) too heavy for a laptop.
MAX_GRID = 4096
#: Masses at or below this are reported as zero (no atom).
ATOM_THRESHOLD = 1e-12


# --------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------
def _checked_grid(grid, tol, regularization) -> int:
    """The number of cells m; one-line SolverInputError for a bad grid, tol or delta."""
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)):
        raise SolverInputError(
            f"grid = {grid!r} is not an integer; valid: an integer {MIN_GRID} <= grid <= {MAX_GRID}"
        )
    m = int(grid)
    if not (MIN_GRID <= m <= MAX_GRID):
        raise SolverInputError(f"grid = {m} is out of range; valid: {MIN_GRID} <= grid <= {MAX_GRID}")
    if not (isinstance(tol, (int, float)) and 0.0 < tol < 1e-2):
        raise SolverInputError(f"tol = {tol!r} is out of range; valid: 0 < tol < 0.01")
    h = 1.0 / m
    if regularization is not None and not (
        isinstance(regularization, (int, float)) and 0.0 < regularization <= h
    ):
        raise SolverInputError(
            f"regularization = {regularization!r} is out of range; valid: 0 < regularization <= 1/grid = {h:g}"
        )
    return m


#: The methods of :func:`solve_limit`.
METHODS = ("grid", "spectral")


class _Default:
    """The default of ``solve_limit``'s ``grid``: DEFAULT_GRID for the grid method, and
    distinguishable from any value a caller passes (the spectral method refuses a grid)."""

    def __repr__(self):
        return f"DEFAULT_GRID ({DEFAULT_GRID})"


_DEFAULT_GRID = _Default()


def solve_limit(
    U,
    *,
    method: str = "grid",
    grid: int = _DEFAULT_GRID,
    tol: float | None = None,
    max_iter: int | None = None,
    regularization: float | None = None,
    max_degree: int | None = None,
) -> LimitSolution | SpectralLimitSolution:
    """The n = inf measure of Theorem 5: on ``grid`` cells (``method="grid"``, the
    default), or as a Jacobi series with atoms (``method="spectral"``).

    ``method="spectral"`` is :func:`solvers.limit_spectral.solve_limit_spectral`: U with
    U'(0+) finite (log-sigmoid, linear, such an ``expr:``) and Lemma 4.5's families
    (power:g, log, neg-power:g < 1); atom mass and density to ``tol`` (default 1e-12) by
    doubling the degree up to ``max_degree``; a SolverInputError names the grid for the
    rest. ``grid``, ``max_iter`` and ``regularization`` belong to the grid only, and
    ``max_degree`` to the spectral method only: passing one to the other method is a
    SolverInputError. The grid stays the default: its result carries the histogram
    fields (``grid``, ``edges``, ``cell_mass``) that the grid's callers read, and it
    takes every U.

    >>> round(solve_limit("log-sigmoid:1", method="spectral").atom_mass, 12)
    0.383393788181
    """
    if method not in METHODS:
        raise SolverInputError(f"method = {method!r} is not known; valid: {', '.join(METHODS)}")
    mine = {"grid": ("grid", "max_iter", "regularization"), "spectral": ("max_degree",)}
    given = {"grid": None if grid is _DEFAULT_GRID else grid, "max_iter": max_iter,
             "regularization": regularization, "max_degree": max_degree}
    other = "spectral" if method == "grid" else "grid"
    stray = [k for k in mine[other] if given[k] is not None]
    if stray:
        raise SolverInputError(f"{stray[0]} = {given[stray[0]]!r} is for method={other!r}, not "
                               f"method={method!r}; valid with {method}: {', '.join(mine[method]) or 'tol'}, tol")
    if method == "spectral":
        return solve_limit_spectral(U, tol=1e-12 if tol is None else tol,
                                    max_degree=MAX_DEGREE if max_degree is None else max_degree)
    return _solve_limit_grid(U, grid=DEFAULT_GRID if grid is _DEFAULT_GRID else grid,
                             tol=1e-10 if tol is None else tol,
                             max_iter=max_iter, regularization=regularization)


def _solve_limit_grid(U, *, grid: int, tol: float, max_iter: int | None,
                      regularization: float | None) -> LimitSolution:
    """The n = inf measure of Theorem 5, discretized on ``grid`` cells of [0, 1].

    Theorem 5 (Song et al. 2023): the reward distribution converges to the symmetric
    probability measure mu on [0, 1] that maximizes ``E U(|X - X'|)``, X, X' ~ mu iid.

    Solves, exactly, ``maximize w' K w  s.t.  w >= 0, sum w = 1, w symmetric``, where
    ``w`` = (atom at 0, masses of the m cells, atom at 1) and K is the cell-averaged
    kernel ``K_ij = mean of U(|x - y|) over units i x j`` (see the module docstring), so
    ``w' K w = E U(|X - X'|)`` for the returned measure. Atoms are allowed only when
    U'(0+) is finite.

    Parameters
    ----------
    U : Utility or spec string (``"log-sigmoid:1"``).
    grid : number of cells m, an integer in [MIN_GRID, MAX_GRID].
    tol : KKT tolerance (relative to max(1, |lambda|)); ConvergenceError above 10 * tol.
    max_iter : active-set iterations (default 4 * grid + 50).
    regularization : delta for neg-power with gamma >= 1, in (0, h] (ignored otherwise);
        default ``1e-30 h``.

    >>> sol = _solve_limit_grid("log", grid=64, tol=1e-10, max_iter=None, regularization=None)
    >>> round(float(sol.quantile(0.5)), 12), sol.atoms
    (0.5, {})
    """
    t0 = time.perf_counter()
    U = parse_utility(U)
    m = _checked_grid(grid, tol, regularization)
    h = 1.0 / m
    max_iter = 4 * m + 50 if max_iter is None else int(max_iter)
    if U.is_user_written and not U.finite_slope_at_zero:
        _check_integrable(U)
    g = U.hypersingular_exponent  # E U(|X - X'|) = -inf: regularize the kernel
    delta = None if g is None else (regularization or 1e-30 * h)
    with_atoms = delta is None and U.finite_slope_at_zero
    K = unit_kernel(regularized_utility(U, delta), m, with_atoms=with_atoms,
                    scale=None if delta is None else delta / h)
    if not np.all(np.isfinite(K)):
        raise ConvergenceError(f"{U.spec}: the cell-averaged kernel is not finite at grid = {m}")
    w, iterations = maximize_symmetric_energy(K, tol=tol, max_iter=max_iter)
    residual = symmetric_kkt_residual(K, w)
    if not (residual <= 10.0 * tol):
        raise ConvergenceError(
            f"{U.spec}: solve_limit(grid={m}) reached KKT residual {residual:.3g} after "
            f"{iterations} iterations; target {10.0 * tol:.3g}"
        )
    energy = float(w @ K @ w)
    atom_mass = float(0.5 * (w[0] + w[-1])) if with_atoms else 0.0
    midpoints = (np.arange(m) + 0.5) * h
    return LimitSolution(
        spec=U.spec,
        grid=m,
        atoms={0.0: atom_mass, 1.0: atom_mass} if atom_mass > ATOM_THRESHOLD else {},
        support=np.concatenate(([0.0], midpoints, [1.0])) if with_atoms else midpoints,
        weights=w,
        edges=np.linspace(0.0, 1.0, m + 1),
        cell_mass=np.array(w[1:-1] if with_atoms else w),
        atom_mass=atom_mass,
        objective=-math.inf if delta is not None else energy,
        kkt_residual=residual,
        iterations=iterations,
        seconds=time.perf_counter() - t0,
        regularization=delta,
        regularized_objective=None if delta is None else unscale_energy(energy, g, delta),
    )


def _check_integrable(U: Utility) -> None:
    """Refuse a user's U whose singularity at 0 is not integrable: then
    E U(|X - X'|) = -inf for every measure with a density and Theorem 5 names no measure."""
    import sympy as sp

    from rcollapse.theory.utilities import x

    lead = sp.limit(x * U.expr, x, 0, "+")
    if lead != 0:
        raise SolverInputError(
            f"{U.spec}: U is not integrable at 0 (x U(x) -> {lead} as x -> 0+), so E U(|X - X'|) "
            "= -inf for every measure and Theorem 5 gives none; valid: U with int_0^1 U > -inf "
            "(finite n: use solve)")


# --------------------------------------------------------------------------------------
# Grid error estimates (Richardson) for every n = inf number that is reported
# --------------------------------------------------------------------------------------
#: The quantile levels reported by ``rcollapse limit`` (with their grid error estimates).
REPORTED_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def richardson_estimate(values, grids) -> GridEstimate:
    """Grid error of the last of ``values`` computed on ``grids`` (each twice the last).

    Three grids: d1 = v2 - v1, d2 = v3 - v2, contraction rho = d2 / d1, observed order
    p = -log2(rho). Then, by the rule that decides:

    - d1 and d2 of one sign and rho < 1 (the changes shrink): Richardson's (geometric
      tail) estimate |d2| rho / (1 - rho) = |d2| / (2^p - 1); ``order`` is p, reported as
      asymptotic when 0.5 <= p <= 4;
    - signs differ (oscillation): max(|d1|, |d2|), no order;
    - rho >= 1 (the changes do not shrink: the grid does not resolve U yet): inf, no order.
      Nothing is claimed about such a number but its value on this grid.

    Two grids: |d2|, no order.

    >>> e = richardson_estimate([1.1, 1.025, 1.00625], [100, 200, 400])  # 1 + 1000 / m^2
    >>> round(e.order, 6), round(e.error, 8)
    (2.0, 0.00625)
    """
    v = [float(a) for a in values]
    grids = tuple(int(g) for g in grids)
    if len(v) < 2:
        raise SolverInputError("richardson_estimate needs values on at least two grids")
    d2 = v[-1] - v[-2]
    order = None
    error = abs(d2)
    if len(v) >= 3:
        d1 = v[-2] - v[-3]
        if d1 == 0.0 and d2 == 0.0:
            error = 0.0
        elif d1 * d2 > 0.0 and abs(d2) < abs(d1):
            rho = d2 / d1
            order, error = -math.log2(rho), abs(d2) * rho / (1.0 - rho)
        elif d1 * d2 > 0.0 or (d1 == 0.0 and d2 != 0.0):
            error = math.inf
        else:
            error = max(abs(d1), abs(d2))
    return GridEstimate(v[-1], error, order, grids, tuple(v))


def _reported_numbers(sol: LimitSolution) -> dict:
    out = {"atom_mass": sol.atom_mass, "var": sol.var()}
    for p, q in zip(REPORTED_QUANTILES, sol.quantile(np.array(REPORTED_QUANTILES))):
        out[f"quantile:{p:g}"] = float(q)
    return out


def solve_limit_with_error(U, *, grid: int = DEFAULT_GRID, **options) -> LimitSolution:
    """:func:`solve_limit` on ``grid`` cells, with ``grid_error`` filled: the atom mass,
    the variance and the quantiles at :data:`REPORTED_QUANTILES`, each with a Richardson
    error estimate from the grids grid/4, grid/2, grid (those >= MIN_GRID).

    >>> sol = solve_limit_with_error("expr:log(1 + 4*x)", grid=64)
    >>> est = sol.grid_error["atom_mass"]
    >>> est.grids, est.error < 1e-3
    ((16, 32, 64), True)
    """
    U = parse_utility(U)
    fine = solve_limit(U, grid=grid, **options)
    grids = [g for g in (fine.grid // 4, fine.grid // 2) if g >= MIN_GRID]
    if not grids:
        raise SolverInputError(f"grid = {fine.grid}: a grid error estimate needs grid >= {2 * MIN_GRID}")
    coarse = [solve_limit(U, grid=g, **options) for g in grids]
    numbers = [_reported_numbers(s) for s in coarse + [fine]]
    all_grids = grids + [fine.grid]
    estimates = {k: richardson_estimate([n[k] for n in numbers], all_grids) for k in numbers[-1]}
    return dataclasses.replace(fine, grid_error=estimates)


# --------------------------------------------------------------------------------------
# A start for newton when no closed-form limit is known
# --------------------------------------------------------------------------------------
#: Cells of the n = inf solve that gives newton its start (cheap: well under a second).
START_GRID = 256


@functools.lru_cache(maxsize=32)
def _start_measure(U: Utility) -> LimitSolution | None:
    try:
        return solve_limit(U, grid=START_GRID)
    except (ConvergenceError, SolverInputError):
        return None


def limit_start(U, n: int, *, box: bool) -> np.ndarray | None:
    """Newton's first start for a U with no closed-form limit (a user-written U): the top
    half y_k = 1 - r_k (k = 1..n // 2) at the quantiles of Theorem 5's measure,
    y_k = F^-1((k - 1) / (n - 1)). ``box``: runs of ties at 0 are allowed (U'(0+) finite);
    otherwise the values must be strictly increasing. None when the measure cannot be
    computed or gives no admissible start (newton then uses its default).

    >>> y = limit_start("expr:sqrt(x) + log(x)", 6, box=False)
    >>> float(y[0]), bool(0.0 < y[1] < y[2] < 0.5)
    (0.0, True)
    """
    U = parse_utility(U)
    sol = _start_measure(U)
    if sol is None:
        return None
    y = np.asarray(sol.quantile(np.arange(n // 2) / (n - 1)), dtype=float)
    y[0] = 0.0
    y = np.clip(y, 0.0, 0.5)
    if not box:
        ends = np.concatenate((y, [0.5 if n % 2 else 1.0 - y[-1]]))
        if not (np.all(np.isfinite(y)) and np.all(np.diff(ends) > 0.0)):
            return None
    return y
