"""Speed of the n = inf solver of Theorem 5 (``solvers.solve_limit``) against the grid size.

For each utility and grid, one ``solve_limit(spec, grid=m)`` in this process after a
warm-up at grid 64 (imports and the sympy-derived forms of U are not timed), timed by
``LimitSolution.seconds``, with its KKT residual (of the discrete QP) and its atom mass.
The timing that ``tests/solvers/test_solve_limit.py`` once asserted (``seconds <= 10``) lives
here: speed is measured, never a test.

>>> data = {"rows": [{"utility": "log", "grid": 64, "seconds": 0.01, "kkt_residual": 1e-16,
...                   "atom_mass": 0.0}], "settings": {"utilities": ["log"], "grids": [64]}}
>>> print(markdown_table(data))
| grid | log |
|---|---|
| 64 | 0.01 s, 1.0e-16 |
"""

from __future__ import annotations

import sys

__all__ = ["GRIDS", "UTILITIES", "markdown_table", "run_limit_benchmark"]

#: The utilities: the closed-form Betas of Theorems 2 and 3, and log-sigmoid (atoms).
UTILITIES = ("power:0.5", "log", "neg-power:0.5", "log-sigmoid:1")
#: Grid sizes (cells of [0, 1]); solvers.limit.MAX_GRID is 4096.
GRIDS = (400, 800, 1600, 3200)


def run_limit_benchmark(*, utilities=UTILITIES, grids=GRIDS, progress: bool = True) -> dict:
    """Run ``solve_limit`` on every utility and grid; ``{"rows", "settings", "provenance"}``.
    A run that raises is a row with its error, never a stop."""
    from tqdm import tqdm

    from rcollapse.benchmarks.provenance import provenance
    from rcollapse.solvers import solve_limit

    measured = provenance()  # the code as it is when the measurement starts
    rows = []
    bar = tqdm(total=len(utilities) * len(grids), disable=not progress, desc="bench limit",
               unit="run", file=sys.stderr)
    for spec in utilities:
        solve_limit(spec, grid=64)  # warm-up
        for m in grids:
            bar.set_postfix_str(f"{spec} grid={m}")
            try:
                sol = solve_limit(spec, grid=m)
                rows.append({"utility": spec, "grid": m, "ok": True, "seconds": sol.seconds,
                             "kkt_residual": sol.kkt_residual, "atom_mass": sol.atom_mass,
                             "iterations": sol.iterations})
            except Exception as err:  # noqa: BLE001 - reported in the table
                rows.append({"utility": spec, "grid": m, "ok": False,
                             "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"})
            bar.update(1)
    bar.close()
    return {"rows": rows, "provenance": measured,
            "settings": {"utilities": list(utilities), "grids": list(grids)}}


def markdown_table(data) -> str:
    """One row per grid, one column per utility: "seconds, KKT residual" or "failed"."""
    utilities = data["settings"]["utilities"]
    lines = ["| grid | " + " | ".join(utilities) + " |", "|" + "---|" * (len(utilities) + 1)]
    for m in data["settings"]["grids"]:
        cells = []
        for spec in utilities:
            r = next((r for r in data["rows"] if r["utility"] == spec and r["grid"] == m), None)
            if r is None:
                cells.append("-")
            elif r.get("ok", True):
                cells.append(f"{r['seconds']:.3g} s, {float(r['kkt_residual']):.1e}")
            else:
                cells.append("failed")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(data) -> str:
    """The same table for a terminal."""
    return markdown_table(data)
