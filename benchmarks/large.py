"""Benchmark of problem (5) at large n: the fast method (matrix-free Newton-CG on fast
sums, :mod:`solvers.newton_cg`) against the dense Newton method, n = 10^3 .. 10^6.

Problem (5) (Song et al. 2023): maximize sum_{i<j} U(r_i - r_j) s.t. 1 >= r_1 >= ... >= r_n >= 0.

For each utility and method, n runs through ``sizes``; a method stops after the first n
whose run took more than ``budget`` seconds or failed, and the dense method is not run
above ``dense_max`` (its Hessian is an (n/2)^2 matrix: 10^4 needs 0.6 GB, 10^5 would
need 60 GB). Each run is a child process (so its peak memory is its own), timed from the
call of the solver to its certified answer (wall and CPU seconds: on a shared machine the
wall time includes waiting for a core); imports and the sympy-derived forms of U are
made before the clock starts. A row records seconds, KKT residual, Newton steps (over
every level), the seconds of the error bound of the answer (:func:`solvers.bound.error_bound`,
by fast sums for the fast method, timed after the solve's clock stops), the CG
iterations of each Newton step on the last level, the fast certificate's measured
summation error and its bound on the residual, the child's peak resident memory, and for
U = log the largest distance to the exact optimum, the Gauss-Lobatto nodes (Stieltjes),
computed by :func:`gauss_lobatto_rewards_marching`, an O(n) method independent of the
solver. Computing (:func:`run_large`), fitting (:func:`fitted_slope`) and plotting
(:func:`make_figure`, from the saved rows only) are separate.

    python -m rcollapse.benchmarks.large --out out/bench-large
    python -m rcollapse.benchmarks.large --utilities log --sizes 1000 10000 100000
    python -m rcollapse.benchmarks.large --merge A.json B.json --out out/bench-large

>>> rows = [{"utility": "u", "method": "fast", "n": 10**4, "seconds": 1.0, "ok": True},
...         {"utility": "u", "method": "fast", "n": 10**5, "seconds": 10.0, "ok": True}]
>>> round(fitted_slope(rows, "u", "fast"), 6)   # no cpu_seconds: wall seconds
1.0
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import time

import numpy as np

__all__ = ["SIZES", "UTILITIES", "METHODS", "run_large", "run_one", "fitted_slope", "merge_saved",
           "markdown_table",
           "gauss_lobatto_rewards_marching", "make_figure", "format_table", "main"]

SIZES = (1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)
UTILITIES = ("power:0.5", "log", "neg-power:0.5", "log-sigmoid:1")
METHODS = ("fast", "dense")
#: The dense Newton method is not run above this n (memory: an (n/2)^2 Hessian).
DENSE_MAX = 10_000
#: A method stops after the first n whose run took longer than this (seconds).
BUDGET = 900.0
#: A child still running after this many seconds is stopped.
HARD_LIMIT = 1800.0


# --------------------------------------------------------------------------------------
# An independent O(n) reference for U = log: the Gauss-Lobatto nodes
# --------------------------------------------------------------------------------------
def _newton_on_recurrence(N: int, theta) -> np.ndarray:
    """Zeros of u = P'_N near x = cos(theta) by Newton's method, P_N and P_{N-1} from the
    three-term recurrence (O(N) per sweep): u = N (P_{N-1} - x P_N) / (1 - x^2),
    u' = (2 x u - N (N + 1) P_N) / (1 - x^2)."""
    x = np.cos(np.asarray(theta, dtype=float))
    for _ in range(100):
        p0, p1 = np.ones_like(x), x.copy()
        for k in range(2, N + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        u = N * (p0 - x * p1) / (1.0 - x * x)
        du = (2.0 * x * u - N * (N + 1) * p1) / (1.0 - x * x)
        step = u / du
        x = x - step
        if np.max(np.abs(step), initial=0.0) <= 4 * np.finfo(float).eps:
            break
    return x


def gauss_lobatto_rewards_marching(n: int, *, edge: int = 20, terms: int = 30) -> np.ndarray:
    """The exact optimum of problem (5) for U = log (Stieltjes): r_i = (1 + t_i) / 2, t the
    n Gauss-Lobatto-Legendre nodes (+-1 and the zeros of P'_N, N = n - 1), best first,
    in O(n) work: an independent check of the solvers at n = 10^5 and beyond.

    Method (in the spirit of Glaser, Liu and Rokhlin 2007 and of Hale and Townsend 2013):
    u = P'_N solves (1 - x^2) u'' - 4 x u' + (N (N + 1) - 2) u = 0, so its Taylor
    coefficients a_k at any point x0 follow from two of them,

        a_{k+2} = (2 x0 a_{k+1} + (1 - N (N + 1) / ((k + 1)(k + 2))) a_k) / (1 - x0^2).

    Starting at x = 0 (u even or odd, so (u, u') = (1, 0) or (0, 1) up to a constant,
    which does not move the zeros), the positive zeros are found one after the other by
    Newton's method on the ``terms``-term Taylor series about the previous zero, from the
    asymptotic guess x_k = cos((k + 1/4) pi / (N + 1/2)); the ``edge`` zeros nearest 1,
    where the series' radius 1 - x0 is too short for a step, are refined instead by
    Newton's method on the three-term recurrence (O(n) each). The rest follows by the
    symmetry t -> -t.

    >>> [round(float(v), 12) for v in gauss_lobatto_rewards_marching(4)]
    [1.0, 0.72360679775, 0.27639320225, 0.0]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n = {n!r} is not valid; valid: an integer n >= 2")
    N = int(n) - 1
    lam = N * (N + 1)
    K = (N - 1) // 2  # positive zeros of P'_N
    theta = (np.arange(1, K + 1) + 0.25) * np.pi / (N + 0.5)
    xs = np.empty(K)
    e = min(edge, K)
    if e:
        xs[:e] = _newton_on_recurrence(N, theta[:e])
    x0, a0, a1 = (0.0, 0.0, 1.0) if N % 2 == 0 else (0.0, 1.0, 0.0)
    marched = []
    for guess in np.cos(theta[e:][::-1]):  # ascending, from the middle out
        c = [a0, a1]
        s = 1.0 - x0 * x0
        for k in range(terms - 2):
            c.append((2.0 * x0 * c[k + 1] + (1.0 - lam / ((k + 1) * (k + 2))) * c[k]) / s)
        h = guess - x0
        for _ in range(50):
            p = dp = 0.0
            for ck in reversed(c):
                dp = dp * h + p
                p = p * h + ck
            dh = p / dp
            h -= dh
            if abs(dh) <= 1e-17 * (abs(x0) + abs(h)):
                break
        p = dp = 0.0
        for ck in reversed(c):
            dp = dp * h + p
            p = p * h + ck
        x0, a0, a1 = x0 + h, 0.0, dp
        marched.append(x0)
    if marched:
        xs[e:] = np.array(marched)[::-1]
    t = np.concatenate(([1.0], xs, [0.0] if N % 2 == 0 else [], -xs[::-1], [-1.0]))
    return (1.0 + t) / 2.0


# --------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------
def _peak_rss_bytes() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _child(spec, n, method, conn):  # pragma: no cover - runs in a child process
    try:
        from rcollapse.solvers import solve
        from rcollapse.solvers.bound import error_bound
        from rcollapse.solvers.newton_cg import solve_newton_cg
        from rcollapse.theory.utilities import parse_utility

        U = parse_utility(spec)
        warm = solve(U, 8)  # warm-up: the sympy-derived forms (the bound's too), imports
        error_bound(U, warm.rewards, complement=warm.complement)
        row = {"ok": True, "rss_before": _peak_rss_bytes()}
        t0, c0 = time.perf_counter(), time.process_time()
        if method == "fast":
            out = solve_newton_cg(U, n)
            row.update({"seconds": time.perf_counter() - t0, "kkt_residual": out.kkt_residual,
                        "iterations": out.total_iterations, "last_level_iterations": out.iterations,
                        "total_iterations": out.total_iterations,
                        "levels": list(out.levels), "cg_iterations": list(out.cg_iterations),
                        "summation_error": out.summation_error,
                        "kkt_error_bound": out.kkt_error_bound, "spot_rows": out.spot_rows,
                        "parts": {k: float(v) for k, v in out.seconds.items()}})
            complement = out.complement
        else:
            sol = solve(U, n, method="newton")
            row.update({"seconds": time.perf_counter() - t0, "kkt_residual": sol.kkt_residual,
                        "iterations": sol.iterations})
            complement = sol.complement
        row["cpu_seconds"] = time.process_time() - c0  # the machine is shared: wall time
        t0, c0 = time.perf_counter(), time.process_time()  # includes waiting for a core
        # the error bound of the answer: fast sums for the fast method (step 7 of
        # solvers.bound), dense sums for the dense one
        rewards = out.rewards if method == "fast" else sol.rewards
        eb = error_bound(U, rewards, complement=complement, sums="fast" if method == "fast" else "dense")
        row.update({"bound_seconds": time.perf_counter() - t0, "bound_cpu_seconds": time.process_time() - c0,
                    "error_bound": eb.value, "bound_sums": eb.sums,
                    "bound_summation_error": eb.summation_error})
        row["peak_rss"] = _peak_rss_bytes()
        if U == parse_utility("log"):  # the one U whose optimum theory.exact gives (Gauss-Lobatto)
            t0 = time.perf_counter()
            exact = gauss_lobatto_rewards_marching(n)
            row["gauss_lobatto_seconds"] = time.perf_counter() - t0
            # compare on the top half by 1 - r (both carry it without cancellation there)
            m = n // 2
            row["gauss_lobatto_max_diff"] = float(max(np.max(np.abs(complement[:m] - (1.0 - exact[:m]))),
                                                      np.max(np.abs(complement[m:] - (1.0 - exact[m:])))))
        conn.send(row)
    except Exception as err:  # reported, never raised: the benchmark goes on
        conn.send({"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"})
    finally:
        conn.close()


def run_one(spec: str, n: int, method: str, *, hard_limit: float = HARD_LIMIT) -> dict:
    """One run in a child process (``method`` "fast" or "dense"), stopped after
    ``hard_limit`` seconds. Returns its row (module docstring)."""
    from rcollapse.benchmarks.solvers import run_in_child

    return run_in_child(_child, (spec, n, method), {"utility": spec, "method": method, "n": n},
                        hard_limit=hard_limit)


def run_large(specs=UTILITIES, sizes=SIZES, *, out, methods=METHODS, dense_max: int = DENSE_MAX,
              budget: float = BUDGET, hard_limit: float = HARD_LIMIT, progress: bool = True) -> dict:
    """Run the grid (module docstring), save ``large-<UTC stamp>.json`` and ``.png`` in the
    folder ``out`` (checked before any run), and return the data:
    ``{"rows": [...], "slopes": {...}, "machine": {...}, "json": path, "png": path}``."""
    from rcollapse.outputs import check_output_dir, to_jsonable, write_json

    from rcollapse.benchmarks.provenance import provenance

    out_dir = check_output_dir(out, flag="--out")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"methods {bad} unknown; valid: {', '.join(METHODS)}")
    sizes = sorted(int(n) for n in sizes)
    if not sizes or sizes[0] < 2:
        raise ValueError(f"sizes {sizes}; valid: integers n >= 2")
    measured = provenance()  # the code as it is when the measurement starts
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(specs) * len(methods) * len(sizes), desc="bench large", unit="run")
    rows = []
    for spec in specs:
        for method in methods:
            stopped = False
            for n in sizes:
                if bar is not None:
                    bar.set_postfix_str(f"{spec} {method} n={n}")
                if stopped or (method == "dense" and n > dense_max):
                    if bar is not None:
                        bar.update(1)
                    continue
                row = run_one(spec, n, method, hard_limit=hard_limit)
                rows.append(row)
                line = (f"{spec} {method} n={n}: " + (f"{row['seconds']:.1f} s, KKT {row['kkt_residual']:.1e}"
                        if row.get("ok") else f"failed: {row.get('error')}"))
                if bar is not None:
                    bar.update(1)
                    bar.write(line)
                else:
                    print(line, file=sys.stderr, flush=True)
                if not row.get("ok") or (row.get("seconds") or 0.0) > budget:
                    stopped = True
    if bar is not None:
        bar.close()
    data = {
        "rows": rows,
        "slopes": {spec: {m: fitted_slope(rows, spec, m) for m in methods} for spec in specs},
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                    "cpus": os.cpu_count(), "threads": os.environ.get("OMP_NUM_THREADS"),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "dense_max": dense_max, "budget": budget, "provenance": measured,
    }
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = out_dir / f"large-{stamp}.json"
    png_path = out_dir / f"large-{stamp}.png"
    write_json(json_path, to_jsonable(data))
    fig = make_figure(data)
    fig.savefig(png_path, dpi=120)
    data["json"], data["png"] = str(json_path), str(png_path)
    return data


def _timed(rows, spec: str, method: str):
    """(n, time) of the successful runs of one utility and method, sorted by n. The time
    is CPU seconds when every such run recorded it (one thread: the wall time of an idle
    machine), else wall seconds: one kind of time per line, never a mix."""
    sel = [r for r in rows if r.get("utility") == spec and r.get("method") == method and r.get("ok")]
    key = "cpu_seconds" if sel and all(r.get("cpu_seconds") for r in sel) else "seconds"
    return sorted((r["n"], r[key]) for r in sel if r.get(key))


def fitted_slope(rows, spec: str, method: str, *, n_min: int = 10_000) -> float | None:
    """Least-squares slope of log(time) against log(n) over the successful runs with
    n >= n_min (all of them when fewer than two qualify); None with fewer than two runs.
    The time is CPU seconds where every run recorded it, else wall seconds."""
    pts = _timed(rows, spec, method)
    big = [p for p in pts if p[0] >= n_min]
    pts = big if len(big) >= 2 else pts
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def make_figure(data):
    """Seconds against n on log-log axes, one panel per utility, fast and dense, with the
    fitted slopes in the legend (reads only the saved rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    specs = list(dict.fromkeys(r["utility"] for r in rows)) or ["(none)"]
    fig, axes = plt.subplots(1, len(specs), figsize=(4.2 * len(specs), 3.8), squeeze=False)
    for ax, spec in zip(axes[0], specs):
        for method, style in (("fast", "o-"), ("dense", "s--")):
            pts = _timed(rows, spec, method)
            if not pts:
                continue
            slope = fitted_slope(rows, spec, method)
            label = method + (f" (slope {slope:.2f})" if slope is not None else "")
            ax.loglog(*zip(*pts), style, label=label)
        ax.set_title(spec)
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("seconds (CPU, 1 thread, where recorded)")
    fig.suptitle("Problem (5): fast sums + Newton-CG vs dense Newton", fontsize=10)
    fig.tight_layout()
    return fig


def format_table(data) -> str:
    """One line per run: utility, method, n, seconds, the error bound's seconds, KKT
    residual, CG iterations, summation error, peak memory, and the distance to
    Gauss-Lobatto for log."""
    lines = [f"{'utility':<14} {'method':<6} {'n':>8} {'wall s':>9} {'cpu s':>9} {'bound s':>8} {'kkt':>9} "
             f"{'cg':>12} {'sum.err':>8} {'MB':>6} {'|r-GLL|':>8}"]
    for r in data["rows"]:
        if not r.get("ok"):
            lines.append(f"{r['utility']:<14} {r['method']:<6} {r['n']:>8} failed: {r.get('error')}")
            continue
        cg = ",".join(map(str, r.get("cg_iterations", []))) or "-"
        se = f"{r['summation_error']:.1e}" if r.get("summation_error") is not None else "-"
        gll = f"{r['gauss_lobatto_max_diff']:.1e}" if "gauss_lobatto_max_diff" in r else "-"
        mb = r.get("peak_rss", 0) / 2**20
        cpu = f"{r['cpu_seconds']:.2f}" if r.get("cpu_seconds") is not None else "-"
        bound = f"{r['bound_seconds']:.2f}" if r.get("bound_seconds") is not None else "-"
        lines.append(f"{r['utility']:<14} {r['method']:<6} {r['n']:>8} {r['seconds']:>9.2f} {cpu:>9} "
                     f"{bound:>8} {r['kkt_residual']:>9.1e} {cg:>12} {se:>8} {mb:>6.0f} {gll:>8}")
    for spec, by in data.get("slopes", {}).items():
        lines.append(f"slope {spec}: " + ", ".join(f"{m} {s:.2f}" if s is not None else f"{m} -"
                                                   for m, s in by.items()))
    return "\n".join(lines)


def markdown_table(data) -> str:
    """The README's table: one row per n, one column per utility, each cell the wall and
    CPU seconds of the fast method, the wall seconds of its error bound (where recorded)
    and its CG iterations per Newton step on the last level; then the fitted slopes, the
    worst certificate, the largest bound and its largest cost against the solve's and, for
    U = log, the largest distance to the Gauss-Lobatto nodes."""
    rows = [r for r in data["rows"] if r["method"] == "fast"]
    specs = list(dict.fromkeys(r["utility"] for r in rows))
    sizes = sorted({r["n"] for r in rows})
    out = ["| n | " + " | ".join(specs) + " |", "|---" * (1 + len(specs)) + "|"]
    for n in sizes:
        cells = []
        for spec in specs:
            hit = [r for r in rows if r["utility"] == spec and r["n"] == n]
            if not hit:
                cells.append("-")
            elif not hit[0].get("ok"):
                cells.append("failed")
            else:
                r = hit[0]
                cpu = f" ({r['cpu_seconds']:.3g} CPU)" if r.get("cpu_seconds") is not None else ""
                cg = ", ".join(map(str, r.get("cg_iterations") or [])) or "-"
                bound = (f" + bound {r['bound_seconds']:.3g} s" if r.get("bound_seconds") is not None
                         else "")
                cells.append(f"{r['seconds']:.3g} s{cpu}{bound}; CG {cg}")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    ok = [r for r in rows if r.get("ok")]
    every = data["rows"]

    def slope(spec, method):
        value = fitted_slope(every, spec, method)
        return "-" if value is None else f"{value:.2f}"

    lines = ["", "- fitted slope of seconds (CPU where recorded) against n, fast (dense Newton): "
             + ", ".join(f"{spec} {slope(spec, 'fast')} ({slope(spec, 'dense')})" for spec in specs)]
    if ok:
        lines.append(f"- every run certified: KKT residual <= {max(r['kkt_residual'] for r in ok):.1g}, "
                     f"summation error <= {max(r.get('summation_error') or 0.0 for r in ok):.1g} of the "
                     f"force scale; peak memory {max(r.get('peak_rss', 0) for r in ok) / 2**30:.2g} GiB")
    bounded = [r for r in ok if r.get("bound_seconds") is not None]
    if bounded:
        worst = max(bounded, key=lambda r: r["bound_seconds"] / max(r["seconds"], 1e-300))
        values = [r["error_bound"] for r in bounded if r.get("error_bound") is not None]
        largest = f"at most {max(values):.1g}" if len(values) == len(bounded) else "none for some runs"
        lines.append(f"- error bound by fast sums (`Solution.error_bound`, the proven max |r - r*|): "
                     f"{largest}; its seconds at most {worst['bound_seconds'] / worst['seconds']:.2g} "
                     f"times the solve's ({worst['utility']}, n = {worst['n']})")
    gll = [(r["n"], r["gauss_lobatto_max_diff"]) for r in ok if "gauss_lobatto_max_diff" in r]
    if gll:
        lines.append("- U = log against the Gauss-Lobatto nodes (an independent O(n) method): max |r - r*| "
                     + ", ".join(f"{d:.1e} at n = {n}" for n, d in gll))
    return "\n".join(out + lines)


def merge_saved(paths, *, out) -> dict:
    """Join the rows of saved results (JSON files written by :func:`run_large`, e.g. one
    run up to 10^5 and one at 10^6), refit the slopes, and save the merged JSON and its
    figure as ``large-merged-<stamp>`` in ``out``. Plots only saved data."""
    import json

    from rcollapse.outputs import check_output_dir, to_jsonable, write_json

    out_dir = check_output_dir(out, flag="--out")
    rows = []
    for path in paths:
        with open(path) as fh:
            rows.extend(json.load(fh)["rows"])
    specs = list(dict.fromkeys(r["utility"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    data = {"rows": rows, "sources": [str(p) for p in paths],
            "slopes": {spec: {m: fitted_slope(rows, spec, m) for m in methods} for spec in specs}}
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path, png_path = out_dir / f"large-merged-{stamp}.json", out_dir / f"large-merged-{stamp}.png"
    write_json(json_path, to_jsonable(data))
    make_figure(data).savefig(png_path, dpi=120)
    data["json"], data["png"] = str(json_path), str(png_path)
    return data


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m rcollapse.benchmarks.large", description=__doc__.split("\n\n")[0])
    ap.add_argument("--utilities", nargs="+", default=list(UTILITIES), metavar="SPEC")
    ap.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), metavar="N")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--out", default="out/bench-large", metavar="DIR")
    ap.add_argument("--dense-max", type=int, default=DENSE_MAX, metavar="N")
    ap.add_argument("--budget", type=float, default=BUDGET, metavar="S")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                    help="run nothing: join these saved results, refit, plot")
    args = ap.parse_args(argv)
    try:
        if args.merge:
            data = merge_saved(args.merge, out=args.out)
            print(format_table(data))
            print(f"wrote {data['json']} and {data['png']}")
            return 0
        data = run_large(args.utilities, args.sizes, out=args.out, methods=args.methods,
                         dense_max=args.dense_max, budget=args.budget, progress=not args.no_progress)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(data))
    print(f"wrote {data['json']} and {data['png']}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
