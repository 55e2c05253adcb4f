"""The log-sigmoid atom mass (Theorems 4 and 5), by two methods, for the README's table.

No closed form is known for the mass of the atoms at 0 and 1 of the limit of problem (5)
with U = log sigmoid(x / s). Two independent computations of it:

- n = inf: ``solvers.solve_limit`` (Theorem 5's QP) on grids m and 2m; their difference
  is the grid error estimate;
- finite n: ``solvers.solve`` (Newton) at a large n, read by
  :func:`rcollapse.solvers.limit.atom_mass_at_one` (the atom's edge, located between rewards),
  beside the plain fraction of rewards tied at 1 (which moves in steps of 1/n);

and Theorem 4's lower bound U'(1)/(U'(0) + U'(1)) beside them.

>>> data = {"settings": {"sigmas": [1.0], "grids": [800, 1600], "n": 10000},
...         "rows": [{"s": 1.0, "bound": 0.3497, "limit": {"800": 0.38339378, "1600": 0.38339379},
...                   "newton": {"tied": 3834, "mass": 0.3833937, "kkt": 1e-13}}]}
>>> print(markdown_table(data).splitlines()[2])
| 1 | 0.3497 | 0.383394 (1e-08) | 0.3834 | 0.383394 | 9e-08 |
"""

from __future__ import annotations

import sys

__all__ = ["GRIDS", "NEWTON_N", "SIGMAS", "markdown_table", "run_atoms"]

SIGMAS = (0.25, 0.5, 1.0, 2.0)
#: The n = inf grids: the mass is read on the finer, the difference is the error estimate.
GRIDS = (800, 1600)
#: Newton's n.
NEWTON_N = 10000


def run_atoms(*, sigmas=SIGMAS, grids=GRIDS, n: int = NEWTON_N, progress: bool = True) -> dict:
    """Both computations for every s; ``{"rows", "settings", "provenance"}``."""
    from tqdm import tqdm

    from rcollapse.benchmarks.provenance import provenance
    from rcollapse.solvers import solve, solve_limit
    from rcollapse.theory.derivations import theorem4_bound
    from rcollapse.solvers.kkt import recomputed_certificate
    from rcollapse.solvers.limit import atom_mass_at_one

    measured = provenance()  # the code as it is when the measurement starts
    rows = []
    bar = tqdm(total=len(sigmas), disable=not progress, desc="bench atoms", unit="s", file=sys.stderr)
    for s in sigmas:
        spec = f"log-sigmoid:{s:g}"
        bar.set_postfix_str(spec)
        limit = {str(m): solve_limit(spec, grid=m).atom_mass for m in grids}
        sol = solve(spec, n)
        tied, mass = atom_mass_at_one(sol.rewards, sol.complement)
        rows.append({"s": float(s), "spec": spec, "bound": theorem4_bound(spec), "limit": limit,
                     "newton": {"n": n, "tied": tied, "mass": mass, "seconds": sol.seconds,
                                "kkt": recomputed_certificate(sol)}})
        bar.update(1)
    bar.close()
    return {"rows": rows, "provenance": measured,
            "settings": {"sigmas": [float(s) for s in sigmas], "grids": list(grids), "n": n}}


def markdown_table(data) -> str:
    """s | bound | n = inf mass (grid error) | Newton's tied fraction | Newton's atom edge | |edge - n = inf|."""
    grids = [str(m) for m in data["settings"]["grids"]]
    n = data["settings"]["n"]
    lines = [f"| s | Theorem 4 bound | n = inf, grid {grids[-1]} (change from grid {grids[0]}) "
             f"| Newton n = {n}: fraction tied at 1 | Newton n = {n}: atom edge | edge - n = inf |",
             "|---|---|---|---|---|---|"]
    for r in data["rows"]:
        fine, coarse = r["limit"][grids[-1]], r["limit"][grids[0]]
        newton = r["newton"]
        lines.append(f"| {r['s']:g} | {r['bound']:.4f} | {fine:.6f} ({abs(fine - coarse):.1g}) "
                     f"| {newton['tied'] / n:.4f} | {newton['mass']:.6f} | {abs(newton['mass'] - fine):.1g} |")
    return "\n".join(lines)


def format_table(data) -> str:
    """The same table for a terminal."""
    return markdown_table(data)
