"""A limiting measure: atoms plus a continuous part, one interface whatever made it.

The measure that :mod:`rcollapse.theory.limits` returns for each theorem (a closed form,
Theorem 4's bound on the atoms, or Theorem 5's measure computed on a grid), with the
scipy.stats interface: ``cdf``, ``cdf_left``, ``ppf``, ``mean``, ``var``, ``density``,
``describe`` and ``to_json``.

>>> from scipy import stats
>>> mu = LimitingMeasure("example", {0.0: 0.25, 1.0: 0.25}, stats.uniform(), 0.5, "none",
...                      continuous_info={"name": "uniform"})
>>> mu.describe(), float(mu.cdf(0.5)), round(mu.var(), 9)  # var = 0.5/4 + 0.5/12
('0.25 delta_0 + 0.25 delta_1 + 0.5 Uniform(0, 1)', 0.5, 0.166666667)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

__all__ = ["Histogram", "LimitingMeasure", "NoClosedForm"]


class NoClosedForm(ValueError):
    """The measure is only partly known (a bound), so this quantity has no value."""


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True, eq=False)
class LimitingMeasure:
    """A probability measure on [0, 1]: atoms plus a continuous part.

    mu = sum_k atoms[p_k] delta_{p_k} + continuous_mass * continuous, with ``continuous``
    a frozen scipy.stats distribution on [0, 1] (None when there is no continuous part,
    or when it is unknown: then ``continuous_mass`` is None too).

    Rules: ``cdf(x) = mu([0, x])`` (right-continuous), ``cdf_left(x) = mu([0, x))``,
    ``ppf(q) = inf{x : cdf(x) >= q}`` (``ppf(0) = 0``). When ``atoms_are_lower_bounds`` is
    True the atoms are only lower bounds and everything that needs the whole measure
    raises :class:`NoClosedForm`; ``mean()`` is still 1/2 by symmetry (Theorem 5).
    """

    spec: str
    atoms: dict
    continuous: object | None = field(repr=False)
    continuous_mass: float | None
    theorem: str
    statement: str = field(default="", repr=False)  # the theorem in one line
    atoms_are_lower_bounds: bool = False
    note: str = field(default="", repr=False)  # anything a reader must know
    continuous_info: dict | None = field(default=None, repr=False)  # JSON of the part
    #: For a measure computed on a grid (Theorem 5, numerically): name -> estimate with
    #: ``value``, ``error`` (grid error estimate), ``order``, ``grids``, ``values``; None
    #: for a closed form. Names: "atom_mass", "var", "quantile:<p>".
    grid_error: dict | None = field(default=None, repr=False)

    # ---- status ----------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether the whole measure is known (not just a bound on its atoms): a closed
        form, or computed by the n = inf solver (then see ``closed_form``, ``grid_error``)."""
        return not self.atoms_are_lower_bounds and self.continuous_mass is not None

    @property
    def closed_form(self) -> bool:
        """Whether the measure is exact in closed form (False for a bound, and for a measure
        computed on a grid, whose numbers carry grid errors)."""
        return self.exact and self.grid_error is None and not (
            self.continuous_info and self.continuous_info.get("name") == "numerical")

    def _require_exact(self, what: str):
        if not self.exact:
            raise NoClosedForm(
                f"{self.spec}: {what} is unknown: {self.theorem} bounds the atoms only and no "
                "closed form is known for the continuous part (use limit_solver=solvers.solve_limit)"
            )

    def _atom_arrays(self):
        pos = np.array(sorted(self.atoms), dtype=float)
        mass = np.array([self.atoms[p] for p in sorted(self.atoms)], dtype=float)
        return pos, mass

    # ---- distribution functions ------------------------------------------------------
    def cdf(self, x):
        """mu([0, x]) (mu((-inf, x]) for x outside [0, 1]), vectorized."""
        self._require_exact("the cdf")
        x = np.asarray(x, dtype=float)
        pos, mass = self._atom_arrays()
        out = np.sum(mass * (x[..., None] >= pos), axis=-1) if pos.size else np.zeros_like(x)
        if self.continuous is not None and self.continuous_mass:
            out = out + self.continuous_mass * self.continuous.cdf(x)
        return np.clip(out, 0.0, 1.0)

    def cdf_left(self, x):
        """mu([0, x)), the left limit of the cdf at x, vectorized."""
        self._require_exact("the cdf")
        x = np.asarray(x, dtype=float)
        pos, mass = self._atom_arrays()
        out = np.sum(mass * (x[..., None] > pos), axis=-1) if pos.size else np.zeros_like(x)
        if self.continuous is not None and self.continuous_mass:
            out = out + self.continuous_mass * self.continuous.cdf(x)
        return np.clip(out, 0.0, 1.0)

    def ppf(self, q):
        """inf{x in [0, 1] : cdf(x) >= q}, vectorized; an atom owns the q in its jump."""
        self._require_exact("the quantile function")
        q = np.asarray(q, dtype=float)
        if np.any(~((q >= 0) & (q <= 1))):
            raise ValueError("ppf: q must lie in [0, 1]")
        pos, mass = self._atom_arrays()
        below = np.zeros_like(q)  # mass of the atoms that lie below the answer
        out = np.full(q.shape, np.nan)
        for p_k, m_k in zip(pos, mass):
            lo, hi = float(self.cdf_left(p_k)), float(self.cdf(p_k))
            inside = (q > lo) & (q <= hi) & np.isnan(out)
            out = np.where(inside, p_k, out)
            below = below + np.where(q > hi, m_k, 0.0)
        if self.continuous is not None and self.continuous_mass:
            level = np.clip((q - below) / self.continuous_mass, 0.0, 1.0)
            out = np.where(np.isnan(out), self.continuous.ppf(level), out)
        return np.where(np.isnan(out), np.where(q <= 0, 0.0, 1.0), out)

    def density(self, x):
        """The density of the continuous part, times its mass (atoms excluded)."""
        self._require_exact("the density")
        x = np.asarray(x, dtype=float)
        if self.continuous is None or not self.continuous_mass:
            return np.zeros_like(x)
        return self.continuous_mass * self.continuous.pdf(x)

    def integrated_cdf(self, x):
        """G(x) = int_{-inf}^x cdf(t) dt, vectorized; exact for Beta, uniform and histogram parts.

        Used by :func:`theory.distances.w1_distance`. For x >= 1, G(x) = G(1) + x - 1.
        """
        self._require_exact("the integrated cdf")
        x = np.asarray(x, dtype=float)
        t = np.clip(x, 0.0, 1.0)
        pos, mass = self._atom_arrays()
        out = np.sum(mass * np.maximum(t[..., None] - pos, 0.0), axis=-1) if pos.size else np.zeros_like(t)
        if self.continuous is not None and self.continuous_mass:
            out = out + self.continuous_mass * _integrated_cdf(self.continuous, t)
        return out + np.maximum(x - 1.0, 0.0)

    def rvs(self, size: int, *, random_state=None) -> np.ndarray:
        """A random sample of ``size`` points, by inversion (ppf of uniforms)."""
        rng = np.random.default_rng(random_state)
        return self.ppf(rng.uniform(size=size))

    # ---- moments ---------------------------------------------------------------------
    def mean(self) -> float:
        """E X; 1/2 for every limit here (all are symmetric about 1/2, Theorem 5)."""
        if not self.exact:
            return 0.5  # symmetric about 1/2 (Lemma 4.1 / Theorem 5), whatever the unknown part
        pos, mass = self._atom_arrays()
        value = float(np.dot(pos, mass))
        if self.continuous is not None and self.continuous_mass:
            value += self.continuous_mass * float(self.continuous.mean())
        return value

    def var(self) -> float:
        """Var X."""
        self._require_exact("the variance")
        pos, mass = self._atom_arrays()
        second = float(np.dot(pos**2, mass))
        if self.continuous is not None and self.continuous_mass:
            c = self.continuous
            second += self.continuous_mass * float(c.var() + c.mean() ** 2)
        return second - self.mean() ** 2

    def std(self) -> float:
        return math.sqrt(self.var())

    # ---- text ------------------------------------------------------------------------
    def describe(self) -> str:
        """The measure as a person writes it: 'Beta(0.375, 0.375)', '0.5 delta_0 + 0.5 delta_1'."""
        parts = []
        if self.atoms_are_lower_bounds:
            (m,) = set(self.atoms.values()) or {0.0}
            return (
                f"m delta_0 + m delta_1 + continuous part (no closed form), "
                f"m >= {_fmt(m)} ({self.theorem})"
            )
        for p_k in sorted(self.atoms):
            parts.append(f"{_fmt(self.atoms[p_k])} delta_{_fmt(p_k)}")
        if self.continuous is not None and self.continuous_mass:
            name = _continuous_name(self.continuous, self.continuous_info)
            parts.append(name if not parts else f"{_fmt(self.continuous_mass)} {name}")
        return " + ".join(parts)

    def to_json(self) -> dict:
        """The JSON object of ``rcollapse limit SPEC --json``."""
        return {
            "spec": self.spec,
            "distribution": self.describe(),
            "continuous": self.continuous_info,
            "continuous_mass": self.continuous_mass,
            "atoms": [[float(p_k), float(self.atoms[p_k])] for p_k in sorted(self.atoms)],
            "atoms_are_lower_bounds": self.atoms_are_lower_bounds,
            "exact": self.closed_form,
            "complete": self.exact,
            "theorem": self.theorem,
            "statement": self.statement,
            "note": self.note,
            "mean": self.mean(),
            "var": self.var() if self.exact else None,
            "computed_on_grid": self.grid_error is not None,
            "grid_error": self.grid_error,
        }


