"""Convergence in the degree of the spectral n = inf solver (``solve_limit(method="spectral")``).

For each utility, ``solvers.limit_spectral.solve_at_degree`` at degrees 8, 16, ..., 128
(after a warm-up, so that imports and the sympy-derived forms of U are not timed): the
atom mass, its change from the previous degree, the certificate (the potential's largest
deviation from its value at 1/2, by adaptive quadrature) and the seconds of the solve
with its certificate; then one full ``solve_limit(method="spectral")`` (doubling until two
degrees agree to 1e-12), timed, against the grid's Richardson extrapolation.
``rcollapse bench spectral`` prints the tables and ``--readme`` saves them as
``benchmarks/results/limit_spectral.json``.

>>> data = {"tables": {"log": [{"degree": 8, "atom_mass": 0.0, "change": None,
...         "certificate": 1e-15, "seconds": 0.1}]}, "solves": []}
>>> print(markdown_table(data).splitlines()[2])
| log | 8 | 0.000000000000000 | - | 1.0e-15 | 0.1 |
"""

from __future__ import annotations

import sys

__all__ = ["DEGREES", "UTILITIES", "format_table", "markdown_table", "run_spectral_benchmark"]

#: log-sigmoid at two scales (atoms plus a smooth density, no closed form).
UTILITIES = ("log-sigmoid:1", "log-sigmoid:0.25")
#: The degrees of the convergence table.
DEGREES = (8, 16, 32, 64, 128)
#: The grid of the Richardson comparison (with grid/2 and grid/4).
GRID = 3200


def _table(spec: str, degrees) -> list[dict]:
    from rcollapse.solvers.limit_spectral import solve_at_degree

    rows, previous = [], None
    for d in degrees:
        sol = solve_at_degree(spec, d)
        change = None if previous is None else abs(sol.atom_mass - previous)
        rows.append({"degree": d, "atom_mass": sol.atom_mass, "change": change,
                     "certificate": sol.certificate, "seconds": sol.seconds})
        previous = sol.atom_mass
    return rows


def _full_solve(spec: str, grid: int) -> dict:
    from rcollapse.solvers.limit import solve_limit, solve_limit_with_error

    sol = solve_limit(spec, method="spectral")
    est = solve_limit_with_error(spec, grid=grid).grid_error["atom_mass"]
    low, high = est.values[-2:]
    extrapolated = high + (high - low) / (2.0 ** est.order - 1.0) if est.order else high
    return {"utility": spec, "degree": sol.degree, "atom_mass": sol.atom_mass,
            "error_estimate": sol.error_estimate, "certificate": sol.certificate, "seconds": sol.seconds,
            "grid": grid, "grid_atom_mass": est.value, "grid_error": est.error, "grid_order": est.order,
            "richardson": extrapolated, "spectral_minus_richardson": sol.atom_mass - extrapolated}


def run_spectral_benchmark(*, utilities=UTILITIES, degrees=DEGREES, grid: int = GRID,
                           progress: bool = True) -> dict:
    """The convergence tables and the full solves; ``{"tables", "solves", "settings",
    "provenance"}``."""
    from tqdm import tqdm

    from rcollapse.benchmarks.provenance import provenance
    from rcollapse.solvers.limit_spectral import solve_at_degree

    measured = provenance()
    tables, solves = {}, []
    for spec in tqdm(utilities, disable=not progress, desc="bench spectral", file=sys.stderr):
        solve_at_degree(spec, 8, certify=False)  # warm-up
        tables[spec] = _table(spec, degrees)
        solves.append(_full_solve(spec, grid))
    return {"tables": tables, "solves": solves, "provenance": measured,
            "settings": {"utilities": list(utilities), "degrees": list(degrees), "grid": grid}}


def markdown_table(data) -> str:
    """One row per (utility, degree), then one per full solve."""
    lines = ["| utility | degree | atom mass | change from previous degree | certificate | seconds |",
             "|---|---|---|---|---|---|"]
    for spec, rows in data["tables"].items():
        for r in rows:
            change = "-" if r["change"] is None else f"{r['change']:.1e}"
            lines.append(f"| {spec} | {r['degree']} | {r['atom_mass']:.15f} | {change} | "
                         f"{r['certificate']:.1e} | {r['seconds']:.2g} |")
    if data["solves"]:
        lines += ["", "| utility | solve_limit(method=\"spectral\") | degree | seconds | grid Richardson "
                  "(grid, error) | spectral - Richardson |", "|---|---|---|---|---|---|"]
        for s in data["solves"]:
            lines.append(f"| {s['utility']} | {s['atom_mass']:.12g} | {s['degree']} | {s['seconds']:.2g} | "
                         f"{s['richardson']:.12g} ({s['grid']}, {s['grid_error']:.1e}) | "
                         f"{s['spectral_minus_richardson']:.1e} |")
    return "\n".join(lines)


def format_table(data) -> str:
    """The same tables for a terminal."""
    return markdown_table(data)
