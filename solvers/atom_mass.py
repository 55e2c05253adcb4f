"""The atom at 1 read from a finite-n optimum of problem (5) (``rcollapse verify``, the
atoms benchmark): Theorem 4's atom, located between rewards."""

from __future__ import annotations

import numpy as np

__all__ = ["ATOM_TIE", "atom_mass_at_one"]


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

