"""Monotonicity in the utility's parameter, at finite n (Theorems 2, 3 and 4 of Song, Cai,
Lee, Su 2023 give the limits; these properties check the finite-n optima of (5)).

- power:g: the limit Beta((1-g)/2, (1-g)/2) has variance 1/(4(2-g)), growing with g;
- neg-power:g: the limit Beta((1+g)/2, (1+g)/2) has variance 1/(4(2+g)), falling
  with g (for g >= 1 the limit is uniform, and the finite-n variance still falls);
- log-sigmoid:s: the atoms at 0 and 1 grow with s (Theorem 4's bound
  U'(1)/(U'(0)+U'(1)) = sigmoid(-1/s)/(1/2 + sigmoid(-1/s)) grows with s).

At n = 2 (r = (1, 0)) and n = 3 (r = (1, 1/2, 0)) the optimum does not depend on U,
so the variance is only required not to move the wrong way; from n = 4 on it must
move strictly. Parameters along a chain are >= 0.01 apart (0.05 for s); the variance
then changes by >= 1e-6 (smallest measured: 3.8e-6 for power, n = 5, g 0.90 -> 0.91;
1.2e-6 for neg-power, n = 200, g 2.99 -> 3), far above the solvers' 1e-9. One exception, float64's: for
power:g with g > 0.9 and small n the interior rewards sit within 1e-6 to 1e-20 of the
ends (n = 5: 1 - r_2 = 1.3e-5 at g = 0.9, below 1e-16 by g = 0.97), so the variance
change is not representable; there only "never decreases" is checked.
The atom is counted as the rewards within 1e-7 of 1 (the first reward off the atom is
>= 2.5e-4 from 1, measured). A count moves by whole steps, so it must never fall, and
over a factor 4 in s at n >= 50 it must rise (measured: by >= 4 rewards).
"""

from __future__ import annotations

from hypothesis import example, given, note, settings

import properties as P
from strategies import assume_representable, parameter_chains, sizes

from rcollapse.solvers import solve
from rcollapse.theory.utilities import parse_utility

VAR_ATOL = 1e-10  # rounding of the variance of a 1e-9-accurate optimum
POWER_RESOLVED = 0.9  # above this g, small-n variance changes are below float64
ATOM_ATOL = 1e-7


def _variances(chain, n):
    return [P.population_variance(solve(U, n).rewards) for U in chain]


@settings(deadline=None)
@given(chain=parameter_chains(family="power", low=0.01, high=0.99), n=sizes(high=200))
@example(chain=[parse_utility(s) for s in ("power:0.1", "power:0.4", "power:0.7")], n=20)
@example(chain=[parse_utility(s) for s in ("power:0.01", "power:0.02", "power:0.99")], n=3)
def test_variance_grows_with_power_gamma(chain, n):
    """Theorem 2: "U = x^gamma: the reward distribution converges to Beta((1-gamma)/2,
    (1-gamma)/2)", whose variance grows with gamma -- and so does it at finite n."""
    for U in chain:
        assume_representable(U, n)
    specs = [U.spec for U in chain]
    where = P.where(specs, n)
    note(where)
    strict = n >= 4 and chain[-1].param <= POWER_RESOLVED
    P.check_nondecreasing(
        [U.param for U in chain], _variances(chain, n), where=where, what="variance",
        strict_from=1 if strict else None, atol=VAR_ATOL,
    )


@settings(deadline=None)
@given(chain=parameter_chains(family="neg-power", low=0.05, high=3.0), n=sizes(high=200))
@example(chain=[parse_utility(s) for s in ("neg-power:0.05", "neg-power:1", "neg-power:3")], n=20)
def test_variance_falls_with_neg_power_gamma(chain, n):
    """Theorem 3: "U = -x^(-gamma): limit Beta((1+gamma)/2, (1+gamma)/2); gamma >= 1:
    uniform" -- the variance falls as gamma grows, at finite n."""
    specs = [U.spec for U in chain]
    where = P.where(specs, n)
    note(where)
    negated = [-v for v in _variances(chain, n)]
    P.check_nondecreasing(
        [U.param for U in chain], negated, where=where, what="minus the variance",
        strict_from=1 if n >= 4 else None, atol=VAR_ATOL,
    )


@settings(deadline=None)
@given(chain=parameter_chains(family="log-sigmoid", low=0.05, high=5.0, min_step=0.05), n=sizes(high=200))
@example(chain=[parse_utility(s) for s in ("log-sigmoid:0.1", "log-sigmoid:1", "log-sigmoid:5")], n=60)
def test_atom_mass_grows_with_log_sigmoid_sigma(chain, n):
    """Theorem 4: "the limit has point masses at both ends, mu({0}) = mu({1}) >=
    U'(1)/(U'(0)+U'(1))" -- the mass at 1 (and at 0) grows with sigma, at finite n."""
    specs = [U.spec for U in chain]
    where = P.where(specs, n)
    note(where)
    rewards = [solve(U, n).rewards for U in chain]
    params = [U.param for U in chain]
    # A count of rewards moves by whole steps: "grows" is "never falls", and over a
    # factor 4 in s at n >= 50 it must rise (measured: by >= 4 rewards, s = 0.05..5).
    wide = n >= 50 and params[-1] >= 4 * params[0]
    for end in (1.0, 0.0):
        masses = [P.atom_fraction(r, at=end, atol=ATOM_ATOL) for r in rewards]
        P.check_nondecreasing(params, masses, where=where, what=f"mass at {end:g}")
        if wide:
            P.check_nondecreasing(
                [params[0], params[-1]], [masses[0], masses[-1]], where=where,
                what=f"mass at {end:g}", strict_from=1,
            )
