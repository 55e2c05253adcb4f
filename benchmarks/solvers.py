"""Benchmark of the solvers of problem (5): newton against cvxpy and lbfgs, on this machine.

Problem (5) (Song et al. 2023): maximize sum_{i<j} U(r_i - r_j) s.t. 1 >= r_1 >= ... >= r_n >= 0.

For each utility (power:0.5 and log-sigmoid:1) and each method, asked for the same
certificate (``tol``, 1e-6 by default: KKT residual at most tol, or ConvergenceError), n runs through
50, 100, 200, 500, 1000, 2000, 5000, 10000; a method stops after the first n whose run
took more than ``budget`` seconds (120 by default), or that failed for lack of memory,
or that was stopped at the hard limit (``hard_factor`` x budget). Each run is one
``solvers.solve`` call in a child process, after a warm-up solve at n = 4 (so that
imports, the sympy-derived forms of U and CVXPY's caches are not timed), timed by
``Solution.seconds`` and certified by the KKT residual recomputed on the returned vector
(:func:`rcollapse.solvers.kkt.recomputed_certificate`). A run that ``solve`` refuses
(ConvergenceError) counts as not finished. Computing (:func:`run_benchmark`), saving
(:func:`save_results`) and plotting (:func:`make_figure`, which reads only the saved
data) are separate; :func:`main` chains them. Results go to a new timestamped file,
never over an existing one; ``rcollapse bench solvers --readme`` also records them as
``benchmarks/results/solvers.json``, the source of the README's table
(:func:`markdown_table`, :func:`summary_lines`: true for the sizes that ran).

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
    "markdown_table",
    "summary_lines",
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
#: Every method is asked for the same certificate, KKT residual <= TOL (solve's ``tol``):
#: L-BFGS-B rarely reaches solve's default 1e-9 (3.4e-7 for power:0.5 at n = 50).
TOL = 1e-6


def _child(spec, n, method, conn, tol=None):  # pragma: no cover - runs in a child process
    from rcollapse.solvers import ConvergenceError, solve

    from rcollapse.solvers.kkt import recomputed_certificate

    def row(sol, converged):
        return {"ok": True, "converged": converged, "seconds": sol.seconds,
                "kkt_residual": sol.kkt_residual, "kkt_recomputed": recomputed_certificate(sol),
                "iterations": sol.iterations, "status": sol.status, "objective": sol.objective}

    t0 = None
    try:
        from rcollapse.theory.utilities import parse_utility

        U = parse_utility(spec)
        options = {} if tol is None else {"tol": tol}
        solve(U, 4, method=method, **options)  # warm-up: sympy-derived forms, imports, CVXPY caches
        t0 = time.perf_counter()
        conn.send(row(solve(U, n, method=method, **options), True))
    except ConvergenceError as err:  # refused: its time and residual are kept, not finished
        if err.solution is None:
            conn.send({"ok": False, "refused": True, "error": f"ConvergenceError: {str(err).splitlines()[0]}",
                       "seconds": None if t0 is None else time.perf_counter() - t0})
        else:
            conn.send(row(err.solution, False) | {"status": str(err).splitlines()[0]})
    except Exception as err:  # reported, never raised: the benchmark goes on
        conn.send({"ok": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}",
                   "memory": type(err).__name__ == "SolverInputError",
                   "seconds": None if t0 is None else time.perf_counter() - t0})
    finally:
        conn.close()


def run_one(spec: str, n: int, method: str, *, hard_limit: float, tol: float | None = None) -> dict:
    """One ``solve(spec, n, method=method, tol=tol)`` in a child process (``tol`` None:
    solve's default), stopped after ``hard_limit`` seconds. Returns a row: utility,
    method, n, ok, seconds, kkt_residual, kkt_recomputed, iterations, status (or error)."""
    return run_in_child(_child, (spec, n, method), {"utility": spec, "method": method, "n": n},
                        hard_limit=hard_limit, extra=(tol,))


def run_in_child(target, args: tuple, row: dict, *, hard_limit: float, extra: tuple = ()) -> dict:
    """Run ``target(*args, conn, *extra)`` in a child process, which sends one dict of
    results through ``conn``; return ``row`` updated with it, or with the reason it has
    none (the child died, or was stopped after ``hard_limit`` seconds). A run on its own
    process: its memory is returned, and one that hangs is killed."""
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, send, *extra), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    send.close()
    row = dict(row)
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
                  max_n: int | None = None, hard_factor: float = HARD_FACTOR, tol: float = TOL,
                  progress: bool = True) -> dict:
    """Run the grid (module docstring) and return the data: ``{"rows": [...], "machine":
    {...}, "settings": {...}}``. Nothing is written here."""
    from tqdm import tqdm

    from rcollapse.benchmarks.provenance import provenance

    sizes = [n for n in sizes if max_n is None or n <= max_n]
    measured = provenance()  # the code as it is when the measurement starts
    started = _dt.datetime.now(_dt.timezone.utc)
    rows = []
    bar = tqdm(total=len(sizes) * len(methods) * len(utilities), disable=not progress,
               desc="bench solvers", unit="run", file=sys.stderr)
    for spec in utilities:
        for method in methods:
            for i, n in enumerate(sizes):
                bar.set_postfix_str(f"{spec} {method} n={n}")
                row = run_one(spec, n, method, hard_limit=hard_factor * budget, tol=tol)
                rows.append(row)
                bar.update(1)
                over = (row.get("seconds") or 0.0) > budget or row.get("timed_out") or row.get("memory")
                if over:
                    bar.update(len(sizes) - i - 1)
                    break
    bar.close()
    return {
        "rows": rows,
        "provenance": measured,
        "settings": {"sizes": list(sizes), "methods": list(methods), "utilities": list(utilities),
                     "budget_s": budget, "hard_limit_s": hard_factor * budget, "max_n": max_n,
                     "tol": tol},
        "machine": {"started_utc": started.isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "load_average_at_start": list(os.getloadavg()),
                    "platform": platform.platform(), "python": platform.python_version()},
    }


def _ok(rows, spec, method):
    """n -> row for the runs of ``method`` on ``spec`` that finished: ``solve`` returned
    an answer (a refused one, ``converged`` False, did not finish)."""
    return {r["n"]: r for r in rows if r["utility"] == spec and r["method"] == method and r["ok"]
            and r.get("converged", True)}


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


def _kkt(row) -> float:
    value = row.get("kkt_recomputed", row.get("kkt_residual"))
    return float(value) if value is not None else float("nan")


def _why(row, hard_limit: float) -> str:
    """Why a run did not finish, in a few words."""
    if row.get("timed_out"):
        return f"stopped at {hard_limit:g} s"
    if row.get("memory"):
        return "refused: memory"
    if row["ok"]:  # converged False: solve refused the answer it reached
        return f"refused after {row['seconds']:.3g} s, KKT {_kkt(row):.1e}"
    return "refused" if row.get("refused") else "failed"


def summary_lines(data) -> list[str]:
    """Newton's speed against each peer at the largest n both finished, and for each peer
    the sizes it did not finish and why; only about the sizes that ran."""
    rows, settings = data["rows"], data["settings"]
    budget, hard = settings["budget_s"], settings["hard_limit_s"]
    sizes = list(settings["sizes"])
    lines = []
    for spec in settings["utilities"]:
        for other in (m for m in settings["methods"] if m != "newton"):
            s = speedup(rows, spec, other)
            if s:
                kn, ko = _kkt(_ok(rows, spec, "newton")[s[0]]), _kkt(_ok(rows, spec, other)[s[0]])
                lines.append(f"{spec}: newton is {s[1]:.3g}x faster than {other} at n = {s[0]}, the largest "
                             f"n both finished (KKT {kn:.1e} vs {ko:.1e})")
            else:
                lines.append(f"{spec}: no n where both newton and {other} finished")
        for method in settings["methods"]:
            mine = [r for r in rows if r["utility"] == spec and r["method"] == method]
            missed = [r for r in mine if r["n"] not in _ok(rows, spec, method)]
            if missed:
                lines.append(f"{spec}: {method} did not finish " + "; ".join(
                    f"n = {r['n']} ({_why(r, hard)}"
                    + (f": {r['error'].split(': ', 1)[-1][:90]}" if r.get("error") and not r.get("timed_out") else "")
                    + ")" for r in missed))
            ran = {r["n"] for r in mine}
            skipped = [n for n in sizes if n not in ran]
            if skipped and mine:
                last = max(mine, key=lambda r: r["n"])
                lines.append(f"{spec}: {method} not run at n = {', '.join(map(str, skipped))} "
                             f"(its run at n = {last['n']} passed the {budget:g} s budget)")
    return lines


def _cell(rows, spec, method, n, hard_limit, *, markdown: bool) -> str:
    r = next((r for r in rows if r["utility"] == spec and r["method"] == method and r["n"] == n), None)
    if r is None:
        return "-"
    if r["ok"] and r.get("converged", True):
        return f"{r['seconds']:.3g} s, {_kkt(r):.1e}" if markdown else f"{r['seconds']:>10.3g} {_kkt(r):>8.1e}"
    why = _why(r, hard_limit)
    return why if markdown else f"{why[:19]:>19}"


def format_table(data) -> str:
    """The table: per utility, one line per n, seconds and KKT residual per method; then
    :func:`summary_lines`."""
    rows, settings = data["rows"], data["settings"]
    methods, hard = settings["methods"], settings["hard_limit_s"]
    out = []
    for spec in settings["utilities"]:
        out.append(f"\n{spec}")
        out.append(f"{'n':>6}  " + "  ".join(f"{m + ' s':>10} {'kkt':>8}" for m in methods))
        for n in settings["sizes"]:
            out.append(f"{n:>6}  " + "  ".join(
                f"{_cell(rows, spec, m, n, hard, markdown=False):>19}" for m in methods))
    out.append("")
    out.extend(summary_lines(data))
    return "\n".join(out)


def markdown_table(data) -> str:
    """The README's table: one row per n, one column per utility and method, each cell
    "seconds, KKT residual" or why the run did not finish ("-": not run)."""
    rows, settings = data["rows"], data["settings"]
    methods, hard = settings["methods"], settings["hard_limit_s"]
    head = ["n"] + [f"{spec} {m}" if i == 0 else m for spec in settings["utilities"]
                    for i, m in enumerate(methods)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in settings["sizes"]:
        cells = [str(n)] + [_cell(rows, spec, m, n, hard, markdown=True)
                            for spec in settings["utilities"] for m in methods]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_results(data, out_dir, *, force: bool = False, stamp: str | None = None) -> Path:
    """Write ``data`` to ``out_dir/solvers-<stamp>.json``, stamp = the UTC time by default.
    An existing file of that name is never replaced unless ``force``."""
    from rcollapse.benchmarks.results import plain
    from rcollapse.outputs import write_json

    out_dir = Path(out_dir)
    stamp = stamp or _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"solvers-{stamp}.json"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; not overwriting it (use --force)")
    return write_json(path, plain(data))


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
         utilities=UTILITIES, tol: float = TOL, command: str | None = None) -> Path:
    """Run, save the JSON, then plot it to a PNG beside it; print the table. Returns the
    JSON path. ``command``: the command line, recorded in the JSON."""
    from rcollapse.outputs import check_output_dir

    out_dir = check_output_dir(out_dir, flag="--out")
    data = run_benchmark(sizes=sizes, methods=methods, utilities=utilities, budget=budget,
                         max_n=max_n, tol=tol, progress=progress)
    data["command"] = command
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
