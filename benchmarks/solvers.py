"""Benchmark of the solvers of problem (5): newton against cvxpy and lbfgs, on this machine.

Problem (5) (Song et al. 2023): maximize sum_{i<j} U(r_i - r_j) s.t. 1 >= r_1 >= ... >= r_n >= 0.

For each utility (power:0.5 and log-sigmoid:1) and each method, n runs through
50, 100, 200, 500, 1000, 2000, 5000, 10000; a method stops after the first n whose run
took more than ``budget`` seconds (120 by default), or that failed for lack of memory,
or that was stopped at the hard limit (``hard_factor`` x budget). Each run is one
``solvers.solve`` call in a child process, after a warm-up solve at n = 4 (so that
imports, the sympy-derived forms of U and CVXPY's caches are not timed), timed by
``Solution.seconds`` and certified by the shared KKT residual. Computing (:func:`run_benchmark`), saving (:func:`save_results`) and plotting
(:func:`make_figure`, which reads only the saved data) are separate; :func:`main` chains
them. Results go to a new timestamped file, never over an existing one.

>>> rows = [{"utility": "u", "method": "newton", "n": 50, "seconds": 1.0, "ok": True},
...         {"utility": "u", "method": "cvxpy", "n": 50, "seconds": 300.0, "ok": True}]
>>> speedup(rows, "u", "cvxpy")
(50, 300.0)
"""

from __future__ import annotations

import datetime as _dt
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

__all__ = [
    "SIZES",
    "METHODS",
    "UTILITIES",
    "run_one",
    "run_benchmark",
    "speedup",
    "format_table",
    "save_results",
    "make_figure",
    "main",
]

SIZES = (50, 100, 200, 500, 1000, 2000, 5000, 10000)
METHODS = ("newton", "cvxpy", "lbfgs")
UTILITIES = ("power:0.5", "log-sigmoid:1")
#: A method stops after the first n whose run took longer than this (seconds).
BUDGET = 120.0
#: A run still going after hard_factor x budget seconds is stopped and counted as over budget.
HARD_FACTOR = 2.0
#: n at which newton is compared with lbfgs.
LBFGS_COMPARE_N = 2000


def _child(spec, n, method, conn):  # pragma: no cover - runs in a child process
    from rcollapse.solvers import ConvergenceError, solve

    def row(sol, converged):
        return {"ok": True, "converged": converged, "seconds": sol.seconds,
                "kkt_residual": sol.kkt_residual, "iterations": sol.iterations,
                "status": sol.status, "objective": sol.objective}

    try:
        from rcollapse.theory.utilities import parse_utility

        U = parse_utility(spec)
        solve(U, 4, method=method)  # warm-up: sympy-derived forms, imports, CVXPY caches
        conn.send(row(solve(U, n, method=method), True))
    except ConvergenceError as err:  # a baseline that stalls: its time and residual count
        if err.solution is None:
            conn.send({"ok": False, "error": f"ConvergenceError: {str(err).splitlines()[0]}"})
        else:
            conn.send(row(err.solution, False) | {"status": str(err).splitlines()[0]})
    except Exception as err:  # reported, never raised: the benchmark goes on
        conn.send({"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}",
                   "memory": type(err).__name__ == "SolverInputError"})
    finally:
        conn.close()


