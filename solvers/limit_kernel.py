"""The cell-averaged kernel of Theorem 5's n = inf problem (``solvers.limit``).

On ``m`` cells of width ``h = 1/m`` plus, where U'(0+) is finite, the atoms at 0 and 1,
the energy of a measure with masses ``w`` is ``E U(|X - X'|) = w' K w`` exactly, where K
holds the cell averages of U(|x - y|):

    K[cell i, cell j] = int_0^1 (1 - s) [U(h|k + s|) + U(h|k - s|)] ds,   k = |i - j|,
    K[atom 0, cell i] = int_0^1 U(h (i - 1 + s)) ds,   K[atom 0, atom 1] = U(1),
    K[atom, same atom] = U(0+).

The entries touching the singularity at 0 (k <= 1, the first cell) are integrated
adaptively (QUADPACK), the rest by 16-point Gauss-Legendre; both to about 1e-15.

>>> K = unit_kernel(lambda t: np.asarray(t, dtype=float), 16, with_atoms=True)  # U = x
>>> K.shape, float(K[0, -1]), round(float(K[0, 0]), 12)
((18, 18), 1.0, 0.0)
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import integrate, linalg

from rcollapse.solvers.errors import ConvergenceError

__all__ = ["regularized_utility", "unit_kernel", "unscale_energy"]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_GL_NODES = 0.5 * (_GL_NODES + 1.0)  # on [0, 1]
_GL_WEIGHTS = 0.5 * _GL_WEIGHTS


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


def unit_kernel(u, m: int, *, with_atoms: bool, scale=None) -> np.ndarray:
    """K over the units [atom 0] + cells 1..m + [atom 1] (the atoms only ``with_atoms``),
    shape (m + 2, m + 2) or (m, m); ``scale`` as for the regularized kernels (delta / h)."""
    Kc = linalg.toeplitz(_cell_kernel(u, m, scale))
    if not with_atoms:
        return Kc
    alpha = _atom_kernel(u, m)
    K = np.empty((m + 2, m + 2))
    K[1:-1, 1:-1] = Kc
    K[0, 1:-1] = K[1:-1, 0] = alpha
    K[-1, 1:-1] = K[1:-1, -1] = alpha[::-1]
    K[0, 0] = K[-1, -1] = float(u(0.0))
    K[0, -1] = K[-1, 0] = float(u(1.0))
    return K


#: log of the factor 10^250 = c in c * delta^gamma * U_delta: keeps the regularized
#: kernel's entries in floating range whatever delta and gamma (same maximizer).
_LOG_SCALE = 250.0 * math.log(10.0)


def regularized_utility(U, delta: float | None):
    """U itself (delta None), or for U = -x^(-g), g >= 1 (``U.hypersingular_exponent``)
    the scaled regularized kernel c delta^g U_delta(t) = -c (1 + t / delta)^(-g), a
    positive multiple of U_delta(t) = -(t + delta)^(-g)."""
    if delta is None:
        return lambda t: np.asarray(U(t), dtype=float)
    g = U.hypersingular_exponent

    def u(t):
        return -np.exp(_LOG_SCALE - g * np.log1p(np.asarray(t, dtype=float) / delta))

    return u


def unscale_energy(energy: float, g: float, delta: float) -> float:
    """E U_delta from the scaled energy: energy / (c delta^g); -inf when it overflows."""
    log_factor = -_LOG_SCALE - g * math.log(delta)
    return energy * math.exp(log_factor) if log_factor < 700.0 else -math.inf
