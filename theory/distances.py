"""Distances between an empirical sample (the optimum's rewards) and a limiting measure.

With F_n the empirical cdf of ``sample`` and F the cdf of a
:class:`theory.limits.LimitingMeasure` (atoms allowed):

- ``ks_distance = sup_x |F_n(x) - F(x)|``, over every real x, left limits included: both
  functions are right-continuous steps or monotone, so the sup is attained at, or just
  to the left of, a point of the sample (where F_n jumps). Both sides are compared
  there, with F(x-) = mu([0, x)) from the measure, so an atom of F and a tie in the
  sample are handled exactly.
- ``w1_distance = int |F_n(x) - F(x)| dx`` (the Wasserstein-1 distance), computed in
  closed form: on each interval between consecutive sample points F_n is a constant c,
  F is monotone, so the integral splits at the crossing point ppf(c) and each piece is
  a difference of G(x) = int_{-inf}^x F, which the measure gives exactly.

Rule for atoms: a solver returns a reward at an end as 1 - 1e-12, say, not 1. A sample
point within ``atom_tol`` of an atom is moved onto the atom before the KS sup (without
that, the KS distance would see a jump of the atom's mass 1e-12 away). W1 is continuous
in the sample and needs no such rule.

Rule for rounding near 1 (``symmetric=True``): the optimum of (5) and every limit here are
symmetric about 1/2, but float64 holds a reward near 1 only to 1.1e-16, while one near 0
keeps its full relative precision. For power:g with g near 1 the top rewards lie within
1e-16 of 1 and round to 1.0, where F still varies a lot; KS on the rounded sample then
sees a jump that the optimum does not have (0.2 for power:0.95, at every n). When both
the sample and the measure are symmetric, sup over x of |F_n - F| equals the sup over
x <= 1/2 (|F_n(x) - F(x)| = |F_n((1-x)-) - F((1-x)-)|), so ``symmetric=True`` takes the
sup over the lower half, where the rewards are exact. It checks that the sample is
symmetric (to 1e-6) and raises ValueError otherwise.

>>> from rcollapse.theory.limits import limiting_measure
>>> mu = limiting_measure("linear")
>>> ks_distance([0.0, 1.0], mu), w1_distance([0.5, 0.5], mu)
(0.0, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["ks_distance", "w1_distance"]


def _sorted_sample(sample) -> np.ndarray:
    x = np.sort(np.asarray(sample, dtype=float).ravel())
    if x.size == 0:
        raise ValueError("sample is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError("sample has a non-finite value")
    return x


def ks_distance(sample, measure, *, atom_tol: float = 1e-9, symmetric: bool = False) -> float:
    """sup_x |F_n(x) - F(x)|, the Kolmogorov-Smirnov distance, exact (left limits included).

    ``sample``: shape (n,), any order. ``measure``: has ``cdf``, ``cdf_left`` and ``atoms``
    (a :class:`theory.limits.LimitingMeasure`). Sample points within ``atom_tol`` of an
    atom count as the atom. ``symmetric=True``: sample and measure are symmetric about 1/2;
    the sup is taken over x <= 1/2, immune to rounding near 1 (module doc).

    >>> from rcollapse.theory.limits import limiting_measure
    >>> ks_distance([0.5], limiting_measure("neg-power:2"))  # uniform: F_n jumps 0 -> 1 at 1/2
    0.5
    """
    x = _sorted_sample(sample)
    for position in getattr(measure, "atoms", {}) or {}:
        x = np.where(np.abs(x - position) <= atom_tol, position, x)
    x = np.sort(x)
    n = x.size
    if symmetric:
        asymmetry = float(np.max(np.abs(x + x[::-1] - 1.0)))
        if asymmetry > 1e-6:
            raise ValueError(
                f"symmetric=True needs a sample symmetric about 1/2; max |x_i + x_(n+1-i) - 1| "
                f"= {asymmetry:.3g} > 1e-6"
            )
        x = x[x <= 0.5]  # the smallest points: F_n below 1/2 is exact from them
    values, counts = np.unique(x, return_counts=True)
    fn_right = np.cumsum(counts) / n  # F_n at each distinct value
    fn_left = fn_right - counts / n  # F_n just below it
    F_right = np.asarray(measure.cdf(values), dtype=float)
    F_left = np.asarray(measure.cdf_left(values), dtype=float)
    return float(max(np.max(np.abs(fn_right - F_right)), np.max(np.abs(fn_left - F_left))))


def w1_distance(sample, measure) -> float:
    """int |F_n(x) - F(x)| dx, the Wasserstein-1 distance, exact up to rounding.

    Needs ``measure.cdf``, ``measure.ppf`` and ``measure.integrated_cdf`` (G = int F).

    >>> from rcollapse.theory.limits import limiting_measure
    >>> w1_distance([0.5], limiting_measure("neg-power:2"))  # int |1{x >= 1/2} - x| dx
    0.25
    """
    x = _sorted_sample(sample)
    n = x.size
    G = measure.integrated_cdf
    # Below the smallest point F_n = 0: int_{-inf}^{x_1} F = G(x_1). Above the largest,
    # F_n = 1: int_{x_n}^{inf} (1 - F) = int_{x_n}^{max(1, x_n)} (1 - F).
    top = max(1.0, float(x[-1]))
    total = float(G(x[0])) + (top - float(x[-1])) - float(G(top) - G(x[-1]))
    if n == 1:
        return total
    left, right = x[:-1], x[1:]
    c = np.arange(1, n) / n  # F_n on [x_k, x_{k+1})
    cross = np.clip(np.asarray(measure.ppf(c), dtype=float), left, right)  # F < c before, >= c after
    G_left, G_cross, G_right = G(left), G(cross), G(right)
    below = c * (cross - left) - (G_cross - G_left)  # int_{left}^{cross} (c - F)
    above = (G_right - G_cross) - c * (right - cross)  # int_{cross}^{right} (F - c)
    return float(total + np.sum(np.maximum(below, 0.0)) + np.sum(np.maximum(above, 0.0)))
