"""What every check measures with: the optima of (5) and of the n = inf problem, each
solved once per run, and the certificate of every vector a check reads.

Nothing a solver says about itself is trusted: the KKT certificate of every optimum a
check reads is recomputed on the returned vector (``solvers.kkt.recomputed_certificate``,
primal feasibility included) and must meet :data:`CERTIFICATE_TOL`.

Also here: the convergence helpers of the checks, :class:`Rate` (a bound c n^-alpha
(log n)^k at size n), :func:`falls` (strictly decreasing along n) and
:func:`w1_below_ks`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CERTIFICATE_TOL", "FLOOR", "Rate", "Vectors", "cached_certificate", "cached_limit", "cached_solve",
           "convergence_ns", "falls", "fmt_list", "method_for", "solvers_room", "w1_below_ks"]

#: A distance "falls" with n when each value is below the one before, or both are at
#: most FLOOR (an exact limit, such as the two atoms of U = x, stays at 0).
FLOOR = 1e-12

#: The certificate every checked vector must meet, recomputed on the vector itself
#: (never the solver's own report): Newton's target is ``solve``'s default tol, 1e-9
#: (measured: 2e-16..1.3e-11 on every utility here, n = 50..2000); an interior point
#: (Clarabel) stops near 1e-9 (measured 4e-13..3.5e-9 on the Lemma 4.1 utilities at n = 40).
#: The fast method's too; its recomputed value is the fast certificate's residual plus the
#: bound its measured summation error puts on it.
CERTIFICATE_TOL = {"newton": 1e-9, "cvxpy": 1e-7, "fast": 1e-9}


def falls(values) -> bool:
    """Strictly decreasing along n, except where both values are at most FLOOR."""
    return all(b < a or max(a, b) <= FLOOR for a, b in zip(values, values[1:]))


def fmt_list(values, fmt="{:.2g}") -> str:
    return "/".join(fmt.format(v) for v in values)


def w1_below_ks(ks, w1, slack: float = 1e-6) -> bool:
    """W1 = int_0^1 |F_n - F| <= sup |F_n - F| = KS for laws on [0, 1]: a distance that
    breaks this (a KS that lost its absolute value, say) is wrong. ``slack`` covers the
    sample points within 1e-7 of an atom, which KS counts as the atom."""
    return all(w <= k + slack for k, w in zip(ks, w1))


@dataclass(frozen=True)
class Rate:
    """A bound c * n^(-alpha) * (log n)^log_power on a distance or error at size n."""

    c: float
    alpha: float = 1.0
    log_power: int = 0

    def __call__(self, n: int) -> float:
        return self.c * n ** (-self.alpha) * math.log(n) ** self.log_power

    def __str__(self) -> str:
        text = f"{self.c:g}"
        if self.log_power:
            text += " log(n)" if self.log_power == 1 else f" log(n)^{self.log_power}"
        if self.alpha:
            text += "/n" if self.alpha == 1 else f" n^-{self.alpha:g}"
        return text


def convergence_ns(ns, cfg) -> list:
    """The sizes of a convergence check: ``ns`` and then ``cfg.large_ns``."""
    return sorted(set(ns) | set(cfg.large_ns))


def method_for(n: int) -> str:
    """The method for size n: ``solvers.newton_cg.method_for_size`` (one rule, with the figures)."""
    from rcollapse.solvers.newton_cg import method_for_size

    return method_for_size(n)


def solvers_room():
    """``rcollapse.solvers``. :func:`cached_solve` reaches it through the name
    ``rcollapse.verify._solvers``, so that a test can put a broken solver in its place."""
    from rcollapse import solvers

    return solvers


@functools.lru_cache(maxsize=None)
def cached_solve(spec: str, n: int, method: str = "newton"):
    """The optimum of problem (5) (solvers.solve), cached for the run."""
    from rcollapse import verify

    sol = verify._solvers().solve(spec, n, method=method)
    rewards = np.asarray(sol.rewards, dtype=float)
    if rewards.shape != (n,):
        raise RuntimeError(f"solve({spec!r}, {n}) returned rewards of shape {rewards.shape}, not ({n},)")
    return sol


@functools.lru_cache(maxsize=None)
def cached_certificate(spec: str, n: int, method: str = "newton") -> tuple[float, str | None, dict | None]:
    """``solvers.kkt.recomputed_certificate_details`` of :func:`cached_solve`'s vector."""
    from rcollapse.solvers.kkt import recomputed_certificate_details

    return recomputed_certificate_details(cached_solve(spec, n, method))


@functools.lru_cache(maxsize=None)
def cached_limit(spec: str, grid: int):
    """The n = inf optimum of Theorem 5 (solvers.solve_limit) on ``grid`` cells, cached."""
    from rcollapse.solvers.limit import solve_limit

    return solve_limit(spec, grid=grid)


class Vectors:
    """The optima one check reads, each with its certificate recomputed on the vector."""

    def __init__(self):
        self.kkt = {}  # "spec n=N method" -> recomputed residual (inf: not certified)
        self.problems = {}  # the same key -> why it has no certificate
        self.fast = {}  # the same key -> the fast certificate's summation error and bound
        self._tol = {}

    def solve(self, spec: str, n: int, method: str | None = None):
        """The optimum at n by ``method`` (default: :func:`method_for`, fast above FAST_FROM)."""
        method = method_for(n) if method is None else method
        sol = cached_solve(spec, n, method)
        key = f"{spec} n={n} {method}"
        self.kkt[key], problem, fast = cached_certificate(spec, n, method)
        if problem is not None:
            self.problems[key] = problem
        if fast is not None:
            self.fast[key] = fast
        self._tol[key] = CERTIFICATE_TOL[method]
        return sol

    def details(self) -> dict:
        out = {"kkt_recomputed": dict(self.kkt), "certificate_problems": dict(self.problems)}
        if self.fast:
            out["fast_certificates"] = dict(self.fast)
        return out

    @property
    def ok(self) -> bool:
        return bool(self.kkt) and all(v <= self._tol[k] for k, v in self.kkt.items())

    @property
    def worst(self) -> float:
        return max(self.kkt.values(), default=math.nan)

    def measured(self) -> str:
        text = f"; KKT <= {self.worst:.1g} (recomputed, {len(self.kkt)} vectors"
        if self.fast:
            worst = max((f["summation_error"] for f in self.fast.values() if f["summation_error"] is not None),
                        default=math.nan)
            text += f"; {len(self.fast)} by fast sums, summation error <= {worst:.1g}"
        text += ")"
        if self.problems:
            key, why = next(iter(self.problems.items()))
            text += f"; {key}: {why}"
        return text

    def tolerance(self) -> str:
        tols = sorted(set(self._tol.values()))
        return "; KKT <= " + "/".join(f"{t:g}" for t in tols)
