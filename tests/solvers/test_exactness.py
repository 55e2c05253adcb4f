"""Exact finite-n optima and the exact limit energy of problem (5).

- Stieltjes (1885), as used in Song, Cai, Lee, Su (2023): for U = log the optimum of (5)
  is r_i = (1 + t_i)/2, t the Gauss-Lobatto-Legendre nodes (-1, 1 and the zeros of
  P'_{n-1}). Checked two ways: the solver against ``theory.exact`` (to 1e-9), and the
  closed form itself against the KKT conditions of (5) recomputed here (so neither the
  solver nor the closed form is trusted alone).
- Lemma 4.5: for U = x^g, (2 / (n (n - 1))) max S -> E_inf = pi / (B(a, a) cos(pi g / 2)),
  a = (1 - g)/2. Two exact bounds hold at every n (proved in the test's docstring, not
  fitted): E_inf <= E_n <= n/(n - 1) E_inf. Measured rate: E_n - E_inf ~ c(g)/n with
  c(g)/E_inf from 0.25 (g = 0.05) to 0.99 (g = 0.75), local exponents 0.82 to 1.0 on
  n = 10..160; the property is that |E_n - E_inf| falls as n doubles.
"""

from __future__ import annotations

import math

from hypothesis import given, note, settings
from hypothesis import strategies as st
from scipy import special

import properties as P
from strategies import assume_representable, examples, powers, sizes, with_corners

from rcollapse.solvers import solve
from rcollapse.theory.exact import gauss_lobatto_rewards
from rcollapse.theory.utilities import parse_utility

GL_ATOL = 1e-9
KKT_RTOL = 1e-9
ENERGY_RTOL = 1e-9  # rounding of a 1e-9-accurate optimum's energy


def limit_energy(g: float) -> float:
    """Lemma 4.5: pi / (B(a, a) cos(pi g / 2)), a = (1 - g)/2."""
    a = (1.0 - g) / 2.0
    return math.pi / (special.beta(a, a) * math.cos(math.pi * g / 2.0))


def normalized_energy(U, r) -> float:
    """E_n = (2 / (n (n - 1))) S(r), S recomputed here."""
    n = len(r)
    return 2.0 * P.objective(U, r) / (n * (n - 1))


@settings(deadline=None)
@with_corners("log")
@given(U=st.just(parse_utility("log")), n=sizes(high=300))
def test_log_optimum_is_gauss_lobatto(U, n):
    """Stieltjes: "U = log: the optimum of (5) is r_i = (1 + t_i)/2, t the
    Gauss-Lobatto-Legendre nodes" -- the solver matches the closed form, and the closed
    form satisfies the KKT conditions of (5)."""
    where = P.where(U.spec, n)
    note(where)
    exact = gauss_lobatto_rewards(n)
    P.check_kkt(U, exact, where=where + " (closed form)", rtol=KKT_RTOL)
    P.check_close(solve(U, n).rewards, exact, where=where, atol=GL_ATOL, what="solver vs Gauss-Lobatto")


@settings(deadline=None)
@with_corners("power")
@given(U=powers(high=0.95), n=sizes(high=300))
def test_power_energy_is_between_the_exact_bounds(U, n):
    """Lemma 4.5: "(2/(n(n-1))) max S -> pi/(B(a,a) cos(pi g/2))" -- at every n,
    E_inf <= E_n <= n/(n-1) E_inf.

    Upper: the empirical measure of r* is a probability measure, so
    (1/n^2) sum_{i,j} |r_i - r_j|^g = ((n-1)/n) E_n <= max over measures = E_inf.
    Lower: for X_1..X_n iid from the maximizing measure, the U-statistic
    (2/(n(n-1))) sum_{i<j} |X_i - X_j|^g has mean E_inf, so some configuration -- and the
    maximum E_n -- reaches it."""
    assume_representable(U, n)
    where = P.where(U.spec, n)
    note(where)
    e_inf = limit_energy(U.param)
    e_n = normalized_energy(U, solve(U, n).rewards)
    slack = ENERGY_RTOL * e_inf
    assert e_inf - slack <= e_n, f"{where}: E_n = {e_n!r} < E_inf = {e_inf!r}"
    assert e_n <= n / (n - 1) * e_inf + slack, f"{where}: E_n = {e_n!r} > n/(n-1) E_inf = {n / (n - 1) * e_inf!r}"


@settings(deadline=None, max_examples=examples(10))
@with_corners("power", max_n=75)
@given(U=powers(high=0.95), n=sizes(low=2, high=75))
def test_power_energy_approaches_the_limit(U, n):
    """Lemma 4.5: "(2/(n(n-1))) max S -> pi/(B(a,a) cos(pi g/2))" -- the error
    |E_n - E_inf| falls strictly along n, 2n, 4n."""
    ns = [n, 2 * n, 4 * n]
    assume_representable(U, *ns)
    where = P.where(U.spec, n)
    note(where)
    e_inf = limit_energy(U.param)
    errors = [abs(normalized_energy(U, solve(U, m).rewards) - e_inf) for m in ns]
    note(f"|E_n - E_inf| at n={ns}: {errors}")
    P.check_falls(ns, errors, where=where, what="|E_n - E_inf|")
