"""The n = inf measure of Theorem 5 to spectral accuracy: ``solve_limit(U, method="spectral")``.

Theorem 5 (Song et al. 2023): the reward distribution converges to the symmetric mu on
[0, 1] maximizing ``E U(|X - X'|)``. First-order condition: the potential
``Phi(x) = int U(|x - y|) dmu(y)`` is constant on supp(mu) (and at most that elsewhere).

Two cases, each with the endpoint behaviour known in advance:

- **U'(0+) finite** (log-sigmoid:s, linear, an ``expr:`` U with finite slope):
  ``mu = a delta_0 + a delta_1 + rho(x) dx`` with rho smooth and positive on [0, 1].
  ``U(|t|)`` has a kink of size 2 U'(0) at t = 0, so Phi'' = 0 inside reads
  ``2 U'(0) rho(x) = -a (U''(x) + U''(1 - x)) - int_0^1 U''(|x - y|) rho(y) dy``,
  a Fredholm equation of the second kind (invertible: the operator has sup-norm
  ``max_x (2U'(0) - U'(x) - U'(1 - x)) < 2 U'(0)``, and its Neumann series keeps rho >= 0).
  It is linear in (a, rho): solved for a = 1, the mass condition ``2a + int rho = 1``
  fixes a. Phi'(1/2) = 0 by symmetry, so Phi is constant on [0, 1]. Here beta = 0 below.
- **Lemma 4.5's families** (power:g, log, neg-power:g with g < 1): mu = Beta(al, al) in
  closed form (al = ``theory.derivations.beta_parameter``). The solver does not assume
  it: it imposes ``Phi(x) = lambda`` with the mass condition for the series below, with
  beta = al - 1, and the closed form comes out (c_k ~ 0 for k >= 1).

rho is the Jacobi series ``(x(1-x))^beta sum_k c_k P_{2k}^{(beta,beta)}(2x - 1)``
(even: mu is symmetric), collocated at the Chebyshev points below 1/2, its potentials
integrated by Gauss rules that carry each singular factor (``solvers.limit_spectral_rules``).
The degree doubles from 8 until the atom mass and the density at interior points change
by at most ``tol`` (ConvergenceError beyond ``max_degree``). The certificate is the
potential's largest deviation from Phi(1/2) on [0, 1], by QUADPACK (independent nodes).

Refused (SolverInputError, one line; ``method="grid"`` handles them): neg-power:g with
g >= 1 (E U = -inf for every measure) and an ``expr:`` U with U'(0+) = inf (the density's
endpoint exponent is not known).

>>> sol = solve_limit_spectral("linear")
>>> sol.atoms, sol.degree
({0.0: 0.5, 1.0: 0.5}, 16)
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
from scipy import integrate, linalg, special

from rcollapse.solvers.errors import ConvergenceError, SolverInputError
from rcollapse.solvers.limit_measure import GridEstimate
from rcollapse.solvers.limit_spectral_measure import SpectralLimitSolution, jacobi_matrix
from rcollapse.solvers.limit_spectral_rules import collocation_points, potential_rule
from rcollapse.theory.utilities import Utility, parse_utility

__all__ = ["MAX_DEGREE", "START_DEGREE", "Kernel", "SpectralLimitSolution", "solve_at_degree",
           "solve_limit_spectral", "spectral_applies"]

#: The first degree tried; it doubles until two consecutive degrees agree.
START_DEGREE = 8
#: The default highest degree (above it: ConvergenceError).
MAX_DEGREE = 256
#: Interior points where consecutive degrees' densities are compared.
PROBES = np.linspace(0.025, 0.975, 39)
#: Points of [0, 1/2] where the certificate evaluates the potential (symmetry: the rest).
CERTIFICATE_POINTS = np.linspace(0.0, 0.5, 33)
#: The numbers reported with an error estimate (as solve_limit_with_error's).
REPORTED_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


@dataclasses.dataclass(frozen=True)
class Kernel:
    """K(t) for t > 0, and its singular factor at 0: ``singularity`` e (K ~ t^e) or
    "log" (K ~ log t); ``factor(t)`` is that factor, so that K / factor is smooth."""

    value: object
    singularity: object = 0.0

    def factor(self, t):
        if self.singularity == "log":
            return np.log(t)
        return t ** float(self.singularity)


@dataclasses.dataclass(frozen=True)
class _Problem:
    """What the solver needs of U: the case, beta, and the kernel it collocates."""

    U: Utility
    atoms: bool  # the finite-slope case (Fredholm, second kind)
    beta: float
    kernel: Kernel  # U'' (atoms) or U itself with its singular factor


def _classify(U: Utility) -> _Problem:
    """The case of U, or a one-line SolverInputError naming method="grid"."""
    from rcollapse.theory.derivations import OutsideHypotheses, beta_parameter, kernel_exponent

    grid = 'method="grid" handles it'
    if U.finite_slope_at_zero:
        if not (math.isfinite(U.dU0) and U.dU0 > 0.0):
            raise SolverInputError(f"{U.spec}: U'(0+) = {U.dU0} is not a positive float64; {grid}")
        return _Problem(U, True, 0.0, Kernel(U.d2, 0.0))
    if U.hypersingular_exponent is not None:
        raise SolverInputError(f"{U.spec}: E U(|X - X'|) = -inf for every measure (g >= 1), no "
                               f"Theorem 5 potential to collocate; {grid}")
    try:
        al = float(beta_parameter(U))
        p = kernel_exponent(U)
    except OutsideHypotheses:
        raise SolverInputError(f"{U.spec}: U'(0+) = inf and the density's endpoint exponent is not "
                               f"known; {grid}") from None
    return _Problem(U, False, al - 1.0, Kernel(U, "log" if p is None else float(p)))


def spectral_applies(U) -> bool:
    """Whether ``method="spectral"`` takes U (finite slope at 0, or Lemma 4.5's families)."""
    try:
        _classify(parse_utility(U))
    except SolverInputError:
        return False
    return True


# --------------------------------------------------------------------------------------
# One degree
# --------------------------------------------------------------------------------------
def _nodes_per_piece(degree: int) -> int:
    return degree // 2 + 24


def _coefficients(problem: _Problem, degree: int) -> tuple[np.ndarray, float, float]:
    """(c, atom mass a, lambda or nan) at one degree: K = degree/2 + 1 even coefficients."""
    K = degree // 2 + 1
    xs = collocation_points(K)
    degrees = 2 * np.arange(K)
    beta, nq = problem.beta, _nodes_per_piece(degree)
    rows = np.empty((K, K))
    for i, x in enumerate(xs):
        y, W = potential_rule(float(x), problem.kernel, beta, nq)
        rows[i] = W @ jacobi_matrix(y, degrees, beta)
    if problem.atoms:  # 2 U'(0) rho + int U'' rho = -(U''(x) + U''(1 - x)), for a = 1
        U = problem.U
        A = 2.0 * U.dU0 * jacobi_matrix(xs, degrees, 0.0) + rows
        c1 = linalg.solve(A, -(U.d2(xs) + U.d2(1.0 - xs)), check_finite=False)
        a = float(1.0 / (2.0 + c1[0]))  # int_0^1 P_2k(2y - 1) dy = [k = 0]
        return a * c1, a, math.nan
    A = np.zeros((K + 1, K + 1))  # Phi(x_i) - lambda = 0, mass c_0 B(al, al) = 1
    A[:K, :K], A[:K, K] = rows, -1.0
    A[K, 0] = special.beta(beta + 1.0, beta + 1.0)
    rhs = np.zeros(K + 1)
    rhs[K] = 1.0
    sol = linalg.solve(A, rhs, check_finite=False)
    return sol[:K], 0.0, float(sol[K])


def _potential(sol: SpectralLimitSolution, problem: _Problem, x: float) -> float:
    """Phi(x) = int U(|x - y|) dmu(y), by QUADPACK (QAWS for the singular factors)."""
    U, beta = problem.U, problem.beta
    series = sol.series

    def quad(f, a, b, **kw):
        if b <= a:
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            return integrate.quad(f, a, b, epsabs=1e-15, epsrel=1e-14, limit=200, **kw)[0]

    if problem.atoms:
        rho = sol.density
        inner = quad(lambda y: U(x - y) * rho(y), 0.0, x) + quad(lambda y: U(y - x) * rho(y), x, 1.0)
        return float(sol.atom_mass * (U(x) + U(1.0 - x)) + inner)
    kern, p = problem.kernel, problem.kernel.singularity
    log = p == "log"

    def at_x(side):  # QAWS weight for the kernel's singular factor at y = x
        e = 0.0 if log else p
        wvar = (e, 0.0) if side == "left" else (0.0, e)
        kind = ("alg-loga" if side == "left" else "alg-logb") if log else "alg"
        return {"weight": kind, "wvar": wvar}

    def smooth_kernel(y):  # K / its singular factor; QAWS may ask at y = x itself
        t = max(abs(x - y), 1e-300)
        return float(U(t) / kern.factor(t))

    if x == 0.0:
        e = 0.0 if log else p
        head = quad(lambda y: smooth_kernel(y) * (1 - y) ** beta * series(y), 0.0, 0.5,
                    weight="alg-loga" if log else "alg", wvar=(beta + e, 0.0))
        tail = quad(lambda y: U(y) * y**beta * series(y), 0.5, 1.0, weight="alg", wvar=(0.0, beta))
        return float(head + tail)
    m = 0.5 * (1.0 + x)
    parts = [
        quad(lambda y: U(x - y) * (1 - y) ** beta * series(y), 0.0, 0.5 * x, weight="alg", wvar=(beta, 0.0)),
        quad(lambda y: smooth_kernel(y) * (y * (1 - y)) ** beta * series(y), 0.5 * x, x, **at_x("right")),
        quad(lambda y: smooth_kernel(y) * (y * (1 - y)) ** beta * series(y), x, m, **at_x("left")),
        quad(lambda y: U(y - x) * y**beta * series(y), m, 1.0, weight="alg", wvar=(0.0, beta)),
    ]
    return float(sum(parts))


def _certificate(sol: SpectralLimitSolution, problem: _Problem) -> tuple[float, float]:
    """(Phi(1/2), max over CERTIFICATE_POINTS of |Phi(x) - Phi(1/2)|): Theorem 5's
    first-order condition, on [0, 1] by symmetry."""
    values = np.array([_potential(sol, problem, float(x)) for x in CERTIFICATE_POINTS])
    return float(values[-1]), float(np.max(np.abs(values - values[-1])))


def solve_at_degree(U, degree: int, *, certify: bool = True) -> SpectralLimitSolution:
    """The spectral solution at one even ``degree`` (no convergence test; error_estimate
    nan), with its certificate unless ``certify`` is False (then nan)."""
    t0 = time.perf_counter()
    U = parse_utility(U)
    problem = _classify(U)
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 2 or degree % 2:
        raise SolverInputError(f"degree = {degree!r} is out of range; valid: an even integer >= 2")
    c, a, lam = _coefficients(problem, int(degree))
    sol = SpectralLimitSolution(U.spec, int(degree), problem.beta, c, a, lam, math.nan, math.nan, 0.0)
    if certify:
        value, deviation = _certificate(sol, problem)
        sol = dataclasses.replace(sol, objective=value, certificate=deviation)
    return dataclasses.replace(sol, seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------
# The solver: doubling degrees until two agree
# --------------------------------------------------------------------------------------
def _reported(sol: SpectralLimitSolution) -> dict:
    out = {"atom_mass": sol.atom_mass, "var": sol.var()}
    for p, q in zip(REPORTED_QUANTILES, sol.quantile(np.array(REPORTED_QUANTILES))):
        out[f"quantile:{p:g}"] = float(q)
    return out


def _check_positive(sol: SpectralLimitSolution, tol: float) -> None:
    """rho >= 0 on [0, 1] (the support assumption), else ConvergenceError naming the grid."""
    x = np.linspace(0.0, 1.0, 2001)[1:-1]
    low = float(np.min(sol.density(x)))
    if low < -max(tol, 1e-12) * max(1.0, float(np.max(sol.density(x)))):
        raise ConvergenceError(f"{sol.spec}: the spectral density is negative ({low:.3g}): the support "
                               'assumption (atoms at 0 and 1, density on [0, 1]) fails; use method="grid"')


def solve_limit_spectral(U, *, tol: float = 1e-12, max_degree: int = MAX_DEGREE) -> SpectralLimitSolution:
    """Theorem 5's measure as a Jacobi series with atoms (module docstring), to ``tol``.

    The degree doubles from START_DEGREE; the answer is the first degree whose atom mass
    and density at PROBES differ from the previous degree's by at most ``tol`` (that
    change is ``error_estimate``; ConvergenceError if none by ``max_degree``). Checked:
    rho >= 0; the certificate (potential constant) is computed and reported.

    >>> sol = solve_limit_spectral("log-sigmoid:1")
    >>> round(sol.atom_mass, 6), sol.error_estimate <= 1e-12
    (0.383394, True)
    """
    t0 = time.perf_counter()
    U = parse_utility(U)
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and 1e-15 <= tol < 1e-2):
        raise SolverInputError(f"tol = {tol!r} is out of range; valid: 1e-15 <= tol < 0.01")
    if isinstance(max_degree, bool) or not isinstance(max_degree, (int, np.integer)) or max_degree < 2 * START_DEGREE:
        raise SolverInputError(f"max_degree = {max_degree!r} is out of range; valid: an integer >= {2 * START_DEGREE}")
    problem = _classify(U)
    history, previous, degree = [], None, START_DEGREE
    while degree <= max_degree:
        t1 = time.perf_counter()
        c, a, lam = _coefficients(problem, degree)
        sol = SpectralLimitSolution(U.spec, degree, problem.beta, c, a, lam, math.nan, math.nan, 0.0)
        probe = np.concatenate(([a], sol.density(PROBES)))
        change = None if previous is None else float(np.max(np.abs(probe - previous[1])))
        history.append((degree, a, change, time.perf_counter() - t1))
        if change is not None and change <= tol:
            break
        previous = (sol, probe)
        degree *= 2
    else:
        raise ConvergenceError(f"{U.spec}: consecutive spectral degrees still differ by {change:.3g} at "
                               f"degree {degree // 2} (tol {tol:g}, max_degree {max_degree}); "
                               'use method="grid"')
    _check_positive(sol, tol)
    value, deviation = _certificate(sol, problem)
    coarse, fine = _reported(previous[0]), _reported(sol)
    degrees = (previous[0].degree, sol.degree)
    estimates = {k: GridEstimate(fine[k], abs(fine[k] - coarse[k]), None, degrees, (coarse[k], fine[k]))
                 for k in fine}
    return dataclasses.replace(sol, objective=value, certificate=deviation, error_estimate=change,
                               history=tuple(history), grid_error=estimates,
                               seconds=time.perf_counter() - t0)
