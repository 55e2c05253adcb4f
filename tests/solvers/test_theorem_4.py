"""Theorem 4 (Song, Cai, Lee, Su 2023), at finite n: for U strictly increasing and
concave with U'(0) finite and U'(1) > 0 (the log-sigmoid family), the limit has point
masses at both ends, mu({0}) = mu({1}) >= U'(1) / (U'(0) + U'(1)).

The finite-n form checked here, for every sigma drawn and every n >= 20: the fraction of
the optimum's rewards at 1 (and at 0) is at least U'(1)/(U'(0)+U'(1)) - 1/n. A reward
counts as "at 1" when it is within 1e-7 of 1 (the solver's tolerance is 1e-9; the
first reward off the atom sits >= 2.5e-4 from 1, measured over s in [0.05, 5] and
n in [20, 300]; it comes arbitrarily close only for s in tiny windows where a reward
leaves the atom).
"""

from __future__ import annotations

from hypothesis import given, note, settings

import properties as P
from strategies import log_sigmoids, sizes, with_corners

from rcollapse.solvers import solve

ATOM_ATOL = 1e-7


@settings(deadline=None)
@with_corners("log-sigmoid", min_n=20)
@given(U=log_sigmoids(), n=sizes(low=20, high=300))
def test_atoms_at_both_ends_reach_the_bound(U, n):
    """Theorem 4: "U'(0) finite, U'(1) > 0: mu({0}) = mu({1}) >= U'(1) / (U'(0) + U'(1))"
    -- at finite n, the fraction at each end is >= that bound - 1/n."""
    where = P.where(U.spec, n)
    note(where)
    r = solve(U, n).rewards
    P.check_theorem_4(U, r, where=where, atol=ATOM_ATOL)
