"""The n = inf measure that the spectral solver returns (``solvers.limit_spectral``), with
a limiting measure's interface (the names of ``solvers.LimitSolution`` and
``theory.measures.LimitingMeasure``: ``atoms``, ``cdf``, ``cdf_left``, ``ppf``,
``density``, ``integrated_cdf``, ``rvs``, ``mean``, ``var``, ``std``, ``describe``,
``to_json``), plus ``w1_to(measure)``.

The measure is ``a delta_0 + a delta_1 + rho(x) dx`` with

    rho(x) = (x (1 - x))^beta  sum_k c_k P_{2k}^{(beta, beta)}(2x - 1)

(Jacobi polynomials; beta = 0 is Legendre). Every quantity is exact for that series, up
to rounding: the cdf from the Rodrigues identity
``int_0^x (y(1-y))^beta P_n(2y-1) dy = -(1/n) (x(1-x))^(beta+1) P_{n-1}^{(beta+1, beta+1)}(2x-1)``
(n >= 1; n = 0 is the incomplete Beta function), the moments by Gauss-Jacobi quadrature.

>>> mu = SpectralLimitSolution("example", 0, 0.0, np.array([0.5]), 0.25, 0.0, 0.0, 0.0, 0.0)
>>> mu.describe(), float(mu.cdf(0.5)), round(mu.var(), 12)  # var = 0.5/4 + 0.5/12
('0.25 delta_0 + 0.25 delta_1 + 0.5 spectral density (degree 0)', 0.5, 0.166666666667)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special, stats

from rcollapse.solvers.errors import SolverInputError
from rcollapse.solvers.limit_spectral_rules import gauss_jacobi

__all__ = ["ATOM_THRESHOLD", "SpectralDensity", "SpectralLimitSolution"]

#: Masses at or below this are reported as zero (no atom), as for the grid solver.
ATOM_THRESHOLD = 1e-12


def jacobi_matrix(y, degrees, beta: float) -> np.ndarray:
    """P_n^{(beta, beta)}(2y - 1) for n in ``degrees``: shape (len(y), len(degrees)), by
    the three-term recurrence of the symmetric Jacobi polynomials (DLMF 18.9.2; scipy's
    ``eval_jacobi`` for 16 points or fewer),
    ``(n+1)(n+2b+1) P_{n+1} = (n+b+1) [(2n+2b+1) t P_n - (n+b) P_{n-1}]``, P_1 = (b+1) t.

    >>> y = np.linspace(0.0, 1.0, 101)
    >>> bool(np.max(np.abs(jacobi_matrix(y, [3], 0.0)[:, 0] - special.eval_legendre(3, 2 * y - 1))) < 1e-15)
    True
    """
    t = 2.0 * np.asarray(y, dtype=float).ravel() - 1.0
    degrees = np.asarray(degrees, dtype=int)
    if t.size <= 16:  # a few points (adaptive quadrature): scipy's, one call for all degrees
        return special.eval_jacobi(degrees[None, :].astype(float), beta, beta, t[:, None])
    top = int(degrees.max()) if degrees.size else 0
    P = np.empty((top + 1, t.size))
    P[0] = 1.0
    if top >= 1:
        P[1] = (beta + 1.0) * t
    b = beta
    for n in range(1, top):
        P[n + 1] = (n + b + 1.0) * ((2 * n + 2 * b + 1.0) * t * P[n] - (n + b) * P[n - 1]) / (
            (n + 1.0) * (n + 2 * b + 1.0))
    return P[degrees].T


def jacobi_integral(g, beta: float, nodes: int) -> float:
    """int_0^1 (y (1 - y))^beta g(y) dy, exact for polynomials g of degree < 2 nodes."""
    t, w = gauss_jacobi(nodes, beta, beta)
    return float(0.5 * 4.0 ** (-beta) * (w @ g(0.5 * (t + 1.0))))


def _primitive(x, degrees, beta: float) -> np.ndarray:
    """int_0^x (y (1 - y))^beta P_n^{(beta, beta)}(2y - 1) dy for n in ``degrees``."""
    x = np.clip(np.asarray(x, dtype=float).ravel(), 0.0, 1.0)
    n = np.asarray(degrees, dtype=float)
    out = np.empty((x.size, n.size))
    zero = n == 0
    a = beta + 1.0
    out[:, zero] = (special.beta(a, a) * special.betainc(a, a, x))[:, None]
    rest = n[~zero]
    if rest.size:
        with np.errstate(divide="ignore", invalid="ignore"):
            bump = (x * (1.0 - x)) ** a
        out[:, ~zero] = -(bump[:, None] / rest[None, :]) * jacobi_matrix(x, rest.astype(int) - 1, a)
    return out


@dataclass(frozen=True, eq=False)
class SpectralLimitSolution:
    """Theorem 5's measure from the spectral solver: atoms ``atom_mass`` at 0 and 1 plus
    the density ``(x(1-x))^beta sum_k coefficients[k] P_{2k}^{(beta,beta)}(2x - 1)``.

    ``degree``: the series' degree (2 (len(coefficients) - 1)); ``objective``: the
    potential's constant value, E U(|X - X'|); ``certificate``: max |Phi(x) - Phi(1/2)|
    over x in [0, 1] by adaptive quadrature (the first-order condition of Theorem 5);
    ``error_estimate``: the change from degree / 2 (atom mass and density at
    interior points); ``history``: (degree, atom mass, change, seconds) of every degree
    solved; ``grid_error``: for each reported number a ``GridEstimate`` whose ``grids``
    are the two degrees.
    """

    spec: str
    degree: int
    beta: float
    coefficients: np.ndarray
    atom_mass: float
    objective: float
    certificate: float
    error_estimate: float
    seconds: float
    history: tuple = ()
    grid_error: dict | None = None

    method: ClassVar[str] = "spectral"
    theorem: ClassVar[str] = "Theorem 5 (solved numerically)"
    statement: ClassVar[str] = ("Theorem 5 (Song et al. 2023): reward distribution -> the symmetric "
                                "mu maximizing E U(|X - X'|)")
    atoms_are_lower_bounds: ClassVar[bool] = False
    exact: ClassVar[bool] = True
    closed_form: ClassVar[bool] = False

    # ---- the parts ---------------------------------------------------------------------
    @property
    def atoms(self) -> dict:
        a = self.atom_mass
        return {0.0: a, 1.0: a} if a > ATOM_THRESHOLD else {}

    @property
    def _degrees(self) -> np.ndarray:
        return 2 * np.arange(len(self.coefficients))

    @functools.cached_property
    def continuous_mass(self) -> float:
        """int_0^1 rho = c_0 B(beta + 1, beta + 1) (orthogonality)."""
        a = self.beta + 1.0
        return float(self.coefficients[0] * special.beta(a, a))

    @functools.cached_property
    def continuous(self):
        """The continuous part normalized, a scipy distribution, or None without mass."""
        return SpectralDensity(self) if self.continuous_mass > 0.0 else None

    @property
    def continuous_info(self) -> dict:
        return {"name": "spectral", "kind": "jacobi series", "source": "solvers.limit_spectral",
                "degree": int(self.degree), "beta": float(self.beta),
                "certificate": float(self.certificate), "error_estimate": float(self.error_estimate)}

    @property
    def note(self) -> str:
        return (f"atoms and density from the spectral n = inf solver (degree {self.degree}, change "
                f"from degree {self.degree // 2} {self.error_estimate:.1g}, potential constant to "
                f"{self.certificate:.1g})")

    def series(self, x) -> np.ndarray:
        """sum_k c_k P_{2k}^{(beta,beta)}(2x - 1): rho without its weight."""
        x = np.asarray(x, dtype=float)
        return (jacobi_matrix(x, self._degrees, self.beta) @ self.coefficients).reshape(x.shape)

    # ---- distribution functions --------------------------------------------------------
    def density(self, x):
        """rho(x), the density of the continuous part (atoms excluded), 0 outside [0, 1]."""
        x = np.asarray(x, dtype=float)
        t = np.clip(x, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (t * (1.0 - t)) ** self.beta * self.series(t)
        return np.where((x >= 0.0) & (x <= 1.0), out, 0.0)

    def _inner_cdf(self, x):
        x = np.asarray(x, dtype=float)
        out = _primitive(x, self._degrees, self.beta) @ self.coefficients
        return out.reshape(x.shape)

    def cdf(self, x):
        """P(X <= x), atoms included."""
        x = np.asarray(x, dtype=float)
        out = self._inner_cdf(x) + self.atom_mass * ((x >= 0.0) + 0.0 + (x >= 1.0))
        return np.clip(np.where(x < 0.0, 0.0, np.where(x >= 1.0, 1.0, out)), 0.0, 1.0)

    def cdf_left(self, x):
        """P(X < x), the left limit of the cdf at x."""
        x = np.asarray(x, dtype=float)
        out = self._inner_cdf(x) + self.atom_mass * ((x > 0.0) + 0.0 + (x > 1.0))
        return np.clip(np.where(x <= 0.0, 0.0, np.where(x > 1.0, 1.0, out)), 0.0, 1.0)

    def quantile(self, q):
        """inf{x : F(x) >= q} for q in [0, 1], by bisection on the exact cdf (60 halvings:
        below 1e-17 in x)."""
        p = np.asarray(q, dtype=float)
        if np.any(~np.isfinite(p)) or np.any((p < 0.0) | (p > 1.0)):
            raise SolverInputError("quantile: q must lie in [0, 1]")
        a = self.atom_mass
        lo, hi = np.zeros(p.shape), np.ones(p.shape)
        target = p - a
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self._inner_cdf(mid) >= target
            hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
        out = np.where(p <= a, 0.0, hi)
        return np.where(p > 1.0 - a, 1.0, out) if a > 0.0 else np.where(p >= 1.0, 1.0, out)

    ppf = quantile

    @functools.cached_property
    def _first_moment_coefficients(self) -> np.ndarray:
        """y p(y) = sum_n d_n P_n^{(beta,beta)}(2y - 1), n <= degree + 1, projected exactly
        (Gauss-Jacobi with degree + 4 nodes)."""
        t, w = gauss_jacobi(self.degree + 4, self.beta, self.beta)
        y = 0.5 * (t + 1.0)
        P = jacobi_matrix(y, np.arange(self.degree + 2), self.beta)
        return ((w * y * self.series(y)) @ P) / (w @ P**2)

    def _first_moment(self, x):
        """int_0^x y rho(y) dy."""
        x = np.asarray(x, dtype=float)
        d = self._first_moment_coefficients
        return (_primitive(x, np.arange(d.size), self.beta) @ d).reshape(x.shape)

    def integrated_cdf(self, x):
        """G(x) = int_{-inf}^x F(t) dt = a t + t F_c(t) - int_0^t y rho(y) dy (t = x in
        [0, 1]); G(x) = G(1) + x - 1 for x >= 1."""
        x = np.asarray(x, dtype=float)
        t = np.clip(x, 0.0, 1.0)
        inner = t * self._inner_cdf(t) - self._first_moment(t)
        return self.atom_mass * t + inner + np.maximum(x - 1.0, 0.0)

    def rvs(self, size: int, *, random_state=None) -> np.ndarray:
        """A random sample of ``size`` points, by inversion (ppf of uniforms)."""
        rng = np.random.default_rng(random_state)
        return self.ppf(rng.uniform(size=size))

    def w1_to(self, measure) -> float:
        """W1 = int_0^1 |F(x) - G(x)| dx against another measure on [0, 1] (its ``cdf``),
        by 24-point Gauss-Legendre on pieces graded geometrically towards both ends."""
        edges = np.unique(np.concatenate(([0.0], np.geomspace(1e-16, 0.5, 48), [1.0])))
        edges = np.unique(np.concatenate((edges, 1.0 - edges)))
        t, w = gauss_jacobi(24, 0.0, 0.0)
        a, b = edges[:-1, None], edges[1:, None]
        x = (a + 0.5 * (b - a) * (t + 1.0)).ravel()
        gap = np.abs(self.cdf(x) - np.asarray(measure.cdf(x), dtype=float))
        return float(np.sum((0.5 * (b - a) * w).ravel() * gap))

    # ---- moments -----------------------------------------------------------------------
    def _moment(self, k: int) -> float:
        inner = jacobi_integral(lambda y: y**k * self.series(y), self.beta, self.degree // 2 + k + 2)
        return self.atom_mass + inner

    def mean(self) -> float:
        """E X (1/2 up to rounding: the measure is symmetric, Theorem 5)."""
        return self._moment(1)

    def var(self) -> float:
        """Var X."""
        mean = self.mean()
        return self._moment(2) - mean * mean

    def std(self) -> float:
        return math.sqrt(self.var())

    # ---- text --------------------------------------------------------------------------
    def describe(self) -> str:
        """The measure as a person writes it, as ``LimitingMeasure.describe`` does."""
        parts = [f"{m:.6g} delta_{p:.6g}" for p, m in sorted(self.atoms.items())]
        if self.continuous_mass > ATOM_THRESHOLD:
            name = f"spectral density (degree {self.degree})"
            parts.append(name if not parts else f"{self.continuous_mass:.6g} {name}")
        return " + ".join(parts)

    def to_json(self) -> dict:
        """spec, method, degree, atoms, beta, coefficients, quantiles (p = 0, 0.001, ...,
        1), objective, certificate, error_estimate, history, seconds, grid_error."""
        p = np.linspace(0.0, 1.0, 1001)
        obj = self.objective
        return {
            "spec": self.spec, "method": self.method, "degree": self.degree,
            "atoms": [[float(x), float(m)] for x, m in sorted(self.atoms.items())],
            "atom_mass": self.atom_mass, "beta": self.beta,
            "coefficients": [float(c) for c in self.coefficients],
            "quantiles": [float(v) for v in self.quantile(p)],
            "objective": obj if math.isfinite(obj) else None,
            "certificate": self.certificate, "error_estimate": self.error_estimate,
            "history": [list(h) for h in self.history], "seconds": self.seconds,
            "grid_error": None if self.grid_error is None
            else {k: v.to_json() for k, v in self.grid_error.items()},
        }


class SpectralDensity(stats.rv_continuous):
    """The continuous part of a :class:`SpectralLimitSolution`, normalized to mass 1, as a
    scipy distribution on [0, 1] (``theory.measures.LimitingMeasure`` takes it as its
    ``continuous``). Like a frozen scipy distribution, ``.dist`` names it."""

    def __init__(self, solution: SpectralLimitSolution):
        self._solution = solution
        self._mass = solution.continuous_mass
        super().__init__(a=0.0, b=1.0, name=f"spectral density (degree {solution.degree})")

    @property
    def dist(self):
        return self

    def _pdf(self, x):
        return self._solution.density(x) / self._mass

    def _cdf(self, x):
        return self._solution._inner_cdf(x) / self._mass

    def _ppf(self, q):
        return self._solution.quantile(self._solution.atom_mass + q * self._mass)

    def _stats(self):
        s, a, m = self._solution, self._solution.atom_mass, self._mass
        mean = (s.mean() - a) / m
        second = (s._moment(2) - a) / m
        return mean, second - mean * mean, None, None
