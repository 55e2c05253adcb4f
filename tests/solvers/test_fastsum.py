"""solvers.fastsum: the fast multipole sums agree with direct O(n^2) sums, for the kernels
that Newton's method on problem (5) needs (U, U', -U'' of the four large-n utilities), on
point sets shaped like the optimum (gaps near 1e-20 at the ends for power:0.5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rcollapse.solvers.fastsum import (KernelSum, Points, PointSum, Tree, chebyshev_nodes, direct_row_sums,
                                       lagrange_basis)
from rcollapse.solvers.newton_cg import FastHalf
from rcollapse.theory.utilities import parse_utility

SPECS = ("power:0.5", "log", "neg-power:0.5", "log-sigmoid:1")


def optimum_like(m: int, a: float = 0.25) -> np.ndarray:
    """Beta(a, a) quantiles of the top half (the limit of Theorems 2 and 3), y_1 = 0."""
    y = stats.beta(a, a).ppf(np.arange(m) / (2 * m - 1))
    y[0] = 0.0
    return y


def test_lagrange_basis_reproduces_polynomials_below_the_order():
    p = 12
    xi = np.linspace(-1.0, 1.0, 37)
    t, _ = chebyshev_nodes(p)
    B = lagrange_basis(xi, p)
    for deg in range(p):
        assert np.allclose(B @ t**deg, xi**deg, atol=1e-13)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("m", [37, 3000])
def test_fast_sums_match_direct_sums(spec, m):
    half = FastHalf(parse_utility(spec), 2 * m)
    y = optimum_like(m)
    pts = half.tree(y)
    rng = np.random.default_rng(m)
    q = rng.standard_normal(2 * m)
    rows = np.unique(np.concatenate(([0, 1, 2, m - 1], rng.choice(m, 100))))
    for kernel in (half.k_value, half.k_grad, half.k_weight):
        fast = PointSum(pts, kernel)(q)[rows]
        direct = direct_row_sums(y, kernel, q, rows)
        scale = direct_row_sums(y, lambda d: np.abs(kernel(d)), np.abs(q), rows)
        assert np.max(np.abs(fast - direct) / scale) < 1e-12


def test_stored_and_unstored_sums_agree():
    y = optimum_like(2000)
    tree = Tree(y)
    k = lambda d: np.abs(d) ** -2.0  # noqa: E731
    q = np.random.default_rng(0).standard_normal(tree.size)
    assert np.array_equal(KernelSum(tree, k)(q), KernelSum(tree, k, store=True)(q))


def test_block_sums_are_the_galerkin_sums():
    """A[I, J] = 1_I' K 1_J (charges masked) for tree nodes I, J, against dense sums."""
    m = 600
    y = optimum_like(m)
    tree = Tree(y, leaf=16)
    k = lambda d: np.abs(d) ** -1.5  # noqa: E731
    x = tree.x
    d = x[:, None] - x[None, :]
    np.fill_diagonal(d, 1.0)
    K = k(d)
    np.fill_diagonal(K, 0.0)
    q = (np.random.default_rng(1).random(2 * m) < 0.8).astype(float)
    ks = KernelSum(tree, k)
    for level in (1, 2, 4, tree.depth):
        s = tree.start[level]
        Z = np.zeros((2 * m, 2**level))
        for i in range(2**level):
            Z[s[i]:s[i + 1], i] = q[s[i]:s[i + 1]]
        dense = (Z.T @ K @ Z)[: 2 ** (level - 1)]
        assert np.max(np.abs(ks.block_sums(q, level) - dense)) <= 1e-13 * np.max(np.abs(dense))


def test_runs_of_equal_points_take_one_sided_gaps():
    """log-sigmoid's atoms: runs at exactly 0 (and 1). Pairs inside a run use U'(0) with
    the sign of the index order, as problem (5)'s gradient does."""
    U = parse_utility("log-sigmoid:1")
    half = FastHalf(U, 2 * 500)
    y = np.concatenate((np.zeros(180), np.linspace(0.01, 0.49, 320)))
    pts = Points(y)
    assert pts.tied and pts.tree.m == 321
    q = np.random.default_rng(2).standard_normal(1000)
    rows = np.arange(500)
    for kernel in (half.k_grad, half.k_weight, half.k_value):
        fast = PointSum(pts, kernel)(q)
        direct = direct_row_sums(y, kernel, q, rows)
        assert np.max(np.abs(fast - direct)) < 1e-12 * np.max(np.abs(direct))


@settings(max_examples=15)
@given(m=st.integers(1, 400), seed=st.integers(0, 2**31 - 1), leaf=st.integers(1, 40),
       order=st.integers(12, 24))
def test_random_points_any_tree_shape(m, seed, leaf, order):
    rng = np.random.default_rng(seed)
    y = np.sort(rng.uniform(0.0, 0.5, m) ** 3)
    y[0] = 0.0
    y = np.unique(y)
    tree = Tree(y, leaf=leaf, order=order)
    k = lambda d: np.copysign(np.abs(d) ** -0.5, d)  # noqa: E731
    q = rng.standard_normal(tree.size)
    fast = KernelSum(tree, k)(q)
    direct = direct_row_sums(y, k, q, np.arange(y.size))
    scale = direct_row_sums(y, lambda d: np.abs(k(d)), np.abs(q), np.arange(y.size))
    tol = 1e-11 if order >= 16 else 1e-7
    assert np.max(np.abs(fast - direct) / scale) < tol
