"""``rcollapse solve SPEC (--n N [--method M] | --limit [--grid M]) [--json]``.

Problem (5) of Song et al. (2023) for one utility: the optimal rewards of n completions
(``--n``), or the n = inf reward distribution of Theorem 5 (``--limit``).

JSON keys: with ``--n``: spec, n, method, rewards, objective, kkt_residual, iterations,
seconds, unique, status. With ``--limit``: spec, atoms ([position, mass] pairs),
quantiles (1001 values at p = 0, 0.001, ..., 1), grid, seconds, plus objective and
kkt_residual.
"""

from __future__ import annotations

import json
import time

import numpy as np

from rcollapse.theory.utilities import parse_utility

#: The --method choices (solvers.METHODS, listed here so --help needs no import).
METHOD_CHOICES = ("newton", "cvxpy", "lbfgs")


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g or log-sigmoid:s")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--n", type=int, metavar="N", help="number of completions (n >= 2)")
    what.add_argument("--limit", action="store_true",
                      help="the n = inf measure of Theorem 5 instead")
    parser.add_argument("--method", choices=METHOD_CHOICES, default="newton",
                        help="solver for --n (default: newton)")
    parser.add_argument("--grid", type=int, metavar="M", default=None,
                        help="cells of the discretized measure, with --limit")
    parser.add_argument("--tol", type=float, default=1e-9,
                        help="KKT residual target for --n (default 1e-9)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _limit(args, U) -> dict:
    from rcollapse.solvers import solve_limit

    t0 = time.perf_counter()
    kwargs = {} if args.grid is None else {"grid": args.grid}
    sol = solve_limit(U, **kwargs)
    seconds = time.perf_counter() - t0
    p = np.linspace(0.0, 1.0, 1001)
    return {
        "spec": U.spec,
        "atoms": [[float(x), float(m)] for x, m in sol.atoms],
        "quantiles": [float(v) for v in np.asarray(sol.quantile(p), dtype=float)],
        "grid": int(sol.grid),
        "seconds": seconds,
        "objective": _num(getattr(sol, "objective", None)),
        "kkt_residual": _num(getattr(sol, "kkt_residual", None)),
    }


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def run(args) -> int:
    from rcollapse.solvers import SolverInputError, solve

    U = parse_utility(args.spec)
    if args.limit:
        if args.method != "newton":
            raise SolverInputError(f"--method {args.method} applies to --n, not to --limit")
        info = _limit(args, U)
        if args.json:
            print(json.dumps(info))
            return 0
        print(f"problem (5), n = inf (Theorem 5): U = {U.spec}, grid = {info['grid']}, "
              f"{info['seconds']:.2f} s")
        atoms = ", ".join(f"{m:.6f} at {x:g}" for x, m in info["atoms"]) or "none"
        print(f"  atoms      {atoms}")
        q = info["quantiles"]
        print("  quantiles  " + "  ".join(f"p={p:.2f}: {q[round(p * 1000)]:.6f}"
                                          for p in (0.05, 0.25, 0.5, 0.75, 0.95)))
        return 0
    if args.grid is not None:
        raise SolverInputError(f"--grid {args.grid} applies to --limit, not to --n")
    sol = solve(U, args.n, method=args.method, tol=args.tol)
    if args.json:
        print(json.dumps(sol.to_json()))
        return 0
    print(f"problem (5): U = {sol.spec}, n = {sol.n}, method = {sol.method}")
    print(f"  objective     {sol.objective:.12g}")
    print(f"  kkt_residual  {sol.kkt_residual:.3g}")
    print(f"  iterations    {sol.iterations}   seconds {sol.seconds:.3f}   unique {sol.unique}")
    print(f"  status        {sol.status}")
    r = sol.rewards
    shown = range(sol.n) if sol.n <= 12 else [*range(5), None, *range(sol.n - 5, sol.n)]
    print("     i  reward")
    for i in shown:
        print("   ...") if i is None else print(f"  {i + 1:4d}  {r[i]:.15f}")
    return 0
