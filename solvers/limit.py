"""The n = inf reward distribution of Theorem 5, computed directly as a concave QP.

Theorem 5 (Song et al. 2023): for U bounded, strongly concave and increasing, the reward
distribution of problem (5) converges, as n -> inf, to the unique probability measure mu
on [0, 1], symmetric about 1/2, that maximizes ``E_{X, X' ~ mu iid} U(|X - X'|)``.

Discretization. Split [0, 1] into ``m`` cells of width ``h = 1/m`` and look for

    mu = a_0 delta_0 + sum_{i=1}^{m} c_i Uniform(cell_i) + a_1 delta_1,

with masses ``w = (a_0, c_1, ..., c_m, a_1) >= 0`` summing to 1 and symmetric
(``c_i = c_{m+1-i}``, ``a_0 = a_1``). Then ``E U(|X - X'|) = w' K w`` *exactly*, where K
holds the cell averages of U(|x - y|):

    K[cell i, cell j] = int_0^1 (1 - s) [U(h|k + s|) + U(h|k - s|)] ds,   k = |i - j|,
    K[atom 0, cell i] = int_0^1 U(h (i - 1 + s)) ds,   K[atom 0, atom 1] = U(1),
    K[atom, same atom] = U(0+).

The kernel is conditionally negative definite (|x - y|^g for 0 < g < 2, log|x - y|),
or ``-U(|t|)`` is positive definite (log-sigmoid, by Polya's criterion), so
``w' K w`` is strictly concave on the simplex and the QP has one maximizer. Atoms are
candidates only when U'(0+) is finite (Theorem 4's setting: linear, log-sigmoid); when
U'(0+) = inf a mass at an end would gain an infinite amount by moving inward, so the
measure has none. The entries touching the singularity at 0 (k <= 1, the first cell)
are integrated adaptively (QUADPACK), the rest by Gauss-Legendre; both to about 1e-15.

Optimality (KKT) of the discrete problem: the potential ``(K w)_i`` equals
``lambda = w' K w`` on the support and is at most ``lambda`` off it. The QP is solved
exactly by a primal active-set method on the symmetric half of the grid.

neg-power with gamma >= 1: ``E U(|X - X'|) = -inf`` for every measure, so Theorem 5 is
void; Theorem 3 says the finite-n optima tend to Uniform(0, 1), the maximizer of the
leading (local) term of the energy. Here the kernel is regularized,
``U_delta(t) = -(t + delta)^(-gamma)`` (delta = ``regularization``, by default
``1e-30 h``; computed as the positive multiple ``-10^250 (1 + t/delta)^(-gamma)``, which
has the same maximizer and stays in floating range), a concave QP (Polya); its
maximizer tends to uniform as delta -> 0, fast for gamma > 1 (W1 5e-9 at gamma = 2,
delta = 1e-6 h) but only like 1 / log(1 / delta) for gamma = 1 (as the finite-n optima
do in log n): W1 to Uniform(0, 1) is 2.8e-3 at delta = 1e-6 h, 6.6e-4 at the default.

Measured (grid 800, this machine, < 0.3 s each): W1 to the closed form 2.1e-4
(power:0.5, Beta(1/4, 1/4)), 9.2e-5 (log, arcsine), 2.8e-5 (neg-power:0.5,
Beta(3/4, 3/4)); first order in h (the densities are singular at the ends). The
log-sigmoid:s atom mass, converged in the grid to 1e-8 (second order in h):
0.204017 (s = 1/4), 0.298731 (1/2), 0.383394 (1), 0.438693 (2), against Theorem 4's
bounds 0.0347, 0.1925, 0.3498, 0.4302; the continuous part has full support on (0, 1),
a smooth density, smallest at the ends and largest at 1/2, satisfying
``rho(x) = -(1 / (2 U'(0))) int U''(|x - y|) dmu(y)`` (the potential is constant).

>>> sol = solve_limit("linear", grid=16)
>>> [(x, round(m, 6)) for x, m in sol.atoms]
[(0.0, 0.5), (1.0, 0.5)]
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, linalg

from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = [
    "DEFAULT_GRID",
    "GridEstimate",
    "LimitSolution",
    "MAX_GRID",
    "MIN_GRID",
    "REPORTED_QUANTILES",
    "limit_start",
    "richardson_estimate",
    "solve_limit",
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

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_GL_NODES = 0.5 * (_GL_NODES + 1.0)  # on [0, 1]
_GL_WEIGHTS = 0.5 * _GL_WEIGHTS


# --------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LimitSolution:
    """The discretized n = inf measure: atoms at 0 and 1 plus a piecewise-constant density.

    ``support``/``weights``: every grid unit (the atom candidates 0 and 1 when U'(0+) is
    finite, then the cell midpoints) and its mass; ``edges``: the m + 1 cell edges.
    """

    spec: str
    grid: int  # number of cells m
    atoms: list  # [(position, mass)] with mass > ATOM_THRESHOLD; positions exactly 0.0, 1.0
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

    @property
    def continuous_mass(self) -> float:
        """Mass of the continuous part, 1 - 2 * atom_mass."""
        return float(self.cell_mass.sum())

    def density(self, x):
        """Density of the continuous part (atoms excluded): c_i / h on cell i, 0 outside [0, 1]."""
        x = np.asarray(x, dtype=float)
        m = self.grid
        idx = np.clip(np.floor(x * m).astype(np.int64), 0, m - 1)
        out = self.cell_mass[idx] * m
        return np.where((x >= 0.0) & (x <= 1.0), out, 0.0)

    def cdf(self, x):
        """P(X <= x), atoms included (a jump of ``atom_mass`` at 0 and at 1)."""
        x = np.asarray(x, dtype=float)
        cum = np.concatenate(([0.0], np.cumsum(self.cell_mass)))
        inner = np.interp(x, self.edges, cum)
        out = inner + self.atom_mass * (x >= 0.0) + self.atom_mass * (x >= 1.0)
        return np.clip(np.where(x < 0.0, 0.0, np.where(x >= 1.0, 1.0, out)), 0.0, 1.0)

    def quantile(self, p):
        """inf{x : F(x) >= p} for p in [0, 1]; quantile(0) = 0 and quantile(1) = 1."""
        p = np.asarray(p, dtype=float)
        if np.any(~np.isfinite(p)) or np.any((p < 0.0) | (p > 1.0)):
            raise SolverInputError("quantile: p must lie in [0, 1]")
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

    def var(self) -> float:
        """Var X of the discretized measure (atoms plus uniform cells), exactly."""
        e0, e1 = self.edges[:-1], self.edges[1:]
        second = self.atom_mass + float(np.sum(self.cell_mass * (e0 * e0 + e0 * e1 + e1 * e1) / 3.0))
        mean = self.atom_mass + float(np.sum(self.cell_mass * (e0 + e1) / 2.0))
        return second - mean * mean

    def to_json(self) -> dict:
        """spec, grid, atoms, quantiles (p = 0, 0.001, ..., 1), objective, kkt_residual, seconds."""
        p = np.linspace(0.0, 1.0, 1001)
        obj = self.objective
        return {
            "spec": self.spec,
            "grid": self.grid,
            "atoms": [[float(x), float(m)] for x, m in self.atoms],
            "quantiles": [float(v) for v in self.quantile(p)],
            "objective": obj if math.isfinite(obj) else None,
            "kkt_residual": self.kkt_residual,
            "iterations": self.iterations,
            "seconds": self.seconds,
            "regularization": self.regularization,
            "grid_error": None if self.grid_error is None
            else {k: v.to_json() for k, v in self.grid_error.items()},
        }


# --------------------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------------------
def _quad(f, a, b, scale=None) -> float:
    """int_a^b f, adaptively; ``scale`` (in units of s) is a width over which f varies fast
    near s = 0 (the regularized kernels), so the interval is split geometrically there."""
    points = None
    if scale is not None:
        points = [t for t in np.geomspace(scale, 1.0, 12) if a < t < b] or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        value, err = integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-13, limit=400, points=points)
    if not (np.isfinite(value) and err <= 1e-9 * max(1.0, abs(value))):
        raise ConvergenceError(f"cell-averaged kernel: quadrature error {err:.3g} on [{a:g}, {b:g}]")
    return value


def _cell_kernel(u, m: int, scale=None) -> np.ndarray:
    """kappa[k] = average of U(|x - y|) over two cells k apart, k = 0..m-1 (a Toeplitz row)."""
    h = 1.0 / m
    k = np.arange(2, m, dtype=float)[:, None]
    s = _GL_NODES[None, :]
    vals = (u(h * (k + s)) + u(h * (k - s))) * (1.0 - s)
    kappa = np.empty(m)
    kappa[2:] = vals @ _GL_WEIGHTS
    # Near the singularity at 0: int_{-1}^{1} U(h|k + s|) (1 - |s|) ds, split at the kinks.
    kappa[0] = 2.0 * _quad(lambda s: u(h * s) * (1.0 - s), 0.0, 1.0, scale)
    kappa[1] = _quad(lambda s: u(h * s) * s, 0.0, 1.0, scale) + _quad(
        lambda s: u(h * s) * (2.0 - s), 1.0, 2.0
    )
    return kappa


def _atom_kernel(u, m: int) -> np.ndarray:
    """alpha[i] = average over cell i (from the atom's side) of U(distance to the atom)."""
    h = 1.0 / m
    i = np.arange(1, m, dtype=float)[:, None]
    alpha = np.empty(m)
    alpha[1:] = u(h * (i + _GL_NODES[None, :])) @ _GL_WEIGHTS
    alpha[0] = _quad(lambda s: u(h * s), 0.0, 1.0)
    return alpha


#: log of the factor 10^250 = c in c * delta^gamma * U_delta: keeps the regularized
#: kernel's entries in floating range whatever delta and gamma (same maximizer).
_LOG_SCALE = 250.0 * math.log(10.0)


def _utility_function(U: Utility, delta: float | None):
    """U itself, or for neg-power gamma >= 1 the scaled regularized kernel
    c delta^gamma U_delta(t) = -c (1 + t / delta)^(-gamma), a positive multiple of U_delta."""
    if delta is None:
        return lambda t: np.asarray(U(t), dtype=float)
    g = U.param

    def u(t):
        return -np.exp(_LOG_SCALE - g * np.log1p(np.asarray(t, dtype=float) / delta))

    return u


def _unscale(energy: float, g: float, delta: float) -> float:
    """E U_delta from the scaled energy: energy / (c delta^gamma); -inf when it overflows."""
    log_factor = -_LOG_SCALE - g * math.log(delta)
    return energy * math.exp(log_factor) if log_factor < 700.0 else -math.inf


# --------------------------------------------------------------------------------------
# The QP: maximize p' B p over the simplex, B = folded K (strictly concave on sum-zero)
# --------------------------------------------------------------------------------------
def _active_set(B: np.ndarray, *, tol: float, max_iter: int):
    """Primal active-set method for min p' A p, A = -B, over {p >= 0, sum p = 1}.

    Each iteration solves the equality-constrained QP on the free set F,
    [A_FF 1; 1' 0] [y; -mu] = [0; 1], steps towards y until a mass hits 0 (dropping it),
    or, when y >= 0, adds the index whose KKT condition (A p)_i >= mu fails most.
    Returns (p, iterations, residual).
    """
    A = -B
    n = A.shape[0]
    scale = max(1.0, float(np.max(np.abs(np.diag(A)))))
    free = np.ones(n, dtype=bool)
    p = np.full(n, 1.0 / n)
    it = 0
    residual = math.inf
    while it < max_iter:
        it += 1
        F = np.flatnonzero(free)
        nf = F.size
        M = np.empty((nf + 1, nf + 1))
        M[:nf, :nf] = A[np.ix_(F, F)] / scale
        M[:nf, nf] = 1.0
        M[nf, :nf] = 1.0
        M[nf, nf] = 0.0
        rhs = np.zeros(nf + 1)
        rhs[nf] = 1.0
        try:
            sol = linalg.solve(M, rhs, assume_a="sym", check_finite=False)
        except linalg.LinAlgError as exc:  # pragma: no cover - A strictly CPD
            raise ConvergenceError(f"active-set: singular KKT system at iteration {it} ({exc})")
        y = sol[:nf]
        if np.all(y >= 0.0):
            p = np.zeros(n)
            p[F] = y
            g = A @ p
            lam = float(p @ g)
            viol = lam - g  # > 0 off F means adding i decreases p'Ap
            viol[F] = 0.0
            j = int(np.argmax(viol))
            residual = _kkt_residual_half(A, p)
            if viol[j] <= tol * max(1.0, abs(lam)):
                return p, it, residual
            free[j] = True
            continue
        # Step from p towards y until the first free mass reaches 0.
        d = y - p[F]
        neg = d < 0.0
        ratios = np.where(neg, p[F] / np.where(neg, -d, 1.0), np.inf)
        alpha = float(np.min(ratios))
        pf = p[F] + alpha * d
        hit = ratios <= alpha * (1.0 + 1e-12) + 1e-300
        pf[hit] = 0.0
        pf = np.maximum(pf, 0.0)
        p = np.zeros(n)
        p[F] = pf
        p /= p.sum()
        free[F[hit]] = False
    return p, it, residual


def _kkt_residual_half(A: np.ndarray, p: np.ndarray) -> float:
    g = A @ p
    lam = float(p @ g)
    on = p > 0.0
    r_on = np.max(np.abs(g[on] - lam)) if np.any(on) else 0.0
    r_off = np.max(np.maximum(lam - g[~on], 0.0)) if np.any(~on) else 0.0
    return float(max(r_on, r_off) / max(1.0, abs(lam)))


def _kkt_residual_full(K: np.ndarray, w: np.ndarray) -> float:
    """max_i of |(K w)_i - lambda| on the support, (K w)_i - lambda off it, over max(1, |lambda|)."""
    g = K @ w
    lam = float(w @ g)
    on = w > 0.0
    r_on = np.max(np.abs(g[on] - lam)) if np.any(on) else 0.0
    r_off = np.max(np.maximum(g[~on] - lam, 0.0)) if np.any(~on) else 0.0
    return float(max(r_on, r_off) / max(1.0, abs(lam)))


# --------------------------------------------------------------------------------------
# The solver
# --------------------------------------------------------------------------------------
def solve_limit(
    U,
    *,
    grid: int = DEFAULT_GRID,
    tol: float = 1e-10,
    max_iter: int | None = None,
    regularization: float | None = None,
) -> LimitSolution:
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

    >>> sol = solve_limit("log", grid=64)
    >>> round(float(sol.quantile(0.5)), 12), sol.atoms
    (0.5, [])
    """
    t0 = time.perf_counter()
    U = parse_utility(U)
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
    max_iter = 4 * m + 50 if max_iter is None else int(max_iter)
    if U.family == "expr" and U.dU0 is None:
        _check_integrable(U)

    delta = None
    if U.family == "neg-power" and U.param >= 1.0:
        delta = regularization or 1e-30 * h
    u = _utility_function(U, delta)
    with_atoms = delta is None and U.dU0 is not None

    # Full kernel over units: [atom 0] + cells 1..m + [atom 1].
    kappa = _cell_kernel(u, m, None if delta is None else delta / h)
    Kc = linalg.toeplitz(kappa)
    if with_atoms:
        alpha = _atom_kernel(u, m)
        N = m + 2
        K = np.empty((N, N))
        K[1:-1, 1:-1] = Kc
        K[0, 1:-1] = K[1:-1, 0] = alpha
        K[-1, 1:-1] = K[1:-1, -1] = alpha[::-1]
        K[0, 0] = K[-1, -1] = float(u(0.0))
        K[0, -1] = K[-1, 0] = float(u(1.0))
    else:
        K = Kc
    if not np.all(np.isfinite(K)):
        raise ConvergenceError(f"{U.spec}: the cell-averaged kernel is not finite at grid = {m}")

    # Fold onto the symmetric half: unit i pairs with N-1-i; p_k = total mass of pair k.
    # B = S' K S / (d d'), S the 0/1 unit-to-pair map, d = 2 per pair (1 for a middle cell).
    N = K.shape[0]
    lo = np.arange((N + 1) // 2)
    hi = N - 1 - lo
    single = lo == hi
    d = np.where(single, 1.0, 2.0)
    C = K[:, lo] + np.where(single[None, :], 0.0, K[:, hi])
    B = (C[lo, :] + np.where(single[:, None], 0.0, C[hi, :])) / np.outer(d, d)
    p, iterations, _ = _active_set(B, tol=tol, max_iter=max_iter)
    w = np.empty(N)
    w[hi] = p / d
    w[lo] = p / d
    w = np.maximum(w, 0.0)
    w /= w.sum()

    residual = _kkt_residual_full(K, w)
    if not (residual <= 10.0 * tol):
        raise ConvergenceError(
            f"{U.spec}: solve_limit(grid={m}) reached KKT residual {residual:.3g} after "
            f"{iterations} iterations; target {10.0 * tol:.3g}"
        )
    energy = float(w @ K @ w)

    if with_atoms:
        atom_mass = float(0.5 * (w[0] + w[-1]))
        cells = w[1:-1]
        support = np.concatenate(([0.0], (np.arange(m) + 0.5) * h, [1.0]))
    else:
        atom_mass = 0.0
        cells = w
        support = (np.arange(m) + 0.5) * h
    atoms = [(0.0, atom_mass), (1.0, atom_mass)] if atom_mass > ATOM_THRESHOLD else []
    return LimitSolution(
        spec=U.spec,
        grid=m,
        atoms=atoms,
        support=support,
        weights=w,
        edges=np.linspace(0.0, 1.0, m + 1),
        cell_mass=np.array(cells),
        atom_mass=atom_mass,
        objective=-math.inf if delta is not None else energy,
        kkt_residual=residual,
        iterations=iterations,
        seconds=time.perf_counter() - t0,
        regularization=delta,
        regularized_objective=None if delta is None else _unscale(energy, U.param, delta),
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


# --------------------------------------------------------------------------------------
# The atom at 1, read from a finite-n optimum (rcollapse verify, the atoms benchmark).
# --------------------------------------------------------------------------------------
#: A reward counts as tied at 1 when 1 - r is at most this (Newton puts them at 1 exactly).
ATOM_TIE = 1e-10


def atom_mass_at_one(rewards, complement=None, *, points: int = 8) -> tuple[int, float]:
    """The mass of the atom at 1 read from a finite-n optimum, to a fraction of one reward.

    Returns ``(k, mass)``: ``k`` rewards are tied at 1 (1 - r <= ATOM_TIE), so k/n
    moves in steps of 1/n; ``mass`` locates the atom's edge between rewards. The next
    rewards follow the limit's quantile function, 1 - r_i ~ ((i - 1/2)/n - m) / rho(1-)
    for i > k (midpoint quantiles), so the least-squares line through (i, 1 - r_i),
    i = k+1..k+points, meets 0 at i* = m n + 1/2, and mass = (i* - 1/2)/n. Measured
    against the n = inf solver (log-sigmoid:1 and :0.5): 1.3e-4 and 2.3e-4 off at
    n = 200, 3.5e-6 and 1.0e-5 at n = 1000, 1.4e-6 and 1.0e-6 at n = 2000.

    >>> n, m = 1000, 0.3
    >>> r = np.concatenate((np.ones(300), 1 - (np.arange(301, 1001) - 0.5 - m * n) / n))
    >>> k, mass = atom_mass_at_one(r)
    >>> k, round(mass, 12)
    (300, 0.3)
    """
    r = np.asarray(rewards, dtype=float)
    q = 1.0 - r if complement is None else np.asarray(complement, dtype=float)
    n = r.size
    k = int(np.count_nonzero(q <= ATOM_TIE))
    if k == 0 or k + points > n // 2:
        raise ValueError(f"no atom at 1 with {points} free rewards after it (k = {k} of n = {n} tied at 1)")
    i = np.arange(k + 1, k + points + 1, dtype=float)
    slope, intercept = np.polyfit(i, q[k:k + points], 1)
    if not slope > 0.0:
        raise ValueError(f"the rewards after the atom do not fall away from 1 (slope {slope:.3g})")
    return k, float((-intercept / slope - 0.5) / n)


__all__ += ["ATOM_TIE", "atom_mass_at_one"]
