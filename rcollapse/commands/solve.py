"""``rcollapse solve SPEC (--n N [--method M] | --limit [--grid M]) [--json]``.

Problem (5) of Song et al. (2023) for one utility: the optimal rewards of n completions
(``--n``), or the n = inf reward distribution of Theorem 5 (``--limit``).

``--method auto`` (the default) runs newton up to n = 10,000 and fast above
(``solvers.newton_cg.method_for_size``); another ``--method`` forces that one.

JSON keys: with ``--n``: spec, n, method (the one run), rewards, objective, kkt_residual,
error_bound (the proven max |r - r*|, or None with error_bound_reason), iterations (Newton
steps over every level for newton and fast), seconds (what the command waited for: the
solve, its certificate and the error bound), solve_seconds, bound_seconds, unique,
status. ``--tol`` (the KKT residual target, met or exit 1) and ``--accuracy`` (a target
for error_bound) apply to ``--n`` only; with ``--limit`` they are refused (exit 2). With ``--limit``: spec, atoms ([position, mass] pairs),
quantiles (1001 values at p = 0, 0.001, ..., 1), grid, seconds, plus objective and
kkt_residual.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


#: The --method choices (solvers.METHODS, listed here so --help needs no import).
METHOD_CHOICES = ("auto", "newton", "cvxpy", "lbfgs", "fast")


def add_arguments(parser):
    parser.add_argument("spec", metavar="SPEC",
                        help="linear, log, power:g, neg-power:g or log-sigmoid:s")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--n", type=int, metavar="N", help="number of completions (n >= 2)")
    what.add_argument("--limit", action="store_true",
                      help="the n = inf measure of Theorem 5 instead")
    parser.add_argument("--method", choices=METHOD_CHOICES, default=None,
                        help="solver for --n (default: auto, newton up to n = 10000, fast above)")
    parser.add_argument("--grid", type=int, metavar="M", default=None,
                        help="cells of the discretized measure, with --limit")
    parser.add_argument("--tol", type=float, default=None,
                        help="KKT residual target for --n, met or the solve fails (default 1e-9)")
    parser.add_argument("--accuracy", type=float, default=None, metavar="EPS",
                        help="with --n: tighten tol until the proven max-norm error bound on "
                             "the rewards is at most EPS, or fail saying the bound reached")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


#: Measured wall time of ``solvers.cvx.solve_cvxpy`` on this 2-core machine, power:0.5:
#: 7.3 s at n = 200 and 22 s at n = 300 (1.2 s at n = 100), so it grows about as n^2.7
#: (one cone per pair, and Clarabel's sparse KKT factorization); see ``slow_warning``.
CVXPY_SECONDS_AT_200, CVXPY_EXPONENT = 7.3, 2.7
#: A solve expected to run longer than this is announced on stderr before it starts.
SLOW_SECONDS = 30.0


def slow_warning(method: str, n: int) -> str | None:
    """A one-line warning for a solve expected to take more than SLOW_SECONDS, or None.

    >>> slow_warning("cvxpy", 1500).startswith("warning: cvxpy at n = 1500")
    True
    >>> slow_warning("newton", 1500) is None
    True
    """
    if method != "cvxpy" or n <= 200:
        return None
    seconds = CVXPY_SECONDS_AT_200 * (n / 200) ** CVXPY_EXPONENT
    if seconds <= SLOW_SECONDS:
        return None
    return (f"warning: cvxpy at n = {n} will take about {seconds / 60:.0f} min (measured: "
            f"{CVXPY_SECONDS_AT_200:g} s at n = 200, growing as n^{CVXPY_EXPONENT:g}) and "
            f"about {7_000 * n * (n - 1) / 2 / 2**30:.1f} GiB; --method newton takes seconds")


#: newton and fast show a progress bar (their multilevel levels) from this n on.
PROGRESS_FROM_N = 2000


def _solve_with_progress(solve, U, args, tol):
    """solve(...), with a tqdm bar on stderr over newton's or fast's levels for large n.
    The bar opens at the first level done, so a refusal (memory, bad input) prints none."""
    method = args.method or "auto"
    kwargs = {"method": method, "tol": tol, "accuracy": args.accuracy}
    if method not in ("auto", "newton", "fast") or args.n < PROGRESS_FROM_N:
        return solve(U, args.n, **kwargs)
    from tqdm import tqdm

    bars = []

    def progress(done, levels, n_level):
        if not bars:
            bars.append(tqdm(desc=f"n = {args.n}", total=levels, unit="level", file=sys.stderr,
                             leave=False))
        bars[0].set_postfix_str(f"n = {n_level}")
        bars[0].update(done - bars[0].n)

    try:
        return solve(U, args.n, progress=progress, **kwargs)
    finally:
        for bar in bars:
            bar.close()


def _limit(args, U) -> dict:
    from rcollapse.solvers import solve_limit

    t0 = time.perf_counter()
    kwargs = {} if args.grid is None else {"grid": args.grid}
    sol = solve_limit(U, **kwargs)
    seconds = time.perf_counter() - t0
    p = np.linspace(0.0, 1.0, 1001)
    return {
        "spec": U.spec,
        "atoms": [[float(x), float(m)] for x, m in sorted(sol.atoms.items())],
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
    from rcollapse.theory.utilities import parse_utility  # sympy: not for --help

    U = parse_utility(args.spec)
    if args.limit:
        if args.method is not None:
            raise SolverInputError(f"--method {args.method} applies to --n, not to --limit")
        if args.accuracy is not None:
            raise SolverInputError(f"--accuracy {args.accuracy:g} applies to --n, not to --limit")
        if args.tol is not None:
            raise SolverInputError(f"--tol {args.tol:g} applies to --n, not to --limit "
                                   f"(the n = inf solve has its own grid and tolerance)")
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
    tol = 1e-9 if args.tol is None else args.tol
    warning = slow_warning(args.method or "auto", args.n)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    sol = _solve_with_progress(solve, U, args, tol)
    if args.json:
        print(json.dumps(sol.to_json()))
        return 0
    print(f"problem (5): U = {sol.spec}, n = {sol.n}, method = {sol.method}")
    print(f"  objective     {sol.objective:.12g}")
    print(f"  kkt_residual  {sol.kkt_residual:.3g}")
    bound = "none: " + sol.bound.reason if sol.error_bound is None else f"{sol.error_bound:.3g}"
    print(f"  error_bound   {bound}   (max |r - r*|, proven; {sol.bound.sums} sums)")
    print(f"  iterations    {sol.iterations}   seconds {sol.total_seconds:.3f} (solve "
          f"{sol.seconds:.3f}, bound {sol.bound_seconds:.3f})   unique {sol.unique}")
    print(f"  status        {sol.status}")
    r = sol.rewards
    shown = range(sol.n) if sol.n <= 12 else [*range(5), None, *range(sol.n - 5, sol.n)]
    print("     i  reward")
    for i in shown:
        print("   ...") if i is None else print(f"  {i + 1:4d}  {r[i]:.15f}")
    return 0
