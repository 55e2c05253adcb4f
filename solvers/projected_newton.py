"""One level of the projected Newton method for problem (5) on its symmetric half.

Problem (5) (Song et al. 2023): maximize S(r) = sum_{i<j} U(r_i - r_j) subject to
1 >= r_1 >= ... >= r_n >= 0. :mod:`solvers.newton` (dense Hessian, Cholesky) and
:mod:`solvers.newton_cg` (fast sums, preconditioned CG) minimize the same reduced
objective phi(y) = -S(r(y)) / 2 over the top half y_k = 1 - r_k, by the same steps; this
module writes those steps once (:func:`minimize_level`), and each solver supplies only its
sums and its direction solve (a *level*, see :func:`minimize_level`).

- Strict order (U'(0+) infinite: power, log, neg-power; Lemmas 4.1, C.1, C.2): y_1 = 0 is
  fixed (r_1 = 1) and a step stops short of a tie, at :data:`TO_BOUNDARY` of the way.
- Box (U'(0+) finite: log-sigmoid, Theorem 4): 0 <= y <= 1/2 is the constraint; an
  epsilon-active set (Bertsekas 1982, :func:`active_set`) takes a scaled gradient step,
  the rest a Newton step, and the projection puts the active rewards at exactly 1 and 0.
- Armijo backtracking on phi, with a noise allowance: a decrease below the level's
  summation noise is not asked for, and a full step whose predicted gain is below it is
  taken untested. Three such steps in a row that do not shrink the reduced residual by
  1 % stop the level (a stall: the iterate is at rounding), and its certificate is what
  it is.

>>> y, q, force = np.array([0.0, 0.2]), np.array([0.5, -0.1]), np.array([1.0, 1.0])
>>> reduced_residual(y, q, force, box=False), active_set(y, q, np.ones(2), box=True).tolist()
(0.1, [True, False])
"""

from __future__ import annotations

import math
import time

import numpy as np

from rcollapse.solvers.errors import ConvergenceError

__all__ = ["minimize_level", "reduced_residual", "active_set", "projected_direction", "max_step",
           "TO_BOUNDARY", "ARMIJO", "COARSE_TOL"]

#: Fraction of the way to the nearest tie that one step may go (strict-order utilities).
TO_BOUNDARY = 0.9
#: Armijo constant.
ARMIJO = 1e-4
#: Reduced residual at which an intermediate (coarse) level stops.
COARSE_TOL = 1e-8
#: Halvings of the step before the line search gives up.
LINE_SEARCH_HALVINGS = 60


def max_step(y, d, odd: bool) -> float:
    """Largest alpha keeping 0 = y_1 < y_2 < ... < y_m < (middle), i.e. the strict order.

    >>> max_step(np.array([0.0, 0.2]), np.array([0.0, 0.1]), odd=False)
    3.0
    """
    top = 0.5 if odd else None
    gaps = np.diff(y)
    dg = np.diff(d)
    last_gap = (0.5 - y[-1]) if top else (1.0 - 2.0 * y[-1])
    last_dg = -d[-1] if top else -2.0 * d[-1]
    gaps = np.append(gaps, last_gap)
    dg = np.append(dg, last_dg)
    shrinking = dg < 0.0
    if not shrinking.any():
        return math.inf
    return float(np.min(gaps[shrinking] / -dg[shrinking]))


def reduced_residual(y, q, force, box: bool) -> float:
    """max violation of the half problem's KKT conditions, relative to max(force)."""
    s = float(force.max()) or 1.0
    if box:
        v = np.where(y <= 0.0, np.maximum(0.0, -q), np.where(y >= 0.5, np.maximum(0.0, q), np.abs(q)))
    else:
        v = np.abs(q[1:])
    return float(v.max(initial=0.0)) / s


def active_set(y, q, diag, box: bool) -> np.ndarray:
    """The variables held out of the Newton step (bool, (m,)). Box: the epsilon-active set
    of Bertsekas (1982), eps = min(1e-3, |y - P(y - q / diag)|_inf), the variables within
    eps of a bound that the gradient pushes against it. Strict order: y_1 alone (y_1 = 0:
    r_1 = 1, Lemma 4.1)."""
    if not box:
        active = np.zeros(y.size, dtype=bool)
        active[0] = True
        return active
    with np.errstate(divide="ignore", invalid="ignore"):  # diag 0 where U'' underflows
        w = np.abs(y - np.clip(y - q / diag, 0.0, 0.5)).max()
    eps = min(1e-3, w)
    return ((y <= eps) & (q > 0.0)) | ((y >= 0.5 - eps) & (q < 0.0))


