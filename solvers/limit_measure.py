"""The n = inf measure that ``solvers.solve_limit`` returns, with a limiting measure's
interface (``theory.measures.LimitingMeasure``: ``atoms``, ``cdf``, ``cdf_left``,
``ppf``, ``density``, ``integrated_cdf``, ``rvs``, ``mean``, ``var``, ``std``,
``describe``), so that callers never ask which of the two they hold.

The measure is atoms at 0 and 1 plus a piecewise-constant density on the grid's cells:
every quantity is exact for that discretized measure.

>>> sol = LimitSolution("example", 2, {0.0: 0.25, 1.0: 0.25}, np.array([0.0, 0.25, 0.75, 1.0]),
...                     np.array([0.25, 0.25, 0.25, 0.25]), np.linspace(0.0, 1.0, 3),
...                     np.array([0.25, 0.25]), 0.25, 0.0, 0.0, 1, 0.0)
>>> sol.describe(), float(sol.cdf(0.5)), round(sol.var(), 9)  # var = 0.5/4 + 0.5/12
('0.25 delta_0 + 0.25 delta_1 + 0.5 numerical density (solvers.solve_limit, grid 2)', 0.5, 0.166666667)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from rcollapse.solvers.errors import SolverInputError
from rcollapse.theory.measures import Histogram

__all__ = ["GridEstimate", "LimitSolution"]


@dataclass(frozen=True)
class GridEstimate:
    """One n = inf number from grids m/4, m/2, m: ``value`` (on the finest grid m), an
    estimate of its grid error |value - lim_{m -> inf}| (inf when the values do not
    converge yet at these grids), and the observed order p (None when the changes do not
    shrink monotonically)."""

    value: float
    error: float
    order: float | None
    grids: tuple
    values: tuple

    def to_json(self) -> dict:
        """Strict JSON: an infinite error is None, with ``converging`` False."""
        finite = math.isfinite(self.error)
        return {"value": self.value, "error": self.error if finite else None,
                "converging": finite, "order": self.order,
                "grids": list(self.grids), "values": list(self.values)}


@dataclass(frozen=True, eq=False)
class LimitSolution:
    """The discretized n = inf measure: atoms at 0 and 1 plus a piecewise-constant density.

    ``atoms``: {position: mass} for the masses above ATOM_THRESHOLD (positions exactly
    0.0 and 1.0), as ``LimitingMeasure.atoms``; ``support``/``weights``: every grid unit
    (the atom candidates 0 and 1 when U'(0+) is finite, then the cell midpoints) and its
    mass; ``edges``: the m + 1 cell edges.
    """

    spec: str
    grid: int  # number of cells m
    atoms: dict  # {position: mass}, mass > ATOM_THRESHOLD; positions exactly 0.0, 1.0
    support: np.ndarray = field(repr=False)  # positions of the grid units
    weights: np.ndarray = field(repr=False)  # their masses (sum 1)
    edges: np.ndarray = field(repr=False)  # cell edges, 0 = e_0 < ... < e_m = 1
    cell_mass: np.ndarray = field(repr=False)  # c_i, the continuous part per cell
    atom_mass: float  # mass at 0 (= mass at 1, by symmetry)
    objective: float  # E U(|X - X'|) for the returned measure (-inf: see regularization)
    kkt_residual: float  # max KKT violation of the discrete QP, relative to max(1, |lambda|)
    iterations: int  # active-set iterations
    seconds: float
    regularization: float | None = None  # delta of neg-power gamma >= 1, else None
    regularized_objective: float | None = None  # E U_delta(|X - X'|) when regularized
    grid_error: dict | None = None  # name -> GridEstimate (solve_limit_with_error), else None

    # ---- what LimitingMeasure says of itself, for a measure computed on a grid ---------
    theorem: ClassVar[str] = "Theorem 5 (solved numerically)"
    statement: ClassVar[str] = ("Theorem 5 (Song et al. 2023): reward distribution -> the symmetric "
                                "mu maximizing E U(|X - X'|)")
    atoms_are_lower_bounds: ClassVar[bool] = False
    exact: ClassVar[bool] = True  # the whole measure is known (up to the grid)
    closed_form: ClassVar[bool] = False  # its numbers carry grid errors

    @property
    def continuous_mass(self) -> float:
        """Mass of the continuous part, 1 - 2 * atom_mass."""
        return float(self.cell_mass.sum())

    @functools.cached_property
    def continuous(self) -> Histogram | None:
        """The continuous part as a frozen scipy distribution (cell masses normalized), or
        None when it has no mass."""
        return Histogram(self.cell_mass, self.edges) if self.continuous_mass > 0 else None

    @property
    def continuous_info(self) -> dict:
        return {"name": "numerical", "kind": "histogram", "source": "solvers.solve_limit",
                "grid": int(self.grid), "kkt_residual": float(self.kkt_residual)}

    @property
    def note(self) -> str:
        return (f"atoms and continuous part from the n = inf solver (grid {self.grid}, "
                f"KKT residual {self.kkt_residual:.2g})")

    # ---- distribution functions ------------------------------------------------------
    def density(self, x):
        """Density of the continuous part (atoms excluded): c_i / h on cell i, 0 outside [0, 1]."""
        x = np.asarray(x, dtype=float)
        m = self.grid
        idx = np.clip(np.floor(x * m).astype(np.int64), 0, m - 1)
        out = self.cell_mass[idx] * m
        return np.where((x >= 0.0) & (x <= 1.0), out, 0.0)

    def _inner_cdf(self, x):
        cum = np.concatenate(([0.0], np.cumsum(self.cell_mass)))
        return np.interp(x, self.edges, cum)

    def cdf(self, x):
        """P(X <= x), atoms included (a jump of ``atom_mass`` at 0 and at 1)."""
        x = np.asarray(x, dtype=float)
        out = self._inner_cdf(x) + self.atom_mass * (x >= 0.0) + self.atom_mass * (x >= 1.0)
        return np.clip(np.where(x < 0.0, 0.0, np.where(x >= 1.0, 1.0, out)), 0.0, 1.0)

    def cdf_left(self, x):
        """P(X < x), the left limit of the cdf at x."""
        x = np.asarray(x, dtype=float)
        out = self._inner_cdf(x) + self.atom_mass * (x > 0.0) + self.atom_mass * (x > 1.0)
        return np.clip(np.where(x <= 0.0, 0.0, np.where(x > 1.0, 1.0, out)), 0.0, 1.0)

    def quantile(self, q):
        """inf{x : F(x) >= q} for q in [0, 1]; quantile(0) = 0 and quantile(1) = 1."""
        p = np.asarray(q, dtype=float)
        if np.any(~np.isfinite(p)) or np.any((p < 0.0) | (p > 1.0)):
            raise SolverInputError("quantile: q must lie in [0, 1]")
        a = self.atom_mass
        cum = a + np.concatenate(([0.0], np.cumsum(self.cell_mass)))  # F at the edges
        k = np.clip(np.searchsorted(cum, p, side="left"), 1, self.grid)  # cum[k-1] < p <= cum[k]
        c = self.cell_mass[k - 1]
        frac = np.where(c > 0.0, (p - cum[k - 1]) / np.where(c > 0.0, c, 1.0), 1.0)
        out = self.edges[k - 1] + np.clip(frac, 0.0, 1.0) * (self.edges[k] - self.edges[k - 1])
        out = np.where(p <= a, 0.0, out)
        out = np.where(p > cum[-1], 1.0, out)  # inside the atom at 1
        return np.where(p >= 1.0, 1.0, out)

    ppf = quantile

    def integrated_cdf(self, x):
        """G(x) = int_{-inf}^x F(t) dt, exactly (F is piecewise linear between the atoms);
        G(x) = G(1) + x - 1 for x >= 1."""
        x = np.asarray(x, dtype=float)
        t = np.clip(x, 0.0, 1.0)
        cum = np.concatenate(([0.0], np.cumsum(self.cell_mass)))
        areas = np.concatenate(([0.0], np.cumsum(0.5 * np.diff(self.edges) * (cum[1:] + cum[:-1]))))
        k = np.clip(np.searchsorted(self.edges, t, side="right") - 1, 0, self.grid - 1)
        inner = areas[k] + 0.5 * (t - self.edges[k]) * (cum[k] + self._inner_cdf(t))
        return self.atom_mass * t + inner + np.maximum(x - 1.0, 0.0)

    def rvs(self, size: int, *, random_state=None) -> np.ndarray:
        """A random sample of ``size`` points, by inversion (ppf of uniforms)."""
        rng = np.random.default_rng(random_state)
        return self.ppf(rng.uniform(size=size))

    # ---- moments ---------------------------------------------------------------------
    def mean(self) -> float:
        """E X of the discretized measure (atoms plus uniform cells), exactly; 1/2 up to
        rounding (the measure is symmetric, Theorem 5)."""
        e0, e1 = self.edges[:-1], self.edges[1:]
        return self.atom_mass + float(np.sum(self.cell_mass * (e0 + e1) / 2.0))

    def var(self) -> float:
        """Var X of the discretized measure (atoms plus uniform cells), exactly."""
        e0, e1 = self.edges[:-1], self.edges[1:]
        second = self.atom_mass + float(np.sum(self.cell_mass * (e0 * e0 + e0 * e1 + e1 * e1) / 3.0))
        mean = self.mean()
        return second - mean * mean

    def std(self) -> float:
        return math.sqrt(self.var())

    # ---- text ------------------------------------------------------------------------
    def describe(self) -> str:
        """The measure as a person writes it, as ``LimitingMeasure.describe`` does."""
        parts = [f"{m:.6g} delta_{p:.6g}" for p, m in sorted(self.atoms.items())]
        if self.continuous_mass:
            name = f"numerical density (solvers.solve_limit, grid {self.grid})"
            parts.append(name if not parts else f"{self.continuous_mass:.6g} {name}")
        return " + ".join(parts)

    def to_json(self) -> dict:
        """spec, grid, atoms, quantiles (p = 0, 0.001, ..., 1), objective, kkt_residual, seconds."""
        p = np.linspace(0.0, 1.0, 1001)
        obj = self.objective
        return {
            "spec": self.spec,
            "grid": self.grid,
            "atoms": [[float(x), float(m)] for x, m in sorted(self.atoms.items())],
            "quantiles": [float(v) for v in self.quantile(p)],
            "objective": obj if math.isfinite(obj) else None,
            "kkt_residual": self.kkt_residual,
            "iterations": self.iterations,
            "seconds": self.seconds,
            "regularization": self.regularization,
            "grid_error": None if self.grid_error is None
            else {k: v.to_json() for k, v in self.grid_error.items()},
        }
