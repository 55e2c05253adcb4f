"""theory.objective: S(r) = sum_{i<j} U(r_i - r_j) and its gradient, chunked and accurate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rcollapse.theory.objective import overall_utility, utility_gradient
from rcollapse.theory.utilities import parse_utility

SPECS = ["linear", "power:0.5", "log", "neg-power:1", "log-sigmoid:1"]


def brute_force(r, U):
    n = len(r)
    return sum(float(U(r[i] - r[j])) for i in range(n) for j in range(i + 1, n))


def brute_gradient(r, U):
    n = len(r)
    g = np.zeros(n)
    for i in range(n):
        for j in range(i + 1, n):
            d = float(U.d1(r[i] - r[j]))
            g[i] += d
            g[j] -= d
    return g


@st.composite
def sorted_rewards(draw, *, max_n: int = 12):
    """Distinct rewards in (0, 1), sorted best first (every U is finite on their gaps)."""
    values = draw(st.lists(st.floats(0.001, 0.999), min_size=2, max_size=max_n, unique=True))
    r = np.sort(np.array(values))[::-1]
    if np.min(np.diff(r[::-1])) < 1e-6:
        r = np.linspace(0.9, 0.1, r.size)
    return r


@pytest.mark.parametrize("spec", SPECS)
@given(r=sorted_rewards())
@example(r=np.array([0.75, 0.25]))
def test_matches_brute_force_and_is_chunk_independent(spec, r):
    U = parse_utility(spec)
    expected = brute_force(r, U)
    assert overall_utility(r, U) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert overall_utility(r, U, chunk_elements=3) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    g, force = utility_gradient(r, U, chunk_elements=5)
    np.testing.assert_allclose(g, brute_gradient(r, U), rtol=1e-11, atol=1e-11 * np.abs(force).max())
    assert np.all(force >= np.abs(g) - 1e-12 * force.max())


def test_gradient_is_the_derivative_of_the_objective():
    U = parse_utility("log-sigmoid:0.5")
    r = np.array([0.95, 0.7, 0.41, 0.4, 0.02])
    g, _ = utility_gradient(r, U)
    h = 1e-6
    fd = [(overall_utility(r + h * e, U) - overall_utility(r - h * e, U)) / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(g, fd, rtol=1e-7)


def test_complement_keeps_tiny_top_gaps():
    """A gap of 1e-15 below r = 1 is not representable in r, but is in 1 - r."""
    U = parse_utility("power:0.5")
    gap = 1e-15
    r = np.array([1.0, 1.0 - gap, 0.0])
    q = np.array([0.0, gap, 1.0])
    g, _ = utility_gradient(r, U, complement=q)
    assert g[0] == pytest.approx(0.5 / np.sqrt(gap) + 0.5, rel=1e-14)
    assert overall_utility(r, U, complement=q) == pytest.approx(np.sqrt(gap) + 1 + np.sqrt(1 - gap), rel=1e-15)
    g_rounded, _ = utility_gradient(r, U)  # without it: 1 - fl(1 - 1e-15) is off by 0.08%
    assert abs(g_rounded[0] / g[0] - 1) > 1e-4


def test_edge_rules():
    U = parse_utility("log")
    assert overall_utility([], U) == 0.0
    assert overall_utility([0.3], U) == 0.0
    assert overall_utility([0.5, 0.5], U) == -np.inf  # a tie: U(0) = log 0
    with pytest.raises(ValueError, match="1-D"):
        overall_utility(np.zeros((2, 2)), U)
