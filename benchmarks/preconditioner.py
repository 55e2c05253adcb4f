"""CG iterations of the fast method's preconditioner against n, for each coarse basis.

Problem (5) (Song et al. 2023): maximize sum_{i<j} U(r_i - r_j) s.t. 1 >= r_1 >= ... >= r_n >= 0.

For each utility and n, the optimum is computed once (``solve(spec, n, method="fast")``);
at it, the Newton system of :mod:`solvers.newton_cg` (B, the Hessian of phi on the free
variables) is solved by preconditioned CG from a fixed random right-hand side to a
relative residual of ``rtol``, once with each coarse basis of
:class:`solvers.newton_cg.TwoLevelPreconditioner` ("hat": piecewise linear; "constant":
aggregates). A preconditioner whose iteration count stays flat in n is the point; the
rows also record the seconds to build it and to run CG (one run; on a shared machine
compare only rows of one run).

    python -m rcollapse.benchmarks.preconditioner --out out/bench-preconditioner
    python -m rcollapse.benchmarks.preconditioner --utilities neg-power:2 --sizes 10000 100000

>>> rows = run_preconditioner(["log"], [200], bases=("hat",), progress=False)
>>> rows[0]["basis"], rows[0]["iterations"] < 50, rows[0]["relative_residual"] <= 1e-10
('hat', True, True)
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

__all__ = ["UTILITIES", "SIZES", "BASES", "run_preconditioner", "format_table", "main"]

UTILITIES = ("power:0.5", "log", "neg-power:0.5", "neg-power:2", "log-sigmoid:1")
SIZES = (10_000, 100_000, 300_000)
BASES = ("hat", "constant")
RTOL = 1e-10


def run_preconditioner(utilities=UTILITIES, sizes=SIZES, *, bases=BASES, rtol: float = RTOL,
                       seed: int = 0, progress: bool = True) -> list[dict]:
    """One row per (utility, n, basis): CG iterations to ``rtol`` at the optimum."""
    from rcollapse.solvers import solve
    from rcollapse.solvers import newton_cg as ncg
    from rcollapse.theory.utilities import parse_utility

    jobs = [(u, int(n)) for u in utilities for n in sizes]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="preconditioner", unit="solve")
    rows = []
    for spec, n in jobs:
        U = parse_utility(spec)
        sol = solve(U, n, method="fast" if n > 1000 else "newton")
        half = ncg.FastHalf(U, n)
        y = np.asarray(sol.complement[: n // 2], dtype=float)
        points = half.tree(y)
        KW, D = half.weights(points)
        # the free variables of the Newton step at the optimum (solvers.newton_cg._fast_level)
        if U.dU0 is not None:
            free = np.flatnonzero((y > 0.0) & (y < 0.5))
        else:
            free = np.arange(1, half.m)
        rhs = np.random.default_rng(seed).standard_normal(free.size)

        def matvec(v, free=free, KW=KW, D=D, m=half.m):
            full = np.zeros(m)
            full[free] = v
            return ncg.FastHalf.hessian_product(KW, D, full)[free]

        for basis in bases:
            t0 = time.perf_counter()
            M = ncg.TwoLevelPreconditioner(half, points, KW, D, free, basis=basis)
            t1 = time.perf_counter()
            _, its, res = ncg.pcg(matvec, rhs, M, rtol=rtol, max_iter=2000)
            t2 = time.perf_counter()
            rows.append({"utility": spec, "n": n, "basis": basis, "used_basis": M.basis,
                         "free": int(free.size), "coarse": M.nc, "level": M.level,
                         "bandwidth": M.bw, "iterations": int(its),
                         "relative_residual": float(res), "build_seconds": t1 - t0,
                         "cg_seconds": t2 - t1})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return rows


def format_table(rows) -> str:
    """Markdown: CG iterations, one row per utility, columns n x basis."""
    sizes = sorted({r["n"] for r in rows})
    bases = [b for b in BASES if any(r["basis"] == b for r in rows)]
    head = "| utility | " + " | ".join(f"n = {n}, {b}" for n in sizes for b in bases) + " |"
    out = [head, "|---" * (1 + len(sizes) * len(bases)) + "|"]
    for u in dict.fromkeys(r["utility"] for r in rows):
        cells = []
        for n in sizes:
            for b in bases:
                hit = [r for r in rows if r["utility"] == u and r["n"] == n and r["basis"] == b]
                cells.append(str(hit[0]["iterations"]) if hit else "-")
        out.append(f"| {u} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    from rcollapse.benchmarks.provenance import provenance
    from rcollapse.outputs import check_output_dir, write_json

    parser = argparse.ArgumentParser(prog="python -m rcollapse.benchmarks.preconditioner",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--utilities", nargs="+", default=list(UTILITIES), metavar="SPEC")
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), metavar="N")
    parser.add_argument("--bases", nargs="+", choices=BASES, default=list(BASES))
    parser.add_argument("--out", default="out/bench-preconditioner", metavar="DIR")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--readme", action="store_true",
                        help="record as benchmarks/results/preconditioner.json and rewrite the README's part")
    args = parser.parse_args(argv)
    bad = [n for n in args.sizes if n < 4]
    if bad:
        print(f"error: --sizes {bad[0]}: valid: integers >= 4", file=sys.stderr)
        return 2
    try:
        from rcollapse.theory.utilities import parse_utility

        for spec in args.utilities:
            if parse_utility(spec).is_linear:
                raise ValueError(f"--utilities {spec}: the fast method does not take linear U; "
                                 f"valid: a strictly concave utility")
        out = check_output_dir(args.out)
        root = None
        if args.readme:
            from rcollapse.benchmarks.readme import check_record_paths

            root = check_record_paths("preconditioner")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    measured = provenance()  # the code as it is when the measurement starts
    rows = run_preconditioner(args.utilities, args.sizes, bases=tuple(args.bases),
                              progress=not args.no_progress)
    command = "python -m rcollapse.benchmarks.preconditioner " + " ".join(
        ["--utilities", *args.utilities, "--sizes", *map(str, args.sizes), "--bases", *args.bases]
        + (["--readme"] if args.readme else []))
    data = {"rows": rows, "rtol": RTOL, "provenance": measured, "command": command}
    write_json(out / "preconditioner.json", data)
    print(format_table(rows))
    print(f"saved: {out / 'preconditioner.json'}")
    if root is not None:
        from rcollapse.benchmarks.readme import record

        record("preconditioner", data, "bench-preconditioner", root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