def _continuous_name(dist, info) -> str:
    if info and info.get("name") == "beta":
        return f"Beta({_fmt(info['a'])}, {_fmt(info['b'])})"
    if info and info.get("name") == "uniform":
        return "Uniform(0, 1)"
    if info and info.get("name") == "numerical":
        return f"numerical density ({info.get('source', 'solver')}, grid {info.get('grid')})"
    return getattr(getattr(dist, "dist", None), "name", "continuous part")


class Histogram(stats.rv_histogram):
    """scipy's piecewise-uniform distribution, keeping its cell edges (for G = int F)."""

    def __init__(self, masses, edges):
        self.edges = np.asarray(edges, dtype=float)
        super().__init__((np.asarray(masses, dtype=float), self.edges), density=False)


def _integrated_cdf(dist, t):
    """int_0^t C(u) du for a frozen distribution C on [0, 1], t in [0, 1]."""
    if isinstance(dist, Histogram):
        edges = dist.edges
        cdf_edges = dist.cdf(edges)
        cum = np.concatenate(([0.0], np.cumsum(0.5 * np.diff(edges) * (cdf_edges[1:] + cdf_edges[:-1]))))
        k = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
        return cum[k] + 0.5 * (t - edges[k]) * (cdf_edges[k] + dist.cdf(t))
    name = getattr(getattr(dist, "dist", None), "name", "")
    if name == "beta" and not dist.kwds and len(dist.args) == 2:
        a, b = dist.args
        # int_0^t I_u(a, b) du = t I_t(a, b) - E[X; X <= t] = t I_t(a, b) - a/(a+b) I_t(a+1, b)
        return t * special.betainc(a, b, t) - a / (a + b) * special.betainc(a + 1, b, t)
    if name == "uniform" and not dist.kwds and not dist.args:
        return 0.5 * t**2
    from scipy import integrate

    flat = np.ravel(t)
    values = [integrate.quad(dist.cdf, 0.0, float(v), limit=200)[0] for v in flat]
    return np.reshape(values, np.shape(t))
