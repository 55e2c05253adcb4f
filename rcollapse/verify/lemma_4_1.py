"""Lemma 4.1 (with C.1, C.2): U strictly increasing puts r_1 = 1 and r_n = 0; U strictly
increasing and strictly concave makes the optimum unique and symmetric, r_i + r_(n+1-i) = 1.

``derivation-d:`` proves the symmetry for a generic U (sympy); ``lemma41:endpoint-signs``
reads the signs of dS/dr_1 and dS/dr_n from S itself, by differences; ``lemma41:solver``
solves (5) as written, with CVXPY, which imposes no symmetry.
"""

from __future__ import annotations

import numpy as np

from rcollapse.verify.measurements import Vectors
from rcollapse.verify.registry import Outcome, VerifyConfig, check

__all__ = ["ENDPOINT_POINTS", "ENDPOINT_SPECS", "LEMMA41_SPECS"]

#: Utilities for the endpoint signs: every family, U increasing on (0, 1].
ENDPOINT_SPECS = ("linear", "power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")
#: Feasible points at which the signs are read.
ENDPOINT_POINTS = 30
#: Strictly concave utilities for the solver's symmetry (U = x is not: its optimum at odd
#: n is not unique).
LEMMA41_SPECS = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")


@check("derivation-d:symbolic", where="Lemma 4.1 (d)",
       claim="generic U: S(Rr) = S(r); grad antisymmetric at symmetric r; log n=4 = Lobatto")
def symmetry_symbolic(cfg: VerifyConfig) -> Outcome:
    """Reflection invariance of S and the symmetric KKT point, for a generic U (n = 5)."""
    import sympy as sp

    from rcollapse.theory import derivations as D

    refl = D.lemma41_reflection_invariance(5)
    kkt = D.lemma41_symmetric_kkt(5)
    v, node = D.lemma41_log_n4()
    ok = refl == 0 and kkt == 0 and sp.simplify(v - node) == 0
    return Outcome(
        passed=ok,
        predicted="0; 0; v = (1 - 1/sqrt(5))/2",
        measured=f"{refl}; {kkt}; v = {v}",
        tolerance="exact (sympy)",
        details={"reflection": str(refl), "kkt": str(kkt), "log_n4": str(v), "lobatto_n4": str(node)},
    )


def _feasible_points(count: int) -> list:
    """Feasible points with distinct rewards, gaps >= 0.01, n = 3..8; r_1 and r_n inside
    (0, 1) too, where the sign decides which way they move."""
    rng = np.random.default_rng(41)
    points = []
    for _ in range(count):
        n = int(rng.integers(3, 9))
        gaps = 0.01 + rng.random(n + 1)
        points.append(1.0 - np.cumsum(gaps)[:-1] / gaps.sum())
    return points


@check("lemma41:endpoint-signs", where="Lemma 4.1",
       claim="U increasing: dS/dr_1 > 0 and dS/dr_n < 0 at every feasible r, so r_1 = 1, r_n = 0 "
             "({utilities} utilities, {points} points, from S by differences)")
def endpoint_signs(cfg: VerifyConfig) -> Outcome:
    """min dS/dr_1 > 0 and max dS/dr_n < 0 over the points, for every utility."""
    from rcollapse.theory.objective import endpoint_gradients
    from rcollapse.theory.utilities import parse_utility

    points = _feasible_points(ENDPOINT_POINTS)
    top, bottom = {}, {}
    for spec in ENDPOINT_SPECS:
        U = parse_utility(spec)
        grads = [endpoint_gradients(U, r) for r in points]
        top[spec] = min(g[0] for g in grads)
        bottom[spec] = max(g[1] for g in grads)
    ok = min(top.values()) > 0.0 and max(bottom.values()) < 0.0
    return Outcome(
        passed=ok,
        predicted="min dS/dr_1 > 0; max dS/dr_n < 0",
        measured=f"min dS/dr_1 {min(top.values()):.3g}, max dS/dr_n {max(bottom.values()):.3g}",
        tolerance="strict signs",
        details={"min_dS_dr1": top, "max_dS_drn": bottom, "points": len(points)},
        claim_fields={"utilities": len(top), "points": len(points)},
    )


@check("lemma41:solver", where="Lemma 4.1",
       claim="strictly concave U: the optimum is symmetric with r_1 = 1, r_n = 0 "
             "({utilities} utilities, CVXPY, n={cfg.lemma_n})")
def solver_symmetry(cfg: VerifyConfig) -> Outcome:
    """CVXPY (Clarabel) solves problem (5) as written, with no symmetry built in (the
    Newton solver works on the symmetric half, so it cannot test the symmetry)."""
    n = cfg.lemma_n
    vectors = Vectors()
    sym, ends = {}, {}
    for spec in LEMMA41_SPECS:
        r = vectors.solve(spec, n, "cvxpy").rewards
        sym[spec] = float(np.max(np.abs(r + r[::-1] - 1.0)))
        ends[spec] = float(max(abs(r[0] - 1.0), abs(r[-1])))
    worst_sym, worst_end = max(sym.values()), max(ends.values())
    ok = worst_sym <= 1e-6 and worst_end <= 1e-8 and vectors.ok
    return Outcome(
        passed=ok,
        predicted="r_i + r_(n+1-i) = 1; r_1 = 1; r_n = 0",
        measured=f"max asymmetry {worst_sym:.1g}, max end error {worst_end:.1g}" + vectors.measured(),
        tolerance="1e-6; 1e-8 (interior-point accuracy)" + vectors.tolerance(),
        details={"n": n, "method": "cvxpy", "asymmetry": sym, "end_error": ends, **vectors.details()},
        claim_fields={"utilities": len(sym)},
    )