def run_one(spec: str, n: int, method: str, *, hard_limit: float) -> dict:
    """One ``solve(spec, n, method=method)`` in a child process, stopped after
    ``hard_limit`` seconds. Returns a row: utility, method, n, ok, seconds, kkt_residual,
    iterations, status (or error)."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(spec, n, method, send), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    send.close()
    row = {"utility": spec, "method": method, "n": n}
    if recv.poll(hard_limit):
        try:
            row.update(recv.recv())
        except EOFError:
            row.update({"ok": False, "error": f"child process died (exit {proc.exitcode})"})
    else:
        proc.kill()
        row.update({"ok": False, "seconds": time.perf_counter() - t0, "timed_out": True,
                    "error": f"stopped after {hard_limit:.0f} s"})
    proc.join(5)
    return row


def run_benchmark(*, sizes=SIZES, methods=METHODS, utilities=UTILITIES, budget: float = BUDGET,
                  max_n: int | None = None, hard_factor: float = HARD_FACTOR,
                  progress: bool = True) -> dict:
    """Run the grid (module docstring) and return the data: ``{"rows": [...], "machine":
    {...}, "settings": {...}}``. Nothing is written here."""
    from tqdm import tqdm

    sizes = [n for n in sizes if max_n is None or n <= max_n]
    started = _dt.datetime.now(_dt.timezone.utc)
    rows = []
    bar = tqdm(total=len(sizes) * len(methods) * len(utilities), disable=not progress,
               desc="bench solvers", unit="run", file=sys.stderr)
    for spec in utilities:
        for method in methods:
            for i, n in enumerate(sizes):
                bar.set_postfix_str(f"{spec} {method} n={n}")
                row = run_one(spec, n, method, hard_limit=hard_factor * budget)
                rows.append(row)
                bar.update(1)
                over = row.get("seconds", 0.0) > budget or row.get("timed_out") or row.get("memory")
                if over:
                    bar.update(len(sizes) - i - 1)
                    break
    bar.close()
    return {
        "rows": rows,
        "settings": {"sizes": list(sizes), "methods": list(methods), "utilities": list(utilities),
                     "budget_s": budget, "hard_limit_s": hard_factor * budget},
        "machine": {"started_utc": started.isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg()),
                    "platform": platform.platform(), "python": platform.python_version()},
    }


def _ok(rows, spec, method):
    return {r["n"]: r for r in rows if r["utility"] == spec and r["method"] == method and r["ok"]}


def speedup(rows, spec: str, other: str, *, n: int | None = None):
    """(n, t_other / t_newton) at ``n``, or at the largest n both finished; None if none."""
    mine, theirs = _ok(rows, spec, "newton"), _ok(rows, spec, other)
    common = sorted(set(mine) & set(theirs))
    if n is None:
        if not common:
            return None
        n = common[-1]
    elif n not in common:
        return None
    return n, theirs[n]["seconds"] / mine[n]["seconds"]


def _summary(data) -> list[str]:
    rows, budget = data["rows"], data["settings"]["budget_s"]
    lines = []
    for spec in data["settings"]["utilities"]:
        s = speedup(rows, spec, "cvxpy")
        if s:
            lines.append(f"{spec}: newton is {s[1]:.3g}x faster than cvxpy at n = {s[0]} "
                         f"(the largest n cvxpy finished)")
        else:
            lines.append(f"{spec}: no n where both newton and cvxpy finished")
        s = speedup(rows, spec, "lbfgs", n=LBFGS_COMPARE_N)
        if s:
            kn = _ok(rows, spec, "newton")[s[0]]["kkt_residual"]
            kl = _ok(rows, spec, "lbfgs")[s[0]]["kkt_residual"]
            ratio = "inf (newton's is 0)" if kn == 0 else f"{kl / kn:.3g}"
            lines.append(f"{spec}: newton is {s[1]:.3g}x faster than lbfgs at n = {s[0]}; "
                         f"KKT residual {kn:.2g} vs {kl:.2g} (lbfgs/newton = {ratio})")
        else:
            lines.append(f"{spec}: lbfgs or newton did not finish n = {LBFGS_COMPARE_N}")
            last = speedup(rows, spec, "lbfgs")
            if last:
                kn = _ok(rows, spec, "newton")[last[0]]["kkt_residual"]
                kl = _ok(rows, spec, "lbfgs")[last[0]]["kkt_residual"]
                lines.append(f"{spec}: at n = {last[0]}, the largest n lbfgs finished, newton is "
                             f"{last[1]:.3g}x faster; KKT residual {kn:.2g} vs {kl:.2g}")
            mine = _ok(rows, spec, "newton").get(LBFGS_COMPARE_N)
            over = [r for r in rows if r["utility"] == spec and r["method"] == "lbfgs"
                    and r["n"] < LBFGS_COMPARE_N and (r.get("timed_out") or r.get("seconds", 0) > budget)]
            if mine and over:
                lines.append(f"{spec}: lbfgs passed the {budget:g} s budget at n = {over[0]['n']}, so "
                             f"at n = {LBFGS_COMPARE_N} (slower still) newton is more than "
                             f"{budget / mine['seconds']:.3g}x faster")
    return lines


def format_table(data) -> str:
    """The table: per utility, one line per n, seconds and KKT residual per method; then
    the ratios newton/cvxpy and newton/lbfgs."""
    rows, methods = data["rows"], data["settings"]["methods"]
    out = []
    for spec in data["settings"]["utilities"]:
        out.append(f"\n{spec}")
        out.append(f"{'n':>6}  " + "  ".join(f"{m + ' s':>10} {'kkt':>8}" for m in methods))
        for n in data["settings"]["sizes"]:
            cells = []
            for m in methods:
                r = next((r for r in rows if r["utility"] == spec and r["method"] == m
                          and r["n"] == n), None)
                if r is None:
                    cells.append(f"{'-':>10} {'-':>8}")
                elif r["ok"]:
                    cells.append(f"{r['seconds']:>10.3g} {r['kkt_residual']:>8.1e}")
                else:
                    why = "timeout" if r.get("timed_out") else ("memory" if r.get("memory") else "failed")
                    cells.append(f"{why:>10} {'':>8}")
            out.append(f"{n:>6}  " + "  ".join(cells))
    out.append("")
    out.extend(_summary(data))
    return "\n".join(out)


def save_results(data, out_dir, *, force: bool = False, stamp: str | None = None) -> Path:
    """Write ``data`` to ``out_dir/solvers-<stamp>.json``, stamp = the UTC time by default.
    An existing file of that name is never replaced unless ``force``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp or _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"solvers-{stamp}.json"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; not overwriting it (use --force)")
    path.write_text(json.dumps(data, indent=1))
    return path