def projected_direction(q, diag, active, free, box: bool, solve_free) -> np.ndarray:
    """The step d: -q / diag on the active variables (box; zero in strict order) and the
    Newton direction ``solve_free()`` = -B_FF^{-1} q_F on the free ones."""
    d = np.zeros(q.size)
    if box:
        d[active] = -q[active] / diag[active]
    if free.size:
        d[free] = solve_free()
    return d


def _line_search(level, y, d, q, phi, mag, alpha, box: bool):
    """Armijo backtracking from ``alpha`` (module docstring). Returns (accepted, y_new,
    phi_new, mag_new, slope, alpha, evaluated): ``evaluated`` is False when the step was
    taken untested, its gain below the noise."""
    noise = level.noise(mag)
    for _ in range(LINE_SEARCH_HALVINGS):
        y_new = np.clip(y + alpha * d, 0.0, 0.5) if box else y + alpha * d
        if not box:
            y_new[0] = 0.0
        slope = float(q @ (y_new - y))
        if box and level.sort_projection:
            y_new = np.sort(y_new)
        if -slope <= noise and alpha == 1.0:  # the gain is below rounding: take the step
            return True, y_new, phi, mag, slope, alpha, False
        phi_new, mag_new = level.trial_objective(y_new)
        if phi_new <= phi + ARMIJO * slope + noise:
            return True, y_new, phi_new, mag_new, slope, alpha, True
        alpha *= 0.5
    return False, y, phi, mag, slope, alpha, False


def minimize_level(level, y, *, box: bool, tol: float, max_iter: int, final: bool, clock=None):
    """Projected Newton on one level (module docstring). Returns (y, steps, residual,
    certified): residual is the level's certificate (``level.certify``) when ``final``,
    else the reduced residual, whose target is then :data:`COARSE_TOL`.

    ``level`` supplies the sums and the direction solve: ``U``, ``n``, ``odd``, ``name``
    (for messages), ``sort_projection`` (sort y after the box projection),
    ``gradient(y)`` -> (q, force), ``objective(y)`` and ``trial_objective(y_new)`` -> (phi,
    mag), ``accept(evaluated)`` (y_new is the iterate now), ``noise(mag)``,
    ``certify(y, q, force)`` -> residual, ``nonfinite_hint()`` and ``direction(y, q, *,
    reduced, reduced_prev, alpha, steps, target)`` -> d. ``clock``: a dict to which the
    line search's wall time is added."""
    steps, phi, mag = 0, None, None
    at_noise = 0  # consecutive steps taken below rounding that did not shrink the residual
    accepted_noise = False  # the last step was taken without an objective test
    reduced_prev, alpha = math.inf, 1.0
    target = tol if final else COARSE_TOL
    while True:
        q, force = level.gradient(y)
        if not np.all(np.isfinite(q)):
            raise ConvergenceError(f"{level.name}: {level.U.spec} at n = {level.n}: non-finite gradient "
                                   f"after {steps} steps{level.nonfinite_hint()}")
        reduced = reduced_residual(y, q, force, box)
        if not accepted_noise:
            at_noise = 0
        elif reduced > 0.99 * reduced_prev:
            at_noise += 1
        done = at_noise >= 3 or steps >= max_iter
        if not final:
            if reduced <= target or done:
                return y, steps, reduced, reduced <= target
        elif reduced <= 0.1 * tol or done:
            res = level.certify(y, q, force)
            if res <= tol or done:
                return y, steps, res, res <= tol
        d = level.direction(y, q, reduced=reduced, reduced_prev=reduced_prev, alpha=alpha,
                            steps=steps, target=target)
        t0 = time.perf_counter()
        alpha = 1.0 if box else min(1.0, TO_BOUNDARY * max_step(y, d, level.odd))
        if phi is None:
            phi, mag = level.objective(y)
        accepted, y_new, phi_new, mag_new, slope, alpha, evaluated = _line_search(
            level, y, d, q, phi, mag, alpha, box)
        if clock is not None:
            clock["line search"] = clock.get("line search", 0.0) + time.perf_counter() - t0
        steps += 1
        reduced_prev = reduced
        if not accepted:
            at_noise, accepted_noise = 3, False  # no progress possible: certify what we have
            continue
        accepted_noise = -slope <= level.noise(mag)
        level.accept(evaluated)
        y, phi, mag = y_new, phi_new, mag_new
