"""The one result type of ``solve``: the optimum of problem (5) with its certificate."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from rcollapse.solvers.errors import ConvergenceError, SolverInputError

__all__ = ["Solution", "SolverInputError", "ConvergenceError"]


@dataclass(frozen=True, eq=False)
class Solution:
    """The optimum of problem (5) for one utility and n, as one method found it.

    >>> from rcollapse.solvers import solve
    >>> sol = solve("linear", 4)
    >>> sol.rewards.tolist(), sol.objective, sol.kkt_residual, sol.unique
    ([1.0, 1.0, 0.0, 0.0], 4.0, 0.0, True)
    >>> sol.error_bound is None, solve("log", 10).error_bound < 1e-9
    (True, True)
    """

    spec: str  # the utility, as parse_utility reads it back ("power:0.5")
    n: int  # number of completions
    method: str  # the method run: "newton", "fast", "cvxpy" or "lbfgs" (never "auto")
    rewards: np.ndarray = field(repr=False)  # (n,) float64, sorted best first
    objective: float  # S(rewards) = sum_{i<j} U(r_i - r_j)
    kkt_residual: float  # solvers.kkt.kkt_residual(U, rewards, complement): 0 at a KKT point
    iterations: int  # Newton steps over every level (newton, fast: the status's count), interior-point (cvxpy) or L-BFGS iterations
    seconds: float  # wall time of the solve, certificate included (with accuracy: the bounds too)
    unique: bool  # False only for linear with odd n (the middle reward is free)
    status: str  # "converged (...)" or "exact (n = 2 ...)", with the method's own words
    #: 1 - rewards, computed without cancellation (carries the digits near r = 1 that a
    #: float64 reward cannot; see theory.objective). Equal to 1 - rewards but for rounding.
    complement: np.ndarray = field(repr=False, default=None)
    #: True when ``seconds`` already includes the error bound (solve with ``accuracy``).
    bound_counted: bool = field(repr=False, default=False)

    @functools.cached_property
    def bound(self):
        """The proven max-norm error bound of these rewards against the optimum
        (:func:`solvers.bound.error_bound`, computed on first use: one pass over the pairs,
        by fast sums above FAST_FROM), an ``ErrorBound`` with ``.value`` (None for linear and
        other utilities that are not strongly concave), ``.reason`` and ``.seconds``."""
        from rcollapse.solvers.bound import error_bound

        return error_bound(self.spec, self.rewards, complement=self.complement)

    @property
    def error_bound(self) -> float | None:
        """max_i |rewards_i - r*_i| is at most this (proven; see :attr:`bound`), or None
        where no bound exists (``bound.reason`` says why)."""
        return self.bound.value

    @property
    def bound_seconds(self) -> float:
        """Wall seconds the error bound took (computing it if it was not yet)."""
        return float(self.bound.seconds or 0.0)

    @property
    def total_seconds(self) -> float:
        """What the user waited for: the solve, its certificate and the error bound
        (``seconds``, plus ``bound_seconds`` unless ``seconds`` already holds it)."""
        return float(self.seconds) + (0.0 if self.bound_counted else self.bound_seconds)

    def to_json(self) -> dict:
        """A JSON-ready dict: spec, n, method, rewards, objective, kkt_residual, error_bound
        (None where there is none, with error_bound_reason), iterations, seconds (the
        solve, its certificate and the error bound: :attr:`total_seconds`), solve_seconds
        (:attr:`seconds`), bound_seconds, unique, status. Non-finite numbers become None."""

        def num(v):
            v = float(v)
            return v if math.isfinite(v) else None

        return {
            "spec": self.spec,
            "n": int(self.n),
            "method": self.method,
            "rewards": [float(v) for v in self.rewards],
            "objective": num(self.objective),
            "kkt_residual": num(self.kkt_residual),
            "error_bound": None if self.error_bound is None else num(self.error_bound),
            "error_bound_reason": self.bound.reason,
            "iterations": int(self.iterations),
            "seconds": self.total_seconds,
            "solve_seconds": float(self.seconds),
            "bound_seconds": self.bound_seconds,
            "unique": bool(self.unique),
            "status": self.status,
        }