def make_figure(data):
    """Log-log plot of seconds against n, one panel per utility, one line per method.
    Reads only ``data`` (as saved); returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    utilities = data["settings"]["utilities"]
    fig, axes = plt.subplots(1, len(utilities), figsize=(5.5 * len(utilities), 4.2), squeeze=False)
    for ax, spec in zip(axes[0], utilities):
        for m in data["settings"]["methods"]:
            ok = sorted(_ok(data["rows"], spec, m).items())
            if ok:
                ax.loglog([n for n, _ in ok], [r["seconds"] for _, r in ok], "o-", label=m)
        ax.axhline(data["settings"]["budget_s"], color="gray", lw=0.8, ls="--", label="budget")
        ax.set_xlabel("n (completions)")
        ax.set_ylabel("seconds")
        ax.set_title(f"problem (5), U = {spec}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def main(*, out_dir="out/bench", max_n: int | None = None, budget: float = BUDGET,
         force: bool = False, progress: bool = True, sizes=SIZES, methods=METHODS,
         utilities=UTILITIES) -> Path:
    """Run, save the JSON, then plot it to a PNG beside it; print the table. Returns the
    JSON path."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} exists and is not a directory")
    data = run_benchmark(sizes=sizes, methods=methods, utilities=utilities, budget=budget,
                         max_n=max_n, progress=progress)
    path = save_results(data, out_dir, force=force)
    fig = make_figure(json.loads(path.read_text()))
    png = path.with_suffix(".png")
    if png.exists() and not force:
        raise FileExistsError(f"{png} exists; not overwriting it (use --force)")
    fig.savefig(png, dpi=120)
    print(format_table(data))
    print(f"\nsaved {path} and {png}")
    return path


if __name__ == "__main__":  # pragma: no cover
    main()
