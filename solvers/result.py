"""The one result type of ``solve``: the optimum of problem (5) with its certificate."""

from __future__ import annotations

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
    """

    spec: str  # the utility, as parse_utility reads it back ("power:0.5")
    n: int  # number of completions
    method: str  # "newton", "cvxpy" or "lbfgs"
    rewards: np.ndarray = field(repr=False)  # (n,) float64, sorted best first
    objective: float  # S(rewards) = sum_{i<j} U(r_i - r_j)
    kkt_residual: float  # solvers.kkt.kkt_residual(U, rewards, complement): 0 at a KKT point
    iterations: int  # Newton steps on the full n (newton), interior-point (cvxpy) or L-BFGS iterations
    seconds: float  # wall time of the solve, certificate included
    unique: bool  # False only for linear with odd n (the middle reward is free)
    status: str  # "converged", or the method's own words when it stopped short (lbfgs)
    #: 1 - rewards, computed without cancellation (carries the digits near r = 1 that a
    #: float64 reward cannot; see theory.objective). Equal to 1 - rewards but for rounding.
    complement: np.ndarray = field(repr=False, default=None)

    def to_json(self) -> dict:
        """A JSON-ready dict: spec, n, method, rewards, objective, kkt_residual, iterations,
        seconds, unique, status. Non-finite numbers become None."""

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
            "iterations": int(self.iterations),
            "seconds": float(self.seconds),
            "unique": bool(self.unique),
            "status": self.status,
        }
