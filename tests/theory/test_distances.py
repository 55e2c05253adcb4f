"""theory.distances: exact KS and W1 between a sample and a measure with atoms."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats

from rcollapse.theory.distances import ks_distance, w1_distance
from rcollapse.theory.limits import limiting_measure

SPECS = ["power:0.25", "log", "neg-power:0.5", "neg-power:2", "linear"]


@pytest.mark.parametrize("spec", SPECS)
def test_large_sample_is_close_and_shift_is_far(spec):
    mu = limiting_measure(spec)
    sample = mu.rvs(100_000, random_state=0)
    assert ks_distance(sample, mu) < 0.01
    assert w1_distance(sample, mu) < 0.005
    shifted = np.clip(sample + 0.1, 0.0, 1.0)
    assert ks_distance(shifted, mu) > 0.05
    assert w1_distance(shifted, mu) > 0.04


@pytest.mark.parametrize("spec", SPECS)
def test_w1_agrees_with_scipy_on_quantile_points(spec):
    mu = limiting_measure(spec)
    sample = mu.rvs(2000, random_state=1)
    fine = mu.ppf((np.arange(400_000) + 0.5) / 400_000)  # a fine discretization of mu
    assert w1_distance(sample, mu) == pytest.approx(stats.wasserstein_distance(sample, fine), abs=2e-5)


def test_ks_agrees_with_scipy_for_continuous_measure():
    mu = limiting_measure("power:0.5")
    sample = mu.rvs(500, random_state=2)
    expected = stats.kstest(sample, mu.continuous.cdf).statistic
    assert ks_distance(sample, mu) == pytest.approx(expected, abs=1e-12)


def test_hand_computed_uniform():
    mu = limiting_measure("neg-power:2")  # Uniform(0, 1)
    assert ks_distance([0.5], mu) == 0.5
    assert w1_distance([0.5], mu) == pytest.approx(0.25)
    # quantile points (k - 1/2)/n: KS = 1/(2n), W1 = 1/(4n)
    n = 10
    pts = (np.arange(n) + 0.5) / n
    assert ks_distance(pts, mu) == pytest.approx(1 / (2 * n))
    assert w1_distance(pts, mu) == pytest.approx(1 / (4 * n))


def test_hand_computed_atoms():
    mu = limiting_measure("linear")  # 1/2 delta_0 + 1/2 delta_1
    assert ks_distance([0.0, 1.0], mu) == 0.0
    assert w1_distance([0.0, 1.0], mu) == 0.0
    assert ks_distance([0.0, 0.0, 1.0, 1.0], mu) == 0.0
    assert ks_distance([0.5, 0.5], mu) == 0.5
    assert w1_distance([0.5, 0.5], mu) == pytest.approx(0.5)
    # three points, the free middle one at 1/2: F_n - F = 1/3 - 1/2 on [0, 1/2), 2/3 - 1/2 on [1/2, 1)
    assert ks_distance([0.0, 0.5, 1.0], mu) == pytest.approx(1 / 6)
    assert w1_distance([0.0, 0.5, 1.0], mu) == pytest.approx(1 / 6)
    # all mass at 1: F_n = 0 < 1/2 = F on [0, 1)
    assert ks_distance([1.0, 1.0], mu) == 0.5
    assert w1_distance([1.0, 1.0], mu) == pytest.approx(0.5)


def test_left_limit_at_an_atom():
    # Sample just below the atom at 1: the sup is reached on [0.9, 1), not at a sample point's right
    mu = limiting_measure("linear")
    assert ks_distance([0.0, 0.9], mu) == pytest.approx(0.5)


def test_atom_tol_snaps_to_an_atom():
    mu = limiting_measure("linear")
    near = [1e-13, 1.0 - 1e-12]
    assert ks_distance(near, mu) == 0.0
    assert ks_distance(near, mu, atom_tol=0.0) == pytest.approx(0.5)
    assert w1_distance(near, mu) == pytest.approx(0.0, abs=1e-11)


def test_order_and_outside_points():
    mu = limiting_measure("log")
    s = mu.rvs(100, random_state=3)
    assert ks_distance(s, mu) == ks_distance(s[::-1], mu)
    assert w1_distance(s, mu) == pytest.approx(w1_distance(np.sort(s), mu))
    # a point beyond 1 adds its distance to W1
    assert w1_distance([1.5], limiting_measure("neg-power:2")) == pytest.approx(1.0)


def test_empty_and_nan_rejected():
    mu = limiting_measure("log")
    with pytest.raises(ValueError):
        ks_distance([], mu)
    with pytest.raises(ValueError):
        w1_distance([np.nan], mu)


@given(sample=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40),
       spec=st.sampled_from(SPECS))
@example(sample=[0.0], spec="linear")
@example(sample=[1.0, 1.0, 0.5], spec="linear")
def test_properties_any_sample(sample, spec):
    """0 <= W1 <= KS <= 1 (W1 integrates |F_n - F| over [0, 1], KS is its sup); against
    a continuous law KS >= 1/(2n) (F_n jumps by 1/n)."""
    mu = limiting_measure(spec)
    ks, w1 = ks_distance(sample, mu, atom_tol=0.0), w1_distance(sample, mu)
    assert 0.0 <= w1 <= ks + 1e-12 <= 1.0 + 1e-12
    if not mu.atoms:
        assert ks >= 1.0 / (2 * len(sample)) - 1e-12


def test_symmetric_ks_equals_plain_ks_on_exact_samples_and_ignores_rounding_near_1():
    """symmetric=True takes the sup over x <= 1/2: equal to the plain KS when nothing rounds,
    and immune to rewards near 1 rounded to 1.0 (power:g with g near 1)."""
    mu = limiting_measure("power:0.5")
    n = 64
    low = mu.ppf((np.arange(n // 2) + 0.5) / n)
    exact = np.concatenate([low, 1.0 - low])  # 1 - low is exact enough here
    assert ks_distance(exact, mu, symmetric=True) == pytest.approx(ks_distance(exact, mu), abs=1e-8)
    mu95 = limiting_measure("power:0.95")
    low = mu95.ppf((np.arange(n // 2) + 0.5) / n)
    rounded = np.concatenate([low, 1.0 - low])  # several 1 - low round to 1.0
    assert np.sum(rounded == 1.0) >= 2
    assert ks_distance(rounded, mu95, symmetric=True) == pytest.approx(0.5 / n, rel=1e-6)
    assert ks_distance(rounded, mu95) > 5 / n


def test_symmetric_ks_refuses_an_asymmetric_sample():
    with pytest.raises(ValueError, match="symmetric"):
        ks_distance([0.1, 0.2, 0.95], limiting_measure("log"), symmetric=True)
