"""Stieltjes (exact at finite n, U = log; Theorem 3's limit Beta(1/2, 1/2) at n = inf):
the optimum of (5) is r_i = (1 + t_i)/2, t the Gauss-Lobatto-Legendre nodes (+-1 and the
zeros of P'_(n-1)), found independently as eigenvalues by ``theory.exact``.
"""

from __future__ import annotations

import numpy as np

from rcollapse.verify.measurements import Vectors, fmt_list
from rcollapse.verify.registry import Outcome, VerifyConfig, check

__all__ = ["LOBATTO_TOL"]

#: Newton against the eigenvalue nodes: measured 1.5e-12 (n = 8), 9e-15 (50), 1e-16
#: (200, 1000); rewards 1e-7 off fail.
LOBATTO_TOL = 1e-10


@check("lobatto:log", where="Stieltjes / Thm 3",
       claim="U = log: the optimum of (5) is r_i = (1 + t_i)/2, t the Gauss-Lobatto-Legendre nodes")
def gauss_lobatto(cfg: VerifyConfig) -> Outcome:
    """Newton's optimum for U = log against the Gauss-Lobatto nodes, n = 8 and cfg.ns."""
    from rcollapse.theory.exact import gauss_lobatto_rewards

    # gauss_lobatto_rewards finds the nodes as eigenvalues, O(n^3): up to n = 1000.
    ns = sorted({8, *(n for n in cfg.ns if n <= 1000)})
    vectors = Vectors()
    errs = [float(np.max(np.abs(vectors.solve("log", n).rewards - gauss_lobatto_rewards(n)))) for n in ns]
    ok = max(errs) <= LOBATTO_TOL and vectors.ok
    return Outcome(
        passed=ok,
        predicted="(1 + t_i)/2, t: +-1 and the zeros of P'_(n-1)",
        measured=f"max |r - (1+t)/2| {fmt_list(errs, '{:.1g}')} at n={fmt_list(ns, '{}')}" + vectors.measured(),
        tolerance=f"{LOBATTO_TOL:g}" + vectors.tolerance(),
        details={"n": ns, "max_error": errs, **vectors.details()},
    )
